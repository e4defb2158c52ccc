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

Method. For k <= max(1, sqrt(0.8 (v+1))) the power series of 0F1 (12 terms, full precision). Otherwise the uniform
asymptotic (Debye) expansion, DLMF 10.41.3 with u_1 .. u_10 (generated exactly from the recursion
DLMF 10.41.10), at an order ``top >= 15`` where its relative error is about 1e-16, then the downward
three-term recurrence ``I_{mu-1} = (2 mu / k) I_mu + I_{mu+1}`` down to v. Large k needs care: there
``A`` is 1 - O(m/k), ``A'`` is O(m/k^2) and ``log I_v`` is k + O(log k), so nothing is formed as a
difference of O(1) or O(k) quantities:

* at the top order the Debye forms of ``L = log(I_{top+1}/I_top)`` and of ``dL/dk`` are rewritten so
  that they have no cancelling terms (``sqrt(a) - sqrt(b) = (a - b) / (sqrt(a) + sqrt(b))``,
  ``asinh a - asinh b = asinh((a^2 - b^2) / (a sqrt(1 + b^2) + b sqrt(1 + a^2)))``, ...); then
  ``r = I_{top+1}/I_top = exp(L)``, ``1 - r = -expm1(L)``, ``r' = r dL/dk``, and the exponentially
  scaled ``log I_top(k) - k``;
* the recurrence carries, with ``c = 2 mu / k`` and all terms positive (stable):
  ``r_{mu-1} = 1 / (c + r_mu)``, ``1 - r_{mu-1} = (c - (1 - r_mu)) r_{mu-1}`` and
  ``r'_{mu-1} = r_{mu-1}^2 (c / k - r'_mu)`` (the derivative of the first), so ``A' = r'_v`` never
  comes from ``1 - A^2 - (m-1) A / k`` (whose leading terms cancel: 3% error at m = 3, k = 5e4);
* ``KL = -k (1 - A) - (log I_v - k) + v log(k/2) - lgamma(v+1)``: every term is O(m log k).

Gradients in k are analytic and come with the forward values: ``d log I_v / dk = A + v / k``,
``d log S_v / dk = A``, ``dA / dk = A'``, ``dKL / dk = k A'``.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import torch

__all__ = ["log_bessel_iv", "bessel_ratio", "log_hyp0f1_normalizer", "vmf_kl_to_uniform", "bessel_terms",
           "BesselTerms", "K_MAX", "one_minus_bessel_ratio"]

K_MAX = 2.0 ** 100      # ~1.27e30, largest k accepted (exact in float16/32/64; mpmath-checked to 1e30)
_DEBYE_ORDER = 15.0
_DEBYE_TERMS = 10
_SERIES_TERMS = 12


def _series_max_k(v: float) -> float:
    """The series (12 terms) is used for k up to here: k^2/4 <= 0.8 (v + 1) / 4 keeps its first omitted
    term below 1e-17 of the sum; for large v it also avoids the recurrence's cancellation of
    log I_v against lgamma(v+1) (terms of size ~v log v for a KL near 0)."""
    return max(1.0, math.sqrt(0.8 * (v + 1)))


def _debye_polynomials(n):
    """Coefficients of P_j (j = 1..n) with u_j(t) = t^j P_j(t^2), from the exact recursion DLMF 10.41.10
    ``u_{j+1}(t) = t^2 (1 - t^2) u_j'(t) / 2 + int_0^t (1 - 5 s^2) u_j(s) ds / 8``, u_0 = 1."""
    u = [[Fraction(1)]]                              # coefficients of t^0, t^1, ...
    for _ in range(n):
        p = u[-1]
        new = [Fraction(0)] * (len(p) + 3)
        for i, c in enumerate(p):
            new[i + 1] += Fraction(i) * c / 2 + c / (8 * (i + 1))
            new[i + 3] += -Fraction(i) * c / 2 - 5 * c / (8 * (i + 3))
        u.append(new)
    table = torch.zeros(n + 1, n, dtype=torch.float64)   # table[i, j-1] = coefficient of y^i in P_j(y)
    for j in range(1, n + 1):
        for i in range(j + 1):
            table[i, j - 1] = float(u[j][j + 2 * i])
    return table


