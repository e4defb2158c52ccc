"""Unit tests for sphericalae.theory: closed forms against numerical integration, high precision and
Monte Carlo; the exact W2 against brute force and POT; bad inputs."""
import itertools
import math

import mpmath as mp
import numpy as np
import pytest
import torch
from scipy.integrate import quad

from sphericalae import robust_sample
from sphericalae.theory import (annulus_width, mc_pairwise_distances, mc_volume_fraction,
                                pairwise_distance_asymptotes, pairwise_distance_moments,
                                pairwise_distance_pdf, sample_ball, sample_sphere, sliced_wasserstein2,
                                w2_between_priors,
                                volume_fraction, wasserstein2)

# --- Theorem 1 ----------------------------------------------------------------------------------


def test_volume_fraction_paper_r512():
    # Section 2.1: in R^512 an annulus 0.9% of the radius wide holds 99% of the volume
    assert 1 - volume_fraction(0.009, 512) == pytest.approx(0.990, abs=5e-4)
    assert annulus_width(0.99, 512) == pytest.approx(0.009, abs=1e-4)


@pytest.mark.parametrize("dim", [1, 2, 10, 512, 10**6])
def test_annulus_width_inverts_volume_fraction(dim):
    for mass in [0.01, 0.5, 0.99, 0.999999]:
        w = annulus_width(mass, dim)
        assert 1 - volume_fraction(w, dim) == pytest.approx(mass, rel=1e-12)


def test_volume_fraction_closed_form_and_edges():
    assert volume_fraction(0.5, 3) == pytest.approx(0.125, rel=1e-15)
    assert volume_fraction(0.0, 7) == 1.0 and volume_fraction(1.0, 7) == 0.0
    assert np.allclose(volume_fraction(np.array([0.1, 0.2]), 2), [0.81, 0.64])


@pytest.mark.parametrize("dim", [2, 10, 100])
def test_volume_fraction_against_monte_carlo(dim):
    width = 0.05
    est, se = mc_volume_fraction(width, dim, n=100_000, generator=torch.Generator().manual_seed(dim))
    assert abs(est - volume_fraction(width, dim)) < 5 * se + 1e-12


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_volume_fraction_bad_width(bad):
    with pytest.raises(ValueError, match="width"):
        volume_fraction(bad, 10)
    with pytest.raises(ValueError, match="mass"):
        annulus_width(bad, 10)


@pytest.mark.parametrize("dim", [0, -3, 2.5])
def test_bad_dimension(dim):
    with pytest.raises(ValueError, match="ambient dimension"):
        volume_fraction(0.1, dim)


def test_sample_ball_radius_law():
    # uniform in the ball: P(|x| <= s) = s^dim
    x = sample_ball(50_000, 5, torch.Generator().manual_seed(1), dtype=torch.float64)
    r = x.norm(dim=-1)
    for s in [0.5, 0.8, 0.95]:
        p = float((r <= s).double().mean())
        assert abs(p - s ** 5) < 5 * math.sqrt(s ** 5 * (1 - s ** 5) / 50_000)


# --- Lemma 1 ------------------------------------------------------------------------------------


def mp_moments(dim, r=1):
    mp.mp.dps = 60
    e = r * mp.mpf(2) ** (dim - 1) * mp.gamma(mp.mpf(dim) / 2) ** 2 / (mp.sqrt(mp.pi) * mp.gamma(dim - mp.mpf(1) / 2))
    return e, mp.sqrt(2 * r * r - e * e)


@pytest.mark.parametrize("dim", [2, 3, 5, 8, 9, 10, 64, 512, 1000, 10**4, 10**6])
def test_moments_against_high_precision(dim):
    mean, sd = pairwise_distance_moments(dim)
    e, s = mp_moments(dim)
    assert abs(mean - float(e)) <= 1e-14 * float(e)
    assert abs(sd - float(s)) <= 1e-12 * float(s)


def test_moments_paper_r512():
    # Section 2.2: "in R^512, mean 1.4139, sd 0.0313, 2.21% of the mean"
    mean, sd = pairwise_distance_moments(512)
    assert round(mean, 4) == 1.4139 and round(sd, 4) == 0.0313
    assert round(100 * sd / mean, 2) == 2.21


