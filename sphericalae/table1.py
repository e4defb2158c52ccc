"""The paper's Table 1 and Figure 1 re-run on a trained generator (Section 5.1): a generator trained
with normal z is fed the four priors of :data:`sphericalae.paper.PRIORS` through each pipeline of
:data:`sphericalae.ops.PIPELINES`, and every cell is scored by FD-CNN, improved precision and
recall against real images, beside the real-against-real floor (:func:`sphericalae.tables.floor_split`).
"""
from __future__ import annotations

import torch

from .checks import positive_int
from .ops import PIPELINES, pipeline_name, sample_prior
from .seeding import torch_generator
from .studies import GENERATORS
from .tables import floor_split

__all__ = ["latents", "generate", "table1", "table1_frame", "trained_gans", "table1_study", "own_prior_gap",
           "store_table1", "stored_table1", "near_data_words", "STORED", "GENERATORS"]


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

    ``real``: images (N, 1, 28, 28) in [0, 1], N >= 2n; each repetition ``rep`` splits them into a
    reference set and a floor set (:func:`sphericalae.tables.floor_split`, key ``("table1", rep)``)
    and draws new codes.
    FD-CNN is the Frechet distance on the features of ``classifier`` (default
    :func:`sphericalae.features.digit_classifier`); precision/recall are the improved ones (k = 3)
    on the same features. ``radius``: see :func:`latents`."""
    from .features import digit_classifier, stored_features
    from .metrics import frechet_distance
    from .paper import PRIORS

    model = digit_classifier()[0] if classifier is None else classifier
    priors = list(PRIORS) if priors is None else list(priors)
    pipelines = list(PIPELINES) if pipelines is None else [pipeline_name(p) for p in pipelines]
    dim = gan.config.latent_dim
    rows = []
    for rep in range(positive_int(reps, "reps")):
        ref, floor = (stored_features(model, part) for part in floor_split(real, n, seed, "table1", rep))
        p, r = _pr(ref, floor)
        rows.append({"prior": "real (floor)", "pipeline": "-", "rep": rep,
                     "fd_cnn": frechet_distance(ref, floor), "precision": p, "recall": r})
        for prior in priors:
            for pipe in pipelines:
                fake = stored_features(model, generate(gan, latents(prior, pipe, n, dim, seed, radius=radius,
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


def trained_gans(study) -> dict:
    """``{(generator name, seed): (gan, history)}`` for every generator of ``study.generators`` and
    training seed (a :class:`sphericalae.studies.GanStudy`), from
    :func:`sphericalae.gan.trained_gan`; those not yet cached are trained in parallel processes."""
    from .experiments import compute_in_parallel
    from .gan import GANConfig, GANTrainConfig, trained_gan

    jobs = {(name, seed): (GANConfig(arch=study.arch, latent_dim=study.latent_dim, width=study.width,
                                     spherize_input=GENERATORS[name]),
                           GANTrainConfig(dataset=study.dataset, epochs=study.epochs, seed=seed, device=study.device))
            for name in study.generators for seed in study.seeds}
    compute_in_parallel([(trained_gan, *configs) for configs in jobs.values()], study.device)
    return {key: trained_gan(*configs) for key, configs in jobs.items()}


def table1_study(study):
    """Table 1 for each generator of ``study.generators`` and training seed of ``study.seeds`` (a
    :class:`sphericalae.studies.GanStudy`; cached, so the GAN page and the verdict page read the
    same rows): the :func:`table1` rows of each generator of :func:`trained_gans`, with
    ``"generator"`` and ``"seed"``, the spherize step on the sphere of radius sqrt(d) (where
    training normal z lives)."""
    import math

    from .cache import cached
    from .data import in_memory, load
    from .features import digit_classifier

    def rows():
        gans = trained_gans(study)
        real = in_memory(load(study.dataset)[0])[0]
        classifier, _ = digit_classifier(study.dataset)
        return [{"generator": name, "seed": seed, **r}
                for (name, seed), (gan, _) in gans.items()
                for r in table1(gan, real, n=study.n_samples, seed=seed, reps=study.reps,
                                radius=math.sqrt(study.latent_dim), classifier=classifier)]

    return cached("table1-study", study.key("n_samples", "reps"), rows, sources=(table1_study,))


def own_prior_gap(rows) -> list:
    """How far each generator of ``rows`` (:func:`table1_study` rows) is from the data: per generator,
    the mean FD-CNN of its samples from its own prior (normal z, no pipeline) over seeds and
    repetitions, the mean real-against-real floor, and their ratio (1: as good as real digits)."""
    out = []
    floors = [r["fd_cnn"] for r in rows if r["prior"] == "real (floor)"]
    floor = sum(floors) / len(floors)
    for name in dict.fromkeys(r["generator"] for r in rows):
        own = [r["fd_cnn"] for r in rows if r["generator"] == name and r["prior"] == "normal"
               and r["pipeline"] == "vanilla"]
        fd = sum(own) / len(own)
        out.append({"generator": name, "FD-CNN": fd, "floor": floor, "times the floor": fd / floor})
    return out


STORED = "gan_table1"
"""The name under which a run of the GAN page keeps its Table 1 rows (``results/gan_table1.json``,
:mod:`sphericalae.results`)."""


def store_table1(study, hardware: str, path=None):
    """Keep the Table 1 rows of ``study`` and of its low-dimensional twin (:func:`table1_study`) with
    the study's fields and ``hardware``, for the default build to show (:func:`stored_table1`)."""
    from .results import store_result

    rows = {"main": table1_study(study), "low": table1_study(study.at_low_dim())}
    return store_result(STORED, {"rows": rows}, study.as_dict(), hardware, path)


