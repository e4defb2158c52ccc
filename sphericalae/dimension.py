"""The digit studies as the latent dimension grows: the paper's own d_z = 512 (its Table 2, Figs. 5-10
and 13, footnote 2) beside the d = 10 of its MNIST appendix, and a ladder of dimensions between.

* :data:`HIGH_DIM`: the paper's latent dimension; ``DigitStudy(latent_dim=HIGH_DIM)`` is the book's
  digit study there, trained under the same rule as at d = 10 (the same epochs for every kind).
* :func:`active_units`: the latent units a posterior uses (Burda et al. 2016), with the threshold
  read against the prior's own scale so that a Gaussian and a spherical posterior count alike.
* :func:`training_report`: per kind and seed, whether the model trained (finite losses, a held-out
  loss that fell and levelled off), its epochs, held-out loss, KL and active units (cached).
* :func:`svae_fails`: footnote 2's claim ("we fail to train a convergent model for the spherical
  VAE" at 512 dimensions), judged on the report.
* :func:`ladder_rows`: the key numbers of the dimension page at each rung of a ladder of latent
  dimensions (:data:`LADDER`), from the cached studies of each rung.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .cache import cached
from .experiments import CONVERGED
from .studies import DigitStudy

__all__ = ["HIGH_DIM", "LADDER", "RUNG_SEEDS", "RUNG_KINDS", "ACTIVE_SHARE", "active_units", "concentration", "training_report", "trains",
           "svae_fails", "ladder_studies", "ladder_rows", "mean_interval"]

HIGH_DIM = 512
"""The paper's latent dimension d_z (FFHQ: Table 2, Figs. 5-10 and 13, footnote 2)."""
LADDER = (3, 10, 64, HIGH_DIM)
"""The dimension page's rungs: 3 (the smallest SAE has: its codes lie on S^(d-2)), 10 (the book's
digit study), 64 and 512 (the paper's)."""
RUNG_KINDS = ("sae", "vae", "svae")
"""Kinds of the intermediate rungs of the book's ladder: SAE and the paper's two comparators (the
end rungs have all five kinds)."""
RUNG_SEEDS = 2
"""Seeds of the intermediate rungs of the book's ladder (the end rungs are the full studies at d =
10 and 512, with their seeds): two give an interval, at a quarter of the cost of five."""
ACTIVE_SHARE = 0.01
"""A unit is active when its posterior mean varies over the data by more than this share of the
prior's variance per coordinate (Burda et al. 2016 use 0.01 against N(0, I)'s variance 1; the
uniform on S^(d-1) has 1/d per coordinate)."""


def _posterior_mean(q, on_sphere: bool, samples: int = 64):
    """E[z | x] of a posterior ``q``: the Gaussian's mean; for a distribution on the sphere with mean
    direction ``q.loc`` (vMF, Power Spherical), E[t] ``loc`` with t = <loc, z> averaged over
    ``samples`` draws (torch's global stream forked and seeded with 0, so the count is repeatable)."""
    if not on_sphere:
        return q.mean
    with torch.random.fork_rng():
        torch.manual_seed(0)
        t = torch.stack([(q.sample() * q.loc).sum(-1) for _ in range(samples)]).mean(0)
    return t.unsqueeze(-1) * q.loc


@torch.no_grad()
def active_units(model, x) -> int | None:
    """Latent units of ``model`` whose posterior mean E[z_u | x] varies over the images ``x`` by more
    than :data:`ACTIVE_SHARE` of the prior's variance per coordinate (1 for the VAE's N(0, I), 1/d
    for S-VAE's and Power Spherical's uniform on S^(d-1)); None for a kind without a posterior
    (SAE, AE). Collapsed units (posterior = prior) have a constant mean and are not counted."""
    q = model.posterior(x)
    if isinstance(q, torch.Tensor):
        return None
    sphere = model.bottleneck.on_sphere()
    mean = _posterior_mean(q, sphere).double()
    d = mean.shape[-1]
    prior_var = 1.0 / d if sphere else 1.0
    return int((mean.var(0) > ACTIVE_SHARE * prior_var).sum())


@torch.no_grad()
def concentration(model, x) -> float | None:
    """The median concentration k of ``model``'s posteriors of the images ``x`` (S-VAE's vMF, Power
    Spherical); None for other kinds. A collapsed spherical posterior has k near its floor (1 for
    S-VAE's softplus + 1), hence near the uniform prior."""
    q = model.posterior(x)
    k = getattr(q, "concentration", getattr(q, "scale", None)) if model.bottleneck.on_sphere() else None
    return None if k is None or isinstance(q, torch.Tensor) else float(k.median())


def trains(history, tol=CONVERGED) -> str:
    """How a run went: ``"failed"`` (a non-finite loss, or a held-out loss at the end no lower than
    after the first epoch), ``"trained"`` (it fell and levelled off: the criterion
    :func:`sphericalae.train.convergence` below ``tol`` at the end) or ``"still falling"``."""
    from .train import convergence

    losses = [float(h[k]) for h in history for k in ("train_loss", "heldout_recon") if k in h]
    if not history or not all(math.isfinite(v) for v in losses):
        return "failed"
    if not float(history[-1]["heldout_recon"]) < float(history[0]["heldout_recon"]):
        return "failed"
    return "trained" if convergence(history) < tol else "still falling"


