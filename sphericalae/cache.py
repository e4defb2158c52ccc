"""A small on-disk cache for results that are slow to compute and small to store: a trained feature
classifier, a trained autoencoder's state dict, a table of numbers.

``cached(name, key, compute)`` returns ``compute()``, computing it at most once per (name, key, package
source): the result is stored with ``torch.save`` and read back with ``torch.load(weights_only=True)``.

* **Where.** ``root`` if given, else the environment variable ``SPHERICALAE_CACHE``, else
  ``~/.cache/sphericalae/objects``. Files are named ``{name}-{digest[:20]}.pt``.
* **Key.** ``digest`` is the sha256 of the JSON (sorted keys) of ``{"name", "key", "source"}``, where
  ``key`` is any JSON-serialisable dict (say every parameter the result depends on: dataset, sizes,
  epochs, seed) and ``source`` is :func:`source_hash`: a sha256 of the code the result depends on,
  the definitions that the modules or definitions named in ``sources`` reach through the names
  they use (:mod:`sphericalae.sourcekeys`, read from the syntax trees), or of the whole package
  when ``sources`` is None, less the storage modules (:data:`STORAGE_MODULES`: this one, the lock,
  the sealed files and the key reader). A change to that code invalidates the entry; a change
  elsewhere (a plot, a metric the result does not use, a new function nothing calls) does not.
* **What can be stored.** What ``torch.load(weights_only=True)`` reads back: tensors, state dicts,
  Python numbers, strings, booleans, None, and dicts, lists and tuples of these. Anything else (an
  ``nn.Module``, a numpy array) raises ``ValueError`` before computing is wasted twice: store
  ``model.state_dict()`` and rebuild the module. Tensors come back on the CPU.
* **Folder problems.** A cache folder that cannot be used (under a file, unwritable, a folder
  where the file goes, a full disk) never costs the result: it is computed, returned and not
  stored, with one warning naming the setting to change.
* **One computation per entry.** Each entry has a lock file beside it (``.{file}.lock``, an
  ``flock``, :func:`sphericalae.runlock.key_lock`): a process that asks for an entry another
  process is computing waits, then reads the stored file, so any number of pages or processes may
  ask for the same result. Entries of different keys are computed side by side.
* **Safety.** Writes go to a temporary file in the same folder, then ``os.replace``: a crash or a
  second process never leaves half a file under the final name. Each entry is stored with its
  format and a checksum of its contents (:func:`sphericalae.runfiles.seal`, the checkpoints' own):
  a file that cannot be read (truncated, corrupt, written by an incompatible version), that still
  unpickles but was altered on disk, or that holds another object (no format, no checksum) is never
  returned: it is recomputed and overwritten, with a warning.

* **What it cost.** Each computed entry adds a line to ``computed.log`` in the folder: the time, the
  process, the seconds it took and the file.

Delete the folder to clear the cache; nothing else refers to it.
"""
from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import hashlib
import json
import os
import re
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import torch

from .runfiles import check_sealed, save_atomic, seal
from .runlock import key_lock

__all__ = ["cached", "missing", "STORAGE_MODULES", "cache_path", "cache_root", "source_hash", "code_of", "dependencies", "imports_in", "module_file",
           "values_digest", "ENV_VAR"]

ENV_VAR = "SPHERICALAE_CACHE"
PACKAGE_DIR = Path(__file__).resolve().parent
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FORMAT = "sphericalae-cache/1"
"""The version of the stored entry format; an entry of another version is recomputed."""
LOG_FILE = "computed.log"
STORAGE_MODULES = ("sphericalae.cache", "sphericalae.runlock", "sphericalae.runfiles", "sphericalae.sourcekeys")
"""How results and checkpoints are stored, sealed and locked, not what they are: left out of every
:func:`source_hash`, so that a change there (a lock, a probe, a file format, which has its own
version, ``FORMAT``) retrains nothing."""
_LEAVES = (torch.Tensor, int, float, bool, str, type(None), torch.dtype, torch.device, torch.Size)


def cache_root(root=None) -> Path:
    """The cache folder: ``root``, else ``$SPHERICALAE_CACHE``, else ``~/.cache/sphericalae/objects``."""
    if root is not None:
        return Path(os.path.expanduser(str(root)))
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(os.path.expanduser(env))
    return Path.home() / ".cache" / "sphericalae" / "objects"


