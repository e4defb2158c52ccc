"""Autoencoders with a swappable latent bottleneck: SAE, VAE, S-VAE (vMF), Power Spherical, AE.

``model = build(ModelConfig(kind, arch, latent_dim, recon, beta), seed=0)``. The public surface,
used by the training loop and every page:

* ``model(x)`` -> ``Losses(total, recon, kl)``, each per example (training: ``total.mean()``);
  ``model(x, sample=False)`` uses the deterministic code (held-out evaluation);
* ``posterior(x)``: the distribution q(z|x) (vae: diagonal Gaussian, svae: vMF, ps: Power
  Spherical), or the deterministic code for sae and ae, which have none;
* ``encode(x)``: the deterministic code (posterior mean or mean direction); ``decode(z)``: images
  in [0, 1]; ``reconstruct(x) = decode(encode(x))``;
* ``sample_latent(n, prior, pipeline)`` and ``decode_prior(prior, n, pipeline)``: codes or images
  from a prior (below).

Latent sizes, kept consistent across kinds: ``latent_dim = d`` is always the size of the vector
the decoder reads, a point of R^d. The codes of each kind live on

* ``sae``  (eq. 10: encoder -> centerize -> spherize): S^(d-2), the unit sphere of the hyperplane
  sum z = 0 in R^d;
* ``svae`` (vMF posterior, uniform prior) and ``ps`` (Power Spherical posterior, uniform prior):
  S^(d-1) in R^d;
* ``vae`` (Gaussian posterior, N(0, I) prior) and ``ae`` (no constraint): R^d.

Sampling from priors (``decode_prior``). With ``prior=None`` each kind draws from its own prior:
sae: Algorithm 1 on normal draws (S^(d-2)); svae and ps: uniform on S^(d-1), i.e. spherized
normal draws, not centerized; vae: N(0, I) as is; ae: N(0, I) as is (our choice: a plain AE has no
prior; the fair AE sampler, a mixture fitted to its training codes, is a page's business). A named
prior (``normal``, ``uniform``, ``poisson``, ``chi2``, see :data:`sphericalae.ops.PRIORS`) goes
through a ``pipeline`` of :data:`sphericalae.ops.PIPELINES`: ``vanilla`` (raw), ``spherize``,
``centerize`` or ``centerize+spherize`` (Algorithm 1; aliases ``raw`` and ``both``); by default the
kind's own pipeline (sae: ``centerize+spherize``; svae, ps: ``spherize``; vae, ae: ``vanilla``),
so the same draws can be fed to every model.

Architectures (:data:`ARCHS`): ``mlp`` for 28x28 digits (784-256-128-d, as in the S-VAE paper) and
``conv32``, ``conv64``, ``conv128`` for RGB images (stride-2 convolutions down to 4x4, channels
doubling from 32 up to 256, mirrored by transposed convolutions); :func:`arch_for` picks one from
an image shape. Decoders output logits. Reconstruction losses (:data:`RECON_LOSSES`, eq. 11, summed
over pixels): ``bce``, ``l2`` (squared error of the sigmoid output) or ``l1``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

from .config import ModelConfig
from .distributions import HypersphericalUniform, VonMisesFisher, power_spherical
from .ops import PIPELINES, centerize, pipeline_name, sample_prior, spherize
from .seeding import derive_seed

# --- encoders and decoders ----------------------------------------------------------------------

class MLPEncoder(nn.Module):
    def __init__(self, channels=1, size=28, hidden=(256, 128)):
        super().__init__()
        dims = [channels * size * size, *hidden]
        layers = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(nn.Flatten(), *layers)
        self.out_features = dims[-1]

    def forward(self, x):
        return self.net(x)


class MLPDecoder(nn.Module):
    def __init__(self, latent_dim, channels=1, size=28, hidden=(128, 256)):
        super().__init__()
        dims = [latent_dim, *hidden]
        layers = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], channels * size * size))
        self.shape = (channels, size, size)

    def forward(self, z):
        return self.net(z).view(-1, *self.shape)


def _conv_channels(size, base=32, top=256):
    levels = int(math.log2(size // 4))
    return [min(base * 2**i, top) for i in range(levels)]


class ConvEncoder(nn.Module):
    def __init__(self, channels=3, size=64, features=512):
        super().__init__()
        chans = _conv_channels(size)
        layers, c_in = [], channels
        for c in chans:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.SiLU()]
            c_in = c
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * 16, features), nn.SiLU())
        self.out_features = features

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim, channels=3, size=64):
        super().__init__()
        chans = _conv_channels(size)[::-1]
        self.c_top = chans[0]
        self.fc = nn.Sequential(nn.Linear(latent_dim, self.c_top * 16), nn.SiLU())
        layers = []
        for c_in, c_out in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, stride=2, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(self.fc(z).view(-1, self.c_top, 4, 4))


# --- bottlenecks: one class per kind ------------------------------------------------------------

class Bottleneck(nn.Module):
    """Maps encoder features ``h`` to codes. ``sample(h)`` -> (z, kl per example) for training;
    ``code(h)``: the deterministic code; ``posterior(h)``: q(z|h) or the deterministic code."""
    pipeline = "vanilla"                 # how a named prior is fed to this kind by default

    def __init__(self, features, latent_dim, beta=1.0):
        super().__init__()
        self.latent_dim, self.beta = latent_dim, beta
        self.fc = nn.Linear(features, self.out_size(latent_dim))

    @staticmethod
    def out_size(latent_dim):
        return latent_dim

    def code(self, h):
        return self.fc(h)

    def posterior(self, h):
        return self.code(h)

    def sample(self, h):
        z = self.code(h)
        return z, z.new_zeros(z.shape[0])

    def own_prior(self, n, generator, device, dtype):
        """n draws of this kind's prior (see the module docstring)."""
        return sample_prior("normal", n, self.latent_dim, generator, device=device, dtype=dtype)


