"""Section 2 of the paper in closed form, with Monte Carlo counterparts: volume concentration
(Theorem 1), distance convergence (Lemma 1) and the exact 2-Wasserstein distance (eq. 8-9, Theorem 2).

Dimension convention (as everywhere in sphericalae): ``n`` here is the *ambient* dimension; the ball
is B^n in R^n and the sphere S^(n-1) is its surface. The paper writes S^d in R^(d+1) in Theorem 1
but then evaluates in "R^512" with exponent 512, i.e. the ambient dimension: we follow the latter.
For point sets, ``k`` is the number of points: a set is an array ``(k, n)``.

Closed forms are evaluated in float64 and in log space, so that they stay finite and accurate for
n from 2 to 10^6 (the Gamma ratios of Lemma 1 overflow long before n = 512 if taken literally).
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.special import gammaln, polygamma

from .checks import positive_int as _positive_int
from .ops import resolve_generator as _resolve_generator
from .ops import PIPELINES, pipeline_name, robust_sample, sample_prior, spherize

__all__ = ["volume_fraction", "annulus_width", "pairwise_distance_pdf", "pairwise_distance_moments",
           "pairwise_distance_asymptotes", "wasserstein2", "sliced_wasserstein2", "w2_between_priors",
           "marginal_w2_bound",
           "sample_ball", "sample_sphere", "mc_volume_fraction", "mc_pairwise_distances"]


def _dimension(n, least=1):
    n = _positive_int(n, "n (ambient dimension)")
    if n < least:
        raise ValueError(f"n (ambient dimension) must be at least {least}, got {n}")
    return n


# --- Theorem 1: volume concentration ------------------------------------------------------------

def volume_fraction(eps, n):
    """Share of the volume of the ball of radius r in R^n that lies inside radius (1 - eps) r
    (Theorem 1, eq. 4): ``V((1 - eps) r) / V(r) = (1 - eps)^n``, for 0 <= eps <= 1.
    ``1 - volume_fraction(eps, n)`` is the share in the outer shell of relative width eps.
    Vectorized over ``eps`` (numpy broadcasting); computed as ``exp(n log1p(-eps))``."""
    n = _dimension(n)
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(~((eps >= 0) & (eps <= 1))):
        raise ValueError("eps must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        out = np.exp(n * np.log1p(-eps))
    return out if out.ndim else float(out)


def annulus_width(mass, n):
    """Relative width w of the outer shell of the ball in R^n that holds the share ``mass`` of its
    volume: the solution of ``1 - (1 - w)^n = mass``, i.e. ``w = 1 - (1 - mass)^(1/n)``.
    In R^512, 99% of the volume lies within w = 0.90% of the radius (Section 2.1)."""
    n = _dimension(n)
    mass = np.asarray(mass, dtype=np.float64)
    if np.any(~((mass >= 0) & (mass <= 1))):
        raise ValueError("mass must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        out = -np.expm1(np.log1p(-mass) / n)
    return out if out.ndim else float(out)


# --- Lemma 1: distance between two random points of the sphere ----------------------------------

def pairwise_distance_pdf(xi, n, radius=1.0):
    """Density of the distance xi between two independent uniform points of the sphere of radius r
    in R^n (Lemma 1, eq. 6), n >= 2, supported on [0, 2r].

    With t = x.y / r^2, t has density ``c_n (1 - t^2)^((n-3)/2)`` on [-1, 1],
    ``c_n = Gamma(n/2) / (sqrt(pi) Gamma((n-1)/2))``, and ``xi = r sqrt(2 - 2t)``; so
    ``p(xi) = c_n (xi^2 (4r^2 - xi^2) / (4 r^4))^((n-3)/2) xi / r^2``, evaluated in log space."""
    n = _dimension(n, least=2)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    xi = np.asarray(xi, dtype=np.float64)
    r = float(radius)
    log_c = gammaln(n / 2) - 0.5 * math.log(math.pi) - gammaln((n - 1) / 2)
    inside = (xi > 0) & (xi < 2 * r)
    x = np.where(inside, xi, r)  # a safe value outside the support, masked below
    log_p = (log_c + (n - 3) / 2 * (2 * np.log(x) + np.log(4 * r * r - x * x) - math.log(4) - 4 * math.log(r))
             + np.log(x) - 2 * math.log(r))
    out = np.where(inside, np.exp(log_p), 0.0)
    return out if out.ndim else float(out)


def _log_mean_ratio(n: int) -> float:
    """log( E[xi] / (sqrt(2) r) ) for the sphere in R^n.

    By Legendre's duplication formula the paper's mean, ``r 2^(n-1) Gamma(n/2)^2 / (sqrt(pi)
    Gamma(n - 1/2))`` (eq. 7), equals ``sqrt(2) r Gamma(a)^2 / (Gamma(a - 1/4) Gamma(a + 1/4))``
    with a = n/2. Its log is a second difference of log-Gamma, ~ -1/(8n): taken literally it
    cancels catastrophically for large n, so for a >= 4 we sum its Taylor series in h = 1/4,
    ``-2 sum_k psi^(2k-1)(a) h^(2k) / (2k)!`` (polygamma functions), which converges fast."""
    a = n / 2
    if a < 4:
        return float(2 * gammaln(a) - gammaln(a - 0.25) - gammaln(a + 0.25))
    h, total = 0.25, 0.0
    for k in range(1, 12):
        term = -2 * float(polygamma(2 * k - 1, a)) * h ** (2 * k) / math.factorial(2 * k)
        total += term
        if abs(term) < 1e-18 * abs(total):
            break
    return total


def pairwise_distance_moments(n, radius=1.0):
    """Mean and standard deviation of the distance between two independent uniform points of the
    sphere of radius r in R^n (Lemma 1, eq. 7): ``E[xi] = r 2^(n-1) Gamma(n/2)^2 / (sqrt(pi)
    Gamma(n - 1/2))`` and, since ``E[xi^2] = 2 r^2``, ``sd = sqrt(2 r^2 - E[xi]^2)``. Returns
    ``(mean, sd)`` as floats, exact to float64 precision and finite for n from 2 to 10^6 and beyond
    (the sd is computed as ``r sqrt(-2 expm1(2 L))`` with L = log(E[xi] / (sqrt(2) r)))."""
    n = _dimension(n, least=2)
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    L = _log_mean_ratio(n)
    mean = math.sqrt(2) * radius * math.exp(L)
    sd = radius * math.sqrt(-2 * math.expm1(2 * L))
    return mean, sd


def pairwise_distance_asymptotes(n, radius=1.0):
    """The large-n forms of Lemma 1: ``(sqrt(2) r (1 - 1/(8n)), r / sqrt(2n))``."""
    n = _dimension(n, least=2)
    return math.sqrt(2) * radius * (1 - 1 / (8 * n)), radius / math.sqrt(2 * n)


# --- Theorem 2: exact 2-Wasserstein distance between two point sets ----------------------------

def _as_point_set(z, name):
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    try:
        a = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a numeric array or tensor of shape (k, n)") from None
    if a.ndim != 2:
        raise ValueError(f"{name} must be a set of points of shape (k, n), got shape {a.shape}")
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
    """Exact 2-Wasserstein distance between two equal-size point sets with uniform weights (eq. 8-9),
    returned as ``W2 / sqrt(k)`` = the root mean squared distance of the optimal matching, the
    quantity Theorem 2 says converges.

    Eq. 8-9 minimize ``sum_ij w_ij |x_i - y_j|^2`` over doubly stochastic w; by Birkhoff's theorem
    an optimum is a permutation, so the linear program is the assignment problem, solved exactly
    by ``scipy.optimize.linear_sum_assignment`` (not sliced, not entropic). Accepts numpy arrays and
    torch tensors ``(k, n)`` (computed in float64 on the CPU). With ``return_matching`` also returns
    ``perm`` such that x[i] is matched to y[perm[i]].
    """
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
    """Sliced 2-Wasserstein distance (Monte Carlo over random directions of S^(n-1)): the root of
    the mean, over directions, of the squared 1-d W2 between the projected sets. Shown only to
    contrast with :func:`wasserstein2`; it is a different quantity, not an approximation of it."""
    x, y = _check_pair(x, y)
    dirs = sample_sphere(_positive_int(n_projections, "n_projections"), x.shape[1], generator,
                         dtype=torch.float64).numpy()
    px, py = np.sort(x @ dirs.T, axis=0), np.sort(y @ dirs.T, axis=0)
    return float(math.sqrt(((px - py) ** 2).mean()))


def w2_between_priors(prior_x, prior_y, dim, k, reps=5, robust=True, seed=0, pipeline=None):
    """Theorem 2 measured: ``reps`` independent values of :func:`wasserstein2` between a set of ``k``
    points drawn from ``prior_x`` and an independent set of ``k`` from ``prior_y`` in R^dim, both
    passed through Algorithm 1 (``robust=True``: on S^(dim-2)) or left raw. Returns a numpy array.
    ``pipeline`` (one of "vanilla", "spherize", "centerize", "centerize+spherize", the cells of
    Table 1) applies those steps to plain prior draws instead and overrides ``robust``.
    Seeds derive from ``seed`` and the arguments, so each call is reproducible on its own."""
    key = [seed, dim, k, zlib.crc32(prior_x.encode()), zlib.crc32(prior_y.encode()), int(robust)]
    if pipeline is None:
        draw = robust_sample if robust else sample_prior
    else:
        steps = PIPELINES[pipeline_name(pipeline)]

        def draw(name, n, m, gen, dtype):
            return steps(sample_prior(name, n, m, gen, dtype=dtype))
        key = key[:-1] + [zlib.crc32(pipeline_name(pipeline).encode())]
    base = np.random.SeedSequence(key)
    out = []
    for child in base.spawn(_positive_int(reps, "reps")):
        sx, sy = (int(v) for v in child.generate_state(2))
        out.append(wasserstein2(draw(prior_x, k, dim, sx, dtype=torch.float64),
                                draw(prior_y, k, dim, sy, dtype=torch.float64)))
    return np.array(out)


def marginal_w2_bound(x, y):
    """Lower bound on the 2-Wasserstein distance between the *distributions* behind two equal-size
    sets: ``sqrt(sum_j W2(x_j, y_j)^2)``, the root of the sum over coordinates j of the squared 1-d
    W2 between the empirical marginals of coordinate j (sorted values matched in order).

    Any coupling of two distributions on R^m couples each pair of coordinate marginals, and the
    squared distance is the sum over coordinates, so ``sum_j W2(P_j, Q_j)^2 <= W2(P, Q)^2``; for the
    sets themselves it is at most ``wasserstein2(x, y) = W2 / sqrt(k)``. From samples it carries a
    small upward bias (nonzero for two sets of one distribution): compare with a same-distribution
    pair."""
    x, y = _check_pair(x, y)
    return math.sqrt(float(((np.sort(x, axis=0) - np.sort(y, axis=0)) ** 2).mean(axis=0).sum()))


# --- Monte Carlo counterparts -------------------------------------------------------------------

def sample_sphere(k, n, generator=None, *, device=None, dtype=None):
    """``k`` points uniform on the unit sphere S^(n-1) in R^n: normalized standard normal vectors."""
    k, n = _positive_int(k, "k (number of points)"), _dimension(n)
    gen, dev = _resolve_generator(generator, device)
    g = torch.randn(k, n, generator=gen, device=dev, dtype=dtype or torch.get_default_dtype())
    return spherize(g)


def sample_ball(k, n, generator=None, *, device=None, dtype=None):
    """``k`` points uniform in the unit ball of R^n: a uniform direction times ``U^(1/n)``."""
    k, n = _positive_int(k, "k (number of points)"), _dimension(n)
    gen, dev = _resolve_generator(generator, device)
    dtype = dtype or torch.get_default_dtype()
    u = torch.rand(k, 1, generator=gen, device=dev, dtype=dtype)
    return sample_sphere(k, n, gen, device=dev, dtype=dtype) * u.pow(1.0 / n)


def mc_volume_fraction(eps, n, k=100_000, generator=None):
    """Monte Carlo estimate of :func:`volume_fraction`: the share of ``k`` uniform points of the
    unit ball of R^n whose norm is at most ``1 - eps``. Returns ``(estimate, standard error)``."""
    k, n = _positive_int(k, "k (number of points)"), _dimension(n)
    gen, _ = _resolve_generator(generator, None)
    inside = 0
    for size in _chunks(k, n):
        norms = torch.linalg.vector_norm(sample_ball(size, n, gen, dtype=torch.float64), dim=-1)
        inside += int((norms <= 1 - float(eps)).sum())
    p = inside / k
    return p, math.sqrt(max(p * (1 - p), 1e-300) / k)


def mc_pairwise_distances(n, k=100_000, radius=1.0, generator=None):
    """``k`` independent draws of the distance between two uniform points of the sphere of radius
    r in R^n (a numpy array): the Monte Carlo counterpart of Lemma 1."""
    k, n = _positive_int(k, "k (number of points)"), _dimension(n)
    gen, _ = _resolve_generator(generator, None)
    out = []
    for size in _chunks(k, n):
        x = sample_sphere(size, n, gen, dtype=torch.float64)
        y = sample_sphere(size, n, gen, dtype=torch.float64)
        out.append(radius * torch.linalg.vector_norm(x - y, dim=-1))
    return torch.cat(out).numpy()


def _chunks(k, n, budget=2**21):
    """Split k points of R^n into chunks of at most ``budget`` numbers (16 MiB in float64)."""
    step = max(1, budget // n)
    for start in range(0, k, step):
        yield min(step, k - start)