def test_moments_small_n_exact_values():
    # circle: mean chord 4/pi; sphere in R^3: mean 4/3, E[xi^2] = 2
    assert pairwise_distance_moments(2)[0] == pytest.approx(4 / math.pi, rel=1e-15)
    m3, s3 = pairwise_distance_moments(3)
    assert m3 == pytest.approx(4 / 3, rel=1e-15) and s3 == pytest.approx(math.sqrt(2 - 16 / 9), rel=1e-14)


def test_moments_scale_with_radius_and_approach_asymptotes():
    m, s = pairwise_distance_moments(50, radius=3.0)
    m1, s1 = pairwise_distance_moments(50)
    assert m == pytest.approx(3 * m1, rel=1e-15) and s == pytest.approx(3 * s1, rel=1e-15)
    errs = []
    for dim in [10, 100, 1000, 10000]:
        (m, s), (am, asd) = pairwise_distance_moments(dim), pairwise_distance_asymptotes(dim)
        errs.append((abs(m - am) / m, abs(s - asd) / s))
    # the mean's error falls like 1/dim^2, the sd's like 1/dim: each tenfold dim cuts them >= 9x
    for (em0, es0), (em1, es1) in zip(errs, errs[1:]):
        assert em1 < em0 / 50 and es1 < es0 / 9


@pytest.mark.parametrize("dim", [3, 4, 10, 100, 1024])
def test_pdf_integrates_to_one_with_right_moments(dim):
    f = lambda x, k: x ** k * pairwise_distance_pdf(x, dim)  # noqa: E731
    pts = [math.sqrt(2)] if dim > 50 else None
    total = quad(f, 0, 2, args=(0,), points=pts, limit=200)[0]
    mean = quad(f, 0, 2, args=(1,), points=pts, limit=200)[0]
    second = quad(f, 0, 2, args=(2,), points=pts, limit=200)[0]
    assert total == pytest.approx(1, abs=1e-8)
    assert mean == pytest.approx(pairwise_distance_moments(dim)[0], rel=1e-8)
    assert second == pytest.approx(2.0, rel=1e-8)


def test_pdf_radius_and_support():
    assert pairwise_distance_pdf(3.0, 5, radius=2.0) == pytest.approx(pairwise_distance_pdf(1.5, 5) / 2, rel=1e-14)
    assert np.all(pairwise_distance_pdf(np.array([-1.0, 0.0, 2.0, 2.5]), 10) == 0)
    assert np.isfinite(pairwise_distance_pdf(np.linspace(0.01, 1.99, 50), 10**6)).all()


@pytest.mark.parametrize("dim", [3, 10, 512])
def test_pdf_against_monte_carlo(dim):
    d = mc_pairwise_distances(dim, n=50_000, generator=torch.Generator().manual_seed(dim))
    mean, sd = pairwise_distance_moments(dim)
    assert abs(d.mean() - mean) < 5 * sd / math.sqrt(d.size)
    assert abs(d.std() / sd - 1) < 0.02
    # histogram mass in a central interval against the integrated density
    lo, hi = mean - sd, mean + sd
    p = quad(pairwise_distance_pdf, lo, hi, args=(dim,))[0]
    q = ((d > lo) & (d < hi)).mean()
    assert abs(q - p) < 5 * math.sqrt(p * (1 - p) / d.size)


def test_pdf_bad_inputs():
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_distance_pdf(1.0, 1)
    with pytest.raises(ValueError, match="radius"):
        pairwise_distance_moments(10, radius=0)


# --- Theorem 2: exact W2 -------------------------------------------------------------------------


def brute_force_w2(x, y):
    n = len(x)
    best = min(sum(((x[i] - y[p[i]]) ** 2).sum() for i in range(n)) for p in itertools.permutations(range(n)))
    return math.sqrt(best / n)