def stored_table1(path=None):
    """``(study, rows, doc)`` of the stored run (:func:`store_table1`): its
    :class:`sphericalae.studies.GanStudy`, ``{"main": rows, "low": rows}`` and the whole document
    (``hardware``, ``commit``); None when no run is stored."""
    from .results import result_path, stored_result
    from .studies import GanStudy

    doc = stored_result(STORED, ("rows",), path)
    if doc is None:
        return None
    if not isinstance(doc["rows"], dict) or set(doc["rows"]) != {"main", "low"}:
        raise ValueError(f"{result_path(STORED, path)}: not a stored Table 1 run (rows must hold main and low)")
    return GanStudy.from_params(doc["setting"]), doc["rows"], doc


def near_data_words(kept, here_rows) -> dict:
    """What the GAN page and the verdict page say of the stored run (:func:`stored_table1`, or None)
    beside this build's rows ``here_rows`` (:func:`table1_study` rows): ``"page"``, a sentence for
    the GAN page (how far each run's raw generator is from the data, and whether the stored one is
    nearer), ``"verdicts"`` (``{d: Verdict}`` of the stored run, empty without one) and
    ``"verdict_line"``, the sentence under the verdict page's table. The verdicts are
    :func:`sphericalae.claims.gan_verdict` of the stored rows, the rule of this build's rows."""
    from .claims import gan_verdict

    here = {g["generator"]: g for g in own_prior_gap(here_rows)}["raw"]
    if kept is None:
        none = ("No run of this page on a convolutional generator is stored (results/gan_table1.json): "
                "the Table 1 rows rest on the small generators of the default build alone.")
        return {"page": none, "verdicts": {}, "verdict_line": none}
    study, rows, doc = kept
    gap = {g["generator"]: g for g in own_prior_gap(rows["main"])}["raw"]
    verdicts = {study.latent_dim: gan_verdict(study, rows=rows["main"]),
                study.low_dim: gan_verdict(study, low=True, rows=rows["low"])}
    nearer = gap["times the floor"] < here["times the floor"]
    what = (f"{study.arch} generators of width {study.width}, {study.epochs} epochs, training seeds "
            f"{', '.join(map(str, study.seeds))}, {study.n_samples} samples per cell; {doc['hardware']}, "
            f"commit {doc.get('commit', 'unknown')}")
    page = (f"The stored run ({what}): fed normal z, its raw generator scores FD-CNN {gap['FD-CNN']:.0f} against "
            f"a floor of {gap['floor']:.1f}, {gap['times the floor']:.1f} times the floor; this build's scores "
            f"{here['FD-CNN']:.0f}, {here['times the floor']:.1f} times its floor. The stored generator is "
            + ("nearer the data" if nearer else "no nearer the data") + ".")
    line = (f"Table 1 on the GAN page's stored run ({what}, {gap['times the floor']:.1f} times the FD-CNN floor): "
            + "; ".join(f"d = {d}: {v.outcome}" for d, v in verdicts.items()) + ".")
    return {"page": page, "verdicts": verdicts, "verdict_line": line}
