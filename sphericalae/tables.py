"""Tables of sample metrics with their floor: the value two disjoint real sets of the same size give,
what "as good as real" reads as at that size.

* :func:`floor_split`: the one way a real set is split into a reference set and a floor set.
"""
from __future__ import annotations

import numpy as np
import torch

from .checks import positive_int
from .seeding import torch_generator

__all__ = ["floor_split"]


def floor_split(real, n: int, seed: int = 0, *key):
    """``(reference, floor)``: two disjoint sets of ``n`` items of ``real`` (tensor or array), from a
    shuffle of stream ``(seed, "floor", *key)`` of :mod:`sphericalae.seeding`. Needs ``len(real) >= 2n``."""
    n = positive_int(n, "n")
    if len(real) < 2 * n:
        raise ValueError(f"the floor needs at least 2n = {2 * n} real items, got {len(real)}")
    perm = torch.randperm(len(real), generator=torch_generator(seed, "floor", *key))
    if isinstance(real, np.ndarray):
        perm = perm.numpy()
    return real[perm[:n]], real[perm[n:2 * n]]
