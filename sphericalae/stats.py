"""Sample statistics of sets of latent codes: norms, pairwise distances, coordinate moments, and the
energy distance between two sets. Names and shapes as in the package docstring (:mod:`sphericalae`):
a set is ``(n, dim)``, a torch tensor or a numpy array.

All statistics are computed in float64 on the input's device and returned as Python floats (or
float64 tensors where a function says so). Random draws (:func:`prior_gap_table`) come from
:mod:`sphericalae.seeding`.
"""
from __future__ import annotations

import torch

from .checks import as_float_tensor, positive_int
from .ops import PIPELINES, sample_prior
from .paper import PRIORS
from .seeding import torch_generator

__all__ = ["pairwise_distances", "energy_distance", "summarize", "prior_gap_table", "PIPELINES",
           "vector_skewness", "skewness_gap"]


def _as_set(z, name="z"):
    t, _ = as_float_tensor(z, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a set of points of shape (n, dim), got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def pairwise_distances(x, y=None) -> torch.Tensor:
    """Euclidean distances, float64. With ``y`` None: the n(n-1)/2 distances ``|x_i - x_j|``, i < j,
    of a set ``(n, dim)`` as a flat tensor. With ``y`` ``(n_y, dim)``: the ``(n, n_y)`` matrix
    ``|x_i - y_j|``."""
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
    """Energy distance between the distributions behind two sets (Szekely & Rizzo 2013), a float:
    ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` with unbiased (U-statistic) within-set means, so two sets
    of one distribution give 0 up to sampling noise (possibly slightly negative). The population
    value is zero iff the distributions agree."""
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
    """Geometry and coordinate moments of a set ``(n, dim)``, a dict of floats:

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
    """How far each prior of the paper is from the normal prior after each pipeline of Table 1
    (:data:`~sphericalae.ops.PIPELINES`), in R^dim: ``{pipeline: {prior: (mean, sd over reps)}}``
    of the :func:`energy_distance` between ``n`` points of the prior and ``n`` of the normal prior,
    both through the pipeline, relative to the mean pairwise distance within the normal set. The
    normal row compares two independent normal sets: the sampling-noise floor. The sd is NaN for
    ``reps == 1``. Repetition r draws the prior's set from ``seeding.torch_generator(seed,
    "prior_gap_table", dim, n, prior, r, "prior")`` and the normal set from the same key ending in
    ``"normal"``, on ``device``; every pipeline sees the same draws."""
    dim, n = positive_int(dim, "dim (ambient dimension)"), positive_int(n, "n (number of points)")
    reps = positive_int(reps, "reps")
    dev = torch.device(device) if device is not None else torch.device("cpu")

    def draw(q, r, side):
        gen = torch_generator(seed, "prior_gap_table", dim, n, q, r, side, device=dev)
        return sample_prior(q if side == "prior" else "normal", n, dim, gen, dtype=dtype, device=dev)
    out = {}
    for p_name, pipe in PIPELINES.items():
        out[p_name] = {}
        for q in PRIORS:
            vals = []
            for r in range(reps):
                z, ref = pipe(draw(q, r, "prior")), pipe(draw(q, r, "normal"))
                vals.append(energy_distance(z, ref) / float(_mean_within(ref)))
            v = torch.tensor(vals, dtype=torch.float64)
            out[p_name][q] = (float(v.mean()), float(v.std()) if reps > 1 else float("nan"))
    return out