class AEBottleneck(Bottleneck):
    """No constraint: z in R^d. Own prior (our choice): N(0, I)."""


class SAEBottleneck(Bottleneck):
    """Spherical constraint (eq. 10): z = spherize(centerize(W h)), on S^(d-2) in R^d. No KL.
    Own prior: Algorithm 1 on normal draws. The fast form of spherize is safe here: the codes are
    float32 (or bfloat16) linear outputs."""
    pipeline = "centerize+spherize"

    def code(self, h):
        return spherize(centerize(self.fc(h)), eps=1e-6, scale_safe=False)

    def own_prior(self, n, generator, device, dtype):
        return PIPELINES[self.pipeline](super().own_prior(n, generator, device, dtype))


class VAEBottleneck(Bottleneck):
    """Gaussian posterior N(mu, diag sigma^2), prior N(0, I); KL scaled by ``beta``."""

    @staticmethod
    def out_size(latent_dim):
        return 2 * latent_dim

    def _params(self, h):
        mu, logvar = self.fc(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-30, 20)

    def code(self, h):
        return self._params(h)[0]

    def posterior(self, h):
        mu, logvar = self._params(h)
        return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)

    def sample(self, h):
        mu, logvar = self._params(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1)
        return z, self.beta * kl


class VMFBottleneck(Bottleneck):
    """von Mises-Fisher posterior on S^(d-1), uniform prior (S-VAE); the concentration is
    ``softplus(.) + 1`` (as in the S-VAE code), the mean direction normalized. Own prior: uniform
    on S^(d-1)."""
    pipeline = "spherize"

    @staticmethod
    def out_size(latent_dim):
        return latent_dim + 1

    def _loc_concentration(self, h):
        out = self.fc(h).float()
        return F.normalize(out[:, :-1], dim=-1), F.softplus(out[:, -1]) + 1

    def _distribution(self, loc, concentration):
        return VonMisesFisher(loc, concentration, validate_args=False)

    def code(self, h):
        return F.normalize(self.fc(h)[:, :-1].float(), dim=-1)

    def posterior(self, h):
        return self._distribution(*self._loc_concentration(h))

    def sample(self, h):
        q = self.posterior(h)
        prior = HypersphericalUniform(self.latent_dim, device=h.device, dtype=torch.float32)
        return q.rsample(), self.beta * kl_divergence(q, prior)

    def own_prior(self, n, generator, device, dtype):
        return spherize(super().own_prior(n, generator, device, dtype))


class PowerSphericalBottleneck(VMFBottleneck):
    """Power Spherical posterior (De Cao & Aziz 2020) on S^(d-1), uniform prior."""

    def _distribution(self, loc, concentration):
        return power_spherical(loc, concentration)


KINDS = {"sae": SAEBottleneck, "vae": VAEBottleneck, "svae": VMFBottleneck, "ps": PowerSphericalBottleneck,
         "ae": AEBottleneck}
"""Model kinds: name -> bottleneck class. Adding a kind is one entry (a Bottleneck subclass)."""


class Arch(NamedTuple):
    image_shape: tuple
    encoder: type
    decoder: type


ARCHS = {"mlp": Arch((1, 28, 28), MLPEncoder, MLPDecoder),
         "conv32": Arch((3, 32, 32), ConvEncoder, ConvDecoder),
         "conv64": Arch((3, 64, 64), ConvEncoder, ConvDecoder),
         "conv128": Arch((3, 128, 128), ConvEncoder, ConvDecoder)}
