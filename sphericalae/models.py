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
import typing
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

from .checks import check_memory, choice, finite_float, positive_int
from .config import TrainConfig, option
from .distributions import HypersphericalUniform, VonMisesFisher, power_spherical
from .ops import PIPELINES, centerize, pipeline_name, sample_prior, spherize
from .runfiles import read_checkpoint, restore
from .seeding import seeded_build
from .train import FORMAT, Trainer, batches_of, sequential_batches
from .train import trained as _trained

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
    sphere_codim = None                  # codes on S^(d - sphere_codim) in R^d; None: codes in R^d

    def __init__(self, features, latent_dim, beta=1.0):
        super().__init__()
        self.latent_dim, self.beta = latent_dim, beta
        self.fc = nn.Linear(features, self.out_size(latent_dim))

    @classmethod
    def on_sphere(cls) -> bool:
        """Whether this kind's codes lie on a sphere."""
        return cls.sphere_codim is not None

    @property
    def sphere_dim(self):
        """k of the sphere S^k the codes lie on, or None for codes in R^d."""
        return None if self.sphere_codim is None else self.latent_dim - self.sphere_codim

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

    def kl(self, h):
        """KL(q(z|h) || prior) per example, scaled by ``beta`` (zero for kinds without a posterior)."""
        return h.new_zeros(h.shape[0])

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
    sphere_codim = 2

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
        return z, self._kl(mu, logvar)

    def _kl(self, mu, logvar):
        return self.beta * 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1)

    def kl(self, h):
        return self._kl(*self._params(h))


class VMFBottleneck(Bottleneck):
    """von Mises-Fisher posterior on S^(d-1), uniform prior (S-VAE); the concentration is
    ``softplus(.) + 1`` (as in the S-VAE code), the mean direction normalized. Own prior: uniform
    on S^(d-1)."""
    pipeline = "spherize"
    sphere_codim = 1

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
        return q.rsample(), self._kl(q)

    def _kl(self, q):
        prior = HypersphericalUniform(self.latent_dim, device=q.loc.device, dtype=torch.float32)
        return self.beta * kl_divergence(q, prior)

    def kl(self, h):
        return self._kl(self.posterior(h))

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


@dataclass(frozen=True)
class ModelConfig:
    """An autoencoder of :mod:`sphericalae.models`. ``latent_dim`` is the size d of the vector the
    decoder reads, for every kind (sae codes lie on S^(d-2), svae/ps codes on S^(d-1), vae/ae in R^d).
    ``recon``: the reconstruction loss of eq. 11; None picks the default of the data family:
    ``bce`` for 28 px digits (``mlp``; the S-VAE digit protocol), ``l2`` for RGB images (``conv*``;
    eq. 11 with p = 2, the MSE the paper's Table 2 reports)."""
    kind: str = field(default="sae", metadata=option("model kind", choices=lambda: KINDS, flags=("--model", "--kind")))
    arch: str = field(default="mlp", metadata=option("architecture; the CLI picks it from the dataset's image "
                                                   "shape when not given", choices=lambda: ARCHS))
    latent_dim: int = field(default=10, metadata=option("size d of the code the decoder reads"))
    recon: typing.Optional[str] = field(default=None, metadata=option(
        "reconstruction loss (default: bce for digits, l2 for RGB images)", choices=lambda: RECON_LOSSES))
    beta: float = field(default=1.0, metadata=option("weight of the KL term (vae, svae, ps)"))

    def __post_init__(self):
        choice(self.kind, KINDS, "model")
        choice(self.arch, ARCHS, "architecture")
        positive_int(self.latent_dim, "latent_dim", least=2)
        if self.kind == "sae" and self.latent_dim < 3:
            raise ValueError("sae needs latent_dim >= 3: its codes live on S^(d-2)")
        if self.recon is None:
            object.__setattr__(self, "recon", "bce" if self.arch == "mlp" else "l2")
        choice(self.recon, RECON_LOSSES, "reconstruction loss", "reconstruction losses")
        object.__setattr__(self, "beta", finite_float(self.beta, "beta", low=0))


class Losses(NamedTuple):
    """Per-example losses; the training objective is ``total.mean()``."""
    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


# --- the autoencoder ----------------------------------------------------------------------------

