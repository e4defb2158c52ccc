"""Sample statistics of sets of latent codes: norms, pairwise distances, coordinate moments, and the
energy distance between two sets. Shapes follow sphericalae.ops: a set is ``(n, m)``, points in R^m.

All statistics are computed in float64 on the input's device and returned as Python floats.
"""
from __future__ import annotations

import torch

from .ops import PIPELINES, _to_float_tensor, sample_prior
from .paper import PRIORS

__all__ = ["pairwise_distances", "energy_distance", "summarize", "prior_gap_table", "PIPELINES",
           "vector_skewness", "skewness_gap"]


def _as_set(z, name="z"):
    t, _ = _to_float_tensor(z)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a set of points of shape (n, m), got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def pairwise_distances(x, y=None) -> torch.Tensor:
    """Euclidean distances, float64. With ``y`` None: the n(n-1)/2 distances ``|x_i - x_j|``, i < j,
    as a flat tensor. With ``y``: the full ``(n, k)`` matrix ``|x_i - y_j|``."""
    x = _as_set(x, "x")
    if y is None:
        if x.shape[0] < 2:
            raise ValueError("need at least 2 points for pairwise distances")
        d = torch.cdist(x, x)
        i, j = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
        return d[i, j]
    y = _as_set(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y live in different dimensions: {x.shape[1]} and {y.shape[1]}")
    return torch.cdist(x, y)


def energy_distance(x, y) -> float:
    """Energy distance between the distributions behind two sets (Szekely & Rizzo):
    ``2 E|X - Y| - E|X - X'| - E|Y - Y'|``, with unbiased (U-statistic) within-set means, so two sets
    from the same distribution give 0 up to sampling noise. Zero iff the distributions agree."""
    cross = pairwise_distances(x, y).mean()
    return float(2 * cross - _mean_within(x) - _mean_within(y))


def _mean_within(x) -> torch.Tensor:
    """Mean of |x_i - x_j| over i != j, from the full distance matrix (no index gather)."""
    d = pairwise_distances(x, x)
    n = d.shape[0]
    if n < 2:
        raise ValueError("need at least 2 points for pairwise distances")
    return (d.sum() - d.diagonal().sum()) / (n * (n - 1))


def summarize(z) -> dict:
    """Geometry and coordinate moments of a set ``(n, m)``:

    ``norm_mean``, ``norm_sd``: of ``|z_i|``; ``dist_mean``, ``dist_sd``: of ``|z_i - z_j|``, i < j;
    ``coord_mean``, ``coord_sd``, ``coord_skew``, ``coord_kurt`` (excess): of all entries pooled,
    the per-coordinate statistics when coordinates are exchangeable, as for every prior here.
    """
    z = _as_set(z)
    norms = torch.linalg.vector_norm(z, dim=-1)
    dist = pairwise_distances(z)
    e = z.flatten()
    mu, sd = e.mean(), e.std()
    c = (e - mu) / sd if sd > 0 else torch.zeros_like(e)
    out = {
        "norm_mean": norms.mean(), "norm_sd": norms.std(),
        "dist_mean": dist.mean(), "dist_sd": dist.std(),
        "coord_mean": mu, "coord_sd": sd,
        "coord_skew": (c ** 3).mean(), "coord_kurt": (c ** 4).mean() - 3.0,
    }
    return {k: float(v) for k, v in out.items()}


def vector_skewness(z) -> torch.Tensor:
    """Skewness of each vector's own entries: ``mean_j c_ij^3 / (mean_j c_ij^2)^(3/2)`` with
    ``c_ij = z_ij - mean_j z_ij``; shape ``(n,)``, float64. It is unchanged by centerize and spherize
    (a per-vector shift and scale), so Algorithm 1 cannot move it. A constant vector gives 0."""
    z = _as_set(z)
    c = z - z.mean(dim=-1, keepdim=True)
    m2 = (c * c).mean(dim=-1)
    m3 = (c ** 3).mean(dim=-1)
    safe = torch.where(m2 > 0, m2, torch.ones_like(m2))
    return torch.where(m2 > 0, m3 / safe.pow(1.5), torch.zeros_like(m2))


def skewness_gap(x, y) -> tuple:
    """Two-sample statistic on third moments: ``(gap, z)`` with ``gap`` the difference of the mean
    :func:`vector_skewness` of the two sets and ``z`` that gap over its standard error (vectors
    are independent, so the error is ``sqrt(var_x / n_x + var_y / n_y)``). For two sets of one
    distribution ``z`` is roughly standard normal; ``|z| > 4`` says the third moments differ."""
    sx, sy = vector_skewness(x), vector_skewness(y)
    gap = sx.mean() - sy.mean()
    se = torch.sqrt(sx.var() / sx.numel() + sy.var() / sy.numel())
    return float(gap), float(gap / se) if se > 0 else float("inf") * (1.0 if gap != 0 else 0.0)


def prior_gap_table(dim: int, n: int = 1000, reps: int = 3, seed: int = 0, dtype=torch.float64,
                    device=None) -> dict:
    """How far each prior is from the normal prior after each pipeline of Table 1, in R^dim.

    For every pipeline p and prior q, ``reps`` times: draw n points from q and n from the normal
    prior (independent seeds), apply p to both, and take the energy distance between the two sets,
    relative to the mean pairwise distance within the normal set (so columns of different scale
    compare). The normal row compares two independent normal sets: it is the sampling-noise floor.
    Returns ``{pipeline: {prior: (mean, sd over reps)}}``. Seeds are fixed by ``seed``, so the
    table is reproducible; ``device`` picks where the samples and distances are computed.
    """
    out = {}
    for p_name, pipe in PIPELINES.items():
        out[p_name] = {}
        for q_i, q in enumerate(PRIORS):
            vals = []
            for r in range(reps):
                base = seed + 1000 * r + 10 * q_i
                z = pipe(sample_prior(q, n, dim, base + 1, dtype=dtype, device=device))
                ref = pipe(sample_prior("normal", n, dim, base + 2, dtype=dtype, device=device))
                vals.append(energy_distance(z, ref) / float(_mean_within(ref)))
            v = torch.tensor(vals, dtype=torch.float64)
            out[p_name][q] = (float(v.mean()), float(v.std()) if reps > 1 else float("nan"))
    return out