def module_file(name: str, root: Path | None = None) -> Path:
    """The file of the package module ``name`` (dotted) under ``root`` (default: this package)."""
    root = PACKAGE_DIR if root is None else Path(root)
    parts = name.split(".")[1:]
    if not parts:
        return root / "__init__.py"
    path = root.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports_in(source, module: str | None = None, root: Path | None = None) -> set:
    """The package modules that the Python ``source`` (text or bytes) imports anywhere (function
    bodies included); ``module``: the dotted name of the module it is, for relative imports (None:
    a script or a notebook cell, which has none)."""
    root = PACKAGE_DIR if root is None else Path(root)
    return set(_imports(source.encode() if isinstance(source, str) else bytes(source), module, root))


@functools.lru_cache(maxsize=4096)
def _imports(source: bytes, module, root: Path) -> frozenset:
    """:func:`imports_in`, once per source text, module and package folder in a process."""
    pkg = PACKAGE_DIR.name
    here = [] if module is None else \
        module.split(".") if module_file(module, root).name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
            if base == pkg or base.startswith(pkg + "."):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}", root).is_file())
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name == pkg or a.name.startswith(pkg + "."))
    return frozenset(m for m in found if module_file(m, root).is_file())


def dependencies(modules, package_dir=None) -> list:
    """The package modules that ``modules`` (dotted names) import, directly or through each other,
    with themselves and the package's ``__init__``, sorted. Found by reading the sources (every
    import statement counts, also inside functions), not by importing them."""
    root = Path(package_dir) if package_dir is not None else PACKAGE_DIR
    todo, seen = list(modules) + [PACKAGE_DIR.name], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if not module_file(name, root).is_file():
            raise ValueError(f"no module {name} in {root}")
        seen.add(name)
        todo.extend(imports_in(module_file(name, root).read_bytes(), name, root) - seen)
    return sorted(seen)


def code_of(source) -> bytes:
    """What a module computes, without its words: the dump of its syntax tree with every docstring and
    bare string statement removed (comments and layout are not in the tree), so that editing prose
    invalidates no cached result while any change of code does. Parsed once per text in a process."""
    return _code_of(source.encode() if isinstance(source, str) else bytes(source))


@functools.lru_cache(maxsize=1024)
def _code_of(source: bytes) -> bytes:
    from .sourcekeys import strip_docstrings

    return ast.dump(strip_docstrings(ast.parse(source))).encode()


def source_hash(package_dir=None, sources=None) -> str:
    """sha256 of the code a result depends on, never the :data:`STORAGE_MODULES`: with ``sources``
    (module names or top-level definitions, dotted, or the functions themselves), the code of every
    definition they reach (:func:`sphericalae.sourcekeys.definitions_hash`); with None, the relative
    path and the code (:func:`code_of`) of every ``.py`` file of the package."""
    from .sourcekeys import definitions_hash

    root = Path(package_dir) if package_dir is not None else PACKAGE_DIR
    if sources is not None:
        return definitions_hash(tuple(sources), root, module_file, skip=STORAGE_MODULES)
    paths = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    storage = {module_file(m, root) for m in STORAGE_MODULES}
    paths = [p for p in paths if p not in storage]
    h = hashlib.sha256()
    for path in paths:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(code_of(path.read_bytes()) + b"\0")
    return h.hexdigest()


def values_digest(*tensors) -> str:
    """sha256 of the dtype, shape and exact bytes of each tensor, in order: the key of a result that
    is a function of these values alone (an image set's features), so that recomputing the images
    bit for bit finds it again and any other value does not."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode() + b"\0")
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_path(name: str, key: dict, root=None, sources=None) -> Path:
    """The file that holds (or will hold) the result for ``name``, ``key`` and ``sources``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"cache name must be letters, digits, '_', '.' or '-' (not starting with "
                         f"'.', '_' or '-'), got {name!r}")
    if not isinstance(key, dict):
        raise ValueError(f"cache key must be a dict of JSON-serialisable values, got {type(key).__name__}")
    source = source_hash(sources=sources)
    try:
        text = json.dumps({"name": name, "key": key, "source": source}, sort_keys=True)
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