@pytest.mark.parametrize("n,dim,seed", [(1, 3, 0), (3, 2, 1), (5, 4, 2), (6, 10, 3), (7, 3, 4)])
def test_w2_equals_brute_force(n, dim, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    assert wasserstein2(x, y) == pytest.approx(brute_force_w2(x, y), rel=1e-12)


def test_w2_equals_pot_exact_solver():
    ot = pytest.importorskip("ot")
    x = robust_sample("normal", 300, 64, 0, dtype=torch.float64).numpy()
    y = robust_sample("poisson", 300, 64, 1, dtype=torch.float64).numpy()
    a = np.full(300, 1 / 300)
    ref = math.sqrt(ot.emd2(a, a, ot.dist(x, y), numItermax=10**7))
    assert wasserstein2(x, y) == pytest.approx(ref, rel=1e-10)


def test_w2_properties_and_matching():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    assert wasserstein2(x, x) == pytest.approx(0, abs=1e-7)
    assert wasserstein2(x, y) == pytest.approx(wasserstein2(y, x), rel=1e-12)
    # a shuffled copy is at distance 0, and the matching undoes the shuffle
    perm = rng.permutation(40)
    w, match = wasserstein2(x, x[perm], return_matching=True)
    assert w == pytest.approx(0, abs=1e-7) and np.array_equal(perm[match], np.arange(40))
    # a translation by v moves every matched pair by v: W2 = |v| between a set and its shift
    v = rng.normal(size=8)
    assert wasserstein2(x, x + v) == pytest.approx(np.linalg.norm(v), rel=1e-10)
    # torch tensors give the same value as numpy arrays
    assert wasserstein2(torch.from_numpy(x), torch.from_numpy(y)) == wasserstein2(x, y)


def test_sliced_is_below_exact():
    x = sample_sphere(200, 32, torch.Generator().manual_seed(0), dtype=torch.float64)
    y = sample_sphere(200, 32, torch.Generator().manual_seed(1), dtype=torch.float64)
    assert sliced_wasserstein2(x, y, 50, generator=2) < wasserstein2(x, y)


@pytest.mark.parametrize("x,y,msg", [
    (np.zeros((3, 2)), np.zeros((4, 2)), "same number of points"),
    (np.zeros((3, 2)), np.zeros((3, 5)), "different dimensions"),
    (np.full((3, 2), np.nan), np.zeros((3, 2)), "NaN"),
    (np.zeros(3), np.zeros(3), "shape"),
    (np.zeros((0, 2)), np.zeros((0, 2)), "empty"),
])
def test_w2_bad_inputs(x, y, msg):
    with pytest.raises(ValueError, match=msg):
        wasserstein2(x, y)


def test_w2_between_priors_reproducible_and_converging():
    a = w2_between_priors("chi2", "normal", 64, 50, reps=3, seed=1)
    b = w2_between_priors("chi2", "normal", 64, 50, reps=3, seed=1)
    assert a.shape == (3,) and np.array_equal(a, b)
    assert not np.array_equal(a, w2_between_priors("chi2", "normal", 64, 50, reps=3, seed=2))
    # Theorem 2: on the sphere the level rises towards sqrt(2) and the spread shrinks with dimension
    lo = w2_between_priors("uniform", "uniform", 8, 60, reps=6)
    hi = w2_between_priors("uniform", "uniform", 1024, 60, reps=6)
    assert lo.mean() < hi.mean() < math.sqrt(2) and hi.std() < lo.std()
    # raw sets are not on the sphere: their level grows like sqrt(dim)
    assert w2_between_priors("normal", "normal", 256, 40, reps=2, robust=False).mean() > 10


def test_w2_between_priors_pipelines():
    a = w2_between_priors("chi2", "chi2", 64, 40, reps=2, pipeline="spherize", seed=3)
    assert np.array_equal(a, w2_between_priors("chi2", "chi2", 64, 40, reps=2, pipeline="spherize", seed=3))
    assert np.all(a < math.sqrt(2))              # on the sphere, so below the diameter's sqrt(2)
    # centerize+spherize on plain draws is Algorithm 1: level near the robust_sample one
    both = w2_between_priors("normal", "normal", 256, 60, reps=3, pipeline="centerize+spherize")
    rob = w2_between_priors("normal", "normal", 256, 60, reps=3)
    assert abs(both.mean() - rob.mean()) < 0.02
    assert w2_between_priors("normal", "normal", 256, 40, reps=2, pipeline="vanilla").mean() > 10
    with pytest.raises(ValueError, match="unknown pipeline"):
        w2_between_priors("normal", "normal", 8, 5, pipeline="sideways")


def test_marginal_w2_bound():
    from sphericalae.theory import marginal_w2_bound
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    assert marginal_w2_bound(x, x[rng.permutation(200)]) == pytest.approx(0.0, abs=1e-15)
    assert marginal_w2_bound(x, x + 0.5) == pytest.approx(math.sqrt(6 * 0.25), rel=1e-12)  # root of a sum
    for _ in range(5):   # a lower bound on the W2 / sqrt(n) of the sets themselves
        y = rng.exponential(size=(200, 6))
        assert marginal_w2_bound(x, y) <= wasserstein2(x, y) + 1e-12


# --- seeds: every stream of w2_between_priors comes from sphericalae.seeding ---------------------


def test_w2_between_priors_draws_from_seeding_streams():
    from sphericalae.seeding import torch_generator

    def stream(r, side, how="robust", seed=4):
        return torch_generator(seed, "w2_between_priors", "chi2", "normal", how, 16, 30, r, side)
    expected = [wasserstein2(robust_sample("chi2", 30, 16, stream(r, "x"), dtype=torch.float64),
                             robust_sample("normal", 30, 16, stream(r, "y"), dtype=torch.float64))
                for r in range(2)]
    assert np.array_equal(w2_between_priors("chi2", "normal", 16, 30, reps=2, seed=4), expected)
    # an alias names the same stream as its prior; another pipeline is another, independent stream
    assert np.array_equal(w2_between_priors("chi-squared", "gaussian", 16, 30, reps=2, seed=4), expected)
    from sphericalae.ops import PIPELINES, sample_prior
    both = PIPELINES["centerize+spherize"]
    spher = [wasserstein2(both(sample_prior("chi2", 30, 16, stream(r, "x", "centerize+spherize"),
                                            dtype=torch.float64)),
                          both(sample_prior("normal", 30, 16, stream(r, "y", "centerize+spherize"),
                                            dtype=torch.float64)))
             for r in range(2)]
    got = w2_between_priors("chi2", "normal", 16, 30, reps=2, seed=4, pipeline="both")
    assert np.array_equal(got, spher) and not np.array_equal(got, expected)
    with pytest.raises(ValueError, match="seed"):
        w2_between_priors("chi2", "normal", 16, 30, reps=2, seed=-1)


def test_renamed_parameters():
    # names as the package states them: dim (ambient dimension), n (points), width (shell width)
    assert volume_fraction(width=0.5, dim=3) == pytest.approx(0.125, rel=1e-15)
    assert annulus_width(mass=0.875, dim=3) == pytest.approx(0.5, rel=1e-12)
    assert sample_sphere(n=4, dim=3, generator=0).shape == (4, 3)
    assert sample_ball(n=4, dim=3, generator=0).shape == (4, 3)
    assert mc_pairwise_distances(dim=3, n=10, generator=0).shape == (10,)
    assert 0 <= mc_volume_fraction(width=0.1, dim=3, n=10, generator=0)[0] <= 1
    assert pairwise_distance_moments(dim=3)[0] == pytest.approx(4 / 3, rel=1e-15)
    assert w2_between_priors("normal", "normal", dim=8, n=5, reps=1).shape == (1,)
    with pytest.raises(ValueError, match="n \\(number of points\\)"):
        sample_sphere(0, 3)
    with pytest.raises(ValueError, match="width"):
        mc_volume_fraction(1.5, 3, n=10)


def test_functions_fit_on_a_screen():
    # issue 17: no function of the package is longer than 60 lines (docstring included)
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent / "sphericalae"
    for path in sorted(root.glob("*.py")):
        module = path.stem
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{module}.{node.name} is too long"
