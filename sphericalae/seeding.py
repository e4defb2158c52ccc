"""The one seed recipe of sphericalae: every random stream derives from a user seed and a key.

A stream is named by ``(seed, *key)``: ``seed`` is the user's non-negative integer (``--seed``),
``key`` says what the stream is for (``"init"`` for the initial weights, ``("order", epoch)`` for
the data order of an epoch, a prior's name and a repetition for a page's draws, ...). The pair is
turned into a ``numpy.random.SeedSequence`` (strings enter as their CRC-32), whose output seeds a
torch or numpy generator. Two different keys give statistically independent streams; the same
``(seed, *key)`` gives the same numbers on every machine and in every process.

    >>> g = torch_generator(0, "order", 3)           # torch.Generator for epoch 3's data order
    >>> derive_seed(0, "init")                       # a 63-bit int for APIs that take one

Samplers take a ``generator`` argument, read by the one resolver :func:`resolve_generator`: a
``torch.Generator``, an int seed in [0, 2^64) (``torch.Generator().manual_seed(seed)``), or None
(torch's global generator).
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from .checks import WrongType, generator_seed, seed_value

__all__ = ["seed_sequence", "derive_seed", "torch_generator", "seeded_build", "resolve_generator"]


def _key_words(key):
    words = []
    for part in key:
        if isinstance(part, str):
            words.append(zlib.crc32(part.encode()))
        elif isinstance(part, (int, np.integer)) and not isinstance(part, bool) and part >= 0:
            words.append(int(part))
        else:
            raise ValueError(f"seed keys are strings or non-negative integers, got {part!r}")
    return words


def seed_sequence(seed, *key) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``(seed, *key)``; ``seed`` must be an integer >= 0."""
    return np.random.SeedSequence([seed_value(seed), *_key_words(key)])


def derive_seed(seed, *key) -> int:
    """A 63-bit integer seed for stream ``(seed, *key)``."""
    lo, hi = (int(v) for v in seed_sequence(seed, *key).generate_state(2))
    return ((hi << 32) | lo) & (2**63 - 1)


def torch_generator(seed, *key, device="cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for stream ``(seed, *key)``."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *key))


def seeded_build(make, config_class, config=None, seed: int = 0, **fields):
    """``make(config)`` with torch's global generator seeded from stream ``(seed, "init")`` and
    restored afterwards: the initial weights depend on ``seed`` alone. ``config``: an instance of
    ``config_class``, or None with its ``fields`` as keywords."""
    if config is None:
        config = config_class(**fields)
    elif fields:
        raise ValueError(f"pass either a {config_class.__name__} or its fields, not both")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return make(config)


def resolve_generator(generator, device=None, *, allow_none: bool = True):
    """``(generator, device)`` for a sampler's ``generator`` argument.

    ``generator``: a ``torch.Generator`` (returned as is; ``device`` defaults to its device), an int
    seed in [0, 2^64) (a new generator on ``device``, default the CPU, seeded with it), or None
    (torch's global generator; refused when ``allow_none`` is False). A negative or too large seed
    is a ``ValueError``; a bool, float, string or other object a :class:`~sphericalae.checks.WrongType`
    (a ``ValueError`` too), each in one line."""
    dev = torch.device(device) if device is not None else None
    if generator is None and allow_none:
        return None, dev or torch.device("cpu")
    if isinstance(generator, torch.Generator):
        return generator, dev or generator.device
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed = generator_seed(generator)
        dev = dev or torch.device("cpu")
        return torch.Generator(device=dev).manual_seed(seed), dev
    what = "a torch.Generator, an int seed in [0, 2^64)" + (" or None" if allow_none else "")
    raise WrongType(f"generator must be {what}, got {generator!r}")