class AutoEncoder(nn.Module):
    """Encoder -> bottleneck -> decoder. Inputs ``(B, C, H, W)`` in [0, 1]. See the module docstring.
    ``AutoEncoder.trainer`` (:class:`AutoEncoderTrainer`) is how :func:`sphericalae.train.fit` trains it."""

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

    @property
    def sphere_dim(self):
        """k of the sphere S^k the codes lie on (sae: d-2; svae, ps: d-1), None for codes in R^d."""
        return self.bottleneck.sphere_dim

    def _features(self, x):
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"{self.config.arch} expects images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return self.encoder(x)

    def forward(self, x, sample: bool = True) -> Losses:
        """Per-example ``Losses(total, recon, kl)`` of images ``x``; ``sample=False`` decodes the
        deterministic code (and reports the KL of the posterior all the same)."""
        h = self._features(x)
        if sample:
            z, kl = self.bottleneck.sample(h)
        else:
            z, kl = self.bottleneck.code(h), self.bottleneck.kl(h)
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
            from .seeding import resolve_generator
            n = positive_int(n, "n (number of samples)")
            check_memory(n * self.config.latent_dim, p.element_size(), f"{n} codes", p.device)
            gen, dev = resolve_generator(generator, p.device)
            return self.bottleneck.own_prior(n, gen, dev, p.dtype)
        pipe = PIPELINES[pipeline_name(pipeline or self.bottleneck.pipeline)]
        return pipe(sample_prior(prior, n, self.config.latent_dim, generator, device=p.device, dtype=p.dtype,
                                 **params))

    @torch.no_grad()
    def decode_prior(self, prior=None, n=64, pipeline=None, generator=None, **params):
        """Decode ``n`` codes of :meth:`sample_latent` into images; ``n`` images larger than the
        device's memory are refused before any is drawn (``ValueError``)."""
        n = positive_int(n, "n (number of samples)")
        p = next(self.parameters())
        one = self.decode(torch.zeros(1, self.config.latent_dim, device=p.device, dtype=p.dtype))
        check_memory(n * one.numel(), one.element_size(), f"{n} images", p.device)
        return self.decode(self.sample_latent(prior, n, pipeline, generator, **params))


# --- training: the autoencoder family of sphericalae.train.fit ------------------------------------

@torch.no_grad()
def evaluate(model, dataset, batch_size=256, device="cpu", workers=0):
    """Held-out scores of an autoencoder: ``heldout_recon``, the mean reconstruction loss per image
    (summed over pixels) with deterministic codes, and ``heldout_mse``, the mean squared error per
    pixel of ``model.reconstruct``."""
    model.eval()
    device = torch.device(device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    sq = torch.zeros((), dtype=torch.float64, device=device)
    count = pixels = 0
    for x in batches_of(dataset, sequential_batches(len(dataset), batch_size), device, workers):
        total += model(x, sample=False).recon.double().sum()
        sq += (model.reconstruct(x).float() - x).double().square().sum()
        count += x.shape[0]
        pixels += x.numel()
    model.train()
    return {"heldout_recon": float(total) / count, "heldout_mse": float(sq) / pixels}


class AutoEncoderTrainer(Trainer):
    """The autoencoders: Adam on ``model(x).total.mean()``; the held-out scores of :func:`evaluate`
    each epoch, ``heldout_recon`` watched by the stop rule."""
    family = "autoencoder"
    monitor = "heldout_recon"

    def step(self, x, update):
        with self.autocast():
            losses = self.net(x)
            loss = losses.total.mean()
        update(loss, "optimizer")
        return {"train_loss": loss.detach(), "train_recon": losses.recon.detach().mean(),
                "train_kl": losses.kl.detach().mean()}

    def evaluate(self, heldout, workers):
        return {} if heldout is None else evaluate(self.model, heldout, device=self.device, workers=workers)


AutoEncoder.trainer = AutoEncoderTrainer


def build(config: ModelConfig | None = None, seed: int = 0, **fields) -> AutoEncoder:
    """Build an autoencoder from a :class:`ModelConfig` (or its fields as
    keywords). The initial weights come from ``seed`` alone (stream ``(seed, "init")`` of
    :mod:`sphericalae.seeding`), whatever the state of torch's global generator, which is left
    as it was."""
    return seeded_build(AutoEncoder, ModelConfig, config, seed, **fields)


def load_checkpoint(path) -> dict:
    """An autoencoder run's checkpoint, checked (:func:`sphericalae.runfiles.read_checkpoint`)."""
    return read_checkpoint(path, FORMAT, {"model_config": ModelConfig, "train_config": TrainConfig},
                           required=AutoEncoderTrainer.optimizer_names + ("model",))


def load_run(path):
    """``(model, state)``: the model of a run folder with its trained weights, in eval mode.
    Refuses (``ValueError``) weights that do not fit the config or are not finite."""
    state = load_checkpoint(path)
    return restore(build(state["model_config"]), state, path), state


def trained(model_config: ModelConfig, train_config: TrainConfig, data=None, *, progress=False, root=None):
    """``(model, history)``: ``model_config`` trained with ``train_config``, once per configuration
    and training code (:func:`sphericalae.train.trained`; the key holds the source of this module
    and every package module it imports), then loaded from the cache. On the CPU, in eval mode."""
    return _trained(build, model_config, train_config, data, sources=(__name__,), progress=progress, root=root)


__all__ = ["build", "trained", "arch_for", "load_run", "load_checkpoint", "AutoEncoder", "AutoEncoderTrainer",
           "evaluate", "ModelConfig", "Losses", "KINDS", "ARCHS", "RECON_LOSSES"]
