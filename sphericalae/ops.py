"""Algorithm 1 of the paper: sample a prior, centerize, spherize; the registries of priors and of
the pipelines of Table 1.

Names and shapes (``dim`` = m, ``n``, sets ``(n, m)``, the last axis) follow the conventions stated
once in the package docstring (:mod:`sphericalae`).
"""
from __future__ import annotations

import torch

from .checks import as_float_tensor, check_memory, dtype_value, finite_float, positive_int
from .seeding import resolve_generator

__all__ = ["centerize", "spherize", "sample_prior", "robust_sample", "prior_name", "pipeline_name",
           "resolve_generator", "PRIORS", "PIPELINES"]


def _codes(z):
    """``(tensor, back)`` of :func:`sphericalae.checks.as_float_tensor`, with a feature axis (the
    last) that exists and is not empty."""
    t, back = as_float_tensor(z, "z")
    if t.ndim == 0:
        raise ValueError("expected at least one dimension (the feature axis, last), got a scalar")
    if t.shape[-1] == 0:
        raise ValueError("the feature axis (last) is empty: m must be at least 1")
    return t, back


def centerize(z):
    """Subtract from each vector the mean of its own entries (Algorithm 1, step 2; eq. 10).

    ``z <- z - (1/m) sum_j z_j * 1``. The result lies in the hyperplane ``sum_j z_j = 0`` of R^m.
    Works on the last axis; shape, device and dtype are kept. Idempotent.
    """
    t, back = _codes(z)
    return back(t - t.mean(dim=-1, keepdim=True))


def spherize(z, eps: float = 1e-12, scale_safe: bool = True):
    """Project each vector onto the unit sphere S^(m-1): ``z <- z / ||z||`` (eq. 3; Algorithm 1, step 3).

    The norm is computed after scaling by the largest absolute entry, so tiny vectors (even
    subnormal ones) and large half-precision vectors land on the sphere instead of under- or
    overflowing. A vector whose (scaled) norm is below ``eps`` is divided by ``eps`` instead: the
    zero vector maps to the zero vector, finite and never NaN; it is the only input that does not
    end on the sphere. NaN or infinite entries propagate (no check, so no device sync).
    Works on the last axis; shape, device and dtype are kept. Idempotent.

    ``scale_safe=False`` skips the max-abs scaling (three fewer kernels, for hot training loops):
    then ``z * rsqrt(max(sum z^2, eps^2))``, exact for float32 and bfloat16 activations of ordinary
    size, but squares under- or overflow below ~1e-19 or above ~1e19 in float32 (~1e-4 and ~250 in
    float16).
    """
    if not finite_float(eps, "eps") > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    t, back = _codes(z)
    if not scale_safe:
        return back(t * torch.rsqrt(t.square().sum(dim=-1, keepdim=True).clamp_min(eps * eps)))
    scale = t.abs().amax(dim=-1, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    u = t / scale
    norm = torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    return back(u / norm.clamp_min(eps))


# The four cells of the paper's Table 1: which steps of Algorithm 1 are applied to a prior sample.
PIPELINES = {
    "vanilla": lambda z: z,
    "spherize": spherize,
    "centerize": centerize,
    "centerize+spherize": lambda z: spherize(centerize(z)),
}
"""name -> function of a set of draws. ``centerize+spherize`` is Algorithm 1 (without the redraw
of constant vectors that :func:`robust_sample` adds)."""

_PIPELINE_ALIASES = {"raw": "vanilla", "both": "centerize+spherize", "algorithm1": "centerize+spherize"}


def pipeline_name(name) -> str:
    """The key of :data:`PIPELINES` for a name or alias (``raw``, ``both``)."""
    key = _PIPELINE_ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; valid pipelines: {', '.join(PIPELINES)} "
                         f"(aliases: {', '.join(_PIPELINE_ALIASES)})")
    return key


# --- priors -------------------------------------------------------------------------------------
# The paper names four priors (Section 5.1, Table 1) but gives no parameters. We follow it where it
# speaks: its uniform prior must be symmetric about the origin (it is fixed by spherization alone),
# so we take U(-1, 1). Poisson(rate=1) and chi-squared(df=1) are our choice: both are positive and
# skewed (skewness 1 and 2*sqrt(2)), which is what makes them hard cases. Every parameter can be
# changed through keyword arguments of ``sample_prior``.

def _normal(shape, gen, device, dtype, mean=0.0, std=1.0):
    mean = finite_float(mean, "normal prior: mean")
    std = finite_float(std, "normal prior: std", low=0, low_open=True)
    return torch.randn(shape, generator=gen, device=device, dtype=dtype) * std + mean


def _uniform(shape, gen, device, dtype, low=-1.0, high=1.0):
    low, high = finite_float(low, "uniform prior: low"), finite_float(high, "uniform prior: high")
    if not high > low:
        raise ValueError(f"uniform prior: need low < high, got low={low!r}, high={high!r}")
    return torch.rand(shape, generator=gen, device=device, dtype=dtype) * (high - low) + low


def _poisson(shape, gen, device, dtype, rate=1.0):
    # torch.poisson is measured exact (mean and sd) up to rate 1e15; its sd drifts by 20% from
    # 1e16 and its int64 counter overflows to -9.2e18 above 9.2e18: rates above 1e15 are refused.
    rate = finite_float(rate, "poisson prior: rate", low=0, low_open=True, high=1e15)
    if rate > torch.finfo(dtype).max / 2:
        raise ValueError(f"poisson prior: rate {rate:g} is beyond {dtype}'s range (largest value "
                         f"{torch.finfo(dtype).max:g}); draw in float32 or float64")
    rates = torch.full(shape, rate, device=device, dtype=dtype)
    return torch.poisson(rates, generator=gen)


