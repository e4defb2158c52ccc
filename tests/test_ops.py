"""Unit tests for sphericalae.ops: Algorithm 1 and its parts."""
import math

import numpy as np
import pytest
import torch

from sphericalae import PRIORS, centerize, robust_sample, sample_prior, spherize

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
ATOL = {torch.float16: 2e-3, torch.bfloat16: 1e-2, torch.float32: 1e-6, torch.float64: 1e-12}


# --- centerize ----------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_centerize_zero_mean_keeps_device_dtype_shape(device, dtype):
    z = torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(0)).to(device, dtype) + 5
    c = centerize(z)
    assert c.shape == z.shape and c.dtype == dtype and c.device.type == device
    assert c.float().mean(-1).abs().max() < 10 * ATOL[dtype] * 5 + 1e-6
    # the same as subtracting the row mean, computed independently in float64
    z64 = z.double()
    ref = z64 - z64.sum(-1, keepdim=True) / z.shape[-1]
    assert torch.allclose(c.double(), ref, atol=20 * ATOL[dtype] * 5)


def test_centerize_idempotent_and_invariant_to_shifts():
    z = torch.randn(50, 16, dtype=torch.float64)
    c = centerize(z)
    assert torch.allclose(centerize(c), c, atol=1e-14)
    assert torch.allclose(centerize(z + 3.7), c, atol=1e-12)


# --- spherize -----------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_spherize_unit_norm_keeps_device_dtype_shape(device, dtype):
    z = torch.randn(5, 2, 33, generator=torch.Generator().manual_seed(1)).to(device, dtype) * 10
    s = spherize(z)
    assert s.shape == z.shape and s.dtype == dtype and s.device.type == device
    norms = torch.linalg.vector_norm(s.double(), dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=10 * ATOL[dtype])
    # direction is kept: s is a positive multiple of z
    cos = torch.nn.functional.cosine_similarity(s.double(), z.double(), dim=-1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=10 * ATOL[dtype])


def test_spherize_idempotent():
    z = torch.randn(100, 10, dtype=torch.float64)
    s = spherize(z)
    assert torch.allclose(spherize(s), s, atol=1e-15)


def test_spherize_zero_vector_is_finite_not_nan():
    z = torch.zeros(4, 8)
    z[1] = torch.arange(8.0)
    s = spherize(z)
    assert torch.isfinite(s).all()
    assert torch.equal(s[0], torch.zeros(8))  # zero stays zero
    assert math.isclose(float(s[1].norm()), 1.0, rel_tol=1e-6)


def test_spherize_zero_vector_has_finite_gradient():
    z = torch.zeros(2, 5, requires_grad=True)
    spherize(z).sum().backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("scale,dtype", [(1e-30, torch.float32), (1e-300, torch.float64),
                                         (1e30, torch.float32), (1e3, torch.float16)])
def test_spherize_tiny_and_huge_vectors_land_on_sphere(scale, dtype):
    # a naive z / ||z|| under- or overflows here (1e-30**2 == 0 in float32; 1e3**2 > fp16 max)
    z = (torch.tensor([[3.0, -4.0, 0.0]], dtype=torch.float64) * scale).to(dtype)
    s = spherize(z)
    assert torch.allclose(s.double(), torch.tensor([[0.6, -0.8, 0.0]], dtype=torch.float64), atol=10 * ATOL[dtype])


def test_spherize_gradient_is_tangent():
    # d spherize / dz maps onto the tangent space: the gradient of <a, spherize(z)> is orthogonal to z
    z = torch.randn(6, 9, dtype=torch.float64, requires_grad=True)
    a = torch.randn(6, 9, dtype=torch.float64)
    (a * spherize(z)).sum().backward()
    assert torch.allclose((z.grad * z).sum(-1), torch.zeros(6, dtype=torch.float64), atol=1e-12)


def test_spherize_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps must be positive"):
        spherize(torch.ones(3), eps=0.0)


