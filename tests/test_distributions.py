"""sphericalae.distributions: the vMF's sampler, densities, KL, gradients and validation; the
uniform distribution on the sphere; the Power Spherical glue."""
import math

import pytest
import torch
from scipy.integrate import quad
from scipy.optimize import brentq
from torch.distributions import kl_divergence

from sphericalae.bessel import bessel_ratio, vmf_kl_to_uniform
from sphericalae.distributions import HypersphericalUniform, VonMisesFisher, implicit_dw_dk, power_spherical

F64 = torch.float64


def unit(m, seed=0, dtype=F64):
    return torch.nn.functional.normalize(torch.randn(m, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=0)


def mean_resultant(m, k):
    return float(bessel_ratio(m / 2 - 1, torch.tensor(float(k), dtype=F64)))


# --- sampling -----------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [3, 11, 64, 512])
@pytest.mark.parametrize("k", [0.01, 1.0, 20.0, 1e3, 1e5])
def test_sample_mean_of_mu_dot_z_matches_mean_resultant(m, k):
    torch.manual_seed(m + int(k))
    loc = unit(m, seed=m)
    z = VonMisesFisher(loc, torch.tensor(k, dtype=F64)).sample((4000,))
    w = z @ loc
    se = float(w.std()) / math.sqrt(len(w))
    assert abs(float(w.mean()) - mean_resultant(m, k)) < 5 * se + 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_samples_on_sphere_with_right_shapes(dtype):
    loc = torch.nn.functional.normalize(torch.randn(4, 3, 16, dtype=dtype), dim=-1)
    k = torch.rand(4, 3, 1, dtype=dtype) * 100          # (..., 1) is accepted and squeezed
    d = VonMisesFisher(loc, k)
    assert d.batch_shape == (4, 3) and d.event_shape == (16,)
    z = d.rsample((5,))
    assert z.shape == (5, 4, 3, 16) and z.dtype == dtype
    assert float((z.double().norm(dim=-1) - 1).abs().max()) < 1e-6
    assert d.mean.shape == (4, 3, 16) and d.entropy().shape == (4, 3) and d.log_prob(z).shape == (5, 4, 3)


def test_scalar_concentration_broadcasts():
    d = VonMisesFisher(torch.nn.functional.normalize(torch.randn(7, 5), dim=-1), 3.0)
    assert d.batch_shape == (7,) and d.sample().shape == (7, 5)


@pytest.mark.parametrize("direction", ["e1", "-e1", "near e1", "near -e1"])
def test_householder_stable_near_first_axis(direction):
    m, k = 32, 50.0
    loc = torch.zeros(m, dtype=F64)
    loc[0] = -1.0 if "-" in direction else 1.0
    if "near" in direction:
        loc[1] = 1e-9
        loc = loc / loc.norm()
    torch.manual_seed(1)
    z = VonMisesFisher(loc, torch.tensor(k, dtype=F64)).rsample((4000,))
    assert torch.isfinite(z).all()
    mean = z.mean(0)
    assert float((mean - mean_resultant(m, k) * loc).norm()) < 0.02


def test_sampler_raises_instead_of_returning_garbage():
    d = VonMisesFisher(unit(8), torch.full((500,), 5.0, dtype=F64), max_rounds=0)
    with pytest.raises(RuntimeError, match="rejected"):
        d.sample()


# --- densities, entropy, KL ---------------------------------------------------------------------

def test_log_prob_closed_form_m3():
    # on S^2: p(z) = k / (4 pi sinh k) exp(k mu.z)
    loc, k = unit(3), 2.5
    z = VonMisesFisher(loc, torch.tensor(k, dtype=F64)).sample((10,))
    expected = math.log(k / (4 * math.pi * math.sinh(k))) + k * (z @ loc)
    assert torch.allclose(VonMisesFisher(loc, torch.tensor(k, dtype=F64)).log_prob(z), expected, rtol=1e-12)


def test_zero_concentration_is_uniform():
    m = 9
    d, u = VonMisesFisher(unit(m), torch.tensor(0.0, dtype=F64)), HypersphericalUniform(m, dtype=F64)
    z = u.sample((4,))
    assert torch.allclose(d.log_prob(z), u.log_prob(z), rtol=1e-12)
    assert float(kl_divergence(d, u)) == 0.0


@pytest.mark.parametrize("m,k", [(3, 1.0), (11, 10.0), (64, 100.0)])
def test_entropy_and_kl_against_monte_carlo(m, k):
    torch.manual_seed(2)
    d = VonMisesFisher(unit(m), torch.tensor(k, dtype=F64))
    u = HypersphericalUniform(m, dtype=F64)
    z = d.sample((20000,))
    lp = d.log_prob(z)
    se = float(lp.std()) / math.sqrt(len(lp))
    assert abs(float(-lp.mean()) - float(d.entropy())) < 5 * se
    kl_mc = float((lp - u.log_prob(z)).mean())
    assert abs(kl_mc - float(kl_divergence(d, u))) < 5 * se


def test_registered_kl_is_the_bessel_kl():
    k = torch.tensor([0.01, 1.0, 50.0, 1e4], dtype=F64)
    d = VonMisesFisher(torch.nn.functional.normalize(torch.randn(4, 512, dtype=F64), dim=-1), k)
    assert torch.equal(kl_divergence(d, HypersphericalUniform(512, dtype=F64)), vmf_kl_to_uniform(512, k))


def test_kl_with_mismatched_dimension_is_refused():
    with pytest.raises(ValueError, match="dim = 10"):
        kl_divergence(VonMisesFisher(unit(10), 1.0), HypersphericalUniform(11))


# --- gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("m,k", [(5, 2.0), (3, 0.3), (11, 30.0), (512, 20.0), (64, 1e4)])
def test_rsample_gradient_in_concentration_is_unbiased(m, k):
    # d/dk E[mu.z] = A'(k) = 1 - A^2 - (m-1) A / k. The biased estimator of the public S-VAE code
    # gives 0.128 at (m, k) = (5, 2) against the true 0.147 (REFERENCE.md s.2).
    torch.manual_seed(3)
    loc = unit(m)
    kk = torch.tensor(k, dtype=F64, requires_grad=True)
    z = VonMisesFisher(loc, kk).rsample((40000,))
    w = z @ loc
    per_sample = implicit_dw_dk(w.detach(), torch.tensor(k, dtype=F64), m)
    (grad,) = torch.autograd.grad(w.mean(), kk)
    assert float(grad) == pytest.approx(float(per_sample.mean()), rel=1e-9)
    a = mean_resultant(m, k)
    truth = 1 - a * a - (m - 1) * a / k
    se = float(per_sample.std()) / math.sqrt(len(per_sample))
    assert abs(float(grad) - truth) < 5 * se


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("m,k", [(3, 0.3), (5, 2.0), (20, 50.0)])
def test_implicit_dw_dk_against_finite_differences_of_the_quantile(m, k):
    # w(k) at a fixed CDF level u: differentiate the quantile numerically
    def density(t, kk):
        return math.exp(kk * (t - 1)) * (1 - t * t) ** ((m - 3) / 2)

    def quantile(u, kk):
        total = quad(density, -1, 1, args=(kk,), epsabs=0, epsrel=1e-13, limit=200)[0]
        return brentq(lambda w: quad(density, -1, w, args=(kk,), epsabs=0, epsrel=1e-13, limit=200)[0] / total - u,
                      -1 + 1e-12, 1 - 1e-12, xtol=1e-15)

    for u in [0.05, 0.3, 0.7, 0.97]:
        w = quantile(u, k)
        h = 1e-4 * k
        fd = (quantile(u, k + h) - quantile(u, k - h)) / (2 * h)
        got = float(implicit_dw_dk(torch.tensor(w, dtype=F64), torch.tensor(k, dtype=F64), m))
        assert got == pytest.approx(fd, rel=2e-5, abs=1e-10)


def test_rsample_gradient_in_loc_is_pathwise():
    # E[c.z] = A c.mu with mu = theta / |theta|: compare the rsample gradient with the analytic one
    m, k = 8, 4.0
    torch.manual_seed(4)
    theta = torch.randn(m, dtype=F64, requires_grad=True)
    c = torch.randn(m, dtype=F64)
    loc = theta / theta.norm()
    z = VonMisesFisher(loc, torch.tensor(k, dtype=F64)).rsample((100000,))
    (g,) = torch.autograd.grad((z @ c).mean(), theta)
    th = theta.detach().requires_grad_()
    (g_true,) = torch.autograd.grad(mean_resultant(m, k) * (c @ (th / th.norm())), th)
    assert float((g - g_true).norm()) < 0.05 * float(g_true.norm()) + 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_nan_forward_or_backward_on_grid(dtype):
    torch.manual_seed(5)
    for m in [2, 3, 11, 64, 512, 1024]:
        k = torch.tensor([1e-2, 1.0, 20.0, 1e3, 1e5], dtype=dtype, requires_grad=True)
        theta = torch.randn(5, m, dtype=dtype, requires_grad=True)
        d = VonMisesFisher(torch.nn.functional.normalize(theta, dim=-1), k)
        z = d.rsample((3,))
        loss = (z * torch.randn_like(z)).sum() + kl_divergence(d, HypersphericalUniform(m, dtype=dtype)).sum() \
            + d.log_prob(z).sum() + d.entropy().sum()
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(k.grad).all() and torch.isfinite(theta.grad).all(), m


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("loc,k,msg", [
    (torch.tensor([1.0, 1.0, 0.0]), 1.0, "unit sphere"),
    (unit(3, dtype=torch.float32), -1.0, "concentration"),
    (unit(3, dtype=torch.float32), float("nan"), "concentration"),
    (torch.tensor([1.0]), 1.0, "dim >= 2"),
])
def test_bad_arguments_are_refused(loc, k, msg):
    with pytest.raises(ValueError, match=msg):
        VonMisesFisher(loc, torch.tensor(k), validate_args=True)


def test_log_prob_validates_its_value():
    d = VonMisesFisher(unit(4, dtype=torch.float32), 1.0, validate_args=True)
    with pytest.raises(ValueError, match="unit sphere"):
        d.log_prob(torch.ones(4))


# --- uniform and Power Spherical ----------------------------------------------------------------

def test_hyperspherical_uniform_is_on_s_m_minus_1():
    u = HypersphericalUniform(3, dtype=F64)
    z = u.sample((1000,))
    assert z.shape == (1000, 3) and torch.allclose(z.norm(dim=-1), torch.ones(1000, dtype=F64))
    assert float(u.log_prob(z[:1])) == pytest.approx(-math.log(4 * math.pi))   # area of S^2 is 4 pi
    assert float(u.entropy()) == pytest.approx(math.log(4 * math.pi))
    with pytest.raises(ValueError, match="dim"):
        HypersphericalUniform(1)


def test_power_spherical_glue():
    pytest.importorskip("power_spherical")
    loc = torch.nn.functional.normalize(torch.randn(6, 11), dim=-1)
    d = power_spherical(loc, torch.rand(6, 1) * 10 + 0.5)
    assert d.rsample((2,)).shape == (2, 6, 11)
    kl = kl_divergence(d, HypersphericalUniform(11))
    assert kl.shape == (6,) and (kl >= 0).all()
    assert torch.allclose(kl, -d.entropy() + math.log(2 * math.pi ** 5.5 / math.gamma(5.5)), rtol=1e-5)


@pytest.mark.parametrize("m,k", [(3, 1e4), (5, 2.0), (11, 30.0), (64, 5.0), (512, 20.0), (512, 1e3)])
def test_implicit_dw_dk_against_high_precision(m, k):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    a = mp.besseli(mp.mpf(m) / 2, k) / mp.besseli(mp.mpf(m) / 2 - 1, k)
    q = mp.mpf(m - 3) / 2

    def log_p(t):
        return k * t + (q * mp.log(1 - t * t) if q else 0)

    for offset in [-0.3, -0.03, -0.001, 0.0, 0.0005, 0.003]:
        w = a + offset
        if not -1 < w < 1:
            continue
        f = lambda t: (t - a) * mp.exp(log_p(t) - log_p(w))  # noqa: E731
        # the side away from the mode, as the implementation (the other side cancels badly)
        ref = mp.quad(f, mp.linspace(w, 1, 60)) if w >= a else -mp.quad(f, mp.linspace(-1, w, 60))
        got = float(implicit_dw_dk(torch.tensor(float(w), dtype=F64), torch.tensor(k, dtype=F64), m))
        assert got == pytest.approx(float(ref), rel=1e-6)


# --- the circle (m = 2) and large concentrations ------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_circle_rsample_gradients_are_finite_for_all_k(dtype):
    # before: sqrt of a negative number in the implicit gradient (the w-density of m = 2 is singular at +-1)
    torch.manual_seed(6)
    k = torch.tensor([1e-2, 0.3, 1.0, 20.0, 1e3, 1e5], dtype=dtype, requires_grad=True)
    theta = torch.randn(6, 2, dtype=dtype, requires_grad=True)
    d = VonMisesFisher(torch.nn.functional.normalize(theta, dim=-1), k)
    z = d.rsample((500,))
    assert z.shape == (500, 6, 2) and float((z.detach().double().norm(dim=-1) - 1).abs().max()) < 1e-6
    loss = (z * torch.randn_like(z)).sum() + kl_divergence(d, HypersphericalUniform(2, dtype=dtype)).sum()
    loss.backward()
    assert torch.isfinite(k.grad).all() and torch.isfinite(theta.grad).all()


@pytest.mark.parametrize("k", [0.5, 5.0, 50.0])
def test_circle_sampler_is_von_mises(k):
    from scipy.stats import kstest, vonmises

    torch.manual_seed(7)
    loc = unit(2, seed=3)
    z = VonMisesFisher(loc, torch.tensor(k, dtype=F64)).sample((4000,))
    angle = torch.atan2(loc[0] * z[:, 1] - loc[1] * z[:, 0], z @ loc)     # signed angle from loc
    assert kstest(angle.numpy(), vonmises(k).cdf).pvalue > 1e-3


@pytest.mark.parametrize("k", [0.01, 1.0, 30.0, 1e5])
def test_circle_rsample_gradient_in_concentration_is_unbiased(k):
    torch.manual_seed(8)
    loc = unit(2)
    kk = torch.tensor(k, dtype=F64, requires_grad=True)
    w = VonMisesFisher(loc, kk).rsample((40000,)) @ loc
    per_sample = implicit_dw_dk(w.detach(), torch.tensor(k, dtype=F64), 2)
    (grad,) = torch.autograd.grad(w.mean(), kk)
    assert float(grad) == pytest.approx(float(per_sample.mean()), rel=1e-6)
    a = mean_resultant(2, k)
    truth = 1 - a * a - a / k
    se = float(per_sample.std()) / math.sqrt(len(per_sample))
    assert abs(float(grad) - truth) < 5 * se


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("k", [0.3, 4.0, 200.0])
def test_circle_dw_dk_against_finite_differences_of_the_quantile(k):
    # w = cos(theta), theta = |angle| with density ~ exp(k cos phi) on [0, pi]
    def density(phi, kk):
        return math.exp(kk * (math.cos(phi) - 1))

    def quantile(u, kk):
        total = quad(density, 0, math.pi, args=(kk,), epsabs=0, epsrel=1e-13, limit=200)[0]
        return brentq(lambda t: quad(density, 0, t, args=(kk,), epsabs=0, epsrel=1e-13, limit=200)[0] / total - u,
                      0, math.pi, xtol=1e-15)

    for u in [0.02, 0.3, 0.7, 0.99]:
        h = 1e-4 * k
        fd = (math.cos(quantile(u, k + h)) - math.cos(quantile(u, k - h))) / (2 * h)
        got = float(implicit_dw_dk(torch.tensor(math.cos(quantile(u, k)), dtype=F64), torch.tensor(k, dtype=F64), 2))
        assert got == pytest.approx(fd, rel=1e-5, abs=1e-12)


def test_circle_dtheta_dk_against_high_precision():
    from sphericalae.distributions import _circle_dtheta_dk

    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    for k in [1e-2, 1.0, 30.0, 1e5, 1e9]:
        a = mp.besseli(1, k) / mp.besseli(0, k)
        sd = min(1.0, 1 / math.sqrt(k))
        for th in [1e-12, 1e-3 * sd, 0.3 * sd, sd, 3 * sd, 8 * sd, 2.5]:
            if th > 10 * sd:
                continue
            delta = 2 * math.sin(th / 2) ** 2
            t = 2 * mp.asin(mp.sqrt(mp.mpf(delta) / 2))         # the angle of the float64 1 - w
            f = lambda p: (mp.cos(p) - a) * mp.exp(k * (mp.cos(p) - mp.cos(t)))  # noqa: E731
            ref = -mp.quad(f, [0, t])
            got = float(_circle_dtheta_dk(torch.tensor([delta], dtype=F64), torch.tensor(k, dtype=F64),
                                          torch.tensor(float(1 - a), dtype=F64)))
            assert got == pytest.approx(float(ref), rel=1e-9), (k, th)


def test_circle_training_loop_stays_finite():
    # optimise loc and k of a circle vMF through rsample + KL (what `svae --latent-dim 2` does)
    torch.manual_seed(9)
    target = torch.tensor([0.6, 0.8])
    theta = torch.randn(24, 2, requires_grad=True)
    log_k = torch.zeros(24, requires_grad=True)
    opt = torch.optim.Adam([theta, log_k], lr=0.3)
    losses = []
    for _ in range(50):
        d = VonMisesFisher(torch.nn.functional.normalize(theta, dim=-1), log_k.exp())
        loss = ((d.rsample((4,)) - target) ** 2).sum(-1).mean() + 1e-3 * kl_divergence(d, HypersphericalUniform(2)).mean()
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(theta.grad).all() and torch.isfinite(log_k.grad).all()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert float(log_k.detach().exp().median()) > 10                       # k grew: most samples concentrate on the target


def test_no_nan_gradient_in_k_at_high_concentration_float32():
    # before: w was cast to float32 before the implicit gradient; w == 1.0 gave NaN (~1% of draws)
    torch.manual_seed(10)
    loc = unit(3, dtype=torch.float32)
    k = torch.full((20000,), 1e5, requires_grad=True)
    z = VonMisesFisher(loc.expand(20000, 3), k).rsample()
    (z @ loc).sum().backward()
    assert torch.isfinite(k.grad).all()
    for m in [2, 3, 5, 64]:                                         # and at w = +-1 exactly
        w = torch.tensor([1.0, -1.0], dtype=F64)
        assert torch.isfinite(implicit_dw_dk(w, torch.tensor(1e5, dtype=F64), m)).all()


@pytest.mark.parametrize("m,k", [(2, 3.0), (3, 2.0), (8, 20.0)])
def test_rsample_gradient_in_concentration_of_the_tangential_part(m, k):
    # z = w mu + sqrt(1 - w^2) v: the tangential part depends on k too. For c orthogonal to mu,
    # E[(c.z)^2] = |c|^2 (1 - E[w^2]) / (m - 1) = |c|^2 A / k, so d/dk = |c|^2 (A'/k - A/k^2)
    torch.manual_seed(11)
    loc = torch.zeros(m, dtype=F64)
    loc[0] = 1.0
    c = torch.zeros(m, dtype=F64)
    c[1] = 1.0
    kk = torch.full((16,), k, dtype=F64, requires_grad=True)     # 16 chunks of 5000 draws
    z = VonMisesFisher(loc, kk.unsqueeze(-1).expand(16, 5000)).rsample()
    (g,) = torch.autograd.grad(((z @ c) ** 2).mean(-1).sum(), kk)
    kd = torch.tensor(k, dtype=F64, requires_grad=True)
    (da,) = torch.autograd.grad(bessel_ratio(m / 2 - 1, kd), kd)
    truth = float(da) / k - mean_resultant(m, k) / k**2
    se = float(g.std()) / 4
    assert abs(float(g.mean()) - truth) < 5 * se, (float(g.mean()), truth, se)


# --- expand, dtypes, range of the concentration, generator, rotation ------------------------------

def test_expand_broadcasts_and_keeps_gradients():
    loc = unit(5).requires_grad_()
    k = torch.tensor(3.0, dtype=F64, requires_grad=True)
    d = VonMisesFisher(loc, k)
    kl_before = kl_divergence(d, HypersphericalUniform(5, dtype=F64))   # Bessel terms computed before expanding
    e = d.expand((4, 2))
    assert e.batch_shape == (4, 2) and e.event_shape == (5,) and e.dim == 5
    z = e.rsample((3,), generator=0)
    assert z.shape == (3, 4, 2, 5)
    assert torch.equal(e.log_prob(z), d.log_prob(z))
    kl = kl_divergence(e, HypersphericalUniform(5, dtype=F64))
    assert kl.shape == (4, 2) and torch.equal(kl, kl_before.expand(4, 2))
    (z.sum() + kl.sum()).backward()
    assert loc.grad is not None and k.grad is not None and torch.isfinite(k.grad)
    with pytest.raises(RuntimeError):
        d.expand((4, 3)).expand((4, 2))     # (4, 3) cannot become (4, 2)


def test_bfloat16_unit_loc_is_accepted():
    # before: a normalised bfloat16 loc was refused (tolerance 1e-3 below bfloat16's rounding)
    loc = torch.nn.functional.normalize(torch.randn(64, 32), dim=-1).bfloat16()
    assert float((loc.float().norm(dim=-1) - 1).abs().max()) > 1e-3   # the case of the issue
    d = VonMisesFisher(loc, 10.0, validate_args=True)
    z = d.rsample(generator=1)
    assert z.dtype == torch.bfloat16 and float((z.float().norm(dim=-1) - 1).abs().max()) < 0.03
    with pytest.raises(ValueError, match="unit sphere"):
        VonMisesFisher(loc * 1.1, 10.0, validate_args=True)


@pytest.mark.parametrize("k", [1e154, 1e300, float("inf"), 2.0 ** 101])
@pytest.mark.parametrize("validate", [True, False])
def test_out_of_range_concentration_is_refused_at_construction(k, validate):
    # before: rsample with k >= 1e154 or inf ran 100 rejection rounds and raised RuntimeError
    with pytest.raises(ValueError, match="2\\^100"):
        VonMisesFisher(unit(3), torch.tensor([1.0, k], dtype=F64), validate_args=validate)


def test_largest_concentration_samples():
    z = VonMisesFisher(unit(3), torch.tensor(2.0 ** 100, dtype=F64)).sample((10,), generator=2)
    assert torch.allclose(z, unit(3).expand(10, 3), atol=1e-12)


def test_generator_makes_draws_reproducible():
    d = VonMisesFisher(torch.nn.functional.normalize(torch.randn(50, 7), dim=-1), torch.rand(50) * 30)
    a = d.sample((4,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, d.sample((4,), generator=3))
    assert not torch.equal(a, d.sample((4,), generator=4))
    u = HypersphericalUniform(7)
    assert torch.equal(u.sample((5,), generator=3), u.sample((5,), generator=3))
    with pytest.raises(ValueError, match="generator"):
        d.sample(generator="seed")


@pytest.mark.parametrize("m", [2, 3, 9])
def test_rotation_backward_matches_numerical_gradient(m):
    from sphericalae.distributions import _Rotate

    gen = torch.Generator().manual_seed(m)
    mu = torch.nn.functional.normalize(torch.randn(6, m, dtype=F64, generator=gen), dim=-1)
    mu[0] = 0.0
    mu[0, 0] = -1.0                              # exactly -e1, and e1 below: the reflection never degenerates
    mu[1] = 0.0
    mu[1, 0] = 1.0
    w = torch.rand(6, dtype=F64, generator=gen) * 2 - 1
    sin = torch.sqrt(1 - w * w)
    g = torch.randn(6, m - 1, dtype=F64, generator=gen)
    z = _Rotate.apply(mu, w, sin, g)
    assert torch.allclose(z.norm(dim=-1), torch.ones(6, dtype=F64)) and torch.allclose((z * mu).sum(-1), w)
    inputs = (mu.requires_grad_(), w.requires_grad_(), sin.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b, c: _Rotate.apply(a, b, c, g), inputs)


# --- issue 29: generators and loc validated as sample_prior does -------------------------------------

@pytest.mark.parametrize("bad", [-1, 2**64, 1.0, True, "0"])
def test_vmf_and_uniform_refuse_a_bad_generator_in_one_line(bad):
    d, u = VonMisesFisher(unit(3, 0), torch.tensor(2.0)), HypersphericalUniform(3)
    for dist in (d, u):
        with pytest.raises(ValueError, match="generator") as err:
            dist.sample((2,), generator=bad)
        assert "\n" not in str(err.value)
    top = 2**64 - 1                                      # the largest seed torch takes
    assert torch.equal(d.sample((2,), generator=top), d.sample((2,), generator=top))


def test_power_spherical_refuses_a_loc_off_the_sphere_and_promotes_an_integer_loc():
    pytest.importorskip("power_spherical")
    with pytest.raises(ValueError, match="loc must lie on the unit sphere"):
        power_spherical(torch.tensor([1.0, 1.0, 0.0]), 2.0)
    with pytest.raises(ValueError, match="concentration"):
        power_spherical(torch.tensor([1.0, 0.0, 0.0]), -1.0)
    z = torch.tensor([0.6, 0.8, 0.0])
    as_int = power_spherical(torch.tensor([1, 0, 0]), 2.5).log_prob(z)
    as_float = power_spherical(torch.tensor([1.0, 0.0, 0.0]), 2.5).log_prob(z)
    assert torch.allclose(as_int, as_float)
    vmf_int = VonMisesFisher(torch.tensor([1, 0, 0]), 2.5).log_prob(z)
    assert torch.allclose(vmf_int, VonMisesFisher(torch.tensor([1.0, 0.0, 0.0]), 2.5).log_prob(z))
