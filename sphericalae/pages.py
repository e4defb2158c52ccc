"""The book's pages as data: the studies their parameters cells set, read (never executed) with
:func:`sphericalae.reproduce.page_parameters`, so that the verdict page and the introduction use the
very settings the experiment pages run at.

* :data:`STUDIES`: each study's settings class (:mod:`sphericalae.studies`) and the pages that set it.
* :func:`page_study`: a study as its pages set it, optionally at the full scale of ``reproduce.yml``.
* :func:`verdict_studies`: the three studies the verdict page's parameters ask for.
* :func:`repository_root`: the checkout holding ``reproduce.yml``.
"""
from __future__ import annotations

from pathlib import Path

from .studies import DigitStudy, GanStudy, W2Study

__all__ = ["STUDIES", "page_study", "verdict_studies", "repository_root"]

STUDIES = {"digits": (DigitStudy, ("training", "priors", "latent")), "gan": (GanStudy, ("gan_table1",)),
           "w2": (W2Study, ("wasserstein",))}
"""Each study's settings class and the pages whose parameters cells set it (the first page owns
the model fields)."""


def page_study(name: str, book="book", plan=None, **changes):
    """The study ``name`` of :data:`STUDIES` as the book's pages set it: the parameters cells of its
    pages read (not executed) with :func:`sphericalae.reproduce.page_parameters`, the first page's
    values winning; with ``plan`` (a :func:`sphericalae.reproduce.load_plan` mapping, e.g.
    ``reproduce.yml``'s full scale), the plan's entries of those pages over them; ``changes`` last."""
    from .reproduce import page_parameters, read_page

    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; valid: {', '.join(STUDIES)}")
    cls, pages = STUDIES[name]
    params = {}
    for page in reversed(pages):
        params.update(page_parameters(read_page(Path(book), page), page))
    for page in reversed(pages):
        params.update((plan or {}).get(page) or {})
    return cls.from_params(params, **changes)


def verdict_studies(params: dict, book="book"):
    """``(digits, gan, w2)``: the studies the verdict page's ``params`` ask for (its parameters cell:
    ``digits``, ``gan`` and ``w2``, mappings of fields to change; ``scale``: ``"book"``, or
    ``"full"`` for the full scale of ``reproduce.yml``'s entries of the studies' pages), the pages'
    settings otherwise (:func:`page_study`)."""
    scale = params.get("scale", "book")
    if scale not in ("book", "full"):
        raise ValueError(f"scale must be 'book' or 'full', got {scale!r}")
    plan = None
    if scale == "full":
        from .reproduce import load_plan

        plan = load_plan(repository_root() / "reproduce.yml")
    return tuple(page_study(name, book, plan, **(params.get(key) or {}))
                 for name, key in (("digits", "digits"), ("gan", "gan"), ("w2", "w2")))


def repository_root(start=None):
    """The nearest folder at or above ``start`` (default: the working folder) that holds
    ``reproduce.yml``; the working folder when there is none."""
    here = Path(start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "reproduce.yml").is_file()), here)