def cached(name: str, key: dict, compute, root=None, sources=None):
    """Return ``compute()``, stored under ``name`` and ``key`` (see the module docstring): the first call
    computes and saves, later calls with the same name, key and source load the file. ``sources``:
    module names whose :func:`dependencies` are all the code ``compute`` runs (default: the whole
    package).

    The cache folder is checked before computing. If it cannot hold the file (a file where a folder
    should be, a folder where the file goes, no permission, a full disk when storing), the result
    is computed and returned all the same, unstored, with one ``RuntimeWarning`` per folder and
    process that names the cache setting to change (``root``, ``$SPHERICALAE_CACHE`` or ``HOME``).
    """
    path = cache_path(name, key, root, sources)
    if _PROBING.get():
        raise _Probed(path.is_file())
    why = _unusable(path)
    with contextlib.ExitStack() as held:
        if why is None:                               # a second process waits here, then reads the file
            held.enter_context(key_lock(path.parent / f".{path.name}.lock"))
        if path.is_file():                            # a read-only cache still serves its files
            try:
                return _read(path)
            except Exception as err:  # truncated, corrupt, altered, foreign: recompute rather than use it
                cause = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
                warnings.warn(f"cache file {path} could not be read ({cause.splitlines()[0]}); recomputing",
                              RuntimeWarning, stacklevel=2)
        started = time.monotonic()
        result = compute()
        _check_storable(result)
        if why is None:
            why = _store(result, path)
            if why is None:
                _log(path, time.monotonic() - started)
    if why is not None:
        _warn_once(path.parent, root, why)
    return result


_PROBING = contextvars.ContextVar("sphericalae_cache_probing", default=False)


class _Probed(Exception):
    """Raised by :func:`cached` while :func:`missing` probes: whether the entry's file exists."""

    def __init__(self, found: bool):
        super().__init__(found)
        self.found = found


def missing(fn, *args) -> bool:
    """Whether ``fn(*args)``, a function whose result comes from :func:`cached`, would compute: True
    when the first cache entry it asks for is not stored, False when it is (nothing is read or
    computed to tell). A ``fn`` that returns without asking the cache has computed its result: False."""
    token = _PROBING.set(True)
    try:
        fn(*args)
    except _Probed as probe:
        return not probe.found
    finally:
        _PROBING.reset(token)
    return False


def _unusable(path: Path):
    """Why ``path`` cannot be written (its folder cannot be created or written, or a folder stands
    where the file goes), or None. Creates the folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"its folder cannot be created ({type(err).__name__}: {err.strerror or err})"
    if path.exists() and not path.is_file():
        return f"{path} is not a file"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return "its folder is not writable"
    return None


def _read(path: Path):
    """The result stored in ``path``: a ``ValueError`` unless the file holds an entry of ours
    (:data:`FORMAT`) whose checksum matches its contents."""
    entry = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or "result" not in entry:
        raise ValueError(f"{path} is not a sphericalae cache entry ({type(entry).__name__})")
    return check_sealed(entry, path)["result"]


def _store(result, path: Path):
    """Write ``result`` to ``path`` atomically, sealed with its checksum; returns None, or why it
    could not be stored."""
    try:
        save_atomic(path, seal({"format": FORMAT, "result": result}))
    except (OSError, RuntimeError) as err:   # a full disk, a read-only folder: OSError with its errno
        return f"storing failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    return None


def _log(path: Path, seconds: float) -> None:
    """One line per computed entry in ``computed.log`` beside the entries: when, how long, what (the
    build's cost, entry by entry: ``sort -k3 -n computed.log``)."""
    with contextlib.suppress(OSError), open(path.parent / LOG_FILE, "a") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} {seconds:9.1f} s {path.name}\n")


_WARNED = set()


def _warn_once(folder: Path, root, why: str) -> None:
    if str(folder) in _WARNED:
        return
    _WARNED.add(str(folder))
    if root is not None:
        setting = "the root argument"
    elif os.environ.get(ENV_VAR):
        setting = f"${ENV_VAR}"
    else:
        setting = f"HOME (or set ${ENV_VAR})"
    warnings.warn(f"cache folder {folder} is not usable: {why}; results are computed but not stored "
                  f"(change {setting} to a writable folder)", RuntimeWarning, stacklevel=3)
