"""A small GAN trained with normal z, the generator of the paper's Table 1 and Figure 1 (Section
5.1): one generator fed four priors with and without Algorithm 1 (:mod:`sphericalae.table1`).

* **Networks** (:class:`GANConfig`): ``dcgan28`` (28 px digits), ``dcgan32`` / ``dcgan64`` (RGB),
  ``mlp28`` (fully connected, digits; generator d -> 8w -> 16w -> 784). DCGAN: a linear layer to a
  7x7 or 4x4 map, stride-2 transposed convolutions, a 3x3 convolution to ``tanh`` rescaled to
  [0, 1]; the discriminator mirrors it. LeakyReLU(0.2), no normalization layer, so nothing on the
  generator's input path rescales z except, with ``spherize_input``, ``z / ||z||`` followed by the
  constant gain sqrt(d) (StyleGAN's input normalization): the first layer reads z on the sphere
  of radius sqrt(d), where normal z concentrates. Two generators that differ only in that flag
  are Figure 1's pair.
* **Loss** (:class:`GANTrainer`): the non-saturating logistic loss (Goodfellow et al. 2014) with
  the R1 penalty ``r1_gamma / 2 * E ||grad_x D(x)||^2`` on real images (Mescheder et al. 2018),
  in float32; one discriminator step, then one generator step per batch; Adam(lr 2e-4, betas
  (0.5, 0.999)), the DCGAN setting.
* **Training**: :func:`sphericalae.train.fit` (the one loop: resume, NaN guard, atomic run files,
  run lock); :func:`fit_gan` is that call. Seeds: weights from ``(seed, "init")``, data order from
  ``(seed, "order", epoch)``, training z from ``(seed, "latent", epoch)``, drawn on the CPU.

Command line (the options are the fields of both configs)::

    python -m sphericalae train-gan --dataset mnist-5k --spherize-input on --epochs 20 --out runs/gan
    python -m sphericalae train-gan --out runs/gan --epochs 40 --resume
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import choice, finite_float, positive_int
from .config import TrainConfig, option
from .ops import spherize
from .runfiles import read_checkpoint, restore
from .seeding import seeded_build, torch_generator
from .train import Trainer, adam, fit, trained

__all__ = ["GANConfig", "GANTrainConfig", "GAN", "GANTrainer", "Generator", "Discriminator", "GAN_ARCHS",
           "build_gan", "fit_gan", "trained_gan", "load_gan_checkpoint", "load_gan_run", "gan_arch_for", "check_gan_arch",
           "FORMAT"]

FORMAT = "sphericalae-gan/1"

# name -> (channels, image size, size of the first feature map; 0: fully connected)
GAN_ARCHS = {"mlp28": (1, 28, 0), "dcgan28": (1, 28, 7), "dcgan32": (3, 32, 4), "dcgan64": (3, 64, 4)}


def _shape(arch):
    c, size, _ = GAN_ARCHS[arch]
    return (c, size, size)


def gan_arch_for(image_shape) -> str:
    """The DCGAN architecture for images of shape (C, H, W)."""
    for name in GAN_ARCHS:
        if tuple(image_shape) == _shape(name) and name != "mlp28":
            return name
    raise ValueError(f"no GAN architecture for images of shape {tuple(image_shape)}; "
                     f"valid: {', '.join(f'{k} {_shape(k)}' for k in GAN_ARCHS)}")


def check_gan_arch(arch, image_shape) -> str:
    """``arch`` if it reads images of ``image_shape``; otherwise a one-line error naming the ones that do."""
    if _shape(arch) != tuple(image_shape):
        fits = [k for k in GAN_ARCHS if _shape(k) == tuple(image_shape)]
        raise ValueError(f"GAN architecture {arch} makes images of shape {_shape(arch)}, but the dataset's images "
                         f"are {tuple(image_shape)}; use {' or '.join(fits) if fits else 'another dataset'}")
    return arch


@dataclass(frozen=True)
class GANConfig:
    """A generator/discriminator pair (see the module docstring). ``spherize_input``: the generator
    projects z onto the unit sphere before its first layer."""
    arch: str = field(default="dcgan28", metadata=option("GAN architecture; the CLI picks it from the "
                                                       "dataset's image shape when not given",
                                                       choices=lambda: GAN_ARCHS))
    latent_dim: int = field(default=128, metadata=option("size d of the generator's input z"))
    spherize_input: bool = field(default=True, metadata=option(
        "project z onto the sphere before the first layer (on) or feed raw z (off)"))
    width: int = field(default=32, metadata=option("channels of the finest layer (doubling per level)"))

    def __post_init__(self):
        choice(self.arch, GAN_ARCHS, "GAN architecture")
        positive_int(self.latent_dim, "latent_dim", least=2)
        positive_int(self.width, "width")
        if not isinstance(self.spherize_input, bool):
            raise ValueError(f"spherize_input must be true or false, got {self.spherize_input!r}")


@dataclass(frozen=True)
class GANTrainConfig(TrainConfig):
    """A :class:`sphericalae.config.TrainConfig` for GANs: Adam(lr, betas (beta1, beta2)) for both
    networks (lr 2e-4 by default, as DCGAN) and the R1 weight ``r1_gamma``; the other fields and
    their checks are TrainConfig's."""
    lr: float = field(default=2e-4, metadata=option("Adam learning rate (both networks)"))
    beta1: float = field(default=0.5, metadata=option("Adam beta1"))
    beta2: float = field(default=0.999, metadata=option("Adam beta2"))
    r1_gamma: float = field(default=1.0, metadata=option("weight of the R1 penalty on real images"))

    def __post_init__(self):
        super().__post_init__()
        for name in ("beta1", "beta2"):
            object.__setattr__(self, name, finite_float(getattr(self, name), name, low=0, high=0.9999))
        object.__setattr__(self, "r1_gamma", finite_float(self.r1_gamma, "r1_gamma", low=0))


