"""Argument checks shared by the package: each raises ``ValueError`` naming the argument, what it
got and what is accepted. ``what`` is the name the user knows (``"n (number of points)"``,
``"--seed"``)."""
from __future__ import annotations

import math
import operator

__all__ = ["positive_int", "seed_value", "finite_float", "choice", "resolve_device"]


def _integer(value, what: str, need: str, ok) -> int:
    """``value`` as an ``int`` for which ``ok(int)`` holds; bools, floats and strings are refused."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be {need}, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be {need}, got {value!r}") from None
    if not ok(v):
        raise ValueError(f"{what} must be {need}, got {v}")
    return v


def positive_int(value, what: str, least: int = 1) -> int:
    """``value`` as an ``int`` >= ``least`` (bools, floats and strings are refused)."""
    need = "a positive integer (>= 1)" if least == 1 else f"an integer >= {least}"
    return _integer(value, what, need, lambda v: v >= least)


def seed_value(value, what: str = "seed") -> int:
    """A seed: an integer in [0, 2^63)."""
    return _integer(value, what, "an integer in [0, 2^63)", lambda v: 0 <= v < 2**63)


def finite_float(value, what: str, *, low=None, high=None, low_open=False) -> float:
    """``value`` as a finite ``float`` within [low, high] (``low_open``: strictly above ``low``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a finite number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{what} must be {'>' if low_open else '>='} {low}, got {v!r}")
    if high is not None and v > high:
        raise ValueError(f"{what} must be <= {high}, got {v!r}")
    return v


def choice(value, registry, what: str, plural: str | None = None):
    """``value`` if it is a key of ``registry``; otherwise an error listing the keys:
    ``unknown model 'gan'; valid models: sae, vae, ...``."""
    if not isinstance(value, str) or value not in registry:
        raise ValueError(f"unknown {what} {value!r}; valid {plural or what + 's'}: {', '.join(registry)}")
    return value


def resolve_device(device="auto"):
    """A ``torch.device`` from ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda``,
    ``cuda:N`` or a ``torch.device``; CUDA asked for but absent is a ``ValueError``."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available; use --device auto or cpu")
    return dev
