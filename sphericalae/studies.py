"""The settings of the book's studies, one frozen dataclass each, with the book's defaults written
here once: a page's parameters cell builds one (:meth:`Study.from_params`), the study functions,
the claims and the cache keys take it whole, and the verdict page reads the very objects the other
pages use (:func:`sphericalae.pages.page_study`).

* :class:`DigitStudy`: the five digit autoencoders x seeds of the training, priors and latent
  pages (and the verdict and intro pages), and what each page computes from them.
* :class:`GanStudy`: the generators of the GAN page's Table 1 re-run, at ``latent_dim`` and at
  ``low_dim``.

Names are the package's (see :mod:`sphericalae`): ``latent_dim`` is the size d of the code a
decoder or generator reads, ``n_samples`` the number of decoded samples per cell, ``seeds`` the
number of training seeds (0 .. seeds - 1) or, for the GANs, the list of them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Study", "DigitStudy", "GanStudy", "W2Study", "GENERATORS", "DIGIT_KINDS"]

DIGIT_KINDS = ("sae", "vae", "svae", "ps", "ae")
"""The five models of the digit experiments, in the order the pages show them (the default of
the ``kinds`` field of :class:`DigitStudy`; :data:`sphericalae.experiments.STUDY_KINDS`)."""

GENERATORS = {"spherized": True, "raw": False}
"""The two generators of the GAN page: name -> ``spherize_input`` (see :mod:`sphericalae.gan`)."""


class Study:
    """What the study settings share: building from a page's parameters, cache keys, a summary."""
    model_fields: tuple = ()
    """The fields the trained models depend on (every study result depends on these)."""

    @classmethod
    def from_params(cls, params: dict, **changes):
        """The study of a page's parameters (a mapping such as the page's ``globals()`` or
        :func:`sphericalae.reproduce.page_parameters`): the fields it names, the defaults for the
        others; ``changes`` override both."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in params.items() if k in names}, **changes})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def key(self, *fields) -> dict:
        """The cache key of a result computed from this study's models and ``fields``."""
        return {f: _plain(getattr(self, f)) for f in (*self.model_fields, *fields)}

    def as_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _positive(study, *names):
    for name in names:
        value = getattr(study, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(study).__name__}.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class DigitStudy(Study):
    """The digit experiments. Models: every kind of :data:`sphericalae.experiments.STUDY_KINDS`
    for seeds 0 .. ``seeds`` - 1 on ``dataset`` with a ``latent_dim``-dimensional code, batches of
    ``batch_size``, each trained for ``epochs`` epochs, the same budget for every kind (``converge``
    None); with ``converge`` a number, the stop rule of :func:`sphericalae.train.convergence` at
    that criterion instead, ``epochs`` being the cap. Then ``n_samples`` decoded
    samples per prior cell and ``gmm_components`` for the RAE sampler (priors page); ``k``
    neighbours, ``tsne_runs`` maps of at most ``map_digits`` digits (latent page). ``kinds``: the
    models trained and scored (all five of :data:`DIGIT_KINDS`, in that order; fewer on the
    intermediate rungs of the dimension page)."""
    dataset: str = "mnist-5k"
    latent_dim: int = 10
    epochs: int = 60
    converge: float | None = None
    seeds: int = 5
    batch_size: int = 64
    device: str = "auto"
    n_samples: int = 500
    gmm_components: int = 10
    k: int = 10
    tsne_runs: int = 1
    map_digits: int = 5000
    kinds: tuple = DIGIT_KINDS

    model_fields = ("dataset", "latent_dim", "epochs", "converge", "seeds", "batch_size", "device", "kinds")

    def __post_init__(self):
        from .data import DATASETS

        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if not kinds or len(set(kinds)) < len(kinds) or not set(kinds) <= set(DIGIT_KINDS):
            raise ValueError(f"DigitStudy.kinds must be distinct kinds of {', '.join(DIGIT_KINDS)}, got {self.kinds!r}")
        object.__setattr__(self, "kinds", tuple(k for k in DIGIT_KINDS if k in kinds))

        if not isinstance(self.dataset, str) or not (self.dataset in DATASETS or self.dataset.startswith("folder:")):
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(DATASETS)} or folder:PATH")
        _positive(self, "latent_dim", "epochs", "seeds", "batch_size", "n_samples", "gmm_components", "k",
                  "tsne_runs", "map_digits")
        if self.converge is not None and (isinstance(self.converge, bool) or not isinstance(self.converge, (int, float))
                                          or not 0 < self.converge < 1):
            raise ValueError(f"DigitStudy.converge must be None (equal budgets) or a criterion in (0, 1), "
                             f"got {self.converge!r}")

    def summary(self) -> str:
        """The setting in words, as the pages print it."""
        how = (f"every model trained for {self.epochs} epochs (the same budget for every kind)"
               if self.converge is None else
               f"each model trained until its held-out loss levelled off, at most {self.epochs} epochs")
        return f"{self.dataset}, d = {self.latent_dim}, {self.seeds} seeds, batches of {self.batch_size}, {how}"


@dataclass(frozen=True)
class GanStudy(Study):
    """The GAN page's generators: ``arch`` of ``width``, trained on ``dataset`` for ``epochs`` with
    each seed of ``seeds``, for each generator of ``generators`` (names of
    :data:`GENERATORS`), with a ``latent_dim``-dimensional z; Table 1 scored on
    ``n_samples`` samples per cell, ``reps`` repetitions. ``low_dim``: the page's second, low
    dimension (:meth:`at_low_dim`)."""
    dataset: str = "mnist-5k"
    arch: str = "mlp28"
    latent_dim: int = 128
    width: int = 16
    epochs: int = 25
    seeds: tuple = (0, 1, 2)
    n_samples: int = 800
    reps: int = 2
    low_dim: int = 8
    device: str = "cpu"
    generators: tuple = ("spherized", "raw")

    model_fields = ("dataset", "arch", "latent_dim", "width", "epochs", "seeds", "device", "generators")

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "generators", tuple(self.generators))
        unknown = [g for g in self.generators if g not in GENERATORS]
        if unknown:
            raise ValueError(f"unknown generator(s) {unknown}; valid: {', '.join(GENERATORS)}")
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"GanStudy.seeds must be a non-empty list of seeds >= 0, got {list(self.seeds)}")
        _positive(self, "latent_dim", "width", "epochs", "n_samples", "reps", "low_dim")

    def at_low_dim(self) -> "GanStudy":
        """The same study with z of dimension ``low_dim``."""
        return self.replace(latent_dim=self.low_dim)

    def summary(self) -> str:
        return (f"{self.arch} generators of width {self.width} on {self.dataset}, {self.epochs} epochs, "
                f"training seeds {', '.join(map(str, self.seeds))}, {self.n_samples} samples per cell, "
                f"{self.reps} repetitions")


@dataclass(frozen=True)
class W2Study(Study):
    """Theorem 2 measured (the Wasserstein page): ``reps`` independent pairs of sets of ``n_main``
    points, streams from ``seed`` (:func:`sphericalae.theory.w2_between_priors`)."""
    n_main: int = 250
    reps: int = 5
    seed: int = 0

    def __post_init__(self):
        _positive(self, "n_main", "reps")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"W2Study.seed must be an integer >= 0, got {self.seed!r}")