"""Architectures: name -> (image shape (C, H, W), encoder class, decoder class)."""


def arch_for(image_shape) -> str:
    """The architecture that reads images of ``image_shape`` (C, H, W)."""
    shape = tuple(int(s) for s in image_shape)
    for name, arch in ARCHS.items():
        if arch.image_shape == shape:
            return name
    raise ValueError(f"no architecture reads images of shape {shape}; valid shapes: "
                     + ", ".join(f"{a.image_shape} ({n})" for n, a in ARCHS.items()))


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


RECON_LOSSES = {"bce": _bce,
                "l2": lambda logits, x: (torch.sigmoid(logits) - x).square(),
                "l1": lambda logits, x: (torch.sigmoid(logits) - x).abs()}
"""Reconstruction losses per pixel (eq. 11), from decoder logits: name -> function."""


class Losses(NamedTuple):
    """Per-example losses; the training objective is ``total.mean()``."""
    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


# --- the autoencoder ----------------------------------------------------------------------------

class AutoEncoder(nn.Module):
    """Encoder -> bottleneck -> decoder. Inputs ``(B, C, H, W)`` in [0, 1]. See the module docstring."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"expected a ModelConfig, got {type(config).__name__}")
        self.config = config
        arch = ARCHS[config.arch]
        channels, size, _ = arch.image_shape
        self.image_shape = arch.image_shape
        self.encoder = arch.encoder(channels, size)
        self.decoder = arch.decoder(config.latent_dim, channels, size)
        self.bottleneck = KINDS[config.kind](self.encoder.out_features, config.latent_dim, config.beta)

    @property
    def kind(self):
        return self.config.kind

    def _features(self, x):
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"{self.config.arch} expects images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return self.encoder(x)

    def forward(self, x, sample: bool = True) -> Losses:
        """Per-example ``Losses(total, recon, kl)`` of images ``x``; ``sample=False`` decodes the
        deterministic code (and reports the KL of the posterior all the same)."""
        h = self._features(x)
        z, kl = self.bottleneck.sample(h)
        if not sample:
            z = self.bottleneck.code(h)
        recon = RECON_LOSSES[self.config.recon](self.decoder(z).float(), x).flatten(1).sum(-1)
        kl = kl.float()
        return Losses(recon + kl, recon, kl)

    def posterior(self, x):
        """q(z|x) as a torch distribution (vae, svae, ps), or the deterministic code (sae, ae)."""
        return self.bottleneck.posterior(self._features(x))

    def encode(self, x):
        """Deterministic codes ``(B, d)`` of images ``x`` (posterior mean or mean direction)."""
        return self.bottleneck.code(self._features(x))

    def decode(self, z):
        """Images in [0, 1] decoded from codes ``(B, d)``."""
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x):
        """``decode(encode(x))``."""
        return self.decode(self.encode(x))

    def sample_latent(self, prior=None, n=64, pipeline=None, generator=None, **params):
        """``n`` codes ``(n, d)``: this kind's own prior (``prior=None``), or a named prior through a
        pipeline (default: this kind's own; see the module docstring)."""
        p = next(self.parameters())
        if prior is None:
            if pipeline is not None or params:
                raise ValueError("pipeline and prior parameters apply to a named prior; pass prior=...")
            from .ops import resolve_generator
            gen, dev = resolve_generator(generator, p.device)
            return self.bottleneck.own_prior(n, gen, dev, p.dtype)
        pipe = PIPELINES[pipeline_name(pipeline or self.bottleneck.pipeline)]
        return pipe(sample_prior(prior, n, self.config.latent_dim, generator, device=p.device, dtype=p.dtype,
                                 **params))

    @torch.no_grad()
    def decode_prior(self, prior=None, n=64, pipeline=None, generator=None, **params):
        """Decode ``n`` codes of :meth:`sample_latent` into images."""
        return self.decode(self.sample_latent(prior, n, pipeline, generator, **params))


def build(config: ModelConfig | None = None, seed: int = 0, **fields) -> AutoEncoder:
    """Build an autoencoder from a :class:`~sphericalae.config.ModelConfig` (or its fields as
    keywords). The initial weights come from ``seed`` alone (stream ``(seed, "init")`` of
    :mod:`sphericalae.seeding`), whatever the state of torch's global generator, which is left
    as it was."""
    if config is None:
        config = ModelConfig(**fields)
    elif fields:
        raise ValueError("pass either a ModelConfig or its fields, not both")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return AutoEncoder(config)


__all__ = ["build", "arch_for", "AutoEncoder", "Losses", "KINDS", "ARCHS", "RECON_LOSSES"]
