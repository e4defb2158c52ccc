"""The one seed recipe of sphericalae: every random stream derives from a user seed and a key.

A stream is named by ``(seed, *key)``: ``seed`` is the user's non-negative integer (``--seed``),
``key`` says what the stream is for (``"init"`` for the initial weights, ``("order", epoch)`` for
the data order of an epoch, a prior's name and a repetition for a page's draws, ...). The pair is
turned into a ``numpy.random.SeedSequence`` (strings enter as their CRC-32), whose output seeds a
torch or numpy generator. Two different keys give statistically independent streams; the same
``(seed, *key)`` gives the same numbers on every machine and in every process.

    >>> g = torch_generator(0, "order", 3)           # torch.Generator for epoch 3's data order
    >>> derive_seed(0, "init")                       # a 63-bit int for APIs that take one
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from .checks import seed_value

__all__ = ["seed_sequence", "derive_seed", "torch_generator", "seeded_build"]


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