_P = _debye_polynomials(_DEBYE_TERMS)
# Q_j(y) = j P_j(y) + 2 y P_j'(y), so that d/dt [t^j P_j(t^2)] = t^(j-1) Q_j(t^2): coefficient (j + 2i) c_ij
_Q = _P * (torch.arange(1, _DEBYE_TERMS + 1, dtype=torch.float64)
           + 2 * torch.arange(_DEBYE_TERMS + 1, dtype=torch.float64).view(-1, 1))
_PQ = [[(float(_P[i, j]), float(_Q[i, j])) for i in range(j + 2)] for j in range(_DEBYE_TERMS)]


def _debye_series(nu, z, root):
    """``x = sum_j u_j(t) / nu^j`` (t = nu / root, root = sqrt(nu^2 + z^2)) and dx/dz, float64, by
    Horner's rule in s = t / nu (outside) and y = t^2 (inside), on small elementwise tensors."""
    t = nu / root
    y = t * t
    s = t / nu
    x = dx = None
    for j in range(_DEBYE_TERMS - 1, -1, -1):                 # sum_j s^(j+1) P_{j+1}(y), Horner in s
        coef = _PQ[j]
        p = torch.full_like(y, coef[-1][0])
        q = torch.full_like(y, coef[-1][1])
        for cp, cq in coef[-2::-1]:
            p = p * y + cp
            q = q * y + cq
        x = p if x is None else p + x
        dx = q if dx is None else q + dx
        x = x * s
        dx = dx * s
    # d/dt [(t/nu)^j P_j(t^2)] = (t/nu)^j Q_j(t^2) / t, and dt/dz = -t z / root^2
    return x, -(z / (root * root)) * dx


def _debye_top(nu: float, z: torch.Tensor):
    """At the order nu >= _DEBYE_ORDER, for z > 0 (float64, 1-d): ``log I_nu(z) - z``,
    ``L = log(I_{nu+1}(z) / I_nu(z))`` and ``dL/dz``, all in cancellation-free forms."""
    orders = torch.tensor([nu, nu + 1], dtype=z.dtype, device=z.device).view(2, 1)
    roots = torch.hypot(orders, z)                                               # sqrt(nu^2 + z^2)
    x, dx = _debye_series(orders, z, roots)
    r0, r1 = roots[0], roots[1]
    n2 = 2 * nu + 1                                                              # (nu+1)^2 - nu^2
    # log I_nu - z = nu eta - z - log(2 pi root) / 2 + log(1 + x), nu eta = root - nu asinh(nu / z)
    log_ive = nu * nu / (r0 + z) - nu * torch.asinh(nu / z) - 0.5 * torch.log(2 * math.pi * r0) + torch.log1p(x[0])
    diff_asinh = torch.asinh(n2 / ((nu + 1) * r0 + nu * r1))                     # asinh((nu+1)/z) - asinh(nu/z)
    log_ratio = (n2 / (r0 + r1) - torch.asinh((nu + 1) / z) - nu * diff_asinh
                 - 0.25 * torch.log1p(n2 / (r0 * r0)) + torch.log1p(x[1]) - torch.log1p(x[0]))
    d_log_ratio = (n2 / (z * (r0 + r1)) + 0.5 * n2 * (z / (r0 * r1)) / (r0 * r1)
                   + dx[1] / (1 + x[1]) - dx[0] / (1 + x[0]))
    return log_ive, log_ratio, d_log_ratio


class BesselTerms(NamedTuple):
    """Bessel quantities of one order v at k, float64 (see :func:`bessel_terms`)."""
    log_iv: torch.Tensor          # log I_v(k)
    log_s: torch.Tensor           # log S_v(k)
    ratio: torch.Tensor           # A = I_{v+1}(k) / I_v(k)
    one_minus_ratio: torch.Tensor  # 1 - A, with full relative precision
    d_ratio: torch.Tensor         # A'(k) = dA/dk
    kl: torch.Tensor              # k A - log S_v(k) = KL(vMF || uniform) for v = m/2 - 1


