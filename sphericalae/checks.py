"""Argument checks shared by the package: each raises ``ValueError`` naming the argument, what it
got and what is accepted. ``what`` is the name the user knows (``"n (number of points)"``,
``"--seed"``).

This module is also the one home of array coercion: :func:`as_float_tensor` (a torch tensor, a
numpy array or nested lists of numbers -> a floating tensor, and the way back to the caller's type)
and :func:`as_float64_array` (-> a float64 numpy array on the host). An argument of the wrong type
raises :class:`WrongType`, which is both a ``ValueError`` (the package's errors) and a
``TypeError`` (what Python code expects of a wrong type)."""
from __future__ import annotations

import math
import operator

__all__ = ["positive_int", "seed_value", "finite_float", "choice", "resolve_device", "WrongType",
           "as_float_tensor", "as_float64_array", "dtype_value", "generator_seed", "GENERATOR_SEEDS",
           "check_memory"]

GENERATOR_SEEDS = 2**64
"""An int seed of a generator must lie in [0, GENERATOR_SEEDS): torch's seeds are 64-bit unsigned."""


class WrongType(TypeError, ValueError):
    """An argument of a type the function does not take; one line naming it and what is accepted."""


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


def generator_seed(value, what: str = "generator (an int seed)") -> int:
    """An int seed of a ``torch.Generator``: an integer in [0, 2^64)."""
    return _integer(value, what, "an integer in [0, 2^64)", lambda v: 0 <= v < GENERATOR_SEEDS)


def finite_float(value, what: str, *, low=None, high=None, low_open=False) -> float:
    """``value`` as a finite ``float`` within [low, high] (``low_open``: strictly above ``low``).
    A number is asked for: strings (even ``"1e-3"``) and bools are refused."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
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


def _numeric(x, what: str):
    """``x`` as a numpy array of numbers (not object, not strings), or :class:`WrongType`."""
    import numpy as np

    if isinstance(x, (str, bytes, bool)) or not isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        raise WrongType(f"{what} must be a torch.Tensor or a numpy array of numbers, got {type(x).__name__}")
    try:
        a = np.asarray(x)
    except ValueError as err:                              # ragged nested lists
        raise WrongType(f"{what} must be a rectangular array of numbers ({err})") from None
    if a.dtype == object or a.dtype.kind not in "biufc":
        raise WrongType(f"{what} must hold numbers, got an array of dtype {a.dtype}")
    return a


def as_float_tensor(x, what: str = "the input", *, finite: bool = False):
    """``(tensor, back)``: ``x`` as a floating torch tensor, and a function that converts a result
    back to the caller's type (numpy in, numpy out; a tensor stays a tensor).

    Accepted: a torch tensor (its device and floating dtype kept, no copy), a numpy array or numpy
    scalar, nested lists or tuples of numbers, a Python number. Integer and boolean inputs are
    promoted to torch's default float dtype. Refused with :class:`WrongType`: other types, object
    or string arrays, complex numbers. ``finite``: NaN or infinite entries are refused too
    (``ValueError``; one host sync)."""
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        t, back = x, (lambda r: r)
    else:
        a = _numeric(x, what)
        t = torch.from_numpy(np.ascontiguousarray(a))
        back = lambda r: r.numpy()  # noqa: E731
    if t.is_complex():
        raise WrongType(f"{what}: complex inputs are not supported")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if finite and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} contains NaN or infinite values; only finite values are accepted")
    return t, back


def as_float64_array(x, what: str = "the input"):
    """``x`` (a torch tensor on any device, a numpy array, nested lists of numbers) as a float64
    numpy array on the host; other types (strings, objects, complex) raise :class:`WrongType`."""
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise WrongType(f"{what}: complex inputs are not supported")
        return x.detach().to("cpu", torch.float64).numpy()
    a = _numeric(x, what)
    if a.dtype.kind == "c":
        raise WrongType(f"{what}: complex inputs are not supported")
    return a.astype(np.float64)


def dtype_value(dtype, what: str = "dtype"):
    """A floating ``torch.dtype`` from a ``torch.dtype`` or its name (``"float32"``,
    ``"torch.float64"``); None gives torch's default float dtype. Others: ``ValueError`` naming
    the floating dtypes."""
    import torch

    names = ("float16", "bfloat16", "float32", "float64")
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, str):
        name = dtype[len("torch."):] if dtype.startswith("torch.") else dtype
        dtype = getattr(torch, name, None) if name in names + ("half", "float", "double") else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{what} must be a floating dtype ({', '.join(names)}, as torch.dtype or its name), "
                         f"got {dtype!r}")
    return dtype


def memory_of(device=None) -> int:
    """Bytes of memory on ``device``: a CUDA device's total memory, else the machine's physical
    memory (0 when unknown: then nothing is refused)."""
    import os

    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        return torch.cuda.get_device_properties(dev).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(elements: int, itemsize: int, what: str, device=None) -> None:
    """Refuse (``ValueError``, before anything is allocated) a tensor of ``elements`` entries of
    ``itemsize`` bytes that is larger than the memory of ``device`` (``memory_of``)."""
    need, have = int(elements) * int(itemsize), memory_of(device)
    if have and need > have:
        raise ValueError(f"{what} would need {need / 2**30:.3g} GiB, more than the {have / 2**30:.3g} GiB of "
                         f"memory of {device or 'cpu'}; ask for fewer")
