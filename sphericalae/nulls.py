"""The noise floor of the priors page's spread: how far FD-CNN moves between independent draw sets of
*one* prior, decoded by the same model through the same pipeline.

The priors page's spread of a model is the largest minus the smallest FD-CNN over the four priors
(:func:`sphericalae.claims.spreads`). Even four sets of the *same* prior give a spread above zero:
each cell scores only ``n_samples`` decoded digits, so its FD-CNN carries sampling noise. That
spread, of :data:`NULL_SETS` independent sets of normal draws (streams ``(seed, "null", j)`` of
:mod:`sphericalae.seeding`, disjoint from the page's ``(seed, prior)`` streams), is the null a
prior spread is read against: a spread at the null level is all noise, whatever the priors.

* :func:`prior_null_study`: the null cells of every model of a
  :class:`~sphericalae.studies.DigitStudy` (cached), raw and through Algorithm 1 at the decoder's
  training scale, exactly as :func:`sphericalae.experiments.prior_cells` decodes the four priors.
* :func:`null_spreads`: the null spread per seed, the counterpart of
  :func:`sphericalae.claims.spreads`.
"""
from __future__ import annotations

import numpy as np
import torch

from .cache import cached
from .experiments import prior_cells, sample_scores
from .studies import DigitStudy

__all__ = ["NULL_SETS", "NULL_PRIOR", "prior_null_study", "null_spreads"]

NULL_SETS = 4
"""Independent draw sets per model and seed: as many as the priors a spread is taken over."""
NULL_PRIOR = "normal"
"""The prior of the null's draw sets (the VAE's own, the paper's reference in Table 1)."""


def prior_null_study(study: DigitStudy = DigitStudy()):
    """The null cells (cached): for every model and seed of ``study``, :data:`NULL_SETS` independent
    sets of ``study.n_samples`` normal draws, decoded raw (``vanilla``) and through Algorithm 1
    (``centerize+spherize``), each scored by FD-CNN against the held-out digits as the priors page
    scores its cells. Returns ``{"scores": [{model, seed, set, pipeline, FD-CNN}], "sets": NULL_SETS,
    "n": n_samples}``."""
    def compute():
        from .data import load
        from .experiments import study_models
        from .features import digit_classifier, stored_features
        from .ops import sample_prior
        from .seeding import derive_seed

        data = load(study.dataset)
        models = study_models(study, data, progress=False)
        train_x, heldout = data[0].tensors[0], data[1].tensors[0]
        fd_net, _ = digit_classifier(study.dataset, device="cpu")
        real_feats = stored_features(fd_net, heldout[:study.n_samples])
        rows = []
        with torch.no_grad():
            for s in range(study.seeds):
                draws = {f"{NULL_PRIOR}#{j}": sample_prior(NULL_PRIOR, study.n_samples, study.latent_dim,
                                                           derive_seed(s, "null", j)) for j in range(NULL_SETS)}
                for kind in study.kinds:
                    cells = prior_cells(models[kind, s][0], draws, train_x, s, study.n_samples)
                    for cell, images in cells.items():
                        if cell == "own prior":
                            continue
                        name, pipeline = cell.split(" / ")
                        rows.append({"model": kind, "seed": s, "set": int(name.split("#")[1]), "pipeline": pipeline,
                                     "FD-CNN": sample_scores(images, real_feats, fd_net)["FD-CNN"]})
        return {"scores": rows, "sets": NULL_SETS, "n": study.n_samples}

    return cached("prior-null-study", study.key("n_samples"), compute, sources=(prior_null_study,))


def null_spreads(rows, model: str, pipeline: str) -> np.ndarray:
    """The null spread per seed (largest minus smallest FD-CNN over the independent sets) of one
    model and pipeline of :func:`prior_null_study` rows, seeds in increasing order."""
    cells = [r for r in rows if r["model"] == model and r["pipeline"] == pipeline]
    if not cells:
        raise ValueError(f"no null rows of model {model!r} through {pipeline!r}")
    out = []
    for s in sorted({r["seed"] for r in cells}):
        v = [r["FD-CNN"] for r in cells if r["seed"] == s]
        out.append(max(v) - min(v))
    return np.array(out)
