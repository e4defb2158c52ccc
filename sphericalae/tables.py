"""Tables of sample metrics with their floor: the value two disjoint real sets of the same size give,
what "as good as real" reads as at that size.

* :func:`floor_split`: the one way a real set is split into a reference set and a floor set.
* :func:`metric_table`: every metric of every candidate set against the reference, floor first.
"""
from __future__ import annotations

import numpy as np
import torch

from .checks import positive_int
from .seeding import torch_generator

__all__ = ["floor_split", "metric_table"]


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


def metric_table(real, candidates: dict, metrics: dict, *, n: int | None = None, seed: int = 0):
    """A table (pandas DataFrame) of ``metric(reference, candidate[:n])`` for every candidate set and
    metric, with its sample size and floor. ``real`` is split into two disjoint sets of ``n``
    (:func:`floor_split`, key ``(seed, "metric_table")``): the reference and the floor set; the
    first row, ``"real (floor)"``, is
    ``metric(reference, floor set)``, the value two real sets of this size give. ``n`` defaults to the
    largest size every set allows (``len(real) // 2`` and each candidate's length). A metric is a
    callable ``(real, fake) -> float`` (an :class:`SWDResult` gives its mean; a dict gives one column
    per numeric entry, e.g. ``"P/R precision"``). Columns: ``n``, then the metrics.
    """
    import pandas as pd

    if not candidates or not metrics:
        raise ValueError("candidates and metrics must be non-empty dicts of name -> samples / callable")
    sizes = [len(real) // 2] + [len(c) for c in candidates.values()]
    n = min(sizes) if n is None else positive_int(n, "n")
    if n < 2 or n > min(sizes):
        raise ValueError(f"n={n} needs 2 <= n <= {min(sizes)} (half the real set and every candidate's size)")
    reference, floor = floor_split(real, n, seed, "metric_table")
    rows = {}
    for row, fake in [("real (floor)", floor)] + [(k, v[:n]) for k, v in candidates.items()]:
        rows[row] = {"n": n}
        for name, metric in metrics.items():
            value = metric(reference, fake)
            if isinstance(value, dict):
                rows[row].update({f"{name} {k}": float(v) for k, v in value.items()
                                  if k not in ("k", "n_real", "n_fake")})
            else:
                rows[row][name] = float(value)
    return pd.DataFrame.from_dict(rows, orient="index")
