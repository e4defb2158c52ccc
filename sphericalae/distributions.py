"""Distributions on the sphere, in ``torch.distributions`` form: the von Mises-Fisher (vMF), the
uniform distribution on the sphere, their KL, and glue for the Power Spherical distribution.

Convention: the ambient dimension is ``m = loc.shape[-1]``; every distribution here lives on the
unit sphere S^(m-1) in R^m (``HypersphericalUniform(m)`` too: R^m, not S^m).

vMF(mu, k) has density ``C_m(k) exp(k mu.z)`` on S^(m-1), ``C_m(k) = k^v / ((2 pi)^(m/2) I_v(k))``,
``v = m/2 - 1``. Its mean is ``A_m(k) mu`` with ``A_m(k) = I_{m/2}(k) / I_{m/2-1}(k)``. The Bessel
quantities come from :mod:`sphericalae.bessel` (torch, any device, float64 inside).

Sampling follows Wood (1994): w = mu.z is drawn by rejection from a Beta((m-1)/2, (m-1)/2)
proposal, with the cancellation-free ``b = (m-1) / (2k + sqrt(4k^2 + (m-1)^2))``; every entry is
drawn at once and only the rejected ones are redrawn, for at most ``max_rounds`` rounds (the
acceptance rate stays above ~0.69, so 100 rounds never run out in practice; if they do, it raises).
Then ``z' = (w, sqrt(1 - w^2) u)`` with u uniform on S^(m-2), and an isometry maps e1 to mu: the
Householder reflection through ``e1 - mu`` when mu_1 <= 0, and minus the reflection through
``e1 + mu`` otherwise, so the reflection vector never degenerates (mu close to +-e1 included).

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

import math

import numpy as np
import torch
from torch.distributions import Distribution, constraints
from torch.distributions.kl import register_kl

from torch.distributions.utils import lazy_property

from .bessel import bessel_ratio, bessel_terms, log_hyp0f1_normalizer, one_minus_bessel_ratio, vmf_kl_to_uniform

__all__ = ["VonMisesFisher", "HypersphericalUniform", "PowerSpherical", "power_spherical"]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(32)
_GL_U, _GL_W = torch.from_numpy((_GL_NODES + 1) / 2), torch.from_numpy(_GL_WEIGHTS / 2)   # on (0, 1)
_CANDIDATES = 3   # Wood proposals per entry and round: with acceptance >= 0.69, ~97% finish per round


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

    def rsample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.event_shape
        return torch.nn.functional.normalize(torch.randn(shape, device=self.device, dtype=self.dtype), dim=-1)

    def log_prob(self, value):
        if self._validate_args:
            _check_on_sphere(value, self.dim)
        return torch.full(value.shape[:-1], -_log_sphere_area(self.dim), device=value.device, dtype=value.dtype)

    def entropy(self):
        return torch.tensor(_log_sphere_area(self.dim), device=self.device, dtype=self.dtype)

    def __repr__(self):
        return f"HypersphericalUniform(dim={self.dim})"


def _check_on_sphere(x, m, name="value", tol=1e-3):
    if x.shape[-1] != m:
        raise ValueError(f"{name} must have last dimension m = {m}, got shape {tuple(x.shape)}")
    norms = torch.linalg.vector_norm(x.detach().double(), dim=-1)
    if not bool(((norms - 1).abs() <= tol).all()):
        raise ValueError(f"{name} must lie on the unit sphere (norm 1 along the last axis); "
                         f"norms range over [{float(norms.min()):.4g}, {float(norms.max()):.4g}]")


class _ImplicitW(torch.autograd.Function):
    """``(w, sqrt(1 - w^2))`` in the caller's dtype from float64 ``w`` and ``1 - w``; their gradients in k
    are the implicit reparameterization ``dw/dk`` and ``d sqrt(1 - w^2)/dk = -w/sqrt(1 - w^2) dw/dk``,
    computed in float64 from the float64 w and 1 - w (a float32 w rounds to 1.0 at large k)."""

    @staticmethod
    def forward(ctx, w, one_minus_w, k, m, one_minus_a, dtype):
        sin = torch.sqrt((one_minus_w * (2 - one_minus_w)).clamp_min(0))
        ctx.save_for_backward(w, one_minus_w, sin, k, one_minus_a)
        ctx.m = m
        return w.to(dtype), sin.to(dtype)

    @staticmethod
    def backward(ctx, grad_w, grad_sin):
        w, one_minus_w, sin, k, one_minus_a = ctx.saved_tensors
        if ctx.m == 2:
            # on the circle w = cos(theta), sin = sin(theta) with theta = |angle| in [0, pi]
            dtheta = _circle_dtheta_dk(one_minus_w, k.detach().double(), one_minus_a)
            dw, dsin = -sin * dtheta, w * dtheta
        else:
            dw = implicit_dw_dk(w, k.detach(), ctx.m, one_minus_w=one_minus_w, one_minus_a=one_minus_a)
            dsin = torch.where(sin > 0, -w * dw / sin, torch.zeros_like(dw))   # dw ~ sin^2 / k as sin -> 0
        total = grad_w.double() * dw + grad_sin.double() * dsin
        return None, None, total.to(k.dtype), None, None, None


def _span(g1, g2):
    """Where a side integral of ``exp(-g1 x - g2 x^2 / 2 + ...)`` (g1, g2 >= 0) can be truncated:
    40 local decay lengths ``1 / (g1 + sqrt(g2))`` (conservative: the density need not stay log-concave)."""
    return 40 / (g1 + torch.sqrt(g2) + 1e-300)


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
    u = _GL_U.to(theta.device).view((-1,) + (1,) * theta.dim())
    phi = start + span * u
    half = (phi - theta) / 2
    log_ratio = -2 * k * torch.sin((phi + theta) / 2) * torch.sin(half)
    integrand = (one_minus_a - 2 * torch.sin(phi / 2) ** 2) * torch.exp(log_ratio)
    side = torch.tensordot(_GL_W.to(theta.device), integrand, dims=1) * span
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
    Relative accuracy about 1e-6 or better (checked against mpmath in the tests).
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
    if m == 2:
        theta_sin = torch.sqrt((delta * (2 - delta)).clamp_min(0))
        return (-theta_sin * _circle_dtheta_dk(delta, k, b)).to(dtype)
    q = (m - 3) / 2
    one_m_w2 = (delta * (2 - delta)).clamp_min(1e-300)        # 1 - w^2
    g1 = k - 2 * q * w / one_m_w2                            # d/dt log p at w
    g2 = 2 * q * (1 + w * w) / one_m_w2 / one_m_w2 if q != 0 else torch.zeros_like(w)   # -d2/dt2 log p at w
    # integrate over the side away from the mode: [-1, w] (sign -1) if the density increases at w
    # (mode above), else [w, 1] (sign +1); int_w^1 = sign * (integral over that side, taken outwards)
    sign = torch.where(g1 > 0, -1.0, 1.0).to(w.dtype)
    length = torch.where(sign > 0, delta, 2 - delta)          # distance from w to the end of that side
    step = sign * torch.minimum(length, _span(g1.abs(), g2))  # signed span: beyond it, p < e^-40 p(w)
    u = _GL_U.to(w.device).view((-1,) + (1,) * w.dim())       # (G, 1, ...) nodes in (0, 1)
    d_t = delta - step * u                                     # 1 - t at the nodes t = w + step u
    log_ratio = (k * step) * u                                 # log p(t) - log p(w), exp part
    if q != 0:
        log_ratio = log_ratio + q * (torch.log((d_t * (2 - d_t)).clamp_min(1e-300)) - torch.log(one_m_w2))
    integrand = (b - d_t) * torch.exp(log_ratio)               # t - A = (1 - A) - (1 - t)
    side = torch.tensordot(_GL_W.to(w.device), integrand, dims=1) * step.abs()
    return (sign * side).to(dtype)


class VonMisesFisher(Distribution):
    """von Mises-Fisher distribution on S^(m-1) in R^m, m = ``loc.shape[-1]`` >= 2.

    ``loc``: unit vectors ``(..., m)``; ``concentration``: k >= 0, of shape ``(...)`` or ``(..., 1)``
    (broadcast against ``loc.shape[:-1]``). k = 0 is the uniform distribution. ``rsample`` is
    reparameterized in both (see the module docstring for how the gradient in k is obtained).
    """

    arg_constraints = {"loc": constraints.real_vector, "concentration": constraints.nonnegative}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, concentration, validate_args=None, max_rounds: int = 100):
        loc = torch.as_tensor(loc)
        concentration = torch.as_tensor(concentration, dtype=loc.dtype, device=loc.device)
        if loc.dim() < 1 or loc.shape[-1] < 2:
            raise ValueError(f"loc must have a last dimension m >= 2, got shape {tuple(loc.shape)}")
        if concentration.dim() == loc.dim() and concentration.shape[-1] == 1:
            concentration = concentration.squeeze(-1)
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], concentration.shape)
        self.m = loc.shape[-1]
        self.loc = loc.expand(batch_shape + (self.m,))
        self.concentration = concentration.expand(batch_shape)
        self.max_rounds = max_rounds
        super().__init__(batch_shape, torch.Size([self.m]), validate_args=validate_args)
        if self._validate_args:
            _check_on_sphere(self.loc, self.m, "loc")

    # --- moments and densities ---------------------------------------------------------------
    @lazy_property
    def _bessel(self):
        """(log I_v, log S_v, A_m) at the concentration, float64, computed once per distribution."""
        return bessel_terms(self.m / 2 - 1, self.concentration)

    @property
    def mean_resultant(self):
        """A_m(k) = E[mu . z] = I_{m/2}(k) / I_{m/2-1}(k)."""
        return bessel_ratio(self.m / 2 - 1, self.concentration, terms=self._bessel)

    @property
    def mean(self):
        return self.mean_resultant.unsqueeze(-1) * self.loc

    @property
    def mode(self):
        return self.loc

    def _log_normalizer(self):
        """log C_m(k) = -log S_v(k) + v log 2 + lgamma(v+1) - (v+1) log(2 pi), finite at k = 0."""
        v = self.m / 2 - 1
        const = v * math.log(2) + math.lgamma(v + 1) - (v + 1) * math.log(2 * math.pi)
        return const - log_hyp0f1_normalizer(v, self.concentration, terms=self._bessel)

    def log_prob(self, value):
        if self._validate_args:
            _check_on_sphere(value, self.m)
        return self._log_normalizer() + self.concentration * (self.loc * value).sum(-1)

    def entropy(self):
        return -(self._log_normalizer() + self.concentration * self.mean_resultant)

    # --- sampling ----------------------------------------------------------------------------
    def _sample_w(self, shape):
        """w = mu.z by Wood's rejection sampler, float64; returns (w, 1 - w)."""
        m = self.m
        k = self.concentration.detach().double().expand(shape).reshape(-1)
        root = torch.sqrt(4 * k * k + (m - 1) ** 2)
        b = (m - 1) / (2 * k + root)                          # cancellation-free form of b
        a = ((m - 1) + 2 * k + root) / 4
        d = 4 * a * b / (1 + b) - (m - 1) * math.log(m - 1)
        half = torch.full((_CANDIDATES, k.numel()), (m - 1) / 2, dtype=k.dtype, device=k.device)
        one_minus_w = torch.empty_like(k)
        todo = torch.arange(k.numel(), device=k.device)      # flat indices still to draw
        for _ in range(self.max_rounds):
            if todo.numel() == 0:
                break
            # a few proposals per entry still to draw; the first accepted one is kept
            n = todo.numel()
            g1, g2 = torch._standard_gamma(half[:, :n]), torch._standard_gamma(half[:, :n])
            # e = g1 / (g1 + g2) ~ Beta((m-1)/2, (m-1)/2); 1 - (1 - b) e = (g2 + b g1) / (g1 + g2)
            bb, aa = b[todo], a[todo]
            denom = g2 + bb * g1
            t = 2 * aa * bb * (g1 + g2) / denom
            accept = (m - 1) * torch.log(t) - t + d[todo] >= torch.log(torch.rand_like(g1))
            proposals = 2 * bb * g1 / denom                     # 1 - w = 2 b e / (1 - (1 - b) e), no cancellation
            value, ok = proposals[-1], accept[-1]
            for j in range(_CANDIDATES - 2, -1, -1):             # keep the first accepted proposal
                value = torch.where(accept[j], proposals[j], value)
                ok = ok | accept[j]
            one_minus_w[todo[ok]] = value[ok]
            todo = todo[~ok]
        if todo.numel():
            raise RuntimeError(f"vMF sampler: {todo.numel()} draws still rejected after "
                               f"{self.max_rounds} rounds (m = {m}); refusing to return them")
        one_minus_w = one_minus_w.view(shape)
        return 1 - one_minus_w, one_minus_w

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)          # sample + batch + (m,)
        m, dtype = self.m, self.loc.dtype
        w, one_minus_w = self._sample_w(shape[:-1])            # float64
        k = self.concentration.expand(shape[:-1])
        if k.requires_grad:
            one_minus_a = self._bessel.one_minus_ratio.expand(shape[:-1])
            w, sin = _ImplicitW.apply(w, one_minus_w, k, m, one_minus_a, dtype)
        else:
            sin = torch.sqrt((one_minus_w * (2 - one_minus_w)).clamp_min(0)).to(dtype)
            w = w.to(dtype)
        if m == 2:   # S^0 = {-1, 1}: the sign of the von Mises angle
            v = torch.where(torch.rand(shape[:-1] + (1,), device=self.loc.device) < 0.5, -1.0, 1.0).to(dtype)
        else:
            v = torch.nn.functional.normalize(torch.randn(shape[:-1] + (m - 1,), dtype=dtype, device=self.loc.device), dim=-1)
        z0 = torch.cat([w.unsqueeze(-1), sin.unsqueeze(-1) * v], dim=-1)   # around e1
        return self._rotate(z0)

    def _rotate(self, z0):
        """Apply an isometry R with R e1 = loc: H_{e1-mu} if mu_1 <= 0, else -H_{e1+mu}."""
        mu = self.loc.expand(z0.shape)
        e1 = torch.zeros_like(mu)
        e1[..., 0] = 1
        flip = (mu[..., :1] > 0)
        u = torch.where(flip, e1 + mu, e1 - mu)
        u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)   # norm >= sqrt(2) by the choice
        reflected = z0 - 2 * (u * z0).sum(-1, keepdim=True) * u
        return torch.where(flip, -reflected, reflected)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self.rsample(sample_shape)

    def __repr__(self):
        return f"VonMisesFisher(m={self.m}, batch_shape={tuple(self.batch_shape)})"


