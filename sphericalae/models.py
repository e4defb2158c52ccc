"""Autoencoders with a swappable latent bottleneck: SAE, VAE, S-VAE (vMF), Power Spherical, AE.

One interface: ``model = build(kind, arch, latent_dim)``; ``model(x)`` returns the reconstruction
logits, the latent code and the per-example KL; ``model.loss(x)`` the per-example losses;
``encode``/``decode``/``decode_prior`` do what they say.

Latent sizes, kept consistent across models: ``latent_dim = d`` is always the size of the vector
the decoder reads, a point of R^d. So the codes of each kind live on

* ``sae``  (eq. 10: encoder -> centerize -> spherize): S^(d-2), the unit sphere of the hyperplane
  sum z = 0 in R^d (d - 2 dimensional manifold);
* ``svae`` (vMF posterior, uniform prior) and ``ps`` (Power Spherical posterior, uniform prior):
  S^(d-1) in R^d (d - 1 dimensional);
* ``vae`` (Gaussian posterior, N(0, I) prior) and ``ae`` (no constraint): R^d.

Architectures: ``mlp`` for 28x28 digits (784-256-128-d, as in the S-VAE paper) and ``conv32``,
``conv64``, ``conv128`` for RGB images (stride-2 convolutions down to 4x4, channels doubling from
32 up to 256, mirrored by transposed convolutions). Decoders output logits; images live in [0, 1].
Reconstruction losses (eq. 11, summed over pixels): ``bce`` (default), ``l2`` (squared error) or
``l1``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import kl_divergence

from .distributions import HypersphericalUniform, VonMisesFisher, power_spherical
from .ops import centerize, robust_sample, sample_prior, spherize

KINDS = ("sae", "vae", "svae", "ps", "ae")
ARCHS = {"mlp": (1, 28), "conv32": (3, 32), "conv64": (3, 64), "conv128": (3, 128)}
RECON = ("bce", "l2", "l1")


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


# --- bottlenecks --------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """Maps encoder features to a latent code. ``forward(h)`` returns (z, kl per example)."""

    def __init__(self, features, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim

    def encode(self, h):
        """The deterministic code of h (mean, or mean direction)."""
        raise NotImplementedError


class AEBottleneck(Bottleneck):
    """No constraint: z in R^d."""

    def __init__(self, features, latent_dim):
        super().__init__(features, latent_dim)
        self.fc = nn.Linear(features, latent_dim)

    def encode(self, h):
        return self.fc(h)

    def forward(self, h):
        z = self.encode(h)
        return z, z.new_zeros(z.shape[0])


class SAEBottleneck(AEBottleneck):
    """Spherical constraint (eq. 10): z = spherize(centerize(W h)), on S^(d-2) in R^d. No KL.
    The fast form of spherize is safe here: the codes are float32 (or bfloat16) linear outputs."""

    def encode(self, h):
        return spherize(centerize(self.fc(h)), eps=1e-6, scale_safe=False)


class VAEBottleneck(Bottleneck):
    """Gaussian posterior N(mu, diag sigma^2), prior N(0, I); KL scaled by ``beta``."""

    def __init__(self, features, latent_dim, beta=1.0):
        super().__init__(features, latent_dim)
        self.fc = nn.Linear(features, 2 * latent_dim)
        self.beta = beta

    def _params(self, h):
        mu, logvar = self.fc(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-30, 20)

    def encode(self, h):
        return self._params(h)[0]

    def forward(self, h):
        mu, logvar = self._params(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1)
        return z, self.beta * kl


class SphericalBottleneck(Bottleneck):
    """vMF (``svae``) or Power Spherical (``ps``) posterior on S^(d-1), uniform prior; the
    concentration is ``softplus(.) + 1`` (as in the S-VAE code), the mean direction normalized."""

    def __init__(self, features, latent_dim, family="vmf", beta=1.0):
        super().__init__(features, latent_dim)
        if latent_dim < 2:
            raise ValueError("spherical posteriors need latent_dim >= 2")
        self.fc = nn.Linear(features, latent_dim + 1)
        self.family, self.beta = family, beta

    def posterior(self, h):
        out = self.fc(h).float()
        loc = F.normalize(out[:, :-1], dim=-1)
        k = F.softplus(out[:, -1]) + 1
        if self.family == "vmf":
            return VonMisesFisher(loc, k, validate_args=False)
        return power_spherical(loc, k)

    def encode(self, h):
        return F.normalize(self.fc(h)[:, :-1].float(), dim=-1)

    def forward(self, h):
        q = self.posterior(h)
        prior = HypersphericalUniform(self.latent_dim, device=h.device, dtype=torch.float32)
        return q.rsample(), self.beta * kl_divergence(q, prior)


def _bottleneck(kind, features, latent_dim, beta):
    if kind == "sae":
        return SAEBottleneck(features, latent_dim)
    if kind == "ae":
        return AEBottleneck(features, latent_dim)
    if kind == "vae":
        return VAEBottleneck(features, latent_dim, beta)
    return SphericalBottleneck(features, latent_dim, "vmf" if kind == "svae" else "ps", beta)


# --- the autoencoder ----------------------------------------------------------------------------

class AutoEncoder(nn.Module):
    """Encoder -> bottleneck -> decoder. Inputs ``(B, C, H, W)`` in [0, 1]; decoders emit logits."""

    def __init__(self, kind="sae", arch="mlp", latent_dim=10, recon="bce", beta=1.0):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown model {kind!r}; valid models: {', '.join(KINDS)}")
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {arch!r}; valid architectures: {', '.join(ARCHS)}")
        if recon not in RECON:
            raise ValueError(f"unknown reconstruction loss {recon!r}; valid: {', '.join(RECON)}")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 2:
            raise ValueError(f"latent_dim must be an integer >= 2, got {latent_dim!r}")
        if kind == "sae" and latent_dim < 3:
            raise ValueError("sae needs latent_dim >= 3: its codes live on S^(d-2)")
        self.config = {"kind": kind, "arch": arch, "latent_dim": latent_dim, "recon": recon, "beta": beta}
        channels, size = ARCHS[arch]
        self.image_shape = (channels, size, size)
        if arch == "mlp":
            self.encoder = MLPEncoder(channels, size)
            self.decoder = MLPDecoder(latent_dim, channels, size)
        else:
            self.encoder = ConvEncoder(channels, size)
            self.decoder = ConvDecoder(latent_dim, channels, size)
        self.bottleneck = _bottleneck(kind, self.encoder.out_features, latent_dim, beta)

    @property
    def kind(self):
        return self.config["kind"]

    def _check_input(self, x):
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"{self.config['arch']} expects images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")

    def encode(self, x):
        """Deterministic latent codes ``(B, d)`` of images ``x``."""
        self._check_input(x)
        return self.bottleneck.encode(self.encoder(x))

    def decode(self, z):
        """Images in [0, 1] decoded from codes ``(B, d)``."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x):
        """Returns ``(logits, z, kl)`` with a sampled code for stochastic models."""
        self._check_input(x)
        z, kl = self.bottleneck(self.encoder(x))
        return self.decoder(z), z, kl

    def reconstruction_loss(self, logits, x):
        """Per-example reconstruction loss summed over pixels (eq. 11)."""
        recon = self.config["recon"]
        logits = logits.float()
        if recon == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        elif recon == "l2":
            per_pixel = (torch.sigmoid(logits) - x).square()
        else:
            per_pixel = (torch.sigmoid(logits) - x).abs()
        return per_pixel.flatten(1).sum(-1)

    def loss(self, x, forward=None):
        """``(total, recon, kl)``, each per example; the training objective is ``total.mean()``.
        ``forward``: the module to run instead of ``self`` (a DistributedDataParallel wrapper)."""
        logits, _, kl = (forward or self)(x)
        recon = self.reconstruction_loss(logits, x)
        kl = kl.float()
        return recon + kl, recon, kl

    def latent_prior(self, name, n, robust=True, generator=None, **params):
        """Latent samples ``(n, d)`` from a prior: ``robust_sample`` (Algorithm 1) or raw ``sample_prior``."""
        p = next(self.parameters())
        draw = robust_sample if robust else sample_prior
        return draw(name, n, self.config["latent_dim"], generator, device=p.device, dtype=p.dtype, **params)

    @torch.no_grad()
    def decode_prior(self, name="normal", n=64, robust=True, generator=None, **params):
        """Decode ``n`` prior samples (Algorithm 1 by default) into images."""
        return self.decode(self.latent_prior(name, n, robust, generator, **params))


def build(kind="sae", arch="mlp", latent_dim=10, recon="bce", beta=1.0) -> AutoEncoder:
    """Build an autoencoder; ``kind`` in KINDS, ``arch`` in ARCHS (see the module docstring)."""
    return AutoEncoder(kind, arch, latent_dim, recon, beta)


__all__ = ["build", "AutoEncoder", "KINDS", "ARCHS", "RECON"]
