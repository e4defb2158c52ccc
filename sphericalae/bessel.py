"""Modified Bessel functions of the first kind for the von Mises-Fisher distribution, in torch.

The vMF on S^(m-1) in R^m with concentration k needs, for the order v = m/2 - 1:

* ``log I_v(k)`` (its normalizer),
* the mean resultant ``A_m(k) = I_{v+1}(k) / I_v(k) = E[mu . z]``, its complement ``1 - A_m(k)``
  and its derivative ``A_m'(k) = Var(mu . z)``,
* ``log S_v(k)`` with ``S_v(k) = Gamma(v+1) (k/2)^(-v) I_v(k) = 0F1(; v+1; k^2/4) >= 1``, the
  normalizer without its power law. ``KL(vMF || uniform) = k A_m(k) - log S_v(k)`` exactly, which
  avoids the cancellation of the textbook form (two terms of size ~|log I_v| for a KL near 0).

Everything runs on the input's device (no scipy, no trip to the CPU) in float64 internally and is
cast back to the input's dtype: the float32 results are then exact to float32 rounding. The
order v is a Python number (it is fixed by the dimension), k a tensor of any shape.

Valid range: ``0 <= k <= K_MAX = 2^100 ~ 1.27e30`` for every m >= 2; a k outside it (negative, above 1e30,
infinite) raises ValueError (NaN propagates as NaN). Inside it, against 50+-digit mpmath values
(tests/fixtures/vmf_reference.json, m = 2 .. 1024, k = 1e-2 .. 1e30), the relative errors of the KL,
A, 1 - A and dKL/dk are all below about 1e-11 (see the tests for the exact bounds).

Method: one of two routes per element, chosen by ``k <= _series_max_k(v) = max(20, sqrt(0.8 (v+1)))``
(a comparison; each route runs only on its elements, as a few large vectorised kernels).

* Small k: the power series of 0F1, its first 40 terms at once (a cumulative product; the omitted
  tail is below 1e-20 of the sum at the bound). ``A`` and ``A'`` come from the same terms:
  ``S_{v+1} - 1`` and ``S_v - S_{v+1}`` are weighted sums of the terms of ``S_v - 1``.
  ``A' = (1 + (2v+1) (S_v - S_{v+1}) / S_v) / (2v+2) - A^2`` loses about ``log10(1/A')`` digits
  (relative error ~1e-12 at its worst, v = 0 and k = 20; checked against mpmath in the tests).
* Large k (so ``sqrt(v^2 + k^2) > 20``): the uniform asymptotic (Debye) expansion, DLMF 10.41.3,
  at the orders v and v+1 themselves, with u_1 .. u_20 (generated exactly from the recursion
  DLMF 10.41.10). Written in ``root = sqrt(v^2 + k^2)``: ``u_j(t)/v^j = P_j(y) / root^j`` with
  ``y = (v/root)^2`` and ``u_j(t) = t^j P_j(t^2)``, so v = 0 is included (it is then Hankel's
  expansion) and the omitted term is at most ``max |P_21| / root^21 < 2e-16`` relative (the
  maximum is at y = 0). Since ``y = v^2 / root^2``, the correction ``sum_j P_j(y) / root^j`` is one
  polynomial of degree 60 in ``(v+1) / root`` whose coefficients depend on v only: they are summed
  exactly (Fractions) once per order, and the polynomial and its derivative are evaluated in a few
  vectorised kernels (baby-step giant-step powers, one batched matrix product). Nothing is formed as a
  difference of O(1) or O(k) quantities (at large k, ``A`` is 1 - O(m/k), ``A'`` is O(m/k^2) and
  ``log I_v`` is k + O(log k)): the Debye forms of ``L = log(I_{v+1}/I_v)`` and of ``dL/dk`` are
  rewritten without cancelling terms (``sqrt(a) - sqrt(b) = (a - b) / (sqrt(a) + sqrt(b))``,
  ``asinh a - asinh b = asinh((a^2 - b^2) / (a sqrt(1 + b^2) + b sqrt(1 + a^2)))``, ...); then
  ``A = exp(L)``, ``1 - A = -expm1(L)``, ``A' = A dL/dk``, and the exponentially scaled
  ``log I_v(k) - k``; ``KL = -k (1 - A) - (log I_v - k) + v log(k/2) - lgamma(v+1)``: every term
  is O(m log k).

Gradients in k are analytic and come with the forward values: ``d log I_v / dk = A + v / k``,
``d log S_v / dk = A``, ``dA / dk = A'``, ``dKL / dk = k A'``.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import NamedTuple

import torch

__all__ = ["log_bessel_iv", "bessel_ratio", "log_hyp0f1_normalizer", "vmf_kl_to_uniform", "bessel_terms",
           "BesselTerms", "K_MAX", "one_minus_bessel_ratio"]

K_MAX = 2.0 ** 100      # ~1.27e30, largest k accepted (exact in float16/32/64; mpmath-checked to 1e30)
_DEBYE_MIN_K = 20.0     # the Debye route needs sqrt(v^2 + k^2) > 20
_DEBYE_TERMS = 20
_SERIES_TERMS = 40


def _series_max_k(v: float) -> float:
    """The series is used for k up to here. Its 40 terms leave a tail below 1e-20 of the sum up to
    k = 20 (the worst case is v = 0); above 20 the Debye expansion is accurate for every v. For large
    v the series goes on up to k^2/4 = 0.8 (v + 1) / 4, where it avoids the Debye route's cancellation
    of log I_v against lgamma(v+1) (terms of size ~v log v for a KL near 0)."""
    return max(_DEBYE_MIN_K, math.sqrt(0.8 * (v + 1)))


def _debye_polynomials(n):
    """Exact coefficients of P_j (j = 1..n) with u_j(t) = t^j P_j(t^2), from the recursion DLMF 10.41.10
    ``u_{j+1}(t) = t^2 (1 - t^2) u_j'(t) / 2 + int_0^t (1 - 5 s^2) u_j(s) ds / 8``, u_0 = 1:
    ``table[j][i]`` is the coefficient of y^i in P_j(y) (a Fraction; table[0] is P_0 = 1)."""
    u = [[Fraction(1)]]                              # coefficients of t^0, t^1, ...
    for _ in range(n):
        p = u[-1]
        new = [Fraction(0)] * (len(p) + 3)
        for i, c in enumerate(p):
            new[i + 1] += Fraction(i) * c / 2 + c / (8 * (i + 1))
            new[i + 3] += -Fraction(i) * c / 2 - 5 * c / (8 * (i + 3))
        u.append(new)
    return [[u[j][j + 2 * i] for i in range(j + 1)] for j in range(n + 1)]


_P = _debye_polynomials(_DEBYE_TERMS)
_BLOCK = 8    # the correction polynomial in sigma has degree 3 J = 60 < 8 * 8: baby steps 1..8, giant steps 0..7


def _debye_coefficients(nu: float):
    """``x = sum_j P_j(y) / root^j`` (y = nu^2 / root^2) regrouped as a polynomial in ``sigma = (nu + 1) / root``:
    ``s^j y^i = nu^(2i) s^(j + 2i)``, so ``x = sum_p delta_p sigma^p`` with ``delta_p = sum_{j + 2i = p}
    P_j[i] nu^(2i) / (nu + 1)^p``, summed exactly (Fractions) and rounded once. Returns the (8, 8) matrix
    ``delta[8 a + b]`` at row b - 1, column a (p = 1 .. 64)."""
    nu, scale = Fraction(nu), Fraction(nu) + 1
    delta = [Fraction(0)] * (_BLOCK * _BLOCK + 1)
    for j in range(1, _DEBYE_TERMS + 1):
        for i, c in enumerate(_P[j]):
            delta[j + 2 * i] += c * nu ** (2 * i)
    return torch.tensor([[float(delta[_BLOCK * a + b] / scale ** (_BLOCK * a + b)) for a in range(_BLOCK)]
                         for b in range(1, _BLOCK + 1)], dtype=torch.float64)


class BesselTerms(NamedTuple):
    """Bessel quantities of one order v at k, float64 (see :func:`bessel_terms`)."""
    log_iv: torch.Tensor          # log I_v(k)
    log_s: torch.Tensor           # log S_v(k)
    ratio: torch.Tensor           # A = I_{v+1}(k) / I_v(k)
    one_minus_ratio: torch.Tensor  # 1 - A, with full relative precision
    d_ratio: torch.Tensor         # A'(k) = dA/dk
    kl: torch.Tensor              # k A - log S_v(k) = KL(vMF || uniform) for v = m/2 - 1


@functools.lru_cache(maxsize=None)
def _debye_constants(v: float, device: torch.device):
    """Per (order, device), cached: the orders (v, v+1) and their scales (v+1, v+2) as (2, 1) columns,
    for each order the (8, 16) matrix ``[delta | -p delta]`` of :func:`_debye_coefficients`
    (``-p delta_p`` are the coefficients of ``-sigma dx/dsigma``), and ``2 v + 1`` as a 0-d tensor."""
    f64 = dict(dtype=torch.float64, device=device)
    p = torch.arange(1, _BLOCK * _BLOCK + 1, dtype=torch.float64).view(_BLOCK, _BLOCK).T   # p = 8 a + b
    mats = [_debye_coefficients(nu) for nu in (v, v + 1)]
    both = torch.stack([torch.cat([d, -p * d], dim=1) for d in mats])
    return (torch.tensor([[v], [v + 1]], **f64), torch.tensor([[v + 1], [v + 2]], **f64), both.to(**f64),
            torch.tensor(2 * v + 1, **f64))


@functools.lru_cache(maxsize=None)
def _series_constants(v: float, device: torch.device):
    """Per (order, device), cached: ``1 / (4 j (v + j))`` for j = 1..39 as a column (the ratios of the
    terms of S_v, over k^2), and the (3, 39) weights that turn the terms of ``S_v - 1`` into
    ``S_v - 1``, ``S_{v+1} - 1`` (term_j (v+1)/(v+1+j)) and ``S_v - S_{v+1}`` (term_j j/(v+1+j))."""
    j = torch.arange(1, _SERIES_TERMS, dtype=torch.float64, device=device)
    weights = torch.stack([torch.ones_like(j), (v + 1) / (v + 1 + j), j / (v + 1 + j)])
    return (1 / (4 * j * (v + j))).unsqueeze(-1), weights


def _debye_series(v: float, z: torch.Tensor):
    """For the orders v and v+1 (rows) at z > 0 (float64, 1-d): ``root = sqrt(nu^2 + z^2)``,
    ``x = sum_j P_j(y) / root^j`` (``= sum_j u_j(t) / nu^j``) and ``dx/dz``, each of shape (2, n).
    The polynomial in sigma is evaluated with 8 baby steps (sigma^1..8) and 8 giant steps
    (sigma^0, 8, .., 56): one cumulative product each and two batched matrix products."""
    orders, scales, coefficients, _ = _debye_constants(v, z.device)
    root = torch.hypot(orders, z)
    sigma = scales / root                                                    # <= (v + 2) / sqrt(v^2 + 400)
    baby = torch.cumprod(sigma.unsqueeze(-1).expand(*sigma.shape, _BLOCK), dim=-1)     # sigma^1 .. sigma^8
    giant = torch.cumprod(torch.cat([torch.ones_like(baby[..., :1]), baby[..., -1:].expand(*sigma.shape, _BLOCK - 1)],
                                    dim=-1), dim=-1)                         # sigma^0, sigma^8, .., sigma^56
    inner = torch.bmm(baby, coefficients).unflatten(-1, (2, _BLOCK))          # (2, n, 2, 8)
    x, minus_sigma_dx = (inner @ giant.unsqueeze(-1)).squeeze(-1).unbind(-1)
    # dx/dz = dx/dsigma dsigma/dz, dsigma/dz = -sigma z / root^2
    return root, x, minus_sigma_dx * z / root.square()


def _debye_terms(v: float, k: torch.Tensor, power: torch.Tensor) -> BesselTerms:
    """By the Debye expansion at the orders v and v+1; for k > _series_max_k(v) >= 20 (1-d):
    ``log I_v(k) - k``, ``L = log(I_{v+1}(k) / I_v(k))`` and ``dL/dk`` in cancellation-free forms
    (the operations common to both orders run on both rows at once)."""
    orders, _, _, n2 = _debye_constants(v, k.device)                 # n2 = 2v + 1 = (v+1)^2 - v^2
    root, x, dx = _debye_series(v, k)
    r0, r1 = root
    log1p_x = torch.log1p(x)
    d_log1p_x = dx / (x + 1)
    asinh = torch.asinh(orders / k)                                   # asinh(v / k), asinh((v+1) / k)
    roots = r0 + r1                                                   # r1 - r0 = n2 / roots
    # L = (r1 - r0) - asinh((v+1)/k) - v (asinh((v+1)/k) - asinh(v/k)) - log(r1/r0)/2 + log((1+x1)/(1+x0))
    log_ratio = torch.sub(n2 / roots, asinh[1])
    log_ratio = log_ratio.sub_(torch.asinh(n2 / torch.add(r0 * (v + 1), r1, alpha=v)), alpha=v)
    log_ratio = log_ratio.sub_(torch.log1p(n2 / r0.square()), alpha=0.25).add_(log1p_x[1] - log1p_x[0])
    d_log_ratio = torch.add(n2 / (k * roots), k / (r0 * r1).square(), alpha=0.5 * (2 * v + 1))
    d_log_ratio = d_log_ratio.add_(d_log1p_x[1] - d_log1p_x[0])
    # log I_v - k = v eta - k - log(2 pi root) / 2 + log(1 + x), v eta - k = v^2 / (root + k) - v asinh(v / k)
    log_ive = torch.sub(log1p_x[0], torch.log(r0), alpha=0.5).sub_(0.5 * math.log(2 * math.pi))
    if v > 0:
        log_ive = log_ive.add_(v * v / (r0 + k)).sub_(asinh[0], alpha=v)
    ratio = torch.exp(log_ratio)
    one_minus = torch.expm1(log_ratio).neg_()
    kl = torch.sub(power, log_ive).addcmul_(k, one_minus, value=-1)   # = k A - log S, without the O(k) terms
    log_iv = log_ive + k
    return BesselTerms(log_iv, log_iv - power, ratio, one_minus, ratio * d_log_ratio, kl)


def _series_terms(v: float, k: torch.Tensor, power: torch.Tensor) -> BesselTerms:
    """From the 0F1 series; accurate for k <= _series_max_k(v) (k = 0 included; 1-d)."""
    ratios, weights = _series_constants(v, k.device)
    terms = (k.square() * ratios).cumprod_(dim=0)               # (39, n): term_j of S_v, j = 1..39
    s_v, s_v1, s_d = weights @ terms                            # S_v - 1, S_{v+1} - 1, S_v - S_{v+1}
    log_s = torch.log1p(s_v)
    s_v = s_v + 1
    ratio = (s_v1 + 1).mul_(k).div_(s_v).mul_(1 / (2 * (v + 1)))
    # 1 - A^2 - (2v+1) A/k with (2v+1) A/k = (2v+1)/(2v+2) (1 - s_d/S_v): the 1 - (2v+1)/(2v+2) done exactly
    d_ratio = (s_d / s_v).mul_((2 * v + 1) / (2 * v + 2)).add_(1 / (2 * v + 2)).addcmul_(ratio, ratio, value=-1)
    return BesselTerms(log_s + power, log_s, ratio, 1 - ratio, d_ratio, torch.mul(k, ratio).sub_(log_s))


def _split(k, small, v, power):
    """Both routes, each on its own elements, scattered back into (6, n)."""
    idx_small, idx_large = small.nonzero()[:, 0], (~small).nonzero()[:, 0]
    out = k.new_empty((6, k.numel()))
    out[:, idx_small] = torch.stack(_series_terms(v, k[idx_small], power[idx_small]))
    out[:, idx_large] = torch.stack(_debye_terms(v, k[idx_large], power[idx_large]))
    return BesselTerms(*out)


def _terms(v: float, k: torch.Tensor) -> BesselTerms:
    """All Bessel terms in float64 for 0 <= k <= K_MAX, choosing the route per element."""
    shape = k.shape
    k = k.reshape(-1)
    if k.numel() == 0:
        return BesselTerms(*(k.view(shape) for _ in BesselTerms._fields))
    small = k <= _series_max_k(v)
    n_small, lo, hi = torch.stack([small.sum().to(k.dtype), *torch.aminmax(k)]).tolist()   # one sync; NaN passes
    if lo < 0 or hi > K_MAX:
        bad = k[(k < 0) | (k > K_MAX)]
        raise ValueError(f"the concentration k must lie in [0, 2^100 = {K_MAX:.3g}] (the range where the Bessel "
                         f"functions here are verified), got {bad.numel()} value(s) outside it, e.g. {float(bad[0])!r}")
    # log of (k/2)^v / Gamma(v+1)
    power = torch.log(k).mul_(v).sub_(v * math.log(2) + math.lgamma(v + 1)) if v > 0 else torch.zeros_like(k)
    if n_small == k.numel():
        out = _series_terms(v, k, power)
    elif n_small == 0:
        out = _debye_terms(v, k, power)
    else:
        out = _split(k, small, v, power)
    return BesselTerms(*(t.view(shape) for t in out))


def _check(v, k):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
        raise ValueError(f"the order v must be a number >= 0, got {v!r}")
    if not isinstance(k, torch.Tensor):
        k = torch.as_tensor(k, dtype=torch.get_default_dtype())
    if not k.is_floating_point():
        k = k.to(torch.get_default_dtype())
    return float(v), k


def bessel_terms(v, k):
    """:class:`BesselTerms` ``(log I_v, log S_v, A, 1 - A, A', k A - log S_v)`` at k in float64,
    without gradient (the first three fields are ``(log I_v(k), log S_v(k), I_{v+1}(k)/I_v(k))``):
    compute once and pass as ``terms=`` to the functions below when several need the same k.
    Raises ValueError for k outside [0, K_MAX]."""
    v, k = _check(v, k)
    with torch.no_grad():
        return _terms(v, k.detach().double())


def _get(terms, v, k):
    return terms if terms is not None else _terms(v, k.detach().double())


class _OfK(torch.autograd.Function):
    """A function of k computed from one set of Bessel terms, with its analytic derivative in k
    also computed from them (so backward needs no further Bessel evaluation)."""

    @staticmethod
    def forward(ctx, k, v, terms, value, derivative):
        terms = _get(terms, v, k)
        ctx.save_for_backward(derivative(terms, k.detach().double(), v))
        return value(terms).to(k.dtype)

    @staticmethod
    def backward(ctx, grad):
        (derivative,) = ctx.saved_tensors
        return grad * derivative.to(grad.dtype), None, None, None, None


def _d_log_iv(t, k, v):
    return t.ratio + v / k if v > 0 else t.ratio


def log_bessel_iv(v, k, terms=None):
    """``log I_v(k)`` for order ``v >= 0`` (a number) and ``0 <= k <= K_MAX`` (a tensor); differentiable in k."""
    v, k = _check(v, k)
    return _OfK.apply(k, v, terms, lambda t: t.log_iv, _d_log_iv)


def bessel_ratio(v, k, terms=None):
    """``I_{v+1}(k) / I_v(k)``; for v = m/2 - 1 it is the vMF mean resultant A_m(k) = E[mu . z].
    Its derivative in k is computed without the cancellation of ``1 - A^2 - (2v+1) A / k``."""
    v, k = _check(v, k)
    return _OfK.apply(k, v, terms, lambda t: t.ratio, lambda t, kk, v: t.d_ratio)


def one_minus_bessel_ratio(v, k, terms=None):
    """``1 - I_{v+1}(k) / I_v(k)`` with full relative precision also where the ratio is close to 1
    (e.g. ``1 - A_3(1e9) = 1e-9``); differentiable in k."""
    v, k = _check(v, k)
    return _OfK.apply(k, v, terms, lambda t: t.one_minus_ratio, lambda t, kk, v: -t.d_ratio)


def log_hyp0f1_normalizer(v, k, terms=None):
    """``log S_v(k) = log[Gamma(v+1) (k/2)^(-v) I_v(k)] = log 0F1(; v+1; k^2/4)``, >= 0, finite as k -> 0."""
    v, k = _check(v, k)
    return _OfK.apply(k, v, terms, lambda t: t.log_s, lambda t, kk, v: t.ratio)


def vmf_kl_to_uniform(m: int, k, terms=None):
    """``KL(vMF(mu, k) || uniform on S^(m-1))`` in R^m, ``= k A_m(k) - log S_{m/2-1}(k)``; equal to the
    textbook ``k A_m(k) + log C_m(k) + log(2 pi^(m/2) / Gamma(m/2))``. For ``0 <= k <= K_MAX ~ 1.27e30``
    (ValueError outside). Differentiable in k with the analytic derivative ``k A_m'(k)``."""
    if isinstance(m, bool) or not isinstance(m, int) or m < 2:
        raise ValueError(f"m (ambient dimension) must be an integer >= 2, got {m!r}")
    v, k = _check(m / 2 - 1, k)
    # d/dk [k A - log S] = A + k A' - A = k A'
    return _OfK.apply(k, v, terms, lambda t: t.kl.clamp_min(0), lambda t, kk, v: kk * t.d_ratio)
