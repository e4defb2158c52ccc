"""Files that must never be left half-written: atomic writes, run folders and their checkpoints.

* :func:`write_atomic` / :func:`write_text_atomic`: write a temporary file beside the target, then
  ``os.replace`` it over the target; a failure (disk full, Ctrl-C) leaves the target as it was.
* :func:`prepare_run_dir`: the checks a run folder passes before a run writes into it.
* :func:`read_checkpoint`: a run checkpoint read as untrusted input (``weights_only=True``), every
  field checked (types, finite optimizer state, the RNG state's size) and its checksum verified
  before anything is loaded, its stored configs rebuilt; every failure is a one-line
  ``ValueError`` naming the file and what is wrong.
* :func:`read_run_checkpoint`: the same for a run folder, going back to the previous checkpoint
  (``checkpoint.prev.pt``) when the last one is damaged.
* :func:`write_run_files`: ``checkpoint.pt``, ``history.json`` and ``config.json`` of one epoch;
  the checkpoint it replaces is kept as ``checkpoint.prev.pt`` (the last two are kept).
* :func:`seal` / :func:`state_digest`: the checksum every checkpoint (and every model-cache entry)
  carries: a sha256 of its contents, tensor bytes included (torch does not verify the zip's own
  CRCs on load), so an altered or corrupted file that still unpickles is refused.
* :func:`save_atomic`: ``torch.save`` to memory, then the bytes to disk atomically: a full disk, a
  read-only folder or a quota is an ``OSError`` with its errno (not torch's internal message).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import torch

from .runlock import LOCK_NAME

__all__ = ["CHECKPOINT", "PREVIOUS", "RUN_FILES", "write_atomic", "write_text_atomic", "prepare_run_dir",
           "read_checkpoint", "read_run_checkpoint", "write_run_files", "all_finite", "load_weights", "restore",
           "seal", "state_digest", "check_sealed", "save_atomic", "check_optimizer_fits"]

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
RUN_FILES = ("checkpoint.pt", "config.json", "history.json", LOCK_NAME, PREVIOUS)
CHECKSUM = "checksum"


def write_atomic(path, write, keep=None):
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it over ``path``.
    Guarantees: ``path`` holds either its old content or the complete new one; the temporary file
    never outlives the call. ``keep``: a path that receives ``path``'s old content (a hard link,
    or a copy where links are not supported) before the new one replaces it; ``path`` exists at
    every moment."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old.tmp")
    try:
        write(tmp)
        if keep is not None and path.is_file():
            try:
                os.link(path, old)
            except OSError:                  # no hard links on this file system: a copy
                import shutil
                shutil.copyfile(path, old)
            os.replace(old, keep)
            old.unlink(missing_ok=True)      # rename does nothing when keep is already a link to path
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        old.unlink(missing_ok=True)
        raise


def save_atomic(path, obj, keep=None):
    """``torch.save(obj)`` into memory, then its bytes written to ``path`` atomically (flushed to
    disk before the rename). A write that fails raises ``OSError`` with the system's errno
    (ENOSPC, EROFS, EDQUOT, ...); ``path`` keeps its old content. ``keep``: as in
    :func:`write_atomic`."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getbuffer()

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    write_atomic(path, write, keep)


def state_digest(obj) -> str:
    """sha256 (hex) of a nested structure of tensors, dicts, lists, tuples and plain values: the
    dtype, shape and bytes of every tensor, dict entries in a fixed order, the type and ``repr``
    of every other value. Equal for an object and what ``torch.load`` gives back for it."""
    h = hashlib.sha256()
    todo = [obj]
    while todo:
        x = todo.pop()
        if isinstance(x, torch.Tensor):
            t = x.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(x.shape)};".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, dict):
            keys = sorted(x, key=lambda k: (type(k).__name__, repr(k)))
            h.update(f"D{len(keys)};".encode())
            todo.extend(item for k in reversed(keys) for item in (x[k], k))
        elif isinstance(x, (list, tuple)):
            h.update(f"{'L' if isinstance(x, list) else 'U'}{len(x)};".encode())
            todo.extend(reversed(x))
        else:
            h.update(f"{type(x).__name__}:{x!r};".encode())
    return h.hexdigest()


def seal(state: dict) -> dict:
    """``state`` with its checksum added (``state["checksum"]``: the :func:`state_digest` of the
    other entries)."""
    body = {k: v for k, v in state.items() if k != CHECKSUM}
    return {**body, CHECKSUM: "sha256:" + state_digest(body)}


def check_sealed(state, where) -> dict:
    """``state`` without its checksum, once the checksum is verified; otherwise a one-line
    ``ValueError`` naming ``where`` (no checksum, or contents that do not match it)."""
    if not isinstance(state, dict) or not isinstance(state.get(CHECKSUM), str):
        raise ValueError(f"{where} has no checksum: it was not written by this version of sphericalae, or was "
                         "rewritten by other code; it is not used")
    body = {k: v for k, v in state.items() if k != CHECKSUM}
    if state[CHECKSUM] != "sha256:" + state_digest(body):
        raise ValueError(f"{where} is damaged: its contents do not match its checksum (altered or corrupted on "
                         "disk); it is not used")
    return body


