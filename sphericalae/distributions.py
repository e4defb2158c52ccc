"""Distributions on the sphere, in ``torch.distributions`` form: the von Mises-Fisher (vMF), the
uniform distribution on the sphere, their KL, and glue for the Power Spherical distribution.

Convention: the ambient dimension is ``dim = loc.shape[-1]`` (written m in the formulas); every
distribution here lives on the unit sphere S^(m-1) in R^m (``HypersphericalUniform(dim)`` too: R^m,
not S^m), and both expose it as ``.dim``.

vMF(mu, k) has density ``C_m(k) exp(k mu.z)`` on S^(m-1), ``C_m(k) = k^v / ((2 pi)^(m/2) I_v(k))``,
``v = m/2 - 1``. Its mean is ``A_m(k) mu`` with ``A_m(k) = I_{m/2}(k) / I_{m/2-1}(k)``. The Bessel
quantities come from :mod:`sphericalae.bessel` (torch, any device, float64 inside), once per
distribution; the concentration must lie in [0, 2^100] (checked at construction).

Sampling follows Wood (1994): w = mu.z is drawn by rejection from a Beta((m-1)/2, (m-1)/2)
proposal, with the cancellation-free ``b = (m-1) / (2k + sqrt(4k^2 + (m-1)^2))``, in float64. The
acceptance rate is at least about 0.65 (m = 2 and large k; higher for larger m or smaller k), so the
first round draws 2 proposals for every entry and keeps the first accepted one (>= 88% of entries
finish), and each later round draws 8 for every entry still to draw; one host sync per round, at
most ``max_rounds`` rounds (they never run out in practice; if they do, it raises). Then
``z' = (w, sqrt(1 - w^2) u)`` with u uniform on S^(m-2), and an isometry maps e1 to mu: the
Householder reflection through ``e1 - mu`` when mu_1 <= 0, and minus the reflection through
``e1 + mu`` otherwise, so the reflection vector never degenerates (mu close to +-e1 included).
Random draws use torch's global generator, or the ``generator`` passed to ``rsample``/``sample``.

Gradients of ``rsample``: pathwise in ``loc`` (through the isometry). In ``concentration`` they are
*implicit reparameterization* gradients (Figurnov et al. 2018) of w:
``dw/dk = -(dF/dk)(w; k) / p(w; k) = -int_{-1}^{w} (t - A) p(t) dt / p(w)``, with F the CDF of w,
computed by Gauss-Legendre quadrature on the side of w away from the mode, over the span where
the density is not negligible, in float64 from the float64 w and 1 - w (only the returned sample is
cast to the caller's dtype), so it is finite at w = +-1. The tangential part sqrt(1 - w^2) of z gets
its gradient ``-w / sqrt(1 - w^2) dw/dk`` too. On the circle (m = 2) the same Wood sampler is exact
(its proposal is then Beta(1/2, 1/2)), but the density of w is singular at +-1, so the gradient goes
through the von Mises angle theta = arccos(w): ``dtheta/dk = -(dF/dk)/p(theta)`` with a smooth
integrand, and ``dw/dk = -sin(theta) dtheta/dk``. This gradient is exact, so no correction term is needed:
it does not use the pathwise-through-accept-step estimator of Davidson et al. 2018 that needs the
correction of Naesseth et al. 2017 (without it that estimator is biased).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch.distributions import Distribution, constraints
from torch.distributions.kl import register_kl

from torch.distributions.utils import lazy_property

from .bessel import (K_MAX, BesselTerms, bessel_ratio, bessel_terms, log_hyp0f1_normalizer, one_minus_bessel_ratio,
                     vmf_kl_to_uniform)
from .checks import as_float_tensor
from .seeding import resolve_generator

__all__ = ["VonMisesFisher", "HypersphericalUniform", "PowerSpherical", "power_spherical"]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(32)
_GL_U, _GL_W = torch.from_numpy((_GL_NODES + 1) / 2), torch.from_numpy(_GL_WEIGHTS / 2)   # on (0, 1)
_FIRST_CANDIDATES = 2   # Wood proposals per entry in the first round: acceptance >= 0.65, so >= 88% finish
_MORE_CANDIDATES = 8    # per entry in later rounds (few entries): all but < 3e-4 of them finish


def _log_sphere_area(m: int) -> float:
    """log of the surface area of S^(m-1) in R^m: log(2 pi^(m/2) / Gamma(m/2))."""
    return math.log(2) + (m / 2) * math.log(math.pi) - math.lgamma(m / 2)


class HypersphericalUniform(Distribution):
    """The uniform distribution on the unit sphere S^(dim-1) in R^dim (``dim`` is the ambient
    dimension, as ``loc.shape[-1]`` of a vMF; the public S-VAE code means S^dim, a classic mix-up)."""

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, dim: int, device=None, dtype=None, validate_args=None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2:
            raise ValueError(f"dim (ambient dimension m) must be an integer >= 2, got {dim!r}")
        self.dim = int(dim)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.get_default_dtype()
        super().__init__(torch.Size(), torch.Size([self.dim]), validate_args=validate_args)

    def rsample(self, sample_shape=torch.Size(), generator=None):
        """Uniform draws of shape ``sample_shape + (dim,)``; ``generator``: a ``torch.Generator`` on
        the device or an int seed (default: torch's global generator)."""
        shape = torch.Size(sample_shape) + self.event_shape
        g = torch.randn(shape, device=self.device, dtype=self.dtype, generator=_generator(generator, self.device))
        return torch.nn.functional.normalize(g, dim=-1)

    def sample(self, sample_shape=torch.Size(), generator=None):
        with torch.no_grad():
            return self.rsample(sample_shape, generator)

    def log_prob(self, value):
        if self._validate_args:
            _check_on_sphere(value, self.dim)
        return torch.full(value.shape[:-1], -_log_sphere_area(self.dim), device=value.device, dtype=value.dtype)

    def entropy(self):
        return torch.tensor(_log_sphere_area(self.dim), device=self.device, dtype=self.dtype)

    def __repr__(self):
        return f"HypersphericalUniform(dim={self.dim})"


def _check_on_sphere(x, dim, name="value"):
    """Refuse x unless ``x.shape[-1] == dim`` and every norm is 1 within 1e-3, or within 4 eps of x's
    dtype where that is larger (a normalised bfloat16 vector is off by up to ~eps/2)."""
    if x.shape[-1] != dim:
        raise ValueError(f"{name} must have last dimension dim = {dim}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.double()
    tol = max(1e-3, 4 * torch.finfo(x.dtype).eps)
    # in x's dtype (its rounding is far below tol), half types in float32; one host sync
    norms = torch.linalg.vector_norm(x.detach(), dim=-1, dtype=torch.float32 if x.element_size() < 4 else None)
    lo, hi = torch.stack(torch.aminmax(norms)).tolist() if norms.numel() else (1.0, 1.0)
    if not (lo >= 1 - tol and hi <= 1 + tol):                  # NaN norms are refused too
        raise ValueError(f"{name} must lie on the unit sphere (norm 1 along the last axis, within {tol:.2g}); "
                         f"norms range over [{lo:.4g}, {hi:.4g}]")


class _ImplicitW(torch.autograd.Function):
    """``(w, sqrt(1 - w^2))`` in the caller's dtype from float64 ``w`` and ``1 - w``; their gradients in k
    are the implicit reparameterization ``dw/dk`` and ``d sqrt(1 - w^2)/dk = -w/sqrt(1 - w^2) dw/dk``,
    computed in float64 from the float64 w and 1 - w (a float32 w rounds to 1.0 at large k)."""

    @staticmethod
    def forward(ctx, w, one_minus_w, k, k64, m, one_minus_a, dtype):
        sin = torch.sqrt((one_minus_w * (2 - one_minus_w)).clamp_min(0))
        ctx.save_for_backward(w, one_minus_w, sin, k64, one_minus_a)
        ctx.k_dtype = k.dtype
        ctx.m = m
        return w.to(dtype), sin.to(dtype)

    @staticmethod
    def backward(ctx, grad_w, grad_sin):
        w, one_minus_w, sin, k, one_minus_a = ctx.saved_tensors        # k in float64
        if ctx.m == 2:
            # on the circle w = cos(theta), sin = sin(theta) with theta = |angle| in [0, pi]
            dtheta = _circle_dtheta_dk(one_minus_w, k, one_minus_a)
            dw, dsin = -sin * dtheta, w * dtheta
            total = grad_w.double() * dw + grad_sin.double() * dsin
        else:
            dw = _dw_dk(w, one_minus_w, k, ctx.m, one_minus_a)
            # d sin/dk = -(w / sin) dw/dk, and 0 at sin = 0 (dw ~ sin^2 / k as sin -> 0)
            w_over_sin = torch.where(sin > 0, w / sin, 0.0)
            total = dw * torch.addcmul(grad_w.double(), grad_sin.double(), w_over_sin, value=-1)
        return None, None, total.to(ctx.k_dtype), None, None, None, None


@functools.lru_cache(maxsize=None)
def _gauss_legendre(device: torch.device):
    """The 32 Gauss-Legendre nodes u and weights W on (0, 1), float64, on ``device`` (cached); the
    weights as the (2, 32) rows ``(W, W u)``."""
    return _GL_U.to(device), torch.stack([_GL_W, _GL_W * _GL_U]).to(device)


def _circle_dtheta_dk(one_minus_w, k, one_minus_a):
    """On the circle (m = 2): ``dtheta/dk`` at fixed CDF level for theta = arccos(w) in [0, pi], the
    von Mises angle's modulus. With F the CDF of theta and p its density ~ exp(k cos theta),
    ``dtheta/dk = -(dF/dk)/p(theta) = -int_0^theta g = int_theta^pi g``, ``g(phi) = (cos phi - A)
    exp(k (cos phi - cos theta))`` (E[cos] = A on [0, pi]). Near the mode (k (1 - cos theta) <= 1) the
    first form (g varies by at most e there, and keeps its sign while phi^2 < 2 (1 - A)); elsewhere the
    second, over the span where g exceeds ~e^-50 of its start (g decays away from the mode). Both by
    Gauss-Legendre, written without cancellation: ``cos phi - A = (1 - A) - 2 sin^2(phi/2)``,
    ``cos phi - cos theta = -2 sin((phi+theta)/2) sin((phi-theta)/2)``; so it is accurate to ~1e-10
    for k = 0 .. 1e30 (checked against mpmath in the tests), and finite everywhere (0 at theta = 0, pi)."""
    theta = 2 * torch.asin(torch.sqrt((one_minus_w / 2).clamp(0, 1)))
    k = k.expand_as(theta)
    one_minus_a = one_minus_a.double().expand_as(theta)
    s, c = torch.sin(theta), torch.cos(theta)
    near = k * one_minus_w <= 1                                 # integrate [0, theta] (sign -1)
    outer = torch.minimum(math.pi - theta, 100 / (k * s + torch.sqrt(k * k * s * s + 100 * k * c.clamp_min(0)) + 1e-300))
    start = torch.where(near, torch.zeros_like(theta), theta)
    span = torch.where(near, theta, outer)
    nodes, weights = _gauss_legendre(theta.device)
    u = nodes.view((-1,) + (1,) * theta.dim())
    phi = start + span * u
    half = (phi - theta) / 2
    log_ratio = -2 * k * torch.sin((phi + theta) / 2) * torch.sin(half)
    integrand = (one_minus_a - 2 * torch.sin(phi / 2) ** 2) * torch.exp(log_ratio)
    side = torch.tensordot(weights[0], integrand, dims=1) * span
    return torch.where(near, -side, side)


def implicit_dw_dk(w, k, m: int, a=None, *, one_minus_w=None, one_minus_a=None):
    """``dw/dk`` for w = mu.z of a vMF(k) on S^(m-1), at fixed CDF level (float64 inside).

    ``dw/dk = -int_{-1}^{w} (t - A) p(t) dt / p(w) = int_{w}^{1} (t - A) p(t) dt / p(w)``, where
    ``p(t) ~ exp(k t) (1 - t^2)^((m-3)/2)``, so ``p(t)/p(w)`` needs no normalizer. The integral is
    taken over the side of w away from the mode (its integrand peaks at w and decays away from it),
    truncated where p has fallen below e^-40 of p(w), with Gauss-Legendre nodes. It is written in
    ``1 - w`` and ``1 - A`` (pass them as ``one_minus_w=``, ``one_minus_a=`` when known: at large k,
    w rounds to 1 but 1 - w keeps its precision), so it is finite at w = +-1. For m = 2 it goes
    through the von Mises angle (:func:`_circle_dtheta_dk`; the density in w is singular at +-1).
    Relative accuracy about 1e-6 or better (checked against mpmath in the tests), except at m = 4, where
    the density's square-root zero at w = +-1 limits the 32 nodes to about 1e-5.
    """
    dtype = w.dtype
    w = w.double()
    delta = (1 - w) if one_minus_w is None else one_minus_w.double().expand_as(w)   # 1 - w
    k = torch.as_tensor(k).double().expand_as(w)
    if one_minus_a is not None:
        b = one_minus_a.double().expand_as(w)
    elif a is not None:
        b = 1 - a.double().expand_as(w)
    else:
        b = one_minus_bessel_ratio(m / 2 - 1, k)
    return _dw_dk(w, delta, k, m, b).to(dtype)


def _dw_dk(w, delta, k, m: int, b):
    """:func:`implicit_dw_dk` on float64 tensors of one shape: w, ``delta = 1 - w``, k, ``b = 1 - A``."""
    if m == 2:
        return -torch.sqrt((delta * (2 - delta)).clamp_min(0)) * _circle_dtheta_dk(delta, k, b)
    q = (m - 3) / 2
    one_m_w2 = (delta * (2 - delta)).clamp_min(1e-300)        # 1 - w^2
    g1 = k - 2 * q * w / one_m_w2 if q != 0 else k            # d/dt log p at w
    # integrate over the side away from the mode: [w, 1] if the density decreases at w (mode below),
    # else [-1, w], over at most 40 local decay lengths 1 / (|g1| + sqrt(g2)), g2 = -d2/dt2 log p at w
    # (beyond them, p < e^-40 p(w); conservative). step: the signed span from w, so int_w^1 = int_0^1 (...) step du
    decay = g1.abs() + torch.sqrt(2 * q * (1 + w * w)) / one_m_w2 if q != 0 else g1.abs()
    up = g1 <= 0
    step = torch.minimum(torch.where(up, delta, 2 - delta), 40 / decay)
    step = torch.where(up, step, -step)
    nodes, weights = _gauss_legendre(w.device)
    u = nodes.view((-1,) + (1,) * w.dim())                     # (G, 1, ...) nodes in (0, 1)
    # log p(t) - log p(w) at the nodes t = w + step u: k step u + q log((1 - t^2) / (1 - w^2)), in 1 - t
    if q != 0:
        log_ratio = torch.addcmul(torch.log(one_m_w2).mul_(-q), k * step, u)
        d_t = torch.addcmul(delta, step, u, value=-1)          # 1 - t
        log_ratio = log_ratio.add_((2 - d_t).mul_(d_t).log_(), alpha=q)   # log(0) = -inf: p(+-1) = 0
    else:
        log_ratio = (k * step) * u
    # t - A = (1 - A) - (1 - w) + step u: the two sums sum_i W_i (1, u_i) p(t_i) / p(w) as one product
    sums = torch.tensordot(weights, log_ratio.exp_(), dims=1)
    return torch.addcmul((b - delta) * sums[0], step, sums[1]) * step


def _wood_constants(m: int, k):
    """Per-entry constants of Wood's sampler at concentration k (float64, 1-d), stacked as (3, n):
    ``b = (m-1) / (2k + sqrt(4k^2 + (m-1)^2))`` (the cancellation-free form), ``2 a b`` with
    ``a = ((m-1) + 2k + sqrt(4k^2 + (m-1)^2)) / 4``, and ``-d = (m-1) log(m-1) - 4 a b / (1 + b)``."""
    c = (m - 1) / 2
    k_root = torch.hypot(k, torch.tensor(c, dtype=k.dtype, device=k.device)).add_(k)   # (2k + root) / 2
    b = torch.reciprocal(k_root).mul_(c)
    two_ab = (k_root + c).mul_(b)
    return torch.stack([b, two_ab, (two_ab / (b + 1)).mul_(-2).add_((m - 1) * math.log(m - 1))])


def _wood_round(m: int, constants, candidates: int, generator):
    """One rejection round of Wood's sampler for every column of ``constants`` (from
    :func:`_wood_constants`): ``candidates`` independent proposals each, of which the first
    accepted one is kept (as a sequential sampler would). Returns ``(1 - w, accepted)``; where
    nothing was accepted 1 - w is meaningless. A NaN concentration gives an accepted NaN (it
    propagates instead of looping)."""
    b, two_ab, neg_d = constants
    alpha = torch.full((2, candidates) + b.shape, (m - 1) / 2, dtype=b.dtype, device=b.device)
    g1, g2 = torch._standard_gamma(alpha, generator=generator)   # e = g1 / (g1 + g2) ~ Beta((m-1)/2, (m-1)/2)
    denom = torch.addcmul(g2, b, g1)                             # (g1 + g2) (1 - (1 - b) e)
    t = two_ab * (g1 + g2) / denom
    exponential = torch.empty_like(t).exponential_(generator=generator)   # -log U
    # accept iff (m-1) log t - t + d >= log U
    reject = torch.add(exponential - t, torch.log(t), alpha=m - 1) < neg_d
    proposals = (2 * b) * g1 / denom                             # 1 - w = 2 b e / (1 - (1 - b) e): no cancellation
    if candidates == 2:                                          # keep the first accepted candidate
        one_minus_w = torch.where(reject[0], proposals[1], proposals[0])
    else:
        one_minus_w = proposals.gather(0, reject.to(torch.uint8).argmin(0, keepdim=True))[0]
    return one_minus_w, ~reject.all(0)


def _generator(generator, device):
    """``None`` (torch's default generator), a ``torch.Generator`` on ``device``, or an int seed in
    [0, 2^64) (:func:`sphericalae.seeding.resolve_generator`; others refused in one line)."""
    return resolve_generator(generator, device)[0]


def _check_concentration(k):
    """Refuse a concentration outside [0, K_MAX] (one host sync); NaN passes (it propagates)."""
    if k.numel() == 0:
        return
    lo, hi = torch.stack(torch.aminmax(k.detach())).tolist()
    if lo < 0 or hi > K_MAX:
        bad = lo if lo < 0 else hi
        raise ValueError(f"the concentration must lie in [0, 2^100 = {K_MAX:.3g}] (the range where the vMF's "
                         f"Bessel functions are verified and its sampler terminates), got {bad!r}")


class VonMisesFisher(Distribution):
    """von Mises-Fisher distribution on S^(dim-1) in R^dim, ``dim = loc.shape[-1] >= 2``.

    ``loc``: unit vectors ``(..., dim)`` (checked to a tolerance of 1e-3, or 4 eps of the dtype
    where that is larger, when validating); ``concentration``: 0 <= k <= K_MAX = 2^100, of shape
    ``(...)`` or ``(..., 1)`` (broadcast against ``loc.shape[:-1]``); a k outside that range
    (negative, infinite, > 1.27e30) raises ValueError here, whether or not arguments are validated.
    k = 0 is the uniform distribution. ``rsample`` is reparameterized in both (see the module
    docstring for how the gradient in k is obtained) and takes an optional ``generator``.
    """

    # loc is checked by _check_on_sphere when validating (a unit norm implies finite entries)
    arg_constraints = {"concentration": constraints.nonnegative}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, concentration, validate_args=None, max_rounds: int = 100):
        loc = as_float_tensor(loc, "loc")[0]
        concentration = as_float_tensor(concentration, "concentration")[0].to(loc.dtype).to(loc.device)
        if loc.dim() < 1 or loc.shape[-1] < 2:
            raise ValueError(f"loc must have a last dimension dim >= 2, got shape {tuple(loc.shape)}")
        if concentration.dim() == loc.dim() and concentration.shape[-1] == 1:
            concentration = concentration.squeeze(-1)
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], concentration.shape)
        self.dim = loc.shape[-1]
        self.loc = loc.expand(batch_shape + (self.dim,))
        self.concentration = concentration.expand(batch_shape)
        self.max_rounds = max_rounds
        super().__init__(batch_shape, torch.Size([self.dim]), validate_args=validate_args)
        _check_concentration(concentration)
        if self._validate_args:
            _check_on_sphere(self.loc, self.dim, "loc")

    def expand(self, batch_shape, _instance=None):
        """The same distribution broadcast to ``batch_shape`` (views, no copy; Bessel terms already
        computed are expanded too)."""
        new = self._get_checked_instance(VonMisesFisher, _instance)
        batch_shape = torch.Size(batch_shape)
        new.dim, new.max_rounds = self.dim, self.max_rounds
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.concentration = self.concentration.expand(batch_shape)
        if "_bessel" in self.__dict__:
            new._bessel = BesselTerms(*(t.expand(batch_shape) for t in self._bessel))
        super(VonMisesFisher, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    # --- moments and densities ---------------------------------------------------------------
    @lazy_property
    def _bessel(self):
        """(log I_v, log S_v, A_m, ...) at the concentration, float64, computed once per distribution."""
        return bessel_terms(self.dim / 2 - 1, self._k64)

    @lazy_property
    def _k64(self):
        """The concentration in float64, without gradient (shared by the Bessel terms and the sampler)."""
        return self.concentration.detach().double()

    @property
    def mean_resultant(self):
        """A_m(k) = E[mu . z] = I_{m/2}(k) / I_{m/2-1}(k)."""
        return bessel_ratio(self.dim / 2 - 1, self.concentration, terms=self._bessel)

    @property
    def mean(self):
        return self.mean_resultant.unsqueeze(-1) * self.loc

    @property
    def mode(self):
        return self.loc

    def _log_normalizer(self):
        """log C_m(k) = -log S_v(k) + v log 2 + lgamma(v+1) - (v+1) log(2 pi), finite at k = 0."""
        v = self.dim / 2 - 1
        const = v * math.log(2) + math.lgamma(v + 1) - (v + 1) * math.log(2 * math.pi)
        return const - log_hyp0f1_normalizer(v, self.concentration, terms=self._bessel)

    def log_prob(self, value):
        if self._validate_args:
            _check_on_sphere(value, self.dim)
        return self._log_normalizer() + self.concentration * (self.loc * value).sum(-1)

    def entropy(self):
        return -(self._log_normalizer() + self.concentration * self.mean_resultant)

    # --- sampling ----------------------------------------------------------------------------
    def _sample_w(self, shape, generator=None):
        """w = mu.z by Wood's rejection sampler, float64; returns (w, 1 - w). The first round draws
        _FIRST_CANDIDATES proposals for every entry, later rounds _MORE_CANDIDATES for each entry
        still to draw; one host sync per round (to know which are left)."""
        m = self.dim
        k = self._k64.expand(shape).reshape(-1)
        constants = _wood_constants(m, k)
        one_minus_w, todo = None, None
        for _ in range(self.max_rounds):
            if todo is None:                                   # first round: every entry
                one_minus_w, ok = _wood_round(m, constants, _FIRST_CANDIDATES, generator)
                todo = (~ok).nonzero()[:, 0]
            else:
                value, ok = _wood_round(m, constants[:, todo], _MORE_CANDIDATES, generator)
                one_minus_w[todo] = value
                todo = todo[~ok]
            if todo.numel() == 0:
                one_minus_w = one_minus_w.view(shape)
                return 1 - one_minus_w, one_minus_w
        left = k.numel() if todo is None else todo.numel()
        raise RuntimeError(f"vMF sampler: {left} draws still rejected after {self.max_rounds} rounds "
                           f"(dim = {m}); refusing to return them")

    def rsample(self, sample_shape=torch.Size(), generator=None):
        """Draws of shape ``sample_shape + batch_shape + (dim,)`` in loc's dtype, differentiable in
        loc and concentration. ``generator``: a ``torch.Generator`` on loc's device or an int seed
        (default: torch's global generator)."""
        generator = _generator(generator, self.loc.device)
        shape = self._extended_shape(sample_shape)          # sample + batch + (dim,)
        m, dtype = self.dim, self.loc.dtype
        w, one_minus_w = self._sample_w(shape[:-1], generator)   # float64
        k = self.concentration.expand(shape[:-1])
        if k.requires_grad:
            one_minus_a = self._bessel.one_minus_ratio.expand(shape[:-1])
            w, sin = _ImplicitW.apply(w, one_minus_w, k, self._k64.expand(shape[:-1]), m, one_minus_a, dtype)
        else:
            sin = torch.sqrt((one_minus_w * (2 - one_minus_w)).clamp_min(0)).to(dtype)
            w = w.to(dtype)
        g = torch.randn(shape[:-1] + (m - 1,), dtype=dtype, device=self.loc.device, generator=generator)
        if m == 2:   # S^0 = {-1, 1}: the sign of the von Mises angle (a normal's sign; 0 counts as +)
            g = torch.copysign(torch.ones((), dtype=dtype, device=g.device), g)
        return _Rotate.apply(self.loc.expand(shape), w, sin, g)

    def sample(self, sample_shape=torch.Size(), generator=None):
        with torch.no_grad():
            return self.rsample(sample_shape, generator)

    def __repr__(self):
        return f"VonMisesFisher(dim={self.dim}, batch_shape={tuple(self.batch_shape)})"


class _Rotate(torch.autograd.Function):
    """``z = R z0`` for ``z0 = (w, sin g / |g|)`` (g: the tangent direction, ``(..., dim - 1)``, no
    gradient), with R an isometry, ``R e1 = mu``: with ``s = sign(mu_1)`` (+-1) and ``u = mu + s e1``
    (``|u|^2 = 2 (1 + s mu_1) >= 2``: never degenerate, mu close to +-e1 included), R is minus the
    Householder reflection through u, i.e. ``R z = -s z + s c mu + c e1`` with ``c = 2 u.z / |u|^2
    = (w (mu_1 + s) + tau mu_r.g) / (1 + s mu_1)``, ``tau = sin / |g|``, mu_r = mu without its first
    coordinate (mu is taken as a unit vector). Built without forming e1, u or z0: a few passes over
    (..., dim). Its backward is the chain rule of these formulas, written out (s is locally constant):
    ``dL/dc = s gz.mu + gz_1``, ``dL/dw = -s gz_1 + dL/dc (mu_1 + s) / D``, ``dL/dtau = -s gz_r.g
    + dL/dc mu_r.g / D``, ``dL/dmu = s c gz + (dL/dc / D) (w - s c, tau g)``, with D = 1 + s mu_1 and
    gz the incoming gradient."""

    @staticmethod
    def forward(ctx, mu, w, sin, g):
        mu1 = mu[..., 0]
        s = torch.copysign(torch.ones((), dtype=mu.dtype, device=mu.device), mu1)
        inv_norm = torch.linalg.vector_norm(g, dim=-1).reciprocal_()
        tau = sin * inv_norm                                     # z0 = (w, tau g)
        proj = torch.linalg.vecdot(mu[..., 1:], g)
        denom = s * mu1 + 1
        c = torch.addcmul(w * (mu1 + s), tau, proj).div_(denom)
        out = torch.cat([torch.addcmul(c, s, w, value=-1).unsqueeze(-1), g * (-s * tau).unsqueeze(-1)], dim=-1)
        ctx.save_for_backward(mu, w, g, s, c, tau, proj, denom, inv_norm)
        return out.addcmul_((s * c).unsqueeze(-1), mu)

    @staticmethod
    def backward(ctx, grad):
        mu, w, g, s, c, tau, proj, denom, inv_norm = ctx.saved_tensors
        grad1 = grad[..., 0]
        grad_c = torch.addcmul(grad1, s, torch.linalg.vecdot(grad, mu))
        grad_c_d = grad_c / denom
        grad_mu = grad_w = grad_sin = None
        if ctx.needs_input_grad[0]:
            head = torch.addcmul(w, s, c, value=-1).mul_(grad_c_d)
            grad_mu = torch.cat([head.unsqueeze(-1), g * (tau * grad_c_d).unsqueeze(-1)], dim=-1)
            grad_mu = grad_mu.addcmul_((s * c).unsqueeze(-1), grad)
        if ctx.needs_input_grad[1]:
            grad_w = torch.addcmul(-s * grad1, grad_c_d, mu[..., 0] + s)
        if ctx.needs_input_grad[2]:
            gg = torch.linalg.vecdot(grad[..., 1:], g)
            grad_sin = torch.addcmul(-s * gg, grad_c_d, proj).mul_(inv_norm)
        return grad_mu, grad_w, grad_sin, None


@register_kl(VonMisesFisher, HypersphericalUniform)
def _kl_vmf_uniform(p, q):
    if p.dim != q.dim:
        raise ValueError(f"KL between a vMF on S^{p.dim - 1} (dim = {p.dim}) and a uniform on S^{q.dim - 1} "
                         f"(dim = {q.dim})")
    return vmf_kl_to_uniform(p.dim, p.concentration, terms=p._bessel)


# --- Power Spherical (De Cao & Aziz 2020), from the `power-spherical` package -------------------
try:
    from power_spherical import HypersphericalUniform as _PSUniform
    from power_spherical import PowerSpherical
except ImportError:  # optional: the rest of the module works without it
    PowerSpherical = None


def power_spherical(loc, concentration):
    """A Power Spherical distribution with our argument conventions: ``loc`` unit vectors
    ``(..., m)`` (a norm off 1 by more than 1e-3 is refused, not normalised; integer entries are
    promoted to torch's default float dtype), ``concentration`` >= 0 of shape ``(...)`` or
    ``(..., 1)``. KL to our
    :class:`HypersphericalUniform` (same ambient dimension m) is registered."""
    if PowerSpherical is None:
        raise ImportError("power_spherical needs the `power-spherical` package (pip install power-spherical)")
    loc = as_float_tensor(loc, "loc")[0]
    if loc.dim() < 1 or loc.shape[-1] < 2:
        raise ValueError(f"loc must have a last dimension m >= 2, got shape {tuple(loc.shape)}")
    _check_on_sphere(loc, loc.shape[-1], "loc")
    k = as_float_tensor(concentration, "concentration")[0].to(loc.dtype).to(loc.device)
    if k.dim() == loc.dim() and k.shape[-1] == 1:
        k = k.squeeze(-1)
    if k.numel() and not bool(((k >= 0) & torch.isfinite(k)).all()):
        raise ValueError("the concentration must be finite and >= 0")
    try:
        k = k.expand(loc.shape[:-1])
    except RuntimeError:
        raise ValueError(f"concentration of shape {tuple(k.shape)} does not fit loc of shape "
                         f"{tuple(loc.shape)} (it must be loc.shape[:-1], or with a trailing 1)") from None
    return PowerSpherical(loc, k)


if PowerSpherical is not None:
    @register_kl(PowerSpherical, HypersphericalUniform)
    def _kl_ps_uniform(p, q):
        m = p.loc.shape[-1]
        if m != q.dim:
            raise ValueError(f"KL between a Power Spherical in R^{m} and a uniform in R^{q.dim}")
        # the package's own KL against its uniform (its dim is also the ambient dimension)
        return torch.distributions.kl_divergence(p, _PSUniform(m, device=p.loc.device, dtype=p.loc.dtype))
