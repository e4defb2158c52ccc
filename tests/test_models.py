"""sphericalae.models: every kind at every resolution, forward/backward/encode/decode/prior decoding."""
import pytest
import torch

from sphericalae import PRIORS
from sphericalae.models import ARCHS, KINDS, build


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("kind", KINDS)
def test_forward_backward_encode_decode(kind, arch):
    torch.manual_seed(0)
    c, s = ARCHS[arch]
    model = build(kind, arch, latent_dim=8)
    x = torch.rand(3, c, s, s)
    total, recon, kl = model.loss(x)
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


@pytest.mark.parametrize("kind", KINDS)
def test_codes_live_where_the_docstring_says(kind):
    torch.manual_seed(1)
    z = build(kind, "mlp", 6).encode(torch.rand(5, 1, 28, 28))
    if kind == "sae":     # S^(d-2): unit norm, in the hyperplane sum z = 0
        assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5) and z.sum(-1).abs().max() < 1e-5
    elif kind in ("svae", "ps"):   # S^(d-1)
        assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5) and z.sum(-1).abs().max() > 1e-3
    else:                 # R^d
        assert not torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_decode_prior_robust_and_raw(kind, prior):
    model = build(kind, "mlp", 10)
    for robust in (True, False):
        z = model.latent_prior(prior, 4, robust=robust, generator=torch.Generator().manual_seed(2))
        if robust:
            assert torch.allclose(z.norm(dim=-1), torch.ones(4), atol=1e-5)
        images = model.decode_prior(prior, 4, robust=robust, generator=torch.Generator().manual_seed(2))
        assert images.shape == (4, 1, 28, 28) and torch.equal(images, model.decode(z))


def test_sae_sampled_code_is_its_deterministic_code():
    model = build("sae", "mlp", 10)
    x = torch.rand(4, 1, 28, 28)
    _, z, kl = model(x)
    assert torch.allclose(z, model.encode(x)) and torch.equal(kl, torch.zeros(4))


@pytest.mark.parametrize("kw,msg", [({"kind": "gan"}, "valid models: sae, vae, svae, ps, ae"),
                                    ({"arch": "conv256"}, "valid architectures"),
                                    ({"recon": "l3"}, "valid"),
                                    ({"latent_dim": 1}, "latent_dim"),
                                    ({"kind": "sae", "latent_dim": 2}, "S\\^\\(d-2\\)")])
def test_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        build(**kw)


def test_wrong_image_shape_is_refused():
    with pytest.raises(ValueError, match="expects images"):
        build("sae", "conv32", 8).loss(torch.rand(2, 1, 28, 28))


@pytest.mark.parametrize("recon", ["l2", "l1"])
def test_other_reconstruction_losses(recon):
    model = build("sae", "mlp", 8, recon=recon)
    x = torch.rand(2, 1, 28, 28)
    _, r, _ = model.loss(x)
    logits = model.decoder(model.encode(x))
    y = torch.sigmoid(logits)
    ref = ((y - x) ** 2 if recon == "l2" else (y - x).abs()).flatten(1).sum(-1)
    assert torch.allclose(r, ref, rtol=1e-5)
