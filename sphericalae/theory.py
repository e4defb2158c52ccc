"""Section 2 of the paper in closed form, with Monte Carlo counterparts: volume concentration
(Theorem 1), distance convergence (Lemma 1) and the exact 2-Wasserstein distance (eq. 8-9, Theorem 2).

Names as in the package docstring (:mod:`sphericalae`): ``dim`` is the ambient dimension m (the
ball and the sphere S^(m-1) live in R^m), ``n`` a number of points (a set is ``(n, dim)``);
``width`` is the relative width of a shell of the ball. Closed forms are float64, finite and
accurate for ``dim`` from 2 to 10^6. Functions that draw take a ``generator`` (the package's
convention) or a ``seed`` whose streams come from :mod:`sphericalae.seeding`. The derivations are
in the book's pages *Volume concentration*, *Distance convergence* and *The Wasserstein theorem*.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.special import gammaln, polygamma

from .checks import as_float64_array
from .checks import finite_float as _finite_float
from .checks import positive_int as _positive_int
from .ops import PIPELINES, pipeline_name, prior_name, robust_sample, sample_prior, spherize
from .seeding import resolve_generator as _resolve_generator
from .seeding import torch_generator

__all__ = ["volume_fraction", "annulus_width", "pairwise_distance_pdf", "pairwise_distance_moments",
           "pairwise_distance_asymptotes", "wasserstein2", "sliced_wasserstein2", "w2_between_priors",
           "marginal_w2_bound",
           "sample_ball", "sample_sphere", "mc_volume_fraction", "mc_pairwise_distances"]


def _dimension(dim, least=1):
    dim = _positive_int(dim, "dim (ambient dimension)")
    if dim < least:
        raise ValueError(f"dim (ambient dimension) must be at least {least}, got {dim}")
    return dim


def _points(n):
    return _positive_int(n, "n (number of points)")


# --- Theorem 1: volume concentration ------------------------------------------------------------

def volume_fraction(width, dim):
    """Share of the volume of a ball in R^dim that lies inside (1 - width) times its radius:
    ``(1 - width)^dim`` (Theorem 1, eq. 4; the paper's epsilon is ``width``), for ``width`` in
    [0, 1]. ``1 - volume_fraction(width, dim)`` is the share in the outer shell of relative width
    ``width``. Vectorized over ``width`` (a float for a scalar, else a numpy array); float64."""
    dim = _dimension(dim)
    width = np.asarray(width, dtype=np.float64)
    if np.any(~((width >= 0) & (width <= 1))):
        raise ValueError("width (relative shell width) must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        out = np.exp(dim * np.log1p(-width))
    return out if out.ndim else float(out)


def annulus_width(mass, dim):
    """Relative width of the outer shell of a ball in R^dim that holds the share ``mass`` (in
    [0, 1]) of its volume: ``1 - (1 - mass)^(1/dim)``, the inverse of :func:`volume_fraction`
    (``1 - volume_fraction(annulus_width(mass, dim), dim) == mass``). Vectorized like it."""
    dim = _dimension(dim)
    mass = np.asarray(mass, dtype=np.float64)
    if np.any(~((mass >= 0) & (mass <= 1))):
        raise ValueError("mass must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        out = -np.expm1(np.log1p(-mass) / dim)
    return out if out.ndim else float(out)


# --- Lemma 1: distance between two random points of the sphere ----------------------------------

def pairwise_distance_pdf(xi, dim, radius=1.0):
    """Density at ``xi`` of the distance between two independent uniform points of the sphere of
    radius ``radius`` in R^dim, ``dim >= 2`` (Lemma 1, eq. 6, after Lord 1954):
    ``c (xi^2 (4r^2 - xi^2) / (4r^4))^((dim-3)/2) xi / r^2`` with
    ``c = Gamma(dim/2) / (sqrt(pi) Gamma((dim-1)/2))``, 0 outside (0, 2r). Vectorized over ``xi``;
    float64, evaluated in log space (finite for ``dim`` up to 10^6)."""
    dim = _dimension(dim, least=2)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    xi = np.asarray(xi, dtype=np.float64)
    r = float(radius)
    log_c = gammaln(dim / 2) - 0.5 * math.log(math.pi) - gammaln((dim - 1) / 2)
    inside = (xi > 0) & (xi < 2 * r)
    x = np.where(inside, xi, r)  # a safe value outside the support, masked below
    log_p = (log_c + (dim - 3) / 2 * (2 * np.log(x) + np.log(4 * r * r - x * x) - math.log(4) - 4 * math.log(r))
             + np.log(x) - 2 * math.log(r))
    out = np.where(inside, np.exp(log_p), 0.0)
    return out if out.ndim else float(out)


def _log_mean_ratio(dim: int) -> float:
    """log(E[xi] / (sqrt(2) r)) for the sphere in R^dim: ``2 lgamma(a) - lgamma(a - 1/4) -
    lgamma(a + 1/4)``, a = dim/2, summed as its polygamma series in h = 1/4 for a >= 4 (the
    rewriting of eq. 7 and why are on the page *Distance convergence*)."""
    a = dim / 2
    if a < 4:
        return float(2 * gammaln(a) - gammaln(a - 0.25) - gammaln(a + 0.25))
    h, total = 0.25, 0.0
    for j in range(1, 12):
        term = -2 * float(polygamma(2 * j - 1, a)) * h ** (2 * j) / math.factorial(2 * j)
        total += term
        if abs(term) < 1e-18 * abs(total):
            break
    return total


def pairwise_distance_moments(dim, radius=1.0):
    """``(mean, sd)`` of the distance between two independent uniform points of the sphere of
    radius ``radius`` in R^dim, ``dim >= 2`` (Lemma 1, eq. 7): ``mean = r 2^(dim-1)
    Gamma(dim/2)^2 / (sqrt(pi) Gamma(dim - 1/2))``, ``sd = sqrt(2 r^2 - mean^2)``. Floats, accurate
    to float64 precision (tested against 60-digit arithmetic) and finite for ``dim`` up to 10^6."""
    dim = _dimension(dim, least=2)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    L = _log_mean_ratio(dim)
    mean = math.sqrt(2) * radius * math.exp(L)
    sd = radius * math.sqrt(-2 * math.expm1(2 * L))
    return mean, sd


def pairwise_distance_asymptotes(dim, radius=1.0):
    """The large-dim forms of Lemma 1's ``(mean, sd)``: ``(sqrt(2) r (1 - 1/(8 dim)),
    r / sqrt(2 dim))``."""
    dim = _dimension(dim, least=2)
    return math.sqrt(2) * radius * (1 - 1 / (8 * dim)), radius / math.sqrt(2 * dim)


# --- Theorem 2: exact 2-Wasserstein distance between two point sets ----------------------------

def _as_point_set(z, name):
    a = as_float64_array(z, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a set of points of shape (n, dim), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _check_pair(x, y):
    x, y = _as_point_set(x, "x"), _as_point_set(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"the two sets must have the same number of points (uniform weights, eq. 9): "
                         f"got {x.shape[0]} and {y.shape[0]}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the two sets live in different dimensions: {x.shape[1]} and {y.shape[1]}")
    return x, y


def wasserstein2(x, y, return_matching=False):
    """Exact 2-Wasserstein distance with uniform weights (eq. 8-9) between two sets of ``n`` points
    of R^dim, ``x`` and ``y`` (numpy arrays or torch tensors ``(n, dim)``, finite), returned as
    ``W2 / sqrt(n)``: the root mean squared distance of an optimal matching, the quantity of
    Theorem 2. Exact (the assignment problem, ``scipy.optimize.linear_sum_assignment``; neither
    sliced nor entropic), float64 on the CPU. With ``return_matching``: ``(value, perm)``, x[i]
    matched to y[perm[i]]."""
    x, y = _check_pair(x, y)
    cost = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    np.maximum(cost, 0.0, out=cost)
    rows, cols = linear_sum_assignment(cost)
    value = math.sqrt(cost[rows, cols].mean())
    if return_matching:
        perm = np.empty_like(cols)
        perm[rows] = cols
        return value, perm
    return value


def sliced_wasserstein2(x, y, n_projections=100, generator=None):
    """Sliced 2-Wasserstein distance between two sets ``(n, dim)``: the root of the mean, over
    ``n_projections`` uniform directions of S^(dim-1) drawn with ``generator``, of the squared 1-d
    W2 of the projected sets (Bonneel et al. 2015). A float. A different quantity from
    :func:`wasserstein2`, not an approximation of it."""
    x, y = _check_pair(x, y)
    dirs = sample_sphere(_positive_int(n_projections, "n_projections"), x.shape[1], generator,
                         dtype=torch.float64).numpy()
    px, py = np.sort(x @ dirs.T, axis=0), np.sort(y @ dirs.T, axis=0)
    return float(math.sqrt(((px - py) ** 2).mean()))


def w2_between_priors(prior_x, prior_y, dim, n, *, reps=5, robust=True, seed=0, pipeline=None):
    """Theorem 2 measured: a numpy array of ``reps`` values of :func:`wasserstein2` between a set of
    ``n`` points of ``prior_x`` and an independent set of ``n`` points of ``prior_y`` in R^dim, both
    through Algorithm 1 (``robust=True``, :func:`~sphericalae.ops.robust_sample`: on S^(dim-2)) or
    raw. ``pipeline`` (a key or alias of :data:`~sphericalae.ops.PIPELINES`, the cells of Table 1)
    applies those steps to plain prior draws instead and overrides ``robust``. Draws are float64;
    set r of side x is drawn from ``seeding.torch_generator(seed, "w2_between_priors", prior_x,
    prior_y, how, dim, n, r, "x")`` (``how``: the pipeline, or "robust" / "vanilla"), so every call
    is reproducible on its own and calls with other arguments are independent."""
    if pipeline is None:
        how, draw = ("robust", robust_sample) if robust else ("vanilla", sample_prior)
    else:
        how, steps = pipeline_name(pipeline), PIPELINES[pipeline_name(pipeline)]

        def draw(name, n, dim, gen, dtype):
            return steps(sample_prior(name, n, dim, gen, dtype=dtype))
    prior_x, prior_y = prior_name(prior_x), prior_name(prior_y)
    dim, n, reps = _dimension(dim), _points(n), _positive_int(reps, "reps")

    def stream(r, side):
        return torch_generator(seed, "w2_between_priors", prior_x, prior_y, how, dim, n, r, side)
    return np.array([wasserstein2(draw(prior_x, n, dim, stream(r, "x"), dtype=torch.float64),
                                  draw(prior_y, n, dim, stream(r, "y"), dtype=torch.float64))
                     for r in range(reps)])


def marginal_w2_bound(x, y):
    """``sqrt(sum_j W2(x_j, y_j)^2)`` for two sets ``(n, dim)``: the root of the sum over coordinates
    j of the squared 1-d W2 between the sets' empirical marginals of coordinate j. A float, at most
    ``wasserstein2(x, y)``; as an estimate of the lower bound ``sum_j W2(P_j, Q_j)^2 <= W2(P, Q)^2``
    on the distributions behind the sets (proof on the page *The Wasserstein theorem*) it is biased
    upward (nonzero for two sets of one distribution): compare with a same-distribution pair."""
    x, y = _check_pair(x, y)
    return math.sqrt(float(((np.sort(x, axis=0) - np.sort(y, axis=0)) ** 2).mean(axis=0).sum()))


# --- Monte Carlo counterparts -------------------------------------------------------------------

def sample_sphere(n, dim, generator=None, *, device=None, dtype=None):
    """``n`` points uniform on the unit sphere S^(dim-1) of R^dim, a tensor ``(n, dim)``
    (normalized standard normal vectors). ``generator``, ``device``, ``dtype`` as in
    :func:`~sphericalae.ops.sample_prior`."""
    n, dim = _points(n), _dimension(dim)
    gen, dev = _resolve_generator(generator, device)
    g = torch.randn(n, dim, generator=gen, device=dev, dtype=dtype or torch.get_default_dtype())
    return spherize(g)


def sample_ball(n, dim, generator=None, *, device=None, dtype=None):
    """``n`` points uniform in the unit ball of R^dim, a tensor ``(n, dim)``: a uniform direction
    times ``U^(1/dim)``. Arguments as in :func:`sample_sphere`."""
    n, dim = _points(n), _dimension(dim)
    gen, dev = _resolve_generator(generator, device)
    dtype = dtype or torch.get_default_dtype()
    u = torch.rand(n, 1, generator=gen, device=dev, dtype=dtype)
    return sample_sphere(n, dim, gen, device=dev, dtype=dtype) * u.pow(1.0 / dim)


def mc_volume_fraction(width, dim, n=100_000, generator=None):
    """Monte Carlo estimate of :func:`volume_fraction`: the share of ``n`` uniform points of the
    unit ball of R^dim whose norm is at most ``1 - width``. Returns ``(estimate, standard error)``,
    floats; memory stays below 16 MiB whatever ``n``."""
    n, dim = _points(n), _dimension(dim)
    width = _finite_float(width, "width (relative shell width)", low=0, high=1)
    gen, _ = _resolve_generator(generator, None)
    inside = 0
    for size in _chunks(n, dim):
        norms = torch.linalg.vector_norm(sample_ball(size, dim, gen, dtype=torch.float64), dim=-1)
        inside += int((norms <= 1 - width).sum())
    p = inside / n
    return p, math.sqrt(max(p * (1 - p), 1e-300) / n)


def mc_pairwise_distances(dim, n=100_000, radius=1.0, generator=None):
    """``n`` independent draws (a float64 numpy array) of the distance between two uniform points of
    the sphere of radius ``radius`` in R^dim: the Monte Carlo counterpart of Lemma 1. Memory stays
    below 16 MiB per chunk whatever ``n``."""
    n, dim = _points(n), _dimension(dim)
    gen, _ = _resolve_generator(generator, None)
    out = []
    for size in _chunks(n, dim):
        x = sample_sphere(size, dim, gen, dtype=torch.float64)
        y = sample_sphere(size, dim, gen, dtype=torch.float64)
        out.append(radius * torch.linalg.vector_norm(x - y, dim=-1))
    return torch.cat(out).numpy()


def _chunks(n, dim, budget=2**21):
    """Split n points of R^dim into chunks of at most ``budget`` numbers (16 MiB in float64)."""
    step = max(1, budget // dim)
    for start in range(0, n, step):
        yield min(step, n - start)
