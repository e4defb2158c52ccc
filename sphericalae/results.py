"""Runs kept in the repository's ``results/`` folder: one JSON document per page run worth keeping,
with the setting it was measured at, the hardware, the git commit and what it measured.

A page run with ``store`` set (a full-scale run of ``reproduce.yml``, or a longer run on this
machine) writes its document with :func:`store_result`; the default build reads it with
:func:`stored_result` and shows it beside its own numbers, saying where it came from. The verdict
page keeps its rows in ``verdicts.json``, the GAN page its Table 1 rows in ``gan_table1.json``,
the faces page its full-scale Table 2 in ``faces.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["RESULTS", "result_path", "store_result", "stored_result", "hardware"]

RESULTS = "results"
"""The folder of kept runs, relative to the repository root (:func:`sphericalae.pages.repository_root`)."""


def result_path(name: str, path=None) -> Path:
    """The file of ``name``'s kept run: ``path`` when given, else ``results/NAME.json`` under the
    repository root."""
    from .pages import repository_root

    return repository_root() / RESULTS / f"{name}.json" if path is None else Path(path)


def _commit(where) -> str:
    """The git commit of the checkout holding ``where``, or ``"unknown"``."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def hardware() -> str:
    """The device a page computes on, in words: the GPU's name, or the CPU and torch's thread count."""
    import platform

    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    threads = torch.get_num_threads()
    return f"CPU ({platform.machine()}, {threads} thread{'s' if threads > 1 else ''})"


def store_result(name: str, payload: dict, setting: dict, hardware: str, path=None) -> Path:
    """Write ``{"setting", "hardware", "commit", **payload}`` to ``results/NAME.json`` (or ``path``),
    atomically; returns the path. ``setting``: every parameter of the run."""
    from .runfiles import write_text_atomic

    path = result_path(name, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"setting": setting, "hardware": hardware, "commit": _commit(path.parent), **payload}
    write_text_atomic(path, json.dumps(doc, indent=1, default=str))
    return path


def stored_result(name: str, required=(), path=None):
    """The document :func:`store_result` wrote for ``name``, or None when there is none. A file that is
    not such a document (no setting or hardware, or a field of ``required`` missing) raises
    ValueError naming it."""
    path = result_path(name, path)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        missing = [k for k in ("setting", "hardware", *required) if k not in doc]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
    except (ValueError, AttributeError, TypeError) as err:
        raise ValueError(f"{path}: not a stored {name} run ({err})") from None
    return doc
