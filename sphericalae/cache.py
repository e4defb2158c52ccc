"""A small on-disk cache for results that are slow to compute and small to store: a trained feature
classifier, a trained autoencoder's state dict, a table of numbers.

``cached(name, key, compute)`` returns ``compute()``, computing it at most once per (name, key, package
source): the result is stored with ``torch.save`` and read back with ``torch.load(weights_only=True)``.

* **Where.** ``root`` if given, else the environment variable ``SPHERICALAE_CACHE``, else
  ``~/.cache/sphericalae/objects``. Files are named ``{name}-{digest[:20]}.pt``.
* **Key.** ``digest`` is the sha256 of the JSON (sorted keys) of ``{"name", "key", "source"}``, where
  ``key`` is any JSON-serialisable dict (say every parameter the result depends on: dataset, sizes,
  epochs, seed) and ``source`` is :func:`source_hash`, a sha256 of every ``.py`` file under the
  ``sphericalae`` package directory. Any change to the package's code therefore invalidates every entry:
  stale results are never served, at the price of recomputing after an unrelated edit.
* **What can be stored.** What ``torch.load(weights_only=True)`` reads back: tensors, state dicts,
  Python numbers, strings, booleans, None, and dicts, lists and tuples of these. Anything else (an
  ``nn.Module``, a numpy array) raises ``ValueError`` before computing is wasted twice: store
  ``model.state_dict()`` and rebuild the module. Tensors come back on the CPU.
* **Safety.** Writes go to a temporary file in the same folder, then ``os.replace``: a crash or a
  second process never leaves half a file under the final name. A file that cannot be read (truncated,
  corrupt, written by an incompatible version) is recomputed and overwritten, with a warning.

Delete the folder to clear the cache; nothing else refers to it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import torch

__all__ = ["cached", "cache_path", "cache_root", "source_hash", "ENV_VAR"]

ENV_VAR = "SPHERICALAE_CACHE"
PACKAGE_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LEAVES = (torch.Tensor, int, float, bool, str, type(None), torch.dtype, torch.device, torch.Size)


def cache_root(root=None) -> Path:
    """The cache folder: ``root``, else ``$SPHERICALAE_CACHE``, else ``~/.cache/sphericalae/objects``."""
    if root is not None:
        return Path(os.path.expanduser(str(root)))
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(os.path.expanduser(env))
    return Path.home() / ".cache" / "sphericalae" / "objects"


def source_hash(package_dir=None) -> str:
    """sha256 over the relative path and bytes of every ``.py`` file under ``package_dir`` (default:
    the installed ``sphericalae`` package), in sorted order."""
    root = Path(package_dir) if package_dir is not None else PACKAGE_DIR
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_path(name: str, key: dict, root=None) -> Path:
    """The file that holds (or will hold) the result for ``name`` and ``key``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"cache name must be letters, digits, '_', '.' or '-' (not starting with "
                         f"'.', '_' or '-'), got {name!r}")
    if not isinstance(key, dict):
        raise ValueError(f"cache key must be a dict of JSON-serialisable values, got {type(key).__name__}")
    try:
        text = json.dumps({"name": name, "key": key, "source": source_hash()}, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cache key must be JSON-serialisable (str, numbers, bool, None, lists, "
                         f"dicts with str keys): {err}") from err
    digest = hashlib.sha256(text.encode()).hexdigest()
    return cache_root(root) / f"{name}-{digest[:20]}.pt"


def _check_storable(obj, where="result"):
    if isinstance(obj, _LEAVES):
        return
    if isinstance(obj, (dict, OrderedDict)):
        for k, v in obj.items():
            _check_storable(k, f"{where} key")
            _check_storable(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_storable(v, f"{where}[{i}]")
        return
    raise ValueError(f"{where} is a {type(obj).__name__}, which torch.load(weights_only=True) cannot read "
                     "back; store tensors, state dicts, numbers, strings, None, or dicts/lists/tuples of "
                     "these (e.g. model.state_dict() instead of the model)")


def cached(name: str, key: dict, compute, root=None):
    """Return ``compute()``, stored under ``name`` and ``key`` (see the module docstring): the first call
    computes and saves, later calls with the same name, key and package source load the file."""
    path = cache_path(name, key, root)
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, corrupt, unreadable: recompute rather than crash
            warnings.warn(f"cache file {path} could not be read ({type(err).__name__}: {err}); recomputing",
                          RuntimeWarning, stacklevel=2)
    result = compute()
    _check_storable(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(result, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return result
