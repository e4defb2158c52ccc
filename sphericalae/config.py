"""Run configurations: :class:`TrainConfig` (what data, how trained) and the tools every config
class shares. A model family keeps its own config beside its registries (``models.ModelConfig``,
``gan.GANConfig``); all are frozen dataclasses, validated on creation, saved in every checkpoint
and in the run's ``config.json``, and compared on ``--resume``. The command line is generated from
their fields (:func:`option` metadata), so the CLI and the API cannot drift.

    >>> model = build(ModelConfig(kind="sae", latent_dim=10))
    >>> fit(model, load_for(cfg), cfg := TrainConfig(epochs=20, seed=0), out="runs/sae")

What may change on ``--resume``: ``epochs`` (a larger number is what a resume is for) and the
fields of ``RUNTIME_FIELDS`` (where and how fast it runs: ``device``, ``amp``, ``workers``), which
do not define the run. Any other difference is refused, naming each field and both values.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field

from .checks import finite_float, positive_int, seed_value
from .data import DATASETS, check_dataset_name, check_holdout, check_image_size

__all__ = ["TrainConfig", "RUNTIME_FIELDS", "config_diff", "to_json", "from_dict", "option"]

RUNTIME_FIELDS = ("device", "amp", "workers")
"""TrainConfig fields that say where and how fast a run goes, not what it computes."""


def option(help, **more):
    """Field metadata for the CLI: ``help``, and optionally ``choices`` (a callable returning the
    registry) and ``flags`` (the option names)."""
    return {"help": help, **more}


def _datasets():
    return DATASETS


@dataclass(frozen=True)
class TrainConfig:
    """Data, optimisation and seed of a run (Adam). ``seed`` fixes the initial weights, the
    data order of every epoch and every sample drawn; ``split_seed`` the held-out split (see
    :mod:`sphericalae.seeding`). ``amp``: None = bfloat16 autocast on CUDA only. ``workers``: data
    loader processes for image folders (None: up to 4, one per core). ``converge``: the stop rule of
    :func:`sphericalae.train.convergence` (None: train all ``epochs``)."""
    dataset: str = field(default="mnist-5k", metadata=option("dataset", choices=_datasets))
    image_size: typing.Optional[int] = field(default=None, metadata=option(
        "32, 64 or 128 for faces and image folders (default: the dataset's own)"))
    holdout: float = field(default=0.1, metadata=option("held-out share (mnist uses its own test set)"))
    split_seed: int = field(default=0, metadata=option(
        "seed of the train/held-out split (fixed across --seed, so seeds are scored on the same items)"))
    epochs: int = field(default=20, metadata=option("number of epochs"))
    batch_size: int = field(default=64, metadata=option("global batch size (split across processes)"))
    lr: float = field(default=1e-3, metadata=option("Adam learning rate"))
    seed: int = field(default=0, metadata=option("seed of weights, split, data order and sampling"))
    device: str = field(default="auto", metadata=option("auto (CUDA if present), cpu, cuda, cuda:N"))
    amp: typing.Optional[bool] = field(default=None, metadata=option("bfloat16 autocast (default: on CUDA only)"))
    workers: typing.Optional[int] = field(default=None, metadata=option(
        "data loader processes for image folders (default: up to 4)"))
    converge: typing.Optional[float] = field(default=None, metadata=option(
        "stop once the held-out loss has converged: its trend over the last fifth of the epochs changes "
        "it by less than this share (e.g. 0.01), after at least 30 epochs; epochs is then the cap", none="off"))

    def __post_init__(self):
        check_dataset_name(self.dataset)
        check_image_size(self.dataset, self.image_size)
        object.__setattr__(self, "holdout", check_holdout(self.holdout))
        positive_int(self.epochs, "epochs")
        positive_int(self.batch_size, "batch_size")
        object.__setattr__(self, "lr", finite_float(self.lr, "lr", low=0, low_open=True))
        seed_value(self.seed, "seed")
        seed_value(self.split_seed, "split_seed")
        if self.workers is not None:
            positive_int(self.workers, "workers", least=0)
        if self.converge is not None:
            object.__setattr__(self, "converge", finite_float(self.converge, "converge", low=0, low_open=True))
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


def to_json(configs: dict) -> str:
    """The text of a run's ``config.json``: ``{key: config as a dict}`` and the package version."""
    from . import __version__
    return json.dumps({**{k: dataclasses.asdict(c) for k, c in configs.items()}, "sphericalae": __version__},
                      indent=1)


def from_dict(cls, values: dict, where: str = "config"):
    """``cls(**values)``, refusing unknown keys by name."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} field(s) {unknown}; valid: {', '.join(sorted(names))}")
    return cls(**values)