def _series_terms(v: float, k: torch.Tensor, power: torch.Tensor) -> BesselTerms:
    """From the 0F1 series; accurate for k <= _series_max_k(v) (k = 0 included)."""
    x = k * k / 4
    s_v = torch.zeros_like(k)                                   # S_v - 1, summed without the 1
    s_v1 = torch.zeros_like(k)                                  # S_{v+1} - 1
    term_v = torch.ones_like(k)
    term_v1 = torch.ones_like(k)
    s_d = torch.zeros_like(k)                                   # S_v - S_{v+1} = sum_j term_j j / (v+1+j)
    for j in range(1, _SERIES_TERMS):
        term_v = term_v * x / (j * (v + j))
        term_v1 = term_v1 * x / (j * (v + 1 + j))
        s_v = s_v + term_v
        s_v1 = s_v1 + term_v1
        s_d = s_d + term_v * (j / (v + 1 + j))
    log_s = torch.log1p(s_v)
    ratio_over_k = (1 + s_v1) / (2 * (v + 1) * (1 + s_v))
    ratio = k * ratio_over_k
    # 1 - A^2 - (2v+1) A/k with (2v+1) A/k = (2v+1)/(2v+2) (1 - s_d/S_v): the 1 - (2v+1)/(2v+2) done exactly
    d_ratio = (1 + (2 * v + 1) * s_d / (1 + s_v)) / (2 * v + 2) - ratio * ratio
    return BesselTerms(log_s + power, log_s, ratio, 1 - ratio, d_ratio, k * ratio - log_s)


def _recurrence_terms(v: float, k: torch.Tensor, power: torch.Tensor) -> BesselTerms:
    """By Debye at a high order and the downward recurrence; for k > _series_max_k(v) >= 1 (1-d)."""
    steps = max(0, math.ceil(_DEBYE_ORDER - v))
    top = v + steps
    log_ive, log_ratio, d_log_ratio = _debye_top(top, k)
    ratio = torch.exp(log_ratio)                               # r = I_{top+1} / I_top
    one_minus = -torch.expm1(log_ratio)                        # 1 - r
    d_ratio = ratio * d_log_ratio                              # r'
    product = torch.ones_like(k)                             # I_top / I_v, accumulated
    for i in range(steps):
        mu = top - i                                           # ratio holds I_{mu+1} / I_mu
        c = 2 * mu / k
        ratio = torch.reciprocal(c + ratio)                    # now I_mu / I_{mu-1}
        one_minus = (c - one_minus) * ratio                    # c - (1 - r) = 1/r_new - 1 > 0
        d_ratio = ratio * ratio * (c / k - d_ratio)            # derivative of the line above the last
        product = product * ratio                              # >= (1/(2 top))^steps: no underflow
    log_ive = log_ive - torch.log(product)                     # log I_v(k) - k
    log_iv = log_ive + k
    kl = -k * one_minus - log_ive + power                      # = k A - log S, without the O(k) terms
    return BesselTerms(log_iv, log_iv - power, ratio, one_minus, d_ratio, kl)


def _terms(v: float, k: torch.Tensor) -> BesselTerms:
    """All Bessel terms in float64 for 0 <= k <= K_MAX, choosing the method per element."""
    shape = k.shape
    k = k.reshape(-1)
    small = k <= _series_max_k(v)
    n_small, n_bad = torch.stack([small.sum(), ((k < 0) | (k > K_MAX)).sum()]).tolist()   # one sync
    if n_bad:
        bad = k[(k < 0) | (k > K_MAX)]
        raise ValueError(f"the concentration k must lie in [0, 2^100 = {K_MAX:.3g}] (the range where the Bessel "
                         f"functions here are verified), got {n_bad} value(s) outside it, e.g. {float(bad[0])!r}")
    if v > 0:
        power = v * torch.log(k / 2) - math.lgamma(v + 1)      # log of (k/2)^v / Gamma(v+1)
    else:
        power = torch.zeros_like(k)
    if n_small == k.numel():                                   # series only
        out = _series_terms(v, k, power)
    elif n_small == 0:                                         # Debye and recurrence only
        out = _recurrence_terms(v, k, power)
    else:
        idx_small, idx_large = small.nonzero().squeeze(-1), (~small).nonzero().squeeze(-1)
        a = _series_terms(v, k[idx_small], power[idx_small])
        b = _recurrence_terms(v, k[idx_large], power[idx_large])
        out = []
        for x, y in zip(a, b):
            t = torch.empty_like(k)
            t[idx_small] = x
            t[idx_large] = y
            out.append(t)
        out = BesselTerms(*out)
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