def write_text_atomic(path, text: str):
    """Write ``text`` to ``path`` atomically, in UTF-8 (flushed to disk before the rename)."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    write_atomic(path, write)


def all_finite(tensors) -> bool:
    """True when every floating tensor of ``tensors`` is finite."""
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def _foreign(names):
    return sorted(n for n in names if n not in RUN_FILES and not n.endswith(".tmp"))


def prepare_run_dir(out, resume: bool) -> Path:
    """Check that folder ``out`` may hold a run and create it; returns it as a ``Path``.

    Refused (``ValueError``, one line): an empty name, a file, a folder holding files that are not
    a run's, a folder holding a run without ``resume``, an unwritable folder. With ``resume`` the
    checkpoint must exist (``FileNotFoundError`` otherwise). Temporary files a killed run left are
    removed (call it with the folder's lock held)."""
    if out is None or str(out).strip() == "":
        raise ValueError("the run folder (--out) is empty; name a folder, e.g. runs/sae")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a folder for the run")
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        foreign = _foreign(names)
        if foreign:
            raise ValueError(f"--out {out} holds files that are not part of a sphericalae run "
                             f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}); "
                             "choose an empty or new folder")
        if not resume and CHECKPOINT in names:
            raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        stale = names & set(RUN_FILES[1:3])
        if not resume and stale:
            raise ValueError(f"{out} holds {', '.join(sorted(stale))} but no checkpoint: not a run that can "
                             "be continued; remove those files or choose another --out")
    if resume and not (out / CHECKPOINT).is_file():
        raise FileNotFoundError(f"no checkpoint at {out / CHECKPOINT} to resume from")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.tmp"):          # left by a killed run; the run's lock is held
            stale.unlink()
        probe = out / ".write-test.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write the run folder {out}: {err.strerror or err}") from None
    return out


def _load(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" in str(err).lower():         # a class or function: refused unrun
            raise ValueError(f"{path} is refused: it holds objects other than tensors and plain data, which "
                             "are not loaded for safety (weights_only)") from None
        raise ValueError(f"{path} is not a readable checkpoint (UnpicklingError); it is corrupt or not from "
                         "sphericalae") from None
    except Exception as err:  # truncated, empty or random bytes: zipfile, EOFError, RuntimeError...
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}); it is corrupt or "
                         "not from sphericalae") from None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_weights(weights, path, key):
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise ValueError(f"{path} is damaged: {key} must map parameter names to tensors, got "
                         f"{type(weights).__name__}{'' if not isinstance(weights, dict) else ' with other entries'}")


def _check_optimizer(opt, path, key):
    """An optimizer's ``state_dict``: ``state`` (int -> {name: tensor or number}), ``param_groups``
    (a list of dicts, each with a list of int ``params``), every floating tensor finite."""
    ok = (isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)
          and all(isinstance(g, dict) and isinstance(g.get("params"), list) and all(type(i) is int for i in g["params"])
                  for g in opt["param_groups"])
          and all(isinstance(v, dict) and all(isinstance(x, torch.Tensor) or _is_number(x) for x in v.values())
                  for v in opt["state"].values()))
    if not ok:
        raise ValueError(f"{path} is damaged: {key} is not an optimizer state (state and param_groups)")
    if not all_finite(x for v in opt["state"].values() for x in v.values() if isinstance(x, torch.Tensor)):
        raise ValueError(f"{path} is damaged: {key} holds NaN or infinite values")


def _check_history(history, path):
    for i, h in enumerate(history):
        if not isinstance(h, dict) or not all(isinstance(k, str) and _is_number(v) for k, v in h.items()):
            raise ValueError(f"{path} is damaged: history entry {i + 1} must map names to numbers, got {h!r:.60}")


def _check_fields(state, path, optimizers):
    """The types of every field of a checkpoint (see :func:`read_checkpoint`)."""
    if type(state["epoch"]) is not int or state["epoch"] < 0 or not isinstance(state["history"], list):
        raise ValueError(f"{path} is damaged: epoch must be an integer >= 0 and history a list "
                         f"(got {type(state['epoch']).__name__} and {type(state['history']).__name__})")
    _check_history(state["history"], path)
    _check_weights(state["model"], path, "model")
    for key in optimizers:
        _check_optimizer(state[key], path, key)
    size = torch.get_rng_state().numel()
    for key, need in (("rng_cpu", size), ("rng_cuda", None)):
        rng = state.get(key)
        if rng is not None and not (isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8 and rng.dim() == 1
                                    and (need is None or rng.numel() == need)):
            raise ValueError(f"{path} is damaged: {key} must be a random generator state (a uint8 tensor"
                             f"{f' of {need} bytes' if need else ''})")