@register_kl(VonMisesFisher, HypersphericalUniform)
def _kl_vmf_uniform(p, q):
    if p.m != q.dim:
        raise ValueError(f"KL between a vMF on S^{p.m - 1} (m = {p.m}) and a uniform on S^{q.dim - 1} (dim = {q.dim})")
    return vmf_kl_to_uniform(p.m, p.concentration, terms=p._bessel)


# --- Power Spherical (De Cao & Aziz 2020), from the `power-spherical` package -------------------
try:
    from power_spherical import HypersphericalUniform as _PSUniform
    from power_spherical import PowerSpherical
except ImportError:  # optional: the rest of the module works without it
    PowerSpherical = None


def power_spherical(loc, concentration):
    """A Power Spherical distribution with our argument conventions: ``loc`` unit vectors
    ``(..., m)``, ``concentration`` of shape ``(...)`` or ``(..., 1)``. KL to our
    :class:`HypersphericalUniform` (same ambient dimension m) is registered."""
    if PowerSpherical is None:
        raise ImportError("power_spherical needs the `power-spherical` package (pip install power-spherical)")
    loc = torch.as_tensor(loc)
    k = torch.as_tensor(concentration, dtype=loc.dtype, device=loc.device)
    if k.dim() == loc.dim() and k.shape[-1] == 1:
        k = k.squeeze(-1)
    return PowerSpherical(loc, k.expand(loc.shape[:-1]))


if PowerSpherical is not None:
    @register_kl(PowerSpherical, HypersphericalUniform)
    def _kl_ps_uniform(p, q):
        m = p.loc.shape[-1]
        if m != q.dim:
            raise ValueError(f"KL between a Power Spherical in R^{m} and a uniform in R^{q.dim}")
        # the package's own KL against its uniform (its dim is also the ambient dimension)
        return torch.distributions.kl_divergence(p, _PSUniform(m, device=p.loc.device, dtype=p.loc.dtype))
