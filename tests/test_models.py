"""sphericalae.models: every kind at every resolution; the public surface (forward -> losses,
posterior, encode, decode, reconstruct, decode_prior); registries and errors; seeded builds."""
import pytest
import torch
from torch.distributions import Distribution

from sphericalae import PRIORS
from sphericalae.models import ModelConfig
from sphericalae.models import ARCHS, KINDS, RECON_LOSSES, arch_for, build
from sphericalae.ops import PIPELINES


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_forward_backward_encode_decode(kind, arch):
    model = build(kind=kind, arch=arch, latent_dim=8)
    x = torch.rand(3, *ARCHS[arch].image_shape)
    total, recon, kl = model(x)
    assert total.shape == recon.shape == kl.shape == (3,)
    assert torch.isfinite(total).all() and (recon > 0).all() and (kl >= -1e-6).all()
    total.mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    z = model.encode(x)
    assert z.shape == (3, 8)
    y = model.decode(z)
    assert y.shape == x.shape and (y >= 0).all() and (y <= 1).all()
    assert torch.equal(model.reconstruct(x), y)


@pytest.mark.parametrize("kind", list(KINDS))
def test_posterior_is_a_distribution_or_the_code(kind):
    model = build(kind=kind, latent_dim=6)
    x = torch.rand(4, 1, 28, 28)
    q = model.posterior(x)
    if kind in ("sae", "ae"):
        assert torch.equal(q, model.encode(x))
    else:
        assert isinstance(q, Distribution) and q.sample().shape == (4, 6)
        assert torch.allclose(q.mean if kind == "vae" else q.loc, model.encode(x), atol=1e-6)


def test_deterministic_forward_decodes_the_code():
    model = build(kind="vae", latent_dim=6)
    x = torch.rand(4, 1, 28, 28)
    a, b = model(x, sample=False), model(x, sample=False)
    assert torch.equal(a.recon, b.recon)                       # no sampling noise
    ref = torch.nn.functional.binary_cross_entropy(model.reconstruct(x), x, reduction="none").flatten(1).sum(-1)
    assert torch.allclose(a.recon, ref, rtol=1e-4)


@pytest.mark.parametrize("kind", list(KINDS))
def test_codes_live_where_the_docstring_says(kind):
    z = build(kind=kind, latent_dim=6, seed=1).encode(torch.rand(5, 1, 28, 28))
    if kind == "sae":     # S^(d-2): unit norm, in the hyperplane sum z = 0
        assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5) and z.sum(-1).abs().max() < 1e-5
    elif kind in ("svae", "ps"):   # S^(d-1)
        assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5) and z.sum(-1).abs().max() > 1e-3
    else:                 # R^d
        assert not torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-3)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_samples_its_own_prior(kind):
    z = build(kind=kind, latent_dim=64).sample_latent(None, 2000, generator=0)
    norms, sums = z.norm(dim=-1), z.sum(-1)
    if kind == "sae":                  # Algorithm 1: on S^(d-2), centred
        assert torch.allclose(norms, torch.ones(2000), atol=1e-5) and sums.abs().max() < 1e-4
    elif kind in ("svae", "ps"):       # uniform on S^(d-1), not centred: sum z ~ N(0, 1)
        assert torch.allclose(norms, torch.ones(2000), atol=1e-5)
        assert 0.8 < float(sums.std()) < 1.2
    else:                              # N(0, I) at its own scale: norm about sqrt(d) = 8
        assert 7.5 < float(norms.mean()) < 8.5


@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_named_priors_go_through_the_asked_pipeline(prior, pipeline):
    sae, vae = build(kind="sae", latent_dim=10), build(kind="vae", latent_dim=10)
    za = sae.sample_latent(prior, 16, pipeline, generator=2)
    zb = vae.sample_latent(prior, 16, pipeline, generator=2)
    assert torch.equal(za, zb)                                   # the same draws for every model
    images = vae.decode_prior(prior, 16, pipeline, generator=2)
    assert images.shape == (16, 1, 28, 28) and torch.equal(images, vae.decode(zb))
    if "spherize" in pipeline:
        assert torch.allclose(za.norm(dim=-1), torch.ones(16), atol=1e-5)


def test_default_pipelines_and_aliases():
    raw = build(kind="vae").sample_latent("uniform", 8, generator=3)
    assert torch.equal(raw, build(kind="vae").sample_latent("uniform", 8, "raw", generator=3))
    assert raw.norm(dim=-1).mean() > 1.2                         # U(-1, 1) in R^10, not spherized
    both = build(kind="sae").sample_latent("uniform", 8, generator=3)
    assert torch.equal(both, build(kind="vae").sample_latent("uniform", 8, "both", generator=3))
    with pytest.raises(ValueError, match="valid pipelines: vanilla, spherize"):
        build().sample_latent("normal", 2, "sideways")
    with pytest.raises(ValueError, match="named prior"):
        build().sample_latent(None, 2, "raw")


def test_build_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    a, b = build(kind="vae", seed=3), build(kind="vae", seed=3)
    assert torch.equal(torch.rand(1), before)
    c = build(kind="vae", seed=4)
    for (name, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.state_dict()["decoder.net.0.weight"], c.state_dict()["decoder.net.0.weight"])


@pytest.mark.parametrize("kw,msg", [({"kind": "gan"}, "valid models: sae, vae, svae, ps, ae"),
                                    ({"arch": "conv256"}, "valid architectures: mlp, conv32"),
                                    ({"recon": "l3"}, "valid reconstruction losses: bce, l2, l1"),
                                    ({"latent_dim": 1}, "latent_dim"),
                                    ({"kind": "sae", "latent_dim": 2}, "S\\^\\(d-2\\)"),
                                    ({"beta": -1.0}, "beta must be >= 0"),
                                    ({"beta": float("inf")}, "beta must be a finite number")])
def test_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ModelConfig(**kw)


def test_recon_default_follows_the_data_family():
    assert ModelConfig(arch="mlp").recon == "bce" and ModelConfig(arch="conv64").recon == "l2"
    assert ModelConfig(arch="conv64", recon="bce").recon == "bce"


def test_arch_from_image_shape():
    assert arch_for((1, 28, 28)) == "mlp" and arch_for((3, 64, 64)) == "conv64"
    with pytest.raises(ValueError, match="no architecture reads images of shape \\(3, 48, 48\\)"):
        arch_for((3, 48, 48))


def test_wrong_image_shape_is_refused():
    with pytest.raises(ValueError, match="expects images"):
        build(kind="sae", arch="conv32", latent_dim=8)(torch.rand(2, 1, 28, 28))


@pytest.mark.parametrize("recon", ["l2", "l1"])
def test_other_reconstruction_losses(recon):
    model = build(kind="sae", latent_dim=8, recon=recon)
    x = torch.rand(2, 1, 28, 28)
    r = model(x).recon
    y = model.reconstruct(x)
    ref = ((y - x) ** 2 if recon == "l2" else (y - x).abs()).flatten(1).sum(-1)
    assert torch.allclose(r, ref, rtol=1e-5)
    assert set(RECON_LOSSES) == {"bce", "l2", "l1"}