# --- numpy in, numpy out ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_numpy_out(dtype):
    z = np.random.default_rng(0).normal(size=(10, 6)).astype(dtype) + 2
    c, s = centerize(z), spherize(centerize(z))
    assert isinstance(c, np.ndarray) and c.dtype == dtype and c.shape == z.shape
    assert np.allclose(c.mean(-1), 0, atol=1e-6)
    assert np.allclose(np.linalg.norm(s, axis=-1), 1, atol=1e-6)
    np.testing.assert_allclose(c, z - z.mean(-1, keepdims=True), atol=1e-6)


def test_integer_input_is_promoted_to_float():
    c = centerize(torch.tensor([[1, 2, 3]]))
    assert c.dtype == torch.get_default_dtype()
    assert torch.allclose(c, torch.tensor([[-1.0, 0.0, 1.0]]))


@pytest.mark.parametrize("bad,err", [(torch.tensor(1.0), ValueError), (torch.ones(3, 0), ValueError),
                                     ("abc", TypeError), (np.array([object()]), TypeError)])
def test_bad_inputs_are_refused(bad, err):
    with pytest.raises(err):
        centerize(bad)
    with pytest.raises(err):
        spherize(bad)


# --- priors -------------------------------------------------------------------------------------

# population mean and variance of each prior at its default parameters
MOMENTS = {"normal": (0.0, 1.0), "uniform": (0.0, 1 / 3), "poisson": (1.0, 1.0), "chi2": (1.0, 2.0)}


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_prior_moments(name):
    z = sample_prior(name, 4000, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert z.shape == (4000, 50)
    mean, var = MOMENTS[name]
    n = z.numel()
    se_mean = math.sqrt(var / n)
    assert abs(float(z.mean()) - mean) < 5 * se_mean
    assert abs(float(z.var()) / var - 1) < 0.02  # 200k draws: the variance is known to ~1%


def test_prior_support():
    g = torch.Generator().manual_seed(4)
    u = sample_prior("uniform", 1000, 10, g)
    assert u.min() >= -1 and u.max() <= 1
    p = sample_prior("poisson", 1000, 10, g)
    assert (p >= 0).all() and torch.equal(p, p.round())
    assert (sample_prior("chi2", 1000, 10, g) >= 0).all()


def test_prior_parameters_override_defaults():
    g = torch.Generator().manual_seed(5)
    z = sample_prior("poisson", 2000, 50, g, rate=4.0, dtype=torch.float64)
    assert abs(float(z.mean()) - 4.0) < 0.05
    z = sample_prior("chi2", 2000, 50, g, df=3, dtype=torch.float64)
    assert abs(float(z.mean()) - 3.0) < 0.05 and abs(float(z.var()) / 6.0 - 1) < 0.03


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_same_generator_seed_same_samples(name):
    a = sample_prior(name, 7, 5, torch.Generator().manual_seed(11))
    b = sample_prior(name, 7, 5, torch.Generator().manual_seed(11))
    c = sample_prior(name, 7, 5, 11)  # an int seed works too
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, sample_prior(name, 7, 5, torch.Generator().manual_seed(12)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_prior_device_and_dtype(device, dtype):
    z = sample_prior("poisson", 3, 4, device=device, dtype=dtype)
    assert z.device.type == device and z.dtype == dtype


def test_unknown_prior_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown prior 'cauchy'.*normal, uniform, poisson, chi2"):
        sample_prior("cauchy", 2, 3)
    with pytest.raises(ValueError, match="valid priors"):
        robust_sample("laplace", 2, 3)


def test_prior_aliases():
    assert torch.equal(sample_prior("Gaussian", 2, 3, 0), sample_prior("normal", 2, 3, 0))
    assert torch.equal(sample_prior("chi-squared", 2, 3, 0), sample_prior("chi2", 2, 3, 0))


@pytest.mark.parametrize("n,dim", [(0, 3), (-1, 3), (3, 0), (2.5, 3), (True, 3), ("3", 3)])
def test_bad_sizes_are_refused(n, dim):
    with pytest.raises(ValueError, match="positive integer"):
        sample_prior("normal", n, dim)


def test_numpy_integer_sizes_are_accepted():
    assert sample_prior("normal", np.int64(2), np.int32(3)).shape == (2, 3)


@pytest.mark.parametrize("prior,kw,msg", [
    ("poisson", {"rate": -1.0}, "rate must be > 0"), ("chi2", {"df": 0}, "df"), ("chi2", {"df": 1.5}, "df"),
    ("poisson", {"lam": 2.0}, "unknown"),
    ("poisson", {"rate": float("nan")}, "rate must be a finite number"),
    ("poisson", {"rate": float("inf")}, "rate must be a finite number"),
    ("poisson", {"rate": 1e300}, "rate must be <= 1000000000000000"),
    ("normal", {"mean": float("nan")}, "mean must be a finite number"),
    ("normal", {"std": float("inf")}, "std must be a finite number"),
    ("uniform", {"low": float("-inf")}, "low must be a finite number"),
    ("uniform", {"high": float("nan")}, "high must be a finite number"),
    ("chi2", {"df": float("nan")}, "df must be a positive integer"),
])
def test_bad_prior_parameters(prior, kw, msg):
    with pytest.raises(ValueError, match=msg):
        sample_prior(prior, 2, 3, **kw)


def test_largest_poisson_rate_is_still_right():
    x = sample_prior("poisson", 20000, 1, 0, dtype=torch.float64, rate=1e15)
    assert abs(float(x.mean()) / 1e15 - 1) < 1e-8 and abs(float(x.std()) / 1e15 ** 0.5 - 1) < 0.05


def test_bad_generator_type():
    with pytest.raises(TypeError, match="generator"):
        sample_prior("normal", 2, 3, generator="seed")


# --- Algorithm 1 --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRIORS))
@pytest.mark.parametrize("dim", [2, 10, 512])
def test_robust_sample_on_sphere_in_hyperplane(name, dim):
    z = robust_sample(name, 200, dim, torch.Generator().manual_seed(6), dtype=torch.float64)
    assert z.shape == (200, dim)
    assert torch.allclose(z.norm(dim=-1), torch.ones(200, dtype=torch.float64), atol=1e-12)
    assert z.sum(-1).abs().max() < 1e-12
    # Algorithm 1 is idempotent: its output is a fixed point of centerize and spherize
    assert torch.allclose(spherize(centerize(z)), z, atol=1e-14)


def test_robust_sample_is_sample_then_centerize_then_spherize():
    raw = sample_prior("chi2", 30, 12, torch.Generator().manual_seed(8))
    z = robust_sample("chi2", 30, 12, torch.Generator().manual_seed(8))
    mean = raw.sum(-1, keepdim=True) / 12
    ref = (raw - mean) / (raw - mean).norm(dim=-1, keepdim=True)
    assert torch.allclose(z, ref, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("prior, params, dim", [("poisson", {"rate": 1e6}, 3), ("poisson", {"rate": 1e3}, 3),
                                                ("poisson", {"rate": 1e4}, 10), ("poisson", {"rate": 1e15}, 100),
                                                ("normal", {"mean": 1e5}, 3), ("chi2", {}, 512),
                                                ("uniform", {}, 2)])
def test_robust_sample_every_dtype_is_the_float64_result_rounded_once(dtype, prior, params, dim):
    # bfloat16 at rate 1e6 used to return points off the hyperplane (|sum| up to 0.58, 1953/2000 rows)
    z = robust_sample(prior, 2000, dim, torch.Generator().manual_seed(3), dtype=dtype, **params)
    draw = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    raw = sample_prior(prior, 2000, dim, torch.Generator().manual_seed(3), dtype=draw, **params).double()
    c = raw - raw.mean(-1, keepdim=True)
    c = c - c.mean(-1, keepdim=True)
    ref = c / c.norm(dim=-1, keepdim=True)                      # Algorithm 1 in float64 on the draws
    assert z.dtype == dtype and bool((c.abs().amax(-1) > 0).all())
    eps = torch.finfo(dtype).eps
    assert (z.double() - ref).abs().max() <= 2 * eps             # one rounding (float64: a few)
    assert z.double().sum(-1).abs().max() <= 2 * eps * dim ** 0.5
    assert (z.double().norm(dim=-1) - 1).abs().max() <= 2 * eps


def test_robust_sample_half_precision_beyond_its_range():
    # float16 cannot hold a rate of 1e6 (largest value 65504): used to raise a raw RuntimeError
    z = robust_sample("poisson", 50, 4, 0, dtype=torch.float16, rate=1e6)
    assert z.dtype == torch.float16 and bool(torch.isfinite(z).all())
    with pytest.raises(ValueError, match="float16's range.*float32"):
        sample_prior("poisson", 50, 4, 0, dtype=torch.float16, rate=1e6)


def test_robust_sample_refuses_dim_1():
    with pytest.raises(ValueError, match="dim >= 2"):
        robust_sample("normal", 5, 1)


def test_robust_sample_redraws_constant_vectors():
    # Poisson(1) in R^2 draws (k, k) about 31% of the time; centerize sends those to 0
    z = robust_sample("poisson", 2000, 2, torch.Generator().manual_seed(9), dtype=torch.float64)
    assert torch.allclose(z.norm(dim=-1), torch.ones(2000, dtype=torch.float64), atol=1e-12)


def test_robust_sample_raises_when_prior_is_degenerate():
    # a tiny rate makes nearly every draw the zero vector: it must raise, not return zeros
    with pytest.raises(RuntimeError, match="constant vectors"):
        robust_sample("poisson", 5, 2, torch.Generator().manual_seed(0), rate=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_fast_spherize_agrees_on_ordinary_vectors(dtype):
    z = torch.randn(50, 12, dtype=torch.float64).to(dtype) * 3
    assert torch.allclose(spherize(z, scale_safe=False).double(), spherize(z).double(), atol=10 * ATOL[dtype])
    assert torch.equal(spherize(torch.zeros(2, 4), scale_safe=False), torch.zeros(2, 4))   # still no NaN


def test_energy_distance_matches_its_definition():
    from sphericalae.stats import energy_distance, pairwise_distances

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g, dtype=torch.float64), torch.randn(40, 4, generator=g, dtype=torch.float64) + 1
    expected = 2 * pairwise_distances(x, y).mean() - pairwise_distances(x).mean() - pairwise_distances(y).mean()
    assert energy_distance(x, y) == pytest.approx(float(expected), rel=1e-12)
    assert energy_distance(x, y) > 0.1   # shifted by 1 in each coordinate: clearly apart


def test_skewness_gap_separates_third_moments_and_ignores_algorithm1():
    from sphericalae.ops import centerize, sample_prior, spherize
    from sphericalae.stats import skewness_gap, vector_skewness
    z = sample_prior("chi2", 500, 64, 1, dtype=torch.float64)
    # a per-vector shift and scale: Algorithm 1 leaves each vector's skewness unchanged
    assert torch.allclose(vector_skewness(spherize(centerize(z))), vector_skewness(z), atol=1e-12)
    assert vector_skewness(torch.ones(3, 5)).abs().max() == 0          # constant vectors: 0, not NaN
    normal_a = sample_prior("normal", 500, 64, 2, dtype=torch.float64)
    normal_b = sample_prior("normal", 500, 64, 3, dtype=torch.float64)
    _, z_same = skewness_gap(normal_a, normal_b)
    gap, z_diff = skewness_gap(z, normal_a)
    assert abs(z_same) < 4 and z_diff > 20
    assert gap == pytest.approx(2 * 2 ** 0.5, abs=0.6)   # chi2(1) skewness 2 sqrt 2, biased low at m = 64


def test_prior_gap_table_streams_come_from_seeding():
    from sphericalae.ops import PIPELINES
    from sphericalae.seeding import torch_generator
    from sphericalae.stats import _mean_within, energy_distance, prior_gap_table

    a = prior_gap_table(16, n=40, reps=2, seed=3)
    assert a == prior_gap_table(16, n=40, reps=2, seed=3)              # same seed, same table
    assert a != prior_gap_table(16, n=40, reps=2, seed=4)              # another seed, other draws
    assert set(a) == set(PIPELINES) and set(a["vanilla"]) == {"normal", "uniform", "poisson", "chi2"}
    # one cell recomputed from the documented streams (seed, "prior_gap_table", dim, n, prior, r, side)
    pipe, vals = PIPELINES["spherize"], []
    for r in range(2):
        z = sample_prior("chi2", 40, 16, torch_generator(3, "prior_gap_table", 16, 40, "chi2", r, "prior"),
                         dtype=torch.float64)
        ref = sample_prior("normal", 40, 16, torch_generator(3, "prior_gap_table", 16, 40, "chi2", r, "normal"),
                           dtype=torch.float64)
        vals.append(energy_distance(pipe(z), pipe(ref)) / float(_mean_within(pipe(ref))))
    assert a["spherize"]["chi2"][0] == pytest.approx(float(np.mean(vals)), rel=1e-12)
    # raw chi-squared (mean 1, positive) is far from the normal prior; the normal floor is not
    assert a["vanilla"]["chi2"][0] > 10 * abs(a["vanilla"]["normal"][0])
    with pytest.raises(ValueError, match="reps"):
        prior_gap_table(16, n=40, reps=0)


# --- issue 29: arguments validated at the door -----------------------------------------------------

def test_dtype_given_as_a_name_is_accepted_and_a_bad_one_refused_in_one_line():
    assert sample_prior("normal", 2, 3, 0, dtype="float64").dtype == torch.float64
    assert robust_sample("chi2", 2, 3, 0, dtype="torch.float32").dtype == torch.float32
    for bad in ["int64", "float128", torch.int32, 3]:
        with pytest.raises(ValueError, match="dtype must be a floating dtype .*float32") as err:
            sample_prior("normal", 2, 3, 0, dtype=bad)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("eps", ["a", "1e-3", None, [1e-3], float("nan"), True])
def test_spherize_refuses_an_eps_that_is_not_a_number(eps):
    with pytest.raises(ValueError, match="eps"):
        spherize(torch.ones(2, 3), eps=eps)


def test_generator_seeds_cover_torch_range_and_nothing_else():
    last = 2**64 - 1                                     # torch's seeds are 64-bit unsigned
    assert torch.equal(sample_prior("normal", 2, 3, last), sample_prior("normal", 2, 3, last))
    for bad in [-1, 2**64, 2**70]:
        with pytest.raises(ValueError, match=r"generator \(an int seed\) must be an integer in \[0, 2\^64\)"):
            sample_prior("normal", 2, 3, generator=bad)
    for bad in [1.5, True, "0", object()]:
        with pytest.raises(ValueError, match="generator must be a torch.Generator, an int seed"):
            robust_sample("normal", 2, 3, generator=bad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5), (1000, 3), (3, 2000)])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_row_stays_in_its_row(dtype, shape, bad):
    z = torch.randn(*shape, dtype=torch.float64).to(dtype)
    z.view(-1, shape[-1])[1, 0] = bad
    for layout in (z, z.transpose(-1, -2).contiguous().transpose(-1, -2)):     # row- and column-major
        for f in (centerize, spherize, lambda x: spherize(centerize(x))):
            rows = torch.isfinite(f(layout)).reshape(-1, shape[-1]).all(-1)
            assert rows.sum() == rows.numel() - 1 and not rows[1]
    a = z.double().numpy()
    assert np.isfinite(centerize(a)).all(-1).sum() == a.size // shape[-1] - 1


@pytest.mark.parametrize("n,dim,params", [(2**62, 10, {}), (2**36, 10, {}), (2**20, 2**20, {}), (2**10, 2**10, {"df": 2**30})])
def test_sizes_beyond_memory_are_refused_before_allocation(n, dim, params):
    prior = "chi2" if params else "normal"
    with pytest.raises(ValueError, match="would need .* GiB, more than the .* of memory") as err:
        sample_prior(prior, n, dim, 0, **params)
    assert "\n" not in str(err.value)