def training_report(study: DigitStudy = DigitStudy()):
    """Per kind and seed of ``study`` (cached): ``{"rows": [{model, seed, epochs, state (see
    :func:`trains`), criterion, heldout_first, heldout_last, MSE (held-out, last epoch), KL (train,
    last epoch), active (units, None without a posterior), concentration (median k, spherical
    posteriors only)}], "curves": {kind: [held-out loss per
    epoch, seed 0]}}``."""
    def compute():
        from .data import load
        from .experiments import study_models
        from .train import convergence

        data = load(study.dataset)
        models = study_models(study, data, progress=False)
        heldout = data[1].tensors[0]
        rows, curves = [], {}
        for kind in study.kinds:
            for s in range(study.seeds):
                model, hist = models[kind, s]
                rows.append({"model": kind, "seed": s, "epochs": len(hist), "state": trains(hist),
                             "criterion": convergence(hist), "heldout_first": float(hist[0]["heldout_recon"]),
                             "heldout_last": float(hist[-1]["heldout_recon"]),
                             "MSE": float(hist[-1]["heldout_mse"]), "KL": float(hist[-1]["train_kl"]),
                             "active": active_units(model, heldout), "concentration": concentration(model, heldout)})
            curves[kind] = [float(h["heldout_recon"]) for h in models[kind, 0][1]]
        return {"rows": rows, "curves": curves}

    return cached("training-report", study.key(), compute, sources=(training_report,))


def svae_fails(rows, kind="svae"):
    """Footnote 2's claim on the rows of :func:`training_report` at d = 512: "S-VAE does not train a
    convergent model". Each seed's run is a test of it (:func:`trains`): ``failed`` says it,
    ``trained`` says the opposite, ``still falling`` neither; the outcome follows the book's rule
    (:func:`sphericalae.claims.statement`'s counting: holds when every seed failed, in part when
    more failed than trained, does not hold when at least as many trained (one at least),
    inconclusive when none decided). Returns ``(outcome, {state: count})``."""
    states = [r["state"] for r in rows if r["model"] == kind]
    if not states:
        raise ValueError(f"no training-report rows of model {kind!r}")
    count = {s: states.count(s) for s in ("failed", "trained", "still falling")}
    says, against = count["failed"], count["trained"]
    if says == len(states):
        outcome = "holds"
    elif says > against:
        outcome = "holds in part"
    elif against:
        outcome = "does not hold"
    else:
        outcome = "inconclusive"
    return outcome, count


def ladder_studies(study: DigitStudy = DigitStudy(), ladder=LADDER, rung_seeds=RUNG_SEEDS, high_dim=HIGH_DIM,
                   rung_kinds=RUNG_KINDS) -> dict:
    """``{d: DigitStudy}`` of each rung: ``study`` at that latent dimension, with ``rung_seeds``
    seeds and the kinds of ``rung_kinds`` that ``study`` has on the rungs other than the book's two
    (``study.latent_dim`` and ``high_dim``), whose studies are the full ones (their models and
    results are the verdict page's)."""
    bad = [d for d in ladder if isinstance(d, bool) or not isinstance(d, int) or d < 3]
    if bad or isinstance(ladder, str):
        raise ValueError(f"the ladder must be a list of latent dimensions, integers >= 3 (SAE's codes lie on "
                         f"S^(d-2)), got {ladder!r}")
    ends = {study.latent_dim, high_dim}
    kinds = [k for k in study.kinds if k in rung_kinds] or study.kinds
    return {d: study.replace(latent_dim=d) if d in ends else
            study.replace(latent_dim=d, seeds=min(rung_seeds, study.seeds), kinds=kinds) for d in ladder}


def ladder_rows(studies: dict) -> list:
    """The dimension page's numbers, one row per rung, kind and seed: held-out ``MSE`` (the training
    page's), ``own prior`` and ``Alg. 1`` (FD-CNN of samples from the model's own prior and of
    normal draws through Algorithm 1, the priors page's), ``spread`` (FD-CNN over the four priors
    through Algorithm 1), ``uniformity`` (the codes' top eigenvalue × p as directions over that of
    as many uniform directions on the same sphere, :func:`sphericalae.probes.code_uniformity_study`:
    1 for codes as uniform as a uniform sample, larger for codes that favour some directions).
    ``studies``: :func:`ladder_studies`."""
    from .claims import spreads
    from .experiments import prior_study, reconstruction_study
    from .probes import code_uniformity_study

    stat = "top eigenvalue × p"
    rows = []
    for d, st in studies.items():
        rec = reconstruction_study(st)["scores"]
        pri = prior_study(st)["scores"]
        uni = code_uniformity_study(st)["scores"]
        for kind in st.kinds:
            spread = spreads(pri, kind, "centerize+spherize")
            for s in range(st.seeds):
                def cell(name):
                    return next(r["FD-CNN"] for r in pri if r["model"] == kind and r["seed"] == s and r["cell"] == name)
                mse = next(r["MSE"] for r in rec if r["model"] == kind and r["seed"] == s)
                codes = next(r[stat] for r in uni if r["model"] == kind and r["seed"] == s)
                uniform = next(r[stat] for r in uni if r["model"] == "uniform" and r.get("beside") == kind
                               and r["seed"] == s)
                rows.append({"d": d, "model": kind, "seed": s, "MSE": mse, "own prior": cell("own prior"),
                             "Alg. 1": cell("normal / centerize+spherize"), "spread": float(spread[s]),
                             "uniformity": codes / uniform})
    return rows


def mean_interval(values, level=0.9):
    """``(mean, low, high)``: the mean of ``values`` and its ``level`` t-interval (nan bounds for one
    value)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - half, m + half