def check_optimizer_fits(opt_state: dict, params, path, key):
    """Refuse (one-line ``ValueError``) an optimizer state whose per-parameter tensors do not have
    the shapes of ``params`` (the parameters of the model built from the stored config, in the
    optimizer's order)."""
    params = list(params)
    ids = [i for g in opt_state["param_groups"] for i in g["params"]]
    if len(ids) != len(params):
        raise ValueError(f"{path}: {key} holds {len(ids)} parameters, the model has {len(params)}")
    for i, p in zip(ids, params):
        for name, x in opt_state["state"].get(i, {}).items():
            if isinstance(x, torch.Tensor) and x.dim() and tuple(x.shape) != tuple(p.shape):
                raise ValueError(f"{path}: {key}'s {name} of parameter {i} has shape {tuple(x.shape)}, the model's "
                                 f"parameter {tuple(p.shape)}")


def read_checkpoint(path, fmt: str, configs: dict, required=("model",)) -> dict:
    """The checkpoint of a run folder (or the file itself), checked whole before anything is loaded.

    ``fmt``: the expected ``format`` entry; ``configs``: ``{key: config class}``, rebuilt from the
    stored dicts; ``required``: further keys that must be present (``model``, the weights; the
    others are optimizer states). Checked: ``epoch`` an int >= 0; ``history`` a list of
    ``{name: number}``; ``model`` a dict of named tensors; each optimizer state's structure and
    finite values; the RNG states' type and size; then the checksum (:func:`check_sealed`).
    Shapes against the model are checked when loading (:func:`load_weights`,
    :func:`check_optimizer_fits`). Anything else is a one-line ``ValueError`` naming the file and
    what is wrong."""
    from .config import from_dict

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = _load(path)
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise ValueError(f"{path} is not a sphericalae run checkpoint (format {fmt!r} expected)")
    missing = [k for k in (*configs, *required, "epoch", "history") if k not in state]
    if missing:
        raise ValueError(f"{path} is incomplete: it has no {', '.join(missing)}")
    _check_fields(state, path, [k for k in required if k != "model"])
    state = check_sealed(state, path)
    try:
        for key, cls in configs.items():
            state[key] = from_dict(cls, state[key], str(path))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the configs in the checkpoint are unreadable ({err})") from None
    return state


def read_run_checkpoint(out, fmt: str, configs: dict, required=("model",)):
    """``(state, note)``: the last checkpoint of run folder ``out`` (:func:`read_checkpoint`), or,
    when it is missing or damaged and the previous one (``checkpoint.prev.pt``) is intact, the
    previous one, with ``note`` a line saying so (None otherwise). When neither can be used the
    error is the last checkpoint's."""
    out = Path(out)
    try:
        return read_checkpoint(out / CHECKPOINT, fmt, configs, required), None
    except (ValueError, FileNotFoundError) as err:
        if not (out / PREVIOUS).is_file():
            raise
        try:
            state = read_checkpoint(out / PREVIOUS, fmt, configs, required)
        except (ValueError, FileNotFoundError):
            raise err from None
        return state, (f"{str(err).splitlines()[0]}; going on from the previous checkpoint, {out / PREVIOUS} "
                       f"(epoch {state['epoch']})")


def write_run_files(out, state: dict, config_json: str):
    """Write ``checkpoint.pt`` (``state``, sealed with its checksum), keeping the one it replaces
    as ``checkpoint.prev.pt``, then ``history.json`` (``state["history"]``) and ``config.json``,
    each atomically. A failed write (a full disk, a read-only folder, a quota) raises ``OSError``
    naming the folder and the cause and saying that the files of the previous epoch are kept."""
    out = Path(out)
    try:
        save_atomic(out / CHECKPOINT, seal(state), keep=out / PREVIOUS)
        write_text_atomic(out / "history.json", json.dumps(state["history"], indent=1))
        write_text_atomic(out / "config.json", config_json)
    except OSError as err:
        raise OSError(err.errno, f"could not write the run files in {out} after epoch {state['epoch']} "
                      f"({err.strerror or err}); the files of the previous epoch are kept") from None


def load_weights(module, weights: dict, where):
    """Load ``weights`` into ``module``; a mismatch is a one-line ``ValueError`` naming ``where`` and
    the first missing, unexpected or misshapen tensors."""
    try:
        missing, unexpected = module.load_state_dict(weights, strict=False)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(f"{where}: the weights do not fit the model of its config "
                         f"({str(err).splitlines()[-1].strip() or type(err).__name__})") from None
    if missing or unexpected:
        raise ValueError(f"{where}: the weights do not fit the model of its config (missing: "
                         f"{', '.join(missing[:3]) or 'none'}{' ...' if len(missing) > 3 else ''}; unexpected: "
                         f"{', '.join(unexpected[:3]) or 'none'}{' ...' if len(unexpected) > 3 else ''})")


def restore(module, state: dict, where):
    """``module`` with the weights of checkpoint ``state`` (:func:`load_weights`), in eval mode;
    non-finite weights are refused (``ValueError`` naming ``where``)."""
    load_weights(module, state["model"], where)
    if not all_finite(module.state_dict().values()):
        raise ValueError(f"{where}: the checkpoint holds NaN or infinite weights; it cannot be used")
    return module.eval()
