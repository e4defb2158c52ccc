"""The measures of sphericalae.probes on sets whose answer is known: uniform directions against
concentrated ones, a sharp image against its blurred copy, binarisation against a rescaled logit."""
import math

import pytest
import torch

from sphericalae import probes
from sphericalae.ops import PIPELINES


def _normal(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_uniform_directions_have_a_mean_resultant_length_of_order_one_over_sqrt_n():
    n = 2000
    r = probes.mean_resultant_length(_normal(n, 10))
    assert 0.2 / math.sqrt(n) < r < 3 / math.sqrt(n)


def test_concentrated_directions_have_a_longer_mean():
    z = _normal(2000, 10)
    shifted = z + 3 * torch.eye(10)[0]
    assert probes.mean_resultant_length(shifted) > 0.5 > 10 * probes.mean_resultant_length(z)
    assert probes.mean_resultant_length(torch.ones(50, 10)) == pytest.approx(1.0)


def test_scale_does_not_change_the_statistics():
    z = _normal(500, 8)
    assert probes.code_statistics(5 * z) == pytest.approx(probes.code_statistics(z))


def test_top_eigenvalue_is_near_one_for_uniform_and_p_on_one_axis():
    n, d = 20000, 10
    assert probes.top_eigenvalue(_normal(n, d)) == pytest.approx(1.0, abs=0.1)
    axis = torch.zeros(n, d)
    axis[:, 0] = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)      # all on one axis, mean 0
    assert probes.top_eigenvalue(axis) == pytest.approx(d, rel=1e-3)


def test_centred_codes_are_read_on_their_hyperplane():
    n, d = 20000, 10
    codes = PIPELINES["centerize+spherize"](_normal(n, d))
    assert probes.top_eigenvalue(codes) == pytest.approx(1.0, abs=0.1)   # p = d - 1: uniform there
    stretched = codes.clone()
    stretched[:, :2] *= 4
    assert probes.top_eigenvalue(stretched) > 2


def test_uniform_like_lies_on_the_same_sphere():
    centred = PIPELINES["centerize+spherize"](_normal(300, 6))
    u = probes.uniform_like(centred, seed=1)
    assert u.shape == centred.shape and torch.allclose(u.norm(dim=1), torch.ones(300, dtype=u.dtype))
    assert u.sum(dim=1).abs().max() < 1e-9
    v = probes.uniform_like(_normal(300, 6) + 2, seed=1)
    assert torch.allclose(v.norm(dim=1), torch.ones(300, dtype=v.dtype)) and v.sum(dim=1).abs().max() > 0.1
    assert torch.equal(probes.uniform_like(centred, seed=1), u)          # a fixed stream per seed


def test_a_blurred_image_is_less_sharp():
    img = torch.zeros(1, 1, 28, 28)
    img[..., 8:20, 12:16] = 1.0
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 256).view(1, 1, 5, 5)
    blurred = torch.nn.functional.conv2d(img, kernel, padding=2)
    assert probes.sharpness(blurred) < 0.5 * probes.sharpness(img)
    assert probes.sharpness(torch.full((2, 1, 28, 28), 0.3)) == 0.0


def test_binarising_undoes_a_positive_scaling_of_the_logits():
    logits = _normal(20, 784).view(20, 1, 28, 28)
    for a in (0.3, 2.0, 5.0):
        assert torch.equal(probes.binarise(torch.sigmoid(a * logits)), probes.binarise(torch.sigmoid(logits)))


class _Identity:
    def decode(self, z):
        return z


def test_radius_cells_scale_algorithm_1s_output():
    z = _normal(100, 10) * 2 + 0.5
    cells = probes._radius_cells(_Identity(), z, scale=3.0)
    a1 = [(r, x) for cell, r, x in cells if cell == "Alg. 1"]
    assert [r for r, _ in a1] == list(probes.RADII)
    for r, x in a1:
        assert torch.allclose(x.norm(dim=1), torch.full((100,), 3.0 * r, dtype=x.dtype))
    (_, r_raw, raw), (_, r_at, at) = [c for c in cells if c[0] != "Alg. 1"]
    assert torch.equal(raw, z) and r_raw == r_at == pytest.approx(float(z.norm(dim=1).mean()) / 3.0)
    assert at.norm(dim=1).mean() == pytest.approx(float(z.norm(dim=1).mean()))
