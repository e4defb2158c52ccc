"""Files that must never be left half-written: atomic writes, run folders and their checkpoints.

* :func:`write_atomic` / :func:`write_text_atomic`: write a temporary file beside the target, then
  ``os.replace`` it over the target; a failure (disk full, Ctrl-C) leaves the target as it was.
* :func:`prepare_run_dir`: the checks a run folder passes before a run writes into it.
* :func:`read_checkpoint`: a run checkpoint read as untrusted input (``weights_only=True``), its
  stored configs rebuilt; every failure is a one-line ``ValueError`` naming the file.
* :func:`write_run_files`: ``checkpoint.pt``, ``history.json`` and ``config.json`` of one epoch.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import torch

from .runlock import LOCK_NAME

__all__ = ["CHECKPOINT", "RUN_FILES", "write_atomic", "write_text_atomic", "prepare_run_dir",
           "read_checkpoint", "write_run_files", "all_finite", "load_weights", "restore"]

CHECKPOINT = "checkpoint.pt"
RUN_FILES = ("checkpoint.pt", "config.json", "history.json", LOCK_NAME)


def write_atomic(path, write):
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it over ``path``.
    Guarantees: ``path`` holds either its old content or the complete new one; the temporary file
    never outlives the call."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str):
    """Write ``text`` to ``path`` atomically (flushed to disk before the rename)."""
    def write(tmp):
        with open(tmp, "w") as fh:
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


def read_checkpoint(path, fmt: str, configs: dict, required=("model",)) -> dict:
    """The checkpoint of a run folder (or the file itself), checked.

    ``fmt``: the expected ``format`` entry; ``configs``: ``{key: config class}``, rebuilt from the
    stored dicts; ``required``: further keys that must be present (the weights, the optimizers).
    Guarantees: ``state["epoch"]`` is an int >= 0 and ``state["history"]`` a list. Anything else is
    a one-line ``ValueError`` naming the file and what is wrong."""
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
    if type(state["epoch"]) is not int or state["epoch"] < 0 or not isinstance(state["history"], list):
        raise ValueError(f"{path} is damaged: epoch must be an integer >= 0 and history a list "
                         f"(got {type(state['epoch']).__name__} and {type(state['history']).__name__})")
    try:
        for key, cls in configs.items():
            state[key] = from_dict(cls, state[key], str(path))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the configs in the checkpoint are unreadable ({err})") from None
    return state


def write_run_files(out, state: dict, config_json: str):
    """Write ``checkpoint.pt`` (``state``), then ``history.json`` (``state["history"]``) and
    ``config.json``, each atomically. A failed write raises ``OSError`` saying that the files of
    the previous epoch are kept."""
    out = Path(out)
    try:
        write_atomic(out / CHECKPOINT, lambda tmp: torch.save(state, tmp))
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