# --- networks -------------------------------------------------------------------------------------

def _widths(config):
    channels, size, s0 = GAN_ARCHS[config.arch]
    levels = int(round(math.log2(size // s0)))
    # channels at each resolution, coarsest first: width * 2^levels ... width, capped at 8 * width
    return channels, s0, [min(config.width * 2 ** (levels - i), 8 * config.width) for i in range(levels + 1)]


class Generator(nn.Module):
    """z (n, d) -> images (n, C, H, W) in [0, 1]. With ``spherize_input`` the first step is
    ``z / ||z||`` (:func:`sphericalae.ops.spherize`), then the constant gain sqrt(d) ahead of the
    first linear layer; ``first_input`` keeps the last projected z (the first layer's input
    before its fixed gain) when ``record`` is on (for tests)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config, self.spherize_input = config, config.spherize_input
        # a constant gain after the projection: the first layer reads z on the sphere of radius
        # sqrt(d), where normal z concentrates (StyleGAN's normalization, z * sqrt(d) / ||z||)
        self.gain = math.sqrt(config.latent_dim) if config.spherize_input else 1.0
        self.record, self.first_input = False, None
        if config.arch == "mlp28":
            w = config.width
            self.fc = nn.Linear(config.latent_dim, 8 * w)
            self.net = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(8 * w, 16 * w), nn.LeakyReLU(0.2),
                                     nn.Linear(16 * w, 28 * 28), nn.Unflatten(1, (1, 28, 28)))
            self.s0 = 0
            return
        channels, s0, widths = _widths(config)
        self.s0, self.c0 = s0, widths[0]
        self.fc = nn.Linear(config.latent_dim, widths[0] * s0 * s0)
        layers = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)]
        layers += [nn.LeakyReLU(0.2), nn.Conv2d(widths[-1], channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        if self.spherize_input:
            z = spherize(z)
        if self.record:
            self.first_input = z.detach()
        h = self.fc(z * self.gain) if self.spherize_input else self.fc(z)
        if self.s0:
            h = h.view(-1, self.c0, self.s0, self.s0)
        return (torch.tanh(self.net(h)) + 1) / 2


class Discriminator(nn.Module):
    """images (n, C, H, W) in [0, 1] -> one logit per image (n,)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        if config.arch == "mlp28":
            w = config.width
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16 * w), nn.LeakyReLU(0.2),
                                     nn.Linear(16 * w, 8 * w), nn.LeakyReLU(0.2), nn.Linear(8 * w, 1))
            return
        channels, s0, widths = _widths(config)
        widths = widths[::-1]                      # finest first
        layers, c_in = [], channels
        for b in widths[1:]:
            layers += [nn.Conv2d(c_in, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = b
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * s0 * s0, 1))

    def forward(self, x):
        return self.net(2 * x - 1).squeeze(1)


class GAN(nn.Module):
    """The pair; ``config`` is its :class:`GANConfig`."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    @torch.no_grad()
    def sample(self, z):
        return self.generator(z.to(next(self.parameters()).device, torch.float32))


def build_gan(config: GANConfig | None = None, seed: int = 0, **fields) -> GAN:
    """A :class:`GAN` whose initial weights come from stream ``(seed, "init")`` alone."""
    return seeded_build(GAN, GANConfig, config, seed, **fields)


# --- training: the GAN family of sphericalae.train.fit -------------------------------------------------

class GANTrainer(Trainer):
    """Alternating steps per batch: the discriminator (logistic loss + R1 on the real batch, in
    float32), then the generator (non-saturating loss); Adam(lr, (beta1, beta2)) for each. The z of
    epoch e come from stream ``(seed, "latent", e)``, drawn on the CPU (the same on every device)."""
    format = FORMAT
    family = "gan"
    config_key, label = "gan_config", "gan"
    train_config = GANTrainConfig
    distributed = False
    hint = "Try a lower learning rate or a larger r1_gamma."
    optimizer_names = ("opt_g", "opt_d")
    optimizer_labels = {"opt_g": "generator", "opt_d": "discriminator"}

    def optimizers(self):
        betas = (self.config.beta1, self.config.beta2)
        return {"opt_g": adam(self.model.generator.parameters(), lr=self.config.lr, betas=betas),
                "opt_d": adam(self.model.discriminator.parameters(), lr=self.config.lr, betas=betas)}

    def begin_epoch(self, epoch):
        self.zgen = torch_generator(self.config.seed, "latent", epoch)

    def step(self, x, update):
        G, D, dev = self.model.generator, self.model.discriminator, self.device
        z = torch.randn(2, x.shape[0], self.model.config.latent_dim, generator=self.zgen).to(dev)
        x = x.float().requires_grad_(self.config.r1_gamma > 0)
        with self.autocast():
            with torch.no_grad():
                fake = G(z[0])
            logits_fake = D(fake.float())
        real_logits = D(x)
        loss_d = F.softplus(logits_fake.float()).mean() + F.softplus(-real_logits).mean()
        r1 = torch.zeros((), device=dev)
        if self.config.r1_gamma > 0:
            grad, = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
            r1 = grad.square().flatten(1).sum(1).mean()
            loss_d = loss_d + self.config.r1_gamma / 2 * r1
        update(loss_d, "opt_d")
        with self.autocast():
            loss_g = F.softplus(-D(G(z[1])).float()).mean()
        update(loss_g, "opt_g")
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "r1": r1.detach()}


GAN.trainer = GANTrainer


def fit_gan(gan: GAN, data, config: GANTrainConfig | None = None, **kwargs):
    """:func:`sphericalae.train.fit` for a GAN; leaves it in eval mode. Returns the history: per
    epoch the mean discriminator and generator losses, the mean R1 term and the seconds taken."""
    history = fit(gan, data, config, **kwargs)
    gan.eval()
    return history


def load_gan_checkpoint(path) -> dict:
    """A GAN run's checkpoint, checked (:func:`sphericalae.runfiles.read_checkpoint`)."""
    return read_checkpoint(path, FORMAT, {"gan_config": GANConfig, "train_config": GANTrainConfig},
                           required=("model",) + GANTrainer.optimizer_names)


def load_gan_run(path):
    """``(gan, state)``: the trained GAN of a run folder, in eval mode. Refuses weights that do not
    fit the config (naming the first missing and unexpected tensors) or are not finite."""
    state = load_gan_checkpoint(path)
    return restore(GAN(state["gan_config"]), state, path), state


def trained_gan(gan_config: GANConfig, train_config: GANTrainConfig, data=None, *, progress=False, root=None):
    """``(gan, history)``: the GAN of these configs trained on ``train_config.dataset`` (or ``data``),
    once per configuration and training code (:func:`sphericalae.train.trained`), on the CPU in eval mode."""
    return trained(build_gan, gan_config, train_config, data, sources=(__name__,), progress=progress, root=root)