def _chi2(shape, gen, device, dtype, df=1):
    k = positive_int(df, "chi2 prior: df")
    # Sum of df squared standard normals: exact, and honours the generator on every device.
    x = torch.randn((k, *shape), generator=gen, device=device, dtype=dtype)
    return x.square().sum(dim=0)


PRIORS = {
    "normal": (_normal, {"mean": 0.0, "std": 1.0}),
    "uniform": (_uniform, {"low": -1.0, "high": 1.0}),
    "poisson": (_poisson, {"rate": 1.0}),
    "chi2": (_chi2, {"df": 1}),
}
"""name -> (sampler, default parameters). The four priors of the paper's Table 1."""

_ALIASES = {"gaussian": "normal", "chi-squared": "chi2", "chisquared": "chi2", "chi_squared": "chi2"}


def prior_name(name) -> str:
    """The registry key of a prior name or alias (``gaussian`` -> ``normal``); an error names the
    valid ones."""
    if isinstance(name, str):
        key = _ALIASES.get(name.lower(), name.lower())
        if key in PRIORS:
            return key
    raise ValueError(f"unknown prior {name!r}; valid priors: {', '.join(PRIORS)} "
                     f"(aliases: {', '.join(_ALIASES)})")


def sample_prior(name: str, n: int, dim: int, generator=None, *, device=None, dtype=None, **params):
    """Draw ``n`` vectors of R^dim, entries i.i.d. from the named prior. Returns a tensor ``(n, dim)``.

    ``name``: one of ``normal`` (mean 0, std 1), ``uniform`` (low -1, high 1), ``poisson`` (rate 1),
    ``chi2`` (df 1, a positive integer); ``params`` overrides those defaults, e.g. ``rate=4.0``.
    ``generator``: a ``torch.Generator`` (its device is used unless ``device`` is given), an int
    seed in [0, 2^64), or None for torch's global generator
    (:func:`sphericalae.seeding.resolve_generator`). ``dtype``: a floating ``torch.dtype`` or its
    name (``"float32"``); default torch's default float dtype.
    """
    key = prior_name(name)
    n = positive_int(n, "n (number of samples)")
    dim = positive_int(dim, "dim (ambient dimension m)")
    sampler, defaults = PRIORS[key]
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"prior {key!r} takes parameters {sorted(defaults)}; got unknown {sorted(unknown)}")
    dtype = dtype_value(dtype)
    gen, dev = resolve_generator(generator, device)
    draws = n * dim * (positive_int(params.get("df", 1), "chi2 prior: df") if key == "chi2" else 1)
    check_memory(draws, dtype.itemsize, f"{n} x {dim} draws of the {key} prior", dev)
    return sampler((n, dim), gen, dev, dtype, **{**defaults, **params})


def robust_sample(name: str, n: int, dim: int, generator=None, *, device=None, dtype=None,
                  eps: float = 1e-12, **params):
    """Algorithm 1, distribution-robust sampling: sample the prior, centerize, spherize.

    Returns ``n`` points ``(n, dim)`` on S^(dim-2), the unit sphere of the hyperplane
    ``sum_j z_j = 0`` in R^dim. ``dim`` must be at least 2 (in R^1 centerize leaves only 0).
    Draws that are constant vectors (possible for Poisson) are redrawn, so every output point is
    on the sphere. Arguments as in :func:`sample_prior`.

    Precision: the prior is drawn in ``dtype``, or in float32 when ``dtype`` is narrower (float16,
    bfloat16); centerize and spherize run in float64; the result is cast to ``dtype``. So every
    dtype returns the float64 result of Algorithm 1 on its draws (centerize applied twice, to
    remove the rounding of a large offset), rounded once: on the hyperplane
    and the sphere to the dtype's precision (|sum_j z_j| and |1 - ||z||| within a few units of
    its epsilon times sqrt(dim)), whatever the prior's offset (a Poisson rate of 1e15 included).
    """
    if positive_int(dim, "dim (ambient dimension m)") < 2:
        raise ValueError("robust_sample needs dim >= 2: after centerize a vector in R^1 is 0")
    dtype = dtype_value(dtype)
    draw = dtype if torch.finfo(dtype).bits >= 32 else torch.float32
    gen, dev = resolve_generator(generator, device)

    def centred(rows):
        x = sample_prior(name, rows, dim, gen, device=dev, dtype=draw, **params).to(torch.float64)
        # twice: a large offset (Poisson rate 1e15) leaves a rounding error in the first mean
        # that is large next to the spread; the second pass removes it to float64 precision
        return centerize(centerize(x))

    z = centred(n)
    # A discrete prior (Poisson) can draw a constant vector, which centerize sends to 0: a point
    # with no direction. Redraw those rows, i.e. sample the prior conditioned on a non-constant
    # vector. Rare except in very low dimension (Poisson(1) in R^2: about 31% of draws).
    for _ in range(_MAX_REDRAW_ROUNDS):
        bad = (z.abs().amax(dim=-1) == 0).nonzero().flatten()
        if bad.numel() == 0:
            return spherize(z, eps=eps).to(dtype)
        z[bad] = centred(bad.numel())
    raise RuntimeError(f"robust_sample: prior {name!r} kept drawing constant vectors in R^{dim} "
                       f"after {_MAX_REDRAW_ROUNDS} rounds; its parameters make it (nearly) degenerate")


_MAX_REDRAW_ROUNDS = 1000
