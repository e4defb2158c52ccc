"""The one description of a run: ``ModelConfig`` (what model) and ``TrainConfig`` (what data, how
trained). Both are frozen dataclasses, validated on creation, saved in every checkpoint and in the
run's ``config.json``, and compared on ``--resume``. The command line is generated from their
fields (``python -m sphericalae train --help``), so the CLI and the API cannot drift.

    >>> model = build(ModelConfig(kind="sae", latent_dim=10))
    >>> fit(model, load(cfg.dataset, ...), TrainConfig(epochs=20, seed=0), out="runs/sae")

What may change on ``--resume``: ``epochs`` (a larger number is what a resume is for) and the
fields of ``RUNTIME_FIELDS`` (where and how fast it runs: ``device``, ``amp``, ``workers``), which
do not define the run. Any other difference is refused, naming each field and both values.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field

from .checks import choice, finite_float, positive_int, seed_value

__all__ = ["ModelConfig", "TrainConfig", "RUNTIME_FIELDS", "config_diff", "to_json", "from_json"]

RUNTIME_FIELDS = ("device", "amp", "workers")
"""TrainConfig fields that say where and how fast a run goes, not what it computes."""


def _opt(help, **more):
    return {"help": help, **more}


def _kinds():
    from .models import KINDS
    return KINDS


def _archs():
    from .models import ARCHS
    return ARCHS


def _recons():
    from .models import RECON_LOSSES
    return RECON_LOSSES


def _datasets():
    from .data import DATASETS
    return DATASETS


@dataclass(frozen=True)
class ModelConfig:
    """An autoencoder of :mod:`sphericalae.models`. ``latent_dim`` is the size d of the vector the
    decoder reads, for every kind (sae codes lie on S^(d-2), svae/ps codes on S^(d-1), vae/ae in R^d).
    ``recon``: the reconstruction loss of eq. 11; None picks the default of the data family:
    ``bce`` for 28 px digits (``mlp``; the S-VAE digit protocol), ``l2`` for RGB images (``conv*``;
    eq. 11 with p = 2, the MSE the paper's Table 2 reports)."""
    kind: str = field(default="sae", metadata=_opt("model kind", choices=_kinds, flags=("--model", "--kind")))
    arch: str = field(default="mlp", metadata=_opt("architecture; the CLI picks it from the dataset's image "
                                                   "shape when not given", choices=_archs))
    latent_dim: int = field(default=10, metadata=_opt("size d of the code the decoder reads"))
    recon: typing.Optional[str] = field(default=None, metadata=_opt(
        "reconstruction loss (default: bce for digits, l2 for RGB images)", choices=_recons))
    beta: float = field(default=1.0, metadata=_opt("weight of the KL term (vae, svae, ps)"))

    def __post_init__(self):
        choice(self.kind, _kinds(), "model")
        choice(self.arch, _archs(), "architecture")
        positive_int(self.latent_dim, "latent_dim", least=2)
        if self.kind == "sae" and self.latent_dim < 3:
            raise ValueError("sae needs latent_dim >= 3: its codes live on S^(d-2)")
        if self.recon is None:
            object.__setattr__(self, "recon", "bce" if self.arch == "mlp" else "l2")
        choice(self.recon, _recons(), "reconstruction loss", "reconstruction losses")
        object.__setattr__(self, "beta", finite_float(self.beta, "beta", low=0))


@dataclass(frozen=True)
class TrainConfig:
    """Data, optimisation and seed of a run (Adam). ``seed`` fixes the initial weights, the
    data order of every epoch and every sample drawn; ``split_seed`` the held-out split (see
    :mod:`sphericalae.seeding`). ``amp``: None = bfloat16 autocast on CUDA only. ``workers``: data
    loader processes for image folders (None: up to 4, one per core)."""
    dataset: str = field(default="mnist-5k", metadata=_opt("mnist-5k, mnist, lfw-faces or folder:PATH"))
    image_size: typing.Optional[int] = field(default=None, metadata=_opt(
        "32, 64 or 128 for faces and image folders (default: the dataset's own)"))
    holdout: float = field(default=0.1, metadata=_opt("held-out share (mnist uses its own test set)"))
    split_seed: int = field(default=0, metadata=_opt(
        "seed of the train/held-out split (fixed across --seed, so seeds are scored on the same items)"))
    epochs: int = field(default=20, metadata=_opt("number of epochs"))
    batch_size: int = field(default=64, metadata=_opt("global batch size (split across processes)"))
    lr: float = field(default=1e-3, metadata=_opt("Adam learning rate"))
    seed: int = field(default=0, metadata=_opt("seed of weights, split, data order and sampling"))
    device: str = field(default="auto", metadata=_opt("auto (CUDA if present), cpu, cuda, cuda:N"))
    amp: typing.Optional[bool] = field(default=None, metadata=_opt("bfloat16 autocast (default: on CUDA only)"))
    workers: typing.Optional[int] = field(default=None, metadata=_opt(
        "data loader processes for image folders (default: up to 4)"))

    def __post_init__(self):
        from .data import check_dataset_name

        check_dataset_name(self.dataset)
        if self.image_size is not None and self.image_size not in (28, 32, 64, 128):
            raise ValueError(f"image_size must be 32, 64 or 128 (28 for digits), got {self.image_size!r}")
        finite_float(self.holdout, "holdout", low=0, low_open=True, high=0.99)
        positive_int(self.epochs, "epochs")
        positive_int(self.batch_size, "batch_size")
        object.__setattr__(self, "lr", finite_float(self.lr, "lr", low=0, low_open=True))
        seed_value(self.seed, "seed")
        seed_value(self.split_seed, "split_seed")
        if self.workers is not None:
            positive_int(self.workers, "workers", least=0)
        if self.amp is not None and not isinstance(self.amp, bool):
            raise ValueError(f"amp must be true, false or None (auto), got {self.amp!r}")


def config_diff(saved, new, allow=RUNTIME_FIELDS) -> list[str]:
    """Fields where ``new`` differs from ``saved`` in a way a resume may not accept, as
    ``"name: saved -> new"``. A larger ``epochs`` and the ``allow`` fields are accepted."""
    out = []
    for f in dataclasses.fields(saved):
        a, b = getattr(saved, f.name), getattr(new, f.name)
        if a == b or f.name in allow or (f.name == "epochs" and b >= a):
            continue
        out.append(f"{f.name}: {a!r} in the checkpoint, {b!r} now")
    return out


def to_json(model_config: ModelConfig, train_config: TrainConfig) -> str:
    """The text of a run's ``config.json``."""
    from . import __version__
    return json.dumps({"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config),
                       "sphericalae": __version__}, indent=1)


def from_dict(cls, values: dict, where: str = "config"):
    """``cls(**values)``, refusing unknown keys by name."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} field(s) {unknown}; valid: {', '.join(sorted(names))}")
    return cls(**values)


def from_json(text: str):
    """``(ModelConfig, TrainConfig)`` from the text of a ``config.json``."""
    d = json.loads(text)
    return from_dict(ModelConfig, d.get("model"), "config.json"), from_dict(TrainConfig, d.get("train"), "config.json")
