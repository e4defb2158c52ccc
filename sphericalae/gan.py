"""A small DCGAN-style GAN, trained with normal z, for re-running the paper's Table 1 and Figure 1
(Section 5.1: a generator trained on one prior, fed four priors with and without Algorithm 1).

* **Models.** :class:`GANConfig` names the architecture (``dcgan28`` for 28 px digits, one channel;
  ``dcgan32`` / ``dcgan64`` for RGB images; ``mlp28``, fully connected, for digits on a CPU), the
  latent size ``latent_dim`` (d), the base width w and ``spherize_input``. The DCGAN generator maps
  z through a linear layer to a 7x7 (28 px) or 4x4 feature map, then transposed convolutions
  (stride 2, channels halving) and a 3x3 convolution to ``tanh``, rescaled to images in [0, 1]; the
  discriminator mirrors it (stride-2 convolutions, then a linear layer to one logit). ``mlp28``:
  generator d -> 8w -> 16w -> 784, discriminator 784 -> 16w -> 8w -> 1 (several times cheaper per
  step than ``dcgan28``; the default of the book's CPU runs). LeakyReLU(0.2) everywhere and **no
  normalization layer**: nothing on the generator's input path rescales z, except, when
  ``spherize_input`` is on, ``z / ||z||`` as the generator's very first step, followed by the
  constant gain sqrt(d): the first layer reads z on the sphere of radius sqrt(d), where normal z
  concentrates (StyleGAN's mapping network normalizes every z this way; without the gain the
  first layer's inputs would be ~sqrt(d) times smaller than a raw generator's, and in our
  development runs such a generator collapsed to one output). Two generators that differ only in
  that flag are Figure 1's pair.
* **Loss.** The non-saturating logistic GAN loss (Goodfellow et al. 2014): the discriminator
  minimises ``softplus(D(G(z))) + softplus(-D(x))``, the generator ``softplus(-D(G(z)))``; plus the
  R1 penalty ``r1_gamma / 2 * E ||grad_x D(x)||^2`` on real images (Mescheder et al. 2018, the
  StyleGAN recipe), computed in float32. Alternating steps, one discriminator step then one
  generator step per batch; Adam(lr 2e-4, betas (0.5, 0.999)) for both, the DCGAN setting.
* **Training** (:func:`fit_gan`) follows :func:`sphericalae.train.fit`: device ``auto``, bfloat16
  autocast on CUDA, progress bar, a :class:`GANTrainConfig` saved with the :class:`GANConfig` in
  every checkpoint and in ``config.json``, atomic run files after every epoch, exact resume (a
  resume with a different config is refused, naming each field; a larger ``epochs`` and
  device/amp/workers may change), and a NaN guard (one host sync per optimizer step: loss and
  gradient norm are checked before the step, so a NaN never reaches the weights). Seeds: weights
  from stream ``(seed, "init")``, data order from ``(seed, "order", epoch)``, the z of training
  from ``(seed, "latent", epoch)`` (drawn on the CPU, so a run is the same on every device).
* **Table 1** (:func:`table1`): FD-CNN, improved precision and recall of each prior x pipeline
  cell, with the real-against-real floor; :func:`table1_frame` returns it as a DataFrame.

Command line (the options are the fields of both configs)::

    python -m sphericalae train-gan --dataset mnist-5k --spherize-input on --epochs 20 --out runs/gan
    python -m sphericalae train-gan --out runs/gan --epochs 40 --resume
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import choice, finite_float, positive_int
from .config import RUNTIME_FIELDS, TrainConfig, config_diff
from .ops import PIPELINES, pipeline_name, sample_prior, spherize
from .seeding import derive_seed, torch_generator
from .train import (CHECKPOINT, _loader, _resident, _write_atomic, default_workers, epoch_batches,
                    grad_norm, prepare_run_dir, read_checkpoint, resolve_device, write_text_atomic)

__all__ = ["GANConfig", "GANTrainConfig", "GAN", "Generator", "Discriminator", "GAN_ARCHS", "build_gan",
           "fit_gan", "load_gan_checkpoint", "load_gan_run", "gan_arch_for", "latents", "generate",
           "table1", "table1_frame", "cached_gan", "FORMAT"]

FORMAT = "sphericalae-gan/1"

# name -> (channels, image size, size of the first feature map; 0: fully connected)
GAN_ARCHS = {"mlp28": (1, 28, 0), "dcgan28": (1, 28, 7), "dcgan32": (3, 32, 4), "dcgan64": (3, 64, 4)}


def _opt(help, **more):
    return {"help": help, **more}


def gan_arch_for(image_shape) -> str:
    """The architecture for images of shape (C, H, W)."""
    for name, (c, size, _) in GAN_ARCHS.items():
        if tuple(image_shape) == (c, size, size) and name != "mlp28":
            return name
    raise ValueError(f"no GAN architecture for images of shape {tuple(image_shape)}; "
                     f"valid: {', '.join(f'{k} {v[0]}x{v[1]}x{v[1]}' for k, v in GAN_ARCHS.items())}")


@dataclass(frozen=True)
class GANConfig:
    """A generator/discriminator pair (see the module docstring). ``spherize_input``: the generator
    projects z onto the unit sphere before its first layer."""
    arch: str = field(default="dcgan28", metadata=_opt("GAN architecture; the CLI picks it from the "
                                                       "dataset's image shape when not given",
                                                       choices=lambda: GAN_ARCHS))
    latent_dim: int = field(default=128, metadata=_opt("size d of the generator's input z"))
    spherize_input: bool = field(default=True, metadata=_opt(
        "project z onto the sphere before the first layer (on) or feed raw z (off)"))
    width: int = field(default=32, metadata=_opt("channels of the finest layer (doubling per level)"))

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
    their checks are TrainConfig's. Image sizes: 28 (digits), 32 or 64."""
    lr: float = field(default=2e-4, metadata=_opt("Adam learning rate (both networks)"))
    beta1: float = field(default=0.5, metadata=_opt("Adam beta1"))
    beta2: float = field(default=0.999, metadata=_opt("Adam beta2"))
    r1_gamma: float = field(default=1.0, metadata=_opt("weight of the R1 penalty on real images"))

    def __post_init__(self):
        super().__post_init__()
        if self.image_size not in (None, 28, 32, 64):
            raise ValueError(f"image_size must be 32 or 64 (28 for digits), got {self.image_size!r}")
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
    first linear layer; :attr:`first_input` keeps the last projected z (the first layer's input
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
    if config is None:
        config = GANConfig(**fields)
    elif fields:
        raise ValueError("pass either a GANConfig or its fields, not both")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return GAN(config)


# --- training ---------------------------------------------------------------------------------------

def _guard(loss, params, what, epoch, step, out, saved_epoch):
    """The one sync of an optimizer step: refuse a non-finite loss or gradient before the step."""
    loss_v, grad_v = torch.stack([loss.detach().float(), grad_norm(params).to(loss.device)]).tolist()
    if not (math.isfinite(loss_v) and math.isfinite(grad_v)):
        kept = (f" The last good checkpoint, {Path(out) / CHECKPOINT} (epoch {saved_epoch}), is kept."
                if out is not None and saved_epoch > 0 else
                " No checkpoint was written (none had been saved yet)." if out is not None else "")
        raise FloatingPointError(f"non-finite {what} loss or gradient (loss {loss_v:.4g}, gradient norm "
                                 f"{grad_v:.4g}) at epoch {epoch + 1}, step {step + 1}; stopping.{kept} "
                                 "Try a lower learning rate or a larger r1_gamma.")
    return loss_v


def _to_json(gan_config, train_config):
    from . import __version__
    return json.dumps({"gan": dataclasses.asdict(gan_config), "train": dataclasses.asdict(train_config),
                       "sphericalae": __version__}, indent=1)


def load_gan_checkpoint(path) -> dict:
    """Load and check a GAN checkpoint (run folder or file) with ``weights_only=True``; anything
    unreadable or not a GAN run is a one-line ``ValueError`` (see :func:`sphericalae.train.read_checkpoint`)."""
    return read_checkpoint(path, FORMAT, {"gan_config": GANConfig, "train_config": GANTrainConfig})


def load_gan_run(path):
    """``(gan, state)``: the trained GAN of a run folder, in eval mode."""
    state = load_gan_checkpoint(path)
    gan = GAN(state["gan_config"])
    gan.load_state_dict(state["model"])
    if not all(torch.isfinite(p).all() for p in gan.parameters()):
        raise ValueError(f"{path}: the checkpoint holds NaN or infinite weights")
    return gan.eval(), state


def _save(out, gan, opts, config, history, epoch):
    state = {"format": FORMAT, "model": gan.state_dict(), "opt_g": opts[0].state_dict(),
             "opt_d": opts[1].state_dict(), "epoch": epoch, "history": history,
             "gan_config": dataclasses.asdict(gan.config), "train_config": dataclasses.asdict(config)}
    try:
        _write_atomic(out / CHECKPOINT, lambda tmp: torch.save(state, tmp))
        write_text_atomic(out / "history.json", json.dumps(history, indent=1))
        write_text_atomic(out / "config.json", _to_json(gan.config, config))
    except OSError as err:
        raise OSError(err.errno, f"could not write the run files in {out} after epoch {epoch} "
                      f"({err.strerror or err}); the files of the previous epoch are kept") from None


def fit_gan(gan: GAN, data, config: GANTrainConfig | None = None, *, out=None, resume=False,
            progress=True, log=print, max_batches=None):
    """Train ``gan`` (see the module docstring); returns the history, one dict per epoch with the
    mean discriminator and generator losses, the mean R1 term and the seconds taken.

    ``data``: a training dataset, or ``(train, heldout)`` (held-out is not used). ``out``: the run
    folder; ``resume``: continue it. ``max_batches``: stop each epoch early (tests)."""
    from tqdm.auto import tqdm

    config = config or GANTrainConfig()
    if not isinstance(config, GANTrainConfig):
        raise TypeError(f"config must be a GANTrainConfig, got {type(config).__name__}")
    train_set = data[0] if isinstance(data, (tuple, list)) else data
    dev = resolve_device(config.device)
    amp = (dev.type == "cuda") if config.amp is None else config.amp
    workers = default_workers() if config.workers is None else config.workers

    state = None
    if out is not None:
        out = prepare_run_dir(out, resume)
        if resume:
            state = load_gan_checkpoint(out)
            problems = [f"gan {p}" for p in config_diff(state["gan_config"], gan.config, allow=())]
            problems += config_diff(state["train_config"], config, allow=RUNTIME_FIELDS)
            if problems:
                raise ValueError(f"--resume with settings that differ from the checkpoint in {out}: "
                                 + "; ".join(problems) + ". Resume with the checkpoint's settings (only a "
                                 "larger epochs, device, amp and workers may change) or start a new run.")
    elif resume:
        raise ValueError("resume needs the run folder (out)")

    gan.to(dev).train()
    G, D = gan.generator, gan.discriminator
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=betas)
    history, start = [], 0
    if state is not None:
        gan.load_state_dict(state["model"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        history, start = list(state["history"]), int(state["epoch"])
        if start >= config.epochs:
            log(f"checkpoint already at epoch {start} of {config.epochs}: nothing to do")
            return history
    resident = _resident(train_set, dev)
    d_params, g_params = list(D.parameters()), list(G.parameters())
    saved_epoch = start
    d = gan.config.latent_dim

    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        batches = epoch_batches(len(train_set), config.batch_size, config.seed, epoch)
        if max_batches:
            batches = batches[:max_batches]
        zgen = torch_generator(config.seed, "latent", epoch)
        sums = torch.zeros(3, dtype=torch.float64)
        seen = 0
        bar = tqdm(_loader(train_set, batches, dev, workers, resident), total=len(batches),
                   desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for step, x in enumerate(bar):
            n = x.shape[0]
            z = torch.randn(2, n, d, generator=zgen).to(dev)
            # discriminator step: logistic loss + R1 on the real batch (float32)
            x = x.float().requires_grad_(config.r1_gamma > 0)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                with torch.no_grad():
                    fake = G(z[0])
                logits_fake = D(fake.float())
            real_logits = D(x)
            loss_d = F.softplus(logits_fake.float()).mean() + F.softplus(-real_logits).mean()
            r1 = torch.zeros((), device=dev)
            if config.r1_gamma > 0:
                grad, = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
                r1 = grad.square().flatten(1).sum(1).mean()
                loss_d = loss_d + config.r1_gamma / 2 * r1
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            ld = _guard(loss_d, d_params, "discriminator", epoch, step, out, saved_epoch)
            opt_d.step()
            # generator step: non-saturating loss
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                loss_g = F.softplus(-D(G(z[1])).float()).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            lg = _guard(loss_g, g_params, "generator", epoch, step, out, saved_epoch)
            opt_g.step()
            sums += torch.tensor([ld, lg, float(r1.detach())], dtype=torch.float64) * n
            seen += n
            if progress:
                bar.set_postfix(d=f"{ld:.3f}", g=f"{lg:.3f}", refresh=False)
        means = (sums / max(seen, 1)).tolist()
        record = {"epoch": epoch + 1, "loss_d": means[0], "loss_g": means[1], "r1": means[2],
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if out is not None:
            if not all(bool(torch.isfinite(p).all()) for p in gan.parameters()):
                raise FloatingPointError(f"the weights are not finite at the end of epoch {epoch + 1}; "
                                         "stopping, the last good checkpoint is kept")
            _save(out, gan, (opt_g, opt_d), config, history, epoch + 1)
            saved_epoch = epoch + 1
    gan.eval()
    return history


# --- Table 1 ----------------------------------------------------------------------------------------

def latents(prior, pipeline, n, dim, seed=0, *, radius=1.0, rep=0):
    """``n`` codes of ``prior`` through Table 1's ``pipeline`` (a key of
    :data:`sphericalae.ops.PIPELINES`), drawn from stream ``(seed, "table1", prior, rep)``: every
    pipeline sees the same draws. A pipeline that spherizes puts the codes on the sphere of
    ``radius`` (1: the paper's unit sphere; sqrt(d): where training normal z lives)."""
    pipeline = pipeline_name(pipeline)
    z = sample_prior(prior, n, dim, torch_generator(seed, "table1", prior, rep))
    z = PIPELINES[pipeline](z)
    return z * radius if "spherize" in pipeline else z


@torch.no_grad()
def generate(gan, z, batch_size=1000):
    """Images of the generator for codes z, on the CPU."""
    gan.eval()
    return torch.cat([gan.sample(b).float().cpu() for b in z.split(batch_size)])


def _pr(real_f, fake_f):
    from .metrics import precision_recall
    pr = precision_recall(real_f, fake_f)
    return pr["precision"], pr["recall"]


def table1(gan, real, *, n=1000, seed=0, reps=1, radius=1.0, classifier=None, priors=None,
           pipelines=None):
    """Table 1 for one generator: a list of rows ``{"prior", "pipeline", "rep", "fd_cnn",
    "precision", "recall"}``, plus the rows of prior ``"real (floor)"`` (pipeline ``"-"``): the
    same metrics between two disjoint real sets of size ``n``.

    ``real``: images (N, 1, 28, 28) in [0, 1], N >= 2n; each repetition ``rep`` shuffles them
    (stream ``(seed, "table1-real", rep)``) into a reference set and a floor set, and draws new codes.
    FD-CNN is the Frechet distance on the features of ``classifier`` (default
    :func:`sphericalae.metrics.digit_classifier`); precision/recall are the improved ones (k = 3)
    on the same features. ``radius``: see :func:`latents`."""
    from .metrics import digit_classifier, features, frechet_distance
    from .paper import PRIORS

    n = positive_int(n, "n")
    if len(real) < 2 * n:
        raise ValueError(f"table1 needs at least 2n = {2 * n} real images, got {len(real)}")
    model = digit_classifier()[0] if classifier is None else classifier
    priors = list(PRIORS) if priors is None else list(priors)
    pipelines = list(PIPELINES) if pipelines is None else [pipeline_name(p) for p in pipelines]
    dim = gan.config.latent_dim
    rows = []
    for rep in range(positive_int(reps, "reps")):
        perm = torch.randperm(len(real), generator=torch_generator(seed, "table1-real", rep))
        ref = features(model, real[perm[:n]])
        floor = features(model, real[perm[n:2 * n]])
        p, r = _pr(ref, floor)
        rows.append({"prior": "real (floor)", "pipeline": "-", "rep": rep,
                     "fd_cnn": frechet_distance(ref, floor), "precision": p, "recall": r})
        for prior in priors:
            for pipe in pipelines:
                fake = features(model, generate(gan, latents(prior, pipe, n, dim, seed, radius=radius,
                                                              rep=rep)))
                p, r = _pr(ref, fake)
                rows.append({"prior": prior, "pipeline": pipe, "rep": rep,
                             "fd_cnn": frechet_distance(ref, fake), "precision": p, "recall": r})
    return rows


def table1_frame(rows, metric="fd_cnn", spread=False):
    """Table 1's layout from :func:`table1` rows (or a DataFrame of them): priors as rows, the four
    pipelines as columns, the mean of ``metric`` over repetitions (``spread=True``: the standard
    deviation instead). The floor is left out (read it from the rows)."""
    import pandas as pd
    from .paper import PRIORS

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    df = df[df["prior"] != "real (floor)"]
    agg = df.groupby(["prior", "pipeline"])[metric].agg("std" if spread else "mean").unstack("pipeline")
    order = [p for p in PRIORS if p in agg.index] + [p for p in agg.index if p not in PRIORS]
    return agg.loc[order, [p for p in PIPELINES if p in agg.columns]]


def cached_gan(gan_config: GANConfig, train_config: GANTrainConfig, *, progress=False, log=None):
    """``(gan, history)``: the GAN of these configs trained on ``train_config.dataset``, trained once
    and then loaded from :func:`sphericalae.cache.cached` (key: both configs in full; the cache also
    hashes the package source). The GAN comes back on the CPU in eval mode."""
    from .cache import cached
    from .data import load_for

    def compute():
        gan = build_gan(gan_config, seed=train_config.seed)
        history = fit_gan(gan, load_for(train_config), train_config, progress=progress,
                          log=log or (lambda *a: None))
        return {"model": {k: v.cpu() for k, v in gan.state_dict().items()}, "history": history}

    key = {"gan": dataclasses.asdict(gan_config), "train": dataclasses.asdict(train_config)}
    stored = cached("gan", key, compute)
    gan = GAN(gan_config)
    gan.load_state_dict(stored["model"])
    return gan.eval(), list(stored["history"])
