"""sphericalae.structure: separation scores, t-SNE maps, interpolation."""
import numpy as np
import pytest
import torch

from sphericalae.structure import code_metric, lerp, separation, slerp, tsne_map


def blobs(n, sep, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n)
    centres = np.eye(3, 8) * sep
    return centres[y] + rng.standard_normal((3 * n, 8)), y


def test_separated_classes_score_high_and_mixed_ones_at_chance():
    xtr, ytr = blobs(60, 10.0, 0)
    xte, yte = blobs(30, 10.0, 1)
    good = separation(xtr, ytr, xte, yte)
    assert good["knn"] == 1.0 and good["probe"] == 1.0 and good["silhouette"] > 0.6
    xtr, ytr = blobs(60, 0.0, 2)
    xte, yte = blobs(30, 0.0, 3)
    bad = separation(xtr, ytr, xte, yte, metric="cosine")
    assert bad["knn"] < 0.6 and abs(bad["silhouette"]) < 0.1


def test_errors():
    x, y = blobs(5, 1.0, 0)
    with pytest.raises(ValueError, match="valid metrics: euclidean, cosine"):
        separation(x, y, x, y, metric="manhattan")
    with pytest.raises(ValueError, match="at least 2 classes"):
        separation(x, y, x, np.zeros(len(x)))


def test_tsne_map_is_seeded():
    x, _ = blobs(20, 5.0, 0)
    a, b = tsne_map(x, seed=1), tsne_map(x, seed=1)
    assert a.shape == (60, 2) and np.allclose(a, b)


def test_slerp_stays_on_the_sphere_and_lerp_does_not():
    a, b = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])
    s, s_lin = slerp(a, b, 9), lerp(a, b, 9)
    assert torch.allclose(s.norm(dim=-1), torch.ones(9), atol=1e-6)
    assert torch.allclose(s[0], a) and torch.allclose(s[-1], b, atol=1e-6)
    assert abs(float(s_lin[4].norm()) - 2 ** -0.5) < 1e-6          # the chord's midpoint: cos(45 deg)
    with pytest.raises(ValueError, match="antipodal"):
        slerp(a, -a, 5)
    assert code_metric("sae") == "cosine" and code_metric("vae") == "euclidean"


def test_the_probe_reads_no_distance_and_the_neighbours_do():
    from sphericalae.structure import linear_probe, neighbours

    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 60)
    # class 0 points along one direction at every radius, class 1 along another: the angle separates
    # them, the Euclidean distance mixes the near-origin points of both
    radius = rng.uniform(0.01, 5, size=120)[:, None]
    angle = np.where(y == 0, 0.3, 0.6)[:, None] + 0.03 * rng.standard_normal((120, 1))
    x = radius * np.hstack([np.cos(angle), np.sin(angle)])
    cos, euc = (neighbours(x[::2], y[::2], x[1::2], y[1::2], metric=m, k=5) for m in ("cosine", "euclidean"))
    assert cos["knn"] > euc["knn"] and cos["silhouette"] > euc["silhouette"]
    p = linear_probe(x[::2], y[::2], x[1::2], y[1::2], seed=1)
    assert 0.5 <= p <= 1
    assert all(separation(x[::2], y[::2], x[1::2], y[1::2], metric=m, seed=1)["probe"] == p
               for m in ("cosine", "euclidean"))
