"""Fill the cache of the book's shared studies in parallel before a build (``make book``).

Sphinx executes the pages one after another, and the first page that needs a study computes it
while the other core waits: the digit studies (training, priors, latent, verdict, intro pages) and
the Table 1 studies of the GAN page (also read by the verdict and intro pages) are independent, so
``python -m sphericalae.warm [BOOK]`` computes each group in its own process, with the parameters
of the pages' ``parameters`` cells, the very calls the pages make (same cache keys). A group whose
results are cached costs a cache read. A failure is reported in one line and never stops the
build: the page that needs the study computes it again and shows the error where it happens.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["GROUPS", "warm"]


def _params(book, page):
    from .reproduce import page_parameters, read_page

    return page_parameters(read_page(book, page), page)


def _digits(book):
    from .experiments import prior_study, reconstruction_study, structure_study, tsne_study

    tr, pr, la = (_params(book, p) for p in ("training", "priors", "latent"))
    setting = {k: tr[k] for k in ("dataset", "latent_dim", "epochs", "seeds", "batch_size", "device")}
    reconstruction_study(**setting)
    prior_study(**setting, n_samples=pr["n_samples"], gmm_components=pr["gmm_components"])
    structure_study(**setting, k=la["k"])
    tsne_study(**setting, tsne_runs=la["tsne_runs"], k=la["k"], map_digits=la["map_digits"])


def _table1(book):
    from .table1 import table1_study

    g = _params(book, "gan_table1")
    study = dict(dataset=g["dataset"], arch=g["arch"], width=g["width"], epochs=g["epochs"],
                 seeds=tuple(g["seeds"]), samples=g["n_samples"], reps=g["reps"], device=g["device"])
    for d in (g["latent_dim"], g["low_dim"]):
        table1_study(latent_dim=d, **study)


GROUPS = {"digit studies": _digits, "Table 1 studies": _table1}
"""Independent groups of shared studies: name -> function of the book folder."""


def _run(job):
    import torch

    name, book = job
    torch.set_num_threads(1)      # two groups, two cores: one torch thread each
    try:
        GROUPS[name](Path(book))
        return f"{name}: ready"
    except Exception as err:  # noqa: BLE001 - reported, the page recomputes and shows it
        return f"{name}: not warmed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"


def warm(book="book", groups=None) -> list:
    """Compute the ``groups`` (default: all of :data:`GROUPS`) in one process each; returns one
    line per group."""
    import concurrent.futures
    import multiprocessing

    names = list(GROUPS) if groups is None else list(groups)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(names), mp_context=ctx) as pool:
        return list(pool.map(_run, [(n, str(book)) for n in names]))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for line in warm(argv[0] if argv else "book"):
        print(f">> {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
