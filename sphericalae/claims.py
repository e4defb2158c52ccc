"""The claims of the paper and the rule that judges each, defined once: the experiment pages and the
verdict page call the same function on the same cached study, so a claim gives the same numbers,
test and verdict everywhere.

A :class:`Verdict` holds the claim, what the paper says, the outcome, one line of our numbers, the
evidence (the :class:`~sphericalae.rules.Comparison` objects, each with its test, interval and its
level, p-values and n), side evidence outside the verdict, the rule and the keys of
:data:`MARGINS` it used. Comparisons of one claim form one family for Holm's correction
(:func:`sphericalae.rules.decide`); side evidence is a family of its own.

**Outcomes** (:func:`statement`, one rule for every measured row). Each comparison of a claim says
it (e.g. SAE the better), says the opposite (the other model the better, or the two equivalent when
the claim is a difference; a difference when the claim is a match) or neither (inconclusive):

* ``holds``: every comparison says it;
* ``holds in part``: more comparisons say it than say the opposite (so at least one says it);
* ``does not hold``: at least one says the opposite and no fewer say the opposite than say it;
* ``inconclusive``: none says either;

and ``not testable here`` for a claim this build cannot measure. A row of one comparison has three
of these (holds, does not hold, inconclusive). No comparison sets an item against itself
(:func:`sphericalae.rules.compare` refuses equal names).

**Margins** are fixed in advance, one per metric, with their reason: :data:`MARGINS`.

The study functions' rows are plain dicts (``sphericalae.experiments``): one row per model and seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from . import paper as _paper
from .rules import ALPHA, DIFFERENCES, TESTS, compare, decide

__all__ = ["Verdict", "OUTCOMES", "RULES", "Margin", "MARGINS", "margin_table", "table2", "ae_ablation",
           "prior_robustness", "ROBUSTNESS_COMPARATORS", "raw_draws", "rae_sampler", "margins", "MARGIN_DISTANCE",
           "own_prior", "OWN_PRIOR_COMPARATORS", "off_sphere", "NEAR_SPHERE", "OFF_SPHERE_METRICS", "blurriness",
           "uniform_codes",
           "MARGIN_COMPARATORS", "TABLE2_METRICS", "table1_gan", "gan_verdict",
           "gan_cells", "statement", "WANTED", "TABLE1_STATEMENTS", "table1_statements", "spreads",
           "store_verdicts", "stored_verdicts", "STORED", "all_verdicts", "Verdicts", "svae_convergence", "closed_form", "not_testable",
           "RECORD_FIELDS", "verdict_records", "write_verdict_table"]

OUTCOMES = ("holds", "holds in part", "does not hold", "inconclusive", "not testable here")


class Margin(NamedTuple):
    """One equivalence margin: ``size``, a share of ``of`` when ``of`` names a reference (relative),
    else in the metric's own units; ``why``: the reason it was fixed at that size."""
    size: float
    of: Optional[str]
    why: str

    def describe(self) -> str:
        """The margin in words, e.g. ``"5% of the comparator's mean"`` or ``"0.02"``."""
        return f"{100 * self.size:g}% of {self.of}" if self.of else f"{self.size:g}"


def _paper_gaps():
    """The paper's own scale of differences, as shares: (the smallest gap Table 2 reports as SAE's
    win, of the VAE's value; the largest gap between a Table 1 cell after both steps and normal fed
    raw, which the paper calls "rather negligible", of normal raw; the smallest improvement it calls
    "considerably improved" (Poisson and chi-squared, raw to centerized), of the raw value)."""
    t2, t1 = _paper.TABLE2, _paper.TABLE1_FID
    win = min((t2["VAE"][m] - t2["SAE"][m]) / t2["VAE"][m] for m in t2["VAE"])
    ref = t1["normal"]["vanilla"]
    negligible = max(abs(t1[p]["centerize+spherize"] - ref) / ref for p in _paper.PRIORS)
    considerable = min((t1[p]["vanilla"] - t1[p]["centerize"]) / t1[p]["vanilla"] for p in ("poisson", "chi2"))
    return win, negligible, considerable


def _margins():
    win, negligible, considerable = _paper_gaps()
    own = "the comparator's mean"
    table2 = (f"a difference a reader of the paper would call negligible: under a fifth of the smallest gap "
              f"Table 2 reports as SAE's win ({100 * win:.0f}% of the VAE's value)")
    return {
        "MSE": Margin(0.05, own, table2),
        "SWD": Margin(0.05, own, table2),
        "FD-CNN": Margin(0.05, own, (
            f"between what the paper calls negligible and what it calls a difference: Table 1's cells after "
            f"both steps are within {100 * negligible:.1f}% of normal fed raw ('rather negligible'), while the "
            f"smallest gap it calls a difference is {100 * considerable:.0f}% (Poisson, 'considerably improved' "
            f"by centerization) and Table 2's smallest win {100 * win:.0f}%")),
        "FD-CNN spread": Margin(0.05, "the comparator's mean FD-CNN over the four priors, in its pipeline", (
            "a spread is a difference of FD-CNN values, so it takes FD-CNN's margin, as a share of the FD-CNN "
            "level the spread is measured at (a share of the spread itself would vanish for a comparator whose "
            "spread is near 0, and equivalence could never be shown)")),
        "binarised FD-CNN": Margin(0.05, own, (
            "the same Fréchet distance in the same network's features, of images thresholded at 0.5: FD-CNN's "
            "margin, for FD-CNN's reason")),
        "sharpness": Margin(0.05, own, (
            "Section 5.2's blurriness sits beside Table 2 in the paper, so it takes Table 2's margin: " + table2)),
        "mean resultant length": Margin(0.05, None, (
            "a twentieth of the statistic's range [0, 1] (0: directions that cancel, as uniform ones do; 1: every "
            "code pointing one way), about the length n = 500 uniform directions show by chance (1/√500 = 0.045): "
            "codes within it of uniform directions are no more lopsided than a uniform sample of the book's size; "
            "in its own units, since the uniform's value is near 0, where a share of it vanishes")),
        "top eigenvalue × p": Margin(0.10, "the uniform directions' value", (
            "one direction holding a tenth more of the codes' spread than uniform directions of the same number and "
            "dimension do, less than the excess a finite uniform sample itself shows ((1 + √(p/n))² − 1 = 29% at "
            "p = 9, n = 500, Marchenko and Pastur): a difference no picture of the codes could show")),
        "silhouette": Margin(0.02, None, (
            "a tenth of the narrowest band of the usual reading of a silhouette (Kaufman and Rousseeuw 1990: "
            "above 0.70 strong, 0.50-0.70 reasonable, 0.25-0.50 weak, below 0.25 no substantial structure; "
            "the narrowest band is 0.20 wide): a difference that changes no reading; in silhouette units, "
            "since a silhouette lies in [-1, 1] and may be near 0, where a share of it vanishes")),
    }


MARGINS = _margins()
"""The equivalence margin of every metric a claim compares, fixed before the data were seen, with
its reason (``metric -> Margin(size, of, why)``); every rule reads it, the verdict page prints it
(:func:`margin_table`)."""


def margin_table() -> list:
    """:data:`MARGINS` as rows ``{"metric", "margin", "why"}``, as the verdict page prints them."""
    return [{"metric": k, "margin": m.describe(), "why": m.why} for k, m in MARGINS.items()]


def _margin_kw(metric):
    """:func:`~sphericalae.rules.compare`'s margin keyword for ``MARGINS[metric]``."""
    m = MARGINS[metric]
    return {"rel_margin": m.size} if m.of else {"margin": m.size}


RULES = (f"Each comparison sets two groups of numbers, one per training seed, against each other, by "
         f"{TESTS[False]} when they come from different trained models and by the {TESTS[True]} (of the "
         f"differences) when both come from one trained model or generator. Two groups are 'equivalent' when "
         f"two one-sided tests (TOST) reject a difference of the margin or more at level {ALPHA} after Holm's "
         f"correction over the claim's comparisons; this is decided first, so a difference inside the margin "
         f"is never a win. Otherwise one is better when the two-sided test rejects equal means at level "
         f"{ALPHA} after Holm's correction; otherwise 'inconclusive'. Intervals are {100 * (1 - 2 * ALPHA):.0f}% "
         f"intervals of the difference by the comparison's test, the level at which TOST at {ALPHA} means "
         f"'the interval lies inside the margin' (before the correction). Margins are fixed per metric, with "
         f"their reasons, in the table of margins. A claim holds when every comparison says it, holds in part "
         f"when more say it than say the opposite, does not hold when at least one says the opposite and no "
         f"fewer say the opposite than say it, and is inconclusive when none decides. Side evidence shown beside "
         f"a row is a Holm family of its own and does not enter the verdict.")
"""The rules, in one paragraph the verdict page prints."""


@dataclass(frozen=True)
class Verdict:
    """One claim, judged. ``evidence``: the decided comparisons the outcome is read from (one Holm
    family); ``side``: decided comparisons shown beside it but outside the verdict (a family of their
    own); ``margins``: the keys of :data:`MARGINS` its comparisons used; ``anchor``: the page section
    that holds the evidence (``page#label``)."""
    key: str
    claim: str
    paper: str
    outcome: str
    ours: str
    rule: str
    anchor: str
    evidence: tuple = field(default=())
    side: tuple = field(default=())
    margins: tuple = field(default=())

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; valid: {', '.join(OUTCOMES)}")
        unknown = [k for k in self.margins if k not in MARGINS]
        if unknown:
            raise ValueError(f"unknown margin {unknown[0]!r}; valid: {', '.join(MARGINS)}")

    def sentence(self) -> str:
        """The verdict and its evidence, then the side evidence, as the pages print it."""
        body = "; ".join(c.sentence() for c in self.evidence)
        side = "; ".join(c.sentence() for c in self.side)
        return (f"{self.claim}: {self.outcome}." + (f" {body}." if body else "")
                + (f" Outside the verdict: {side}." if side else ""))

    def row(self) -> dict:
        """The verdict page's row; ``test``, ``interval``, ``margin`` and ``n`` are empty for a row
        without comparisons."""
        ev = self.evidence
        tests = ", ".join(dict.fromkeys(c.test for c in ev))
        return {"claim": self.claim, "paper": self.paper, "ours": self.ours, "verdict": self.outcome,
                "rule": self.rule, "evidence": self.anchor,
                "test": f"{tests}, Holm over {len(ev)}" if ev else "",
                "interval": ", ".join(dict.fromkeys(f"{100 * c.ci_level:.0f}%" for c in ev)),
                "margin": "; ".join(f"{k}: {MARGINS[k].describe()}" for k in self.margins),
                "n": ", ".join(dict.fromkeys(str(n) for c in ev for n in (c.n_a, c.n_b)))}


WANTED = {"match": (("equivalent",), DIFFERENCES),
          "differ": (DIFFERENCES, ("equivalent",)),
          "better": (("a better",), ("equivalent", "b better")),
          "worse": (("b better",), ("equivalent", "a better")),
          "no worse": (("equivalent", "a better"), ("b better",))}
"""What a statement wants of a comparison (a against b): ``(outcomes that say it, outcomes that say
the opposite)``; ``"better"``: a the better; ``"worse"``: b the better, e.g. a prior's FD-CNN above
the normal prior's; ``"no worse"``: a equivalent to b or the better (a tolerance: b is the
reference a may not fall behind)."""


def statement(comps, want: str) -> str:
    """The outcome of a claim over its decided comparisons (a against b), by the module docstring's
    rule: ``want`` is a key of :data:`WANTED` (``"match"``: equivalent; ``"differ"``: a difference
    either way; ``"better"``: a the better; ``"worse"``: b the better; ``"no worse"``: a equivalent
    or the better). Raises ValueError for an
    unknown ``want`` or no comparison."""
    if want not in WANTED:
        raise ValueError(f"want must be one of {', '.join(WANTED)}, got {want!r}")
    comps = list(comps)
    if not comps:
        raise ValueError("a statement needs at least one comparison, got none")
    says, against = WANTED[want]
    n_says = sum(c.outcome in says for c in comps)
    n_against = sum(c.outcome in against for c in comps)
    if n_says == len(comps):
        return "holds"
    if n_says > n_against:
        return "holds in part"
    if n_against:
        return "does not hold"
    return "inconclusive"


def _groups(rows, model, column, **where):
    out = np.array([r[column] for r in rows if r["model"] == model
                    and all(r.get(k) == v for k, v in where.items())], dtype=np.float64)
    if out.size == 0:
        where_text = "".join(f", {k} = {v!r}" for k, v in where.items())
        raise ValueError(f"no rows of model {model!r} with {column}{where_text}")
    return out


def _compare_models(rows, a, b, metrics, lower=True, **where):
    return decide(compare(_groups(rows, a, m, **where), _groups(rows, b, m, **where), m, names=(a, b),
                          lower_is_better=lower, **_margin_kw(m)) for m in metrics)


def _said(c):
    return f"{c.winner} better" if c.winner else c.outcome


def _ours(comps):
    """Our numbers, each comparison with what it found (a loss reads as the other's win)."""
    return "; ".join(f"{c.metric}: {c.a} {c.mean_a:.3g} vs {c.b} {c.mean_b:.3g} ({_said(c)})" for c in comps)


def _rule(who, what, comps, extra="", better="better"):
    """The rule of a 'who is better' row, in words (``better``: the comparative, e.g. "smaller")."""
    tests = " and ".join(dict.fromkeys(c.test for c in comps))
    return (f"holds: {who} {better} than {what} on every comparison; in part: {better} on more comparisons than "
            f"it is worse or equivalent on; does not hold: worse or equivalent on at least as many (one at least); "
            f"inconclusive: none decided. {tests}, Holm over {len(comps)}{extra}")


TABLE2_METRICS = ("MSE", "SWD", "FD-CNN")


def table2(rows):
    """Table 2's direction, on digits: SAE reconstructs better than the VAE on MSE, SWD and FD-CNN
    (rows of :func:`sphericalae.experiments.reconstruction_study`; different models: Welch)."""
    comps = _compare_models(rows, "sae", "vae", TABLE2_METRICS)
    return Verdict("table2", "Table 2's direction, on digits: SAE reconstructs better than the VAE",
                   "FFHQ 128 px, d_z 512: MSE 0.063 vs 0.091, SWD 56.6 vs 77.7, FID 91.0 vs 134.2",
                   statement(comps, "better"), _ours(comps), _rule("SAE", "the VAE", comps),
                   "training.html#table-2", tuple(comps), margins=TABLE2_METRICS)


def ae_ablation(rows):
    """Not in the paper: SAE's gain over the VAE is the sphere's, i.e. SAE also beats a plain AE."""
    comps = _compare_models(rows, "sae", "ae", TABLE2_METRICS)
    return Verdict("ae_ablation", "(not in the paper) SAE's gain is the sphere's: SAE beats a plain AE",
                   "the paper runs no plain-AE ablation", statement(comps, "better"), _ours(comps),
                   _rule("SAE", "the plain AE", comps), "training.html#table-2", tuple(comps),
                   margins=TABLE2_METRICS)


def _prior_cells(rows, model, pipeline):
    return [r for r in rows if r["model"] == model and r["cell"].endswith(f"/ {pipeline}")]


def spreads(rows, model, pipeline, worst=False):
    """FD-CNN spread (max - min over the four priors) per seed, for one model and pipeline of
    :func:`sphericalae.experiments.prior_study` rows; ``worst=True``: the largest FD-CNN instead."""
    out = []
    cells = _prior_cells(rows, model, pipeline)
    for s in sorted({r["seed"] for r in cells}):
        v = [r["FD-CNN"] for r in cells if r["seed"] == s]
        out.append(max(v) if worst else max(v) - min(v))
    return np.array(out)


def _spread_comparison(rows, other, pipelines, name):
    """SAE's FD-CNN spread (pipeline ``pipelines[0]``) against ``other``'s (``pipelines[1]``), Welch,
    margin :data:`MARGINS` ``["FD-CNN spread"]`` of ``other``'s mean FD-CNN in its pipeline."""
    level = _prior_cells(rows, other, pipelines[1])
    if not level:
        raise ValueError(f"no prior cells of model {other!r} through {pipelines[1]!r}")
    margin = MARGINS["FD-CNN spread"].size * float(np.mean([r["FD-CNN"] for r in level]))
    return compare(spreads(rows, "sae", pipelines[0]), spreads(rows, other, pipelines[1]),
                   f"FD-CNN spread ({name})", names=("sae", other), margin=margin)


ROBUSTNESS_COMPARATORS = ("vae", "svae")
"""The models SAE's prior-robustness is compared with (the paper's Figs. 5, 7, 8, 10 and 12)."""


def _null_comparison(rows, nulls, model, pipeline="centerize+spherize"):
    """``model``'s FD-CNN spread over the four priors against its spread over four independent sets
    of normal draws (:func:`sphericalae.nulls.null_spreads`, the noise floor), both through
    ``pipeline``; one model decodes both: paired by seed; margin :data:`MARGINS` ``["FD-CNN
    spread"]`` of the model's mean FD-CNN in that pipeline."""
    from .nulls import null_spreads

    level = _prior_cells(rows, model, pipeline)
    if not level:
        raise ValueError(f"no prior cells of model {model!r} through {pipeline!r}")
    margin = MARGINS["FD-CNN spread"].size * float(np.mean([r["FD-CNN"] for r in level]))
    return compare(spreads(rows, model, pipeline), null_spreads(nulls, model, pipeline),
                   "FD-CNN spread (against its noise floor)",
                   names=(f"{model} over four priors", f"{model} over four normal sets"), margin=margin, paired=True)


def prior_robustness(rows, nulls=None):
    """'SAE samples equally well from any prior; the VAE (and S-VAE) do not' (Figs. 5, 7, 8, 10, 12),
    like for like: SAE's FD-CNN spread over the four priors against the VAE's and S-VAE's, all
    through Algorithm 1 (one family; different models: Welch). Outside the verdict, a family of its
    own: the same with every decoder fed raw draws, SAE through Algorithm 1 against the VAE fed
    raw (a setting the paper does not state), and, given ``nulls`` (rows of
    :func:`sphericalae.nulls.prior_null_study`), each of the three models' spread over the priors
    against its noise floor, the spread of four independent normal draw sets through Algorithm 1
    (paired by seed): a spread at its floor is noise, whatever the priors."""
    a1, raw = "centerize+spherize", "vanilla"
    comps = decide(_spread_comparison(rows, o, (a1, a1), "both through Algorithm 1") for o in ROBUSTNESS_COMPARATORS)
    floors = [] if nulls is None else [_null_comparison(rows, nulls, m) for m in ("sae", *ROBUSTNESS_COMPARATORS)]
    side = decide([_spread_comparison(rows, o, (raw, raw), "both raw") for o in ROBUSTNESS_COMPARATORS]
                  + [_spread_comparison(rows, "vae", (a1, raw), "SAE through Algorithm 1, the VAE raw")] + floors)
    return Verdict("priors", "SAE samples equally well from any prior; the VAE and S-VAE do not "
                   "(Figs. 5, 7, 8, 10, 12)", "pictures only", statement(comps, "better"),
                   _ours(comps), _rule("SAE's spread", "the VAE's and S-VAE's, all through Algorithm 1", comps,
                         "; fed raw draws: side evidence", better="smaller"),
                   "priors.html#like-for-like", tuple(comps), tuple(side), margins=("FD-CNN spread",))


def raw_draws(rows):
    """Not in the paper: SAE decodes raw normal draws better than Algorithm 1's output (one model
    decodes both: the paired t-test)."""
    comps = decide([compare(_groups(rows, "sae", "FD-CNN", cell="normal / vanilla"),
                            _groups(rows, "sae", "FD-CNN", cell="normal / centerize+spherize"), "FD-CNN",
                            names=("raw", "Algorithm 1"), paired=True, **_margin_kw("FD-CNN"))])
    c = comps[0]
    return Verdict("raw_draws", "(not in the paper) SAE decodes raw normal draws better than Algorithm 1's output",
                   "the paper feeds SAE only through Algorithm 1", statement(comps, "better"),
                   f"FD-CNN raw {c.mean_a:.0f}, Algorithm 1 {c.mean_b:.0f} ({_said(c)})",
                   f"holds: raw draws better by the test; does not hold: Algorithm 1 better or equivalent; "
                   f"inconclusive: neither. {c.test}", "priors.html#like-for-like", tuple(comps),
                   margins=("FD-CNN",))


def rae_sampler(rows):
    """Not in the paper: a plain AE sampled from a mixture fitted to its codes (RAE) beats SAE's and
    the VAE's own priors (different models: Welch)."""
    own = dict(cell="own prior")
    comps = decide([compare(_groups(rows, "ae+gmm", "FD-CNN", **own), _groups(rows, k, "FD-CNN", **own), "FD-CNN",
                            names=("ae+gmm", k), **_margin_kw("FD-CNN")) for k in ("sae", "vae")])
    return Verdict("rae", "(not in the paper) a plain AE with a fitted mixture (RAE) samples better than SAE's and "
                   "the VAE's own priors", "the paper omits this baseline", statement(comps, "better"), _ours(comps),
                   _rule("AE + mixture", "SAE's and the VAE's own priors", comps), "priors.html#own-priors",
                   tuple(comps), margins=("FD-CNN",))


OWN_PRIOR_COMPARATORS = ("vae", "svae")
"""The models SAE's own-prior sampling is set against: the paper's VAE, and S-VAE, its comparator in
the digits appendix (Fig. 12)."""


def own_prior(rows):
    """The abstract's "superiority of SAE" for sampling: SAE decodes draws of its own prior (Algorithm
    1's output) better than the VAE and S-VAE decode draws of theirs (FD-CNN of the ``"own prior"``
    cells of :func:`sphericalae.experiments.prior_study`; one family; different models: Welch)."""
    own = dict(cell="own prior")
    comps = decide(compare(_groups(rows, "sae", "FD-CNN", **own), _groups(rows, k, "FD-CNN", **own), "FD-CNN",
                           names=("sae", k), **_margin_kw("FD-CNN")) for k in OWN_PRIOR_COMPARATORS)
    return Verdict("own_prior", "SAE samples better than the VAE and S-VAE, each from its own prior (abstract: "
                   "'the superiority of SAE')", "the abstract; pictures only (Figs. 5, 12)",
                   statement(comps, "better"), _ours(comps),
                   _rule("SAE's own prior", "the VAE's and S-VAE's own priors", comps),
                   "priors.html#own-prior-sampling", tuple(comps), margins=("FD-CNN",))


NEAR_SPHERE = (0.9, 1.1)
"""The radii, as multiples of the training radius, that the off-sphere row reads as "near the
spherical surface" (Section 3.2): 10% inside and outside, fixed in advance."""
OFF_SPHERE_METRICS = ("FD-CNN", "binarised FD-CNN")
"""The off-sphere row's metrics: FD-CNN, and FD-CNN of binarised images, which does not reward the
sharper strokes a larger code norm gives (:mod:`sphericalae.probes`)."""


def _radius_groups(rows, model, metric, radius):
    return _groups(rows, model, metric, cell="Alg. 1", radius=radius)


def off_sphere(rows, model="sae"):
    """Section 3.2: codes near the sphere decode with negligible error, "even if they deviate from the
    sphere". ``model``'s decoder fed Algorithm 1's normal draws at each radius of :data:`NEAR_SPHERE`
    (multiples of its training radius) is no worse than at the radius itself, on each metric of
    :data:`OFF_SPHERE_METRICS` (one decoder reads both: the paired t-test; one family of four).
    ``rows``: :func:`sphericalae.probes.radius_study` rows."""
    comps = decide(compare(_radius_groups(rows, model, m, r), _radius_groups(rows, model, m, 1.0), m,
                           names=(f"radius {r:g}×", "radius 1×"), paired=True, **_margin_kw(m))
                   for m in OFF_SPHERE_METRICS for r in NEAR_SPHERE)
    near = " and ".join(f"{r:g}×" for r in NEAR_SPHERE)
    return Verdict("off_sphere", "Codes near the sphere decode as well as codes on it (Section 3.2)",
                   "'the error can be negligible even if they deviate from the sphere, as long as they are "
                   "distributed near the spherical surface' (no measurement)", statement(comps, "no worse"),
                   "; ".join(f"{c.metric} at {c.a.removeprefix('radius ')}: {c.mean_a:.0f} vs {c.mean_b:.0f} at 1× "
                             f"({_said(c)})" for c in comps),
                   f"holds: SAE's decoder at {near} its training radius no worse than at 1× (equivalent, or better) "
                   f"on every comparison; in part: no worse on more comparisons than it is worse on; does not hold: "
                   f"worse on at least as many (one at least); inconclusive: none decided. {comps[0].test} by "
                   f"training seed, Holm over {len(comps)}", "priors.html#code-radius", tuple(comps),
                   margins=OFF_SPHERE_METRICS)


def blurriness(rows):
    """Section 5.2: SAE's reconstructions are less blurry than the VAE's: the sharpness of held-out
    reconstructions (a share of the originals', :func:`sphericalae.probes.sharpness_study` rows;
    higher is sharper), SAE against the VAE (different models: Welch). Outside the verdict: SAE
    against the plain AE (a family of its own)."""
    def family(other):
        return decide([compare(_groups(rows, "sae", "sharpness"), _groups(rows, other, "sharpness"), "sharpness",
                               names=("sae", other), lower_is_better=False, **_margin_kw("sharpness"))])

    comps, side = family("vae"), family("ae")
    return Verdict("blurriness", "SAE's reconstructions are much less blurry than the VAE's (Section 5.2)",
                   "FFHQ faces, pictures only (Fig. 4)", statement(comps, "better"), _ours(comps),
                   _rule("SAE's reconstructions", "the VAE's, in sharpness (gradient energy, a share of "
                         "the originals')", comps, "; 'much' is not measured: any difference beyond the margin "
                         "counts; the plain AE: side evidence", better="sharper"),
                   "training.html#blurriness", tuple(comps), tuple(side), margins=("sharpness",))


MARGIN_DISTANCE = "cosine"
"""The one distance of the margins row, fixed in advance (the latent page shows Euclidean as a side
note)."""
MARGIN_COMPARATORS = ("vae", "svae")
"""The paper's comparators in Fig. 14."""


def margins(rows, metric=MARGIN_DISTANCE):
    """'SAE's classes have wider margins than the VAE's and S-VAE's' (t-SNE, Fig. 14), on the codes:
    the silhouette of the held-out digits' classes with one distance for every model (``metric``,
    :data:`MARGIN_DISTANCE` for the row), SAE against the VAE and S-VAE (one family; different
    models: Welch). Outside the verdict: SAE against the plain AE (a family of its own). k-NN and
    probe accuracy are not margins and are not part of the rule (the latent page tabulates them).
    ``rows``: :func:`sphericalae.experiments.structure_study` rows (space ``codes``)."""
    where = dict(space="codes", metric=metric)

    def family(others):
        return decide(compare(_groups(rows, "sae", "silhouette", **where), _groups(rows, b, "silhouette", **where),
                              f"silhouette ({metric})", names=("sae", b), lower_is_better=False,
                              **_margin_kw("silhouette")) for b in others)

    comps, side = family(MARGIN_COMPARATORS), family(("ae",))
    return Verdict("margins", "SAE's classes have wider margins than the VAE's and S-VAE's (t-SNE, Fig. 14)",
                   "pictures only", statement(comps, "better"), _ours(comps),
                   _rule("SAE's silhouette", f"the VAE's and S-VAE's, on the codes with {metric} distance for every "
                         "model", comps, "; the plain AE: side evidence", better="higher"),
                   "latent.html#class-margins", tuple(comps), tuple(side), margins=("silhouette",))


def uniform_codes(rows, model="sae"):
    """Fig. 13: SAE's codes are "globally uniform" on the sphere. The held-out codes of ``model``
    as directions against as many directions uniform on the same sphere (one set per seed), on the
    global statistics of :data:`sphericalae.probes.UNIFORMITY_METRICS` (the first moment and the
    covariance's largest eigenvalue; "while maintaining the variation of density" leaves the local
    density free): equivalent on both (one family; codes and uniform draws are different sources:
    Welch). Outside the verdict: SAE against the VAE, the lower (closer to uniform) the better.
    ``rows``: :func:`sphericalae.probes.code_uniformity_study` rows."""
    from .probes import UNIFORMITY_METRICS

    comps = decide(compare(_groups(rows, model, m), _groups(rows, "uniform", m, beside=model), m,
                           names=(model, "uniform"), **_margin_kw(m)) for m in UNIFORMITY_METRICS)
    side = decide(compare(_groups(rows, model, m), _groups(rows, "vae", m), m, names=(model, "vae"),
                          **_margin_kw(m)) for m in UNIFORMITY_METRICS)
    return Verdict("uniform_codes", "SAE's codes are globally uniform on the sphere (Fig. 13)",
                   "CelebA, t-SNE picture only", statement(comps, "match"), _ours(comps),
                   "holds: SAE's held-out codes equivalent to uniform directions on the same sphere on both "
                   "statistics; in part: more equivalent than different; does not hold: at least as many different "
                   f"(one at least); inconclusive: none decided. {comps[0].test}, Holm over {len(comps)}; SAE "
                   "against the VAE: side evidence", "latent.html#uniform-codes", tuple(comps), tuple(side),
                   margins=UNIFORMITY_METRICS)


def _per_seed_cell(rows, prior, pipeline):
    seeds = sorted({r["seed"] for r in rows})
    out = []
    for s in seeds:
        v = [r["fd_cnn"] for r in rows if r["seed"] == s and r["prior"] == prior and r["pipeline"] == pipeline]
        if not v:
            raise ValueError(f"no Table 1 rows of prior {prior!r} through {pipeline!r} at seed {s}")
        out.append(np.mean(v))
    return np.array(out)


def gan_cells(rows, pairs, rel_margin=None):
    """Decided comparisons of Table 1 cells: ``pairs`` of ``((prior, pipeline), (prior, pipeline))``,
    FD-CNN per training seed (repetitions within a seed averaged), paired by seed (the same
    generator decodes both cells: the paired t-test), one Holm family; margin ``rel_margin`` of the
    second cell's FD-CNN (default :data:`MARGINS` ``["FD-CNN"]``). ``rows``:
    :func:`sphericalae.table1.table1` rows of one generator kind with a ``seed`` field."""
    rel = MARGINS["FD-CNN"].size if rel_margin is None else rel_margin
    return decide(compare(_per_seed_cell(rows, *a), _per_seed_cell(rows, *b), f"FD-CNN {a[0]} {a[1]}",
                          names=(f"{a[0]} {a[1]}", f"{b[0]} {b[1]}"), rel_margin=rel, paired=True)
                  for a, b in pairs)


def table1_gan(rows, pipeline="centerize+spherize", rel_margin=None, label="", *, key="table1",
               paper="StyleGAN, FFHQ: FID 6.12 - 6.19 for all four priors after both steps",
               anchor="gan_table1.html#table-1"):
    """Table 1's claim: after ``pipeline`` every other prior (uniform, Poisson, chi-squared; normal is
    the reference, never set against itself) decodes as well as the normal prior fed raw (FD-CNN,
    equivalence margin ``rel_margin`` of the normal prior's value, default :data:`MARGINS`
    ``["FD-CNN"]``), paired by training seed. ``key``, ``paper`` and ``anchor`` name the row (the
    low-dimensional generator is its own row)."""
    others = [p for p in dict.fromkeys(r["prior"] for r in rows) if p not in ("real (floor)", "normal")]
    if not others:
        raise ValueError("Table 1 rows hold no prior besides normal")
    rel = MARGINS["FD-CNN"].size if rel_margin is None else rel_margin
    comps = gan_cells(rows, [((p, pipeline), ("normal", "vanilla")) for p in others], rel)
    return Verdict(key, f"Table 1: after Algorithm 1 every other prior matches normal fed raw{label}", paper,
                   statement(comps, "match"),
                   "; ".join(f"{c.a} {c.mean_a:.0f} ({_said(c)})" for c in comps)
                   + f" (normal raw {comps[0].mean_b:.0f})",
                   f"holds: every other prior after {pipeline} equivalent to the normal prior fed raw (margin "
                   f"{100 * rel:g}% of its FD-CNN); in part: more equivalent than different; does not hold: at least "
                   f"as many different (one at least); inconclusive: none decided. {comps[0].test} by training "
                   f"seed, Holm over {len(comps)}", anchor, tuple(comps),
                   margins=("FD-CNN",) if rel_margin is None else ())


TABLE1_STATEMENTS = {
    "uniform after spherization alone matches normal": (
        "match", [(("uniform", "spherize"), ("normal", "vanilla"))],
        "The uniform distribution is as good as the normal distribution when projected on the sphere."),
    "uniform, Poisson and chi2 raw are worse than normal": (
        "worse", [((p, "vanilla"), ("normal", "vanilla")) for p in ("uniform", "poisson", "chi2")],
        "the generative results by the normal distribution is significantly better than the others when "
        "tested with the original samples"),
    "Poisson, chi2 after spherization alone are worse than normal": (
        "worse", [((p, "spherize"), ("normal", "vanilla")) for p in ("poisson", "chi2")],
        "Table 1's numbers (FID 26.85 and 27.07 against 6.20); the text does not comment on them"),
    "Poisson, chi2 are considerably improved by centerization alone": (
        "better", [((p, "centerize"), (p, "vanilla")) for p in ("poisson", "chi2")],
        "The accuracy of Poisson and Chi-squared distributions is considerably improved after centerization"),
    "Poisson, chi2 after centerization alone are better than uniform raw": (
        "better", [((p, "centerize"), ("uniform", "vanilla")) for p in ("poisson", "chi2")],
        "even better than the vanilla uniform distribution"),
}
"""The paper's cell-by-cell observations of Table 1 (Section 5.1), in its direction: ``name ->
(want, [(cell a, cell b)], the paper's words)``, ``want`` as in :func:`statement`, a cell
``(prior, pipeline)``."""


def table1_statements(rows, rel_margin=None) -> dict:
    """The paper's observations of Table 1 (:data:`TABLE1_STATEMENTS`) on one generator's rows (the
    raw-input generator: the only one for which every column means something), each statement its
    own Holm family, paired by training seed: ``{statement: (want, comparisons)}``, ``want`` as in
    :func:`statement`; the margin is ``rel_margin`` of the second cell's FD-CNN (default
    :data:`MARGINS` ``["FD-CNN"]``)."""
    return {name: (want, gan_cells(rows, pairs, rel_margin)) for name, (want, pairs, _) in TABLE1_STATEMENTS.items()}


def closed_form(key, claim, paper, ours, holds: bool, *, rule, anchor):
    """A claim judged exactly (a closed form or an exact computation): holds or does not hold."""
    return Verdict(key, claim, paper, "holds" if holds else "does not hold", ours, rule, anchor)


def not_testable(key, claim, paper, ours, why, anchor):
    """A claim this build cannot test; ``why`` says what it would need."""
    return Verdict(key, claim, paper, "not testable here", ours, why, anchor)


# --- every row of the verdict page, as the verdict page and the intro compute them -----------------

def geometry_verdicts(w2=None):
    """Theorem 1 and Lemma 1 (closed forms) and Theorem 2 (exact W2 between sets, m = 512, the very
    calls the Wasserstein page makes at its setting ``w2``, a :class:`sphericalae.studies.W2Study`:
    two normal sets after Algorithm 1, chi-squared against normal after Algorithm 1, two
    chi-squared sets spherized only)."""
    from . import paper
    from .studies import W2Study
    from .theory import pairwise_distance_moments, volume_fraction, w2_between_priors

    w2 = W2Study() if w2 is None else w2
    shell = 1 - float(volume_fraction(paper.VOLUME_R512["annulus_width"], 512))
    mean, sd = pairwise_distance_moments(512)
    close = abs(mean - paper.LEMMA1_R512["mean"]) < 5e-5 and abs(sd - paper.LEMMA1_R512["sd"]) < 5e-5
    cases = [("normal", "normal", None), ("chi2", "normal", None), ("chi2", "chi2", "spherize")]
    lv = {c: w2_between_priors(*c[:2], 512, w2.n_main, reps=w2.reps, seed=w2.seed, pipeline=c[2]).mean()
          for c in cases}
    common = abs(lv[cases[1]] - lv[cases[0]])
    off = abs(lv[cases[2]] - lv[cases[0]])
    t2 = "holds in part" if common < 0.02 and off > 0.1 else ("holds" if common < 0.02 else "does not hold")
    return [
        closed_form("theorem1", "Theorem 1: volume concentrates in a thin shell",
                    "ℝ⁵¹²: the outer 0.9% shell holds 99% of the volume", f"{100 * shell:.2f}% (closed form)",
                    shell >= 0.99, rule="share >= 99%", anchor="volume.html#theorem-1-measured"),
        closed_form("lemma1", "Lemma 1: pairwise distances concentrate at √2", "ℝ⁵¹²: mean 1.4139, sd 0.0313",
                    f"mean {mean:.4f}, sd {sd:.4f} (closed form)", close, rule="equal to the paper's 4 decimals",
                    anchor="distance.html#lemma-1-measured"),
        Verdict("theorem2", "Theorem 2: W2 between sets converges to a common value",
                "whatever the distributions, after Algorithm 1", t2,
                f"m = 512: normal {lv[cases[0]]:.4f}, χ² vs normal {lv[cases[1]]:.4f}; spherized χ² "
                f"{lv[cases[2]]:.4f}",
                "common level within 0.02 after Algorithm 1; in part when sets that are not centred miss it "
                "by > 0.1", "wasserstein.html#theorem-2-measured")]


def digit_verdicts(study=None):
    """The training, priors and latent pages' claims, from their cached studies at ``study`` (a
    :class:`sphericalae.studies.DigitStudy`; the book's when None). Returns the rows and the
    margins verdict with Euclidean distance (the row uses cosine distance)."""
    from .experiments import prior_study, reconstruction_study, structure_study
    from .probes import code_uniformity_study, radius_study, sharpness_study
    from .studies import DigitStudy

    study = DigitStudy() if study is None else study
    from .nulls import prior_null_study

    rec = reconstruction_study(study)["scores"]
    pri = prior_study(study)["scores"]
    st = structure_study(study)["scores"]
    nulls = prior_null_study(study)["scores"]
    return ([table2(rec), ae_ablation(rec), blurriness(sharpness_study(study)["scores"]),
             prior_robustness(pri, nulls), own_prior(pri), raw_draws(pri), rae_sampler(pri),
             off_sphere(radius_study(study)["scores"]), margins(st, "cosine"),
             uniform_codes(code_uniformity_study(study)["scores"])], margins(st, "euclidean"))


def gan_verdict(study=None, low=False, rows=None):
    """Table 1 on the GAN page's raw-input generators, one per training seed: the very rows the GAN
    page scores (:func:`sphericalae.table1.table1_study` of ``study``, a
    :class:`sphericalae.studies.GanStudy`; the book's when None). ``low``: the same claim on the
    page's low-dimensional generator instead, a question the paper leaves open. ``rows``: that
    study's rows when they are at hand (a stored run, :func:`sphericalae.table1.stored_table1`)."""
    from .studies import GanStudy
    from .table1 import table1_study

    study = GanStudy() if study is None else study
    if low:
        study = study.at_low_dim()
    rows = [r for r in (table1_study(study) if rows is None else rows) if r["generator"] == "raw"]
    if not low:
        return table1_gan(rows)
    return table1_gan(rows, label=f", with z of dimension {study.latent_dim}", key="table1_low",
                      paper="not studied (the paper's z has 512 dimensions)",
                      anchor="gan_table1.html#low-dimensional")


SVAE_CLAIM = "S-VAE does not converge with 512 latent dimensions (footnote 2)"


def svae_convergence(rows, latent_dim=512):
    """Footnote 2 ("we fail to train a convergent model for the spherical VAE", d_z = 512) on digits:
    each S-VAE seed's run at ``latent_dim`` judged by :func:`sphericalae.dimension.trains` (failed:
    a non-finite loss or a held-out loss that did not fall; trained: it fell and levelled off;
    still falling: neither), counted by the book's rule (:func:`sphericalae.dimension.svae_fails`).
    ``rows``: :func:`sphericalae.dimension.training_report` rows at that dimension."""
    from .dimension import svae_fails

    outcome, count = svae_fails(rows)
    runs = [r for r in rows if r["model"] == "svae"]
    active = [r["active"] for r in runs]
    ours = (f"d = {latent_dim}, digits, MLP: {count['trained']} of {len(runs)} seeds trained and levelled off, "
            f"{count['failed']} failed, {count['still falling']} still falling after {runs[0]['epochs']} epochs; "
            f"held-out MSE {np.mean([r['MSE'] for r in runs]):.4f}; active units {min(active)}-{max(active)} of "
            f"{latent_dim}")
    return Verdict("svae512", SVAE_CLAIM, "failed to train on FFHQ (StyleGAN decoder)", outcome, ours,
                   "per seed: failed (a non-finite loss, or a held-out loss that did not fall) says it, trained "
                   "(fell, and the convergence criterion below 1% at the end) says the opposite, still falling "
                   "neither; holds: every seed failed; in part: more failed than trained; does not hold: at least "
                   "as many trained (one at least); inconclusive: none decided",
                   "dimension.html#s-vae-at-512")


def untestable_verdicts(svae_rows=None, latent_dim=512):
    """The rows this build cannot test, with what they would need; given ``svae_rows`` (the
    :func:`sphericalae.dimension.training_report` rows at ``latent_dim``), footnote 2's row is
    judged on digits instead (:func:`svae_convergence`)."""
    from .baselines import kl_scipy_float32

    if svae_rows is not None:
        svae = svae_convergence(svae_rows, latent_dim)
    else:
        k = np.logspace(-2, 4, 601)
        nan_share = float(np.mean(~np.isfinite(kl_scipy_float32(512, k))))
        svae = not_testable("svae512", SVAE_CLAIM, "failed to train on FFHQ",
                            f"the public float32 KL recipe is NaN for {100 * nan_share:.0f}% of k in [1e-2, 1e4] "
                            "at m = 512", "needs the digit study at d = 512 (the verdict page's high_dim)",
                            "svae_baseline.html#kl-two-ways")
    return [svae,
            not_testable("table2_ffhq", "Table 2 at its own scale (FFHQ, 128 px, 512 latent dimensions)", "SAE better than VAE",
                         "demonstration scale only (100 faces, faces page)",
                         "needs the full-scale run of the faces page", "faces.html#faces-full-scale")]


class Verdicts(NamedTuple):
    """What :func:`all_verdicts` returns: ``rows`` (every row of the verdict page), ``euclidean``
    (the margins row with Euclidean distance), ``high`` (``{key: Verdict}``, the digit rows at the
    paper's latent dimension ``high_dim``; empty when not computed)."""
    rows: list
    euclidean: "Verdict"
    high: dict
    high_dim: Optional[int]


_LONGEST = ("prior_study", "tsne_study", "structure_study", "radius_study", "prior_null_study")


def _cost_rank(fn) -> int:
    """The order in which :func:`all_verdicts` hands its studies to the process pool: the longest
    first (the mixtures of the priors study, the t-SNE maps, the probes), so that no core waits
    idle at the end for one long study started last."""
    return _LONGEST.index(fn.__name__) if fn.__name__ in _LONGEST else len(_LONGEST)


def _study_jobs(studies, grids) -> list:
    """``[(study function, grid)]``, every grid's study of one kind before the next kind
    (:func:`_cost_rank`, the longest first; the higher dimension first within a kind): the t-SNE
    maps of both dimensions start before any cheap study."""
    return [(fn, g) for fn in sorted(studies, key=_cost_rank)
            for g in sorted(grids, key=lambda g: -g.latent_dim)]


def all_verdicts(digits=None, gan=None, w2=None, high_dim=512):
    """Every row of the verdict page at the studies ``digits`` (:class:`sphericalae.studies.DigitStudy`),
    ``gan`` (:class:`sphericalae.studies.GanStudy`) and ``w2`` (:class:`sphericalae.studies.W2Study`),
    the book's when None; with ``high_dim`` (0 or None: not), every digit row again on the same study at
    that latent dimension, and footnote 2's S-VAE row judged there. Returns :class:`Verdicts`."""
    from .dimension import training_report
    from .experiments import DIGIT_STUDIES, compute_in_parallel, study_models
    from .nulls import prior_null_study
    from .probes import PROBE_STUDIES
    from .studies import DigitStudy, GanStudy
    from .table1 import table1_study, trained_gans

    digits, gan = digits or DigitStudy(), gan or GanStudy()
    grids = [digits] + ([digits.replace(latent_dim=high_dim)] if high_dim else [])
    gans = (gan, gan.at_low_dim())
    for g in grids:
        study_models(g, progress=False)                  # each grid of models trained in parallel,
    for g in gans:
        trained_gans(g)
    studies = (*DIGIT_STUDIES, *PROBE_STUDIES, prior_null_study, training_report)
    compute_in_parallel(_study_jobs(studies, grids)                          # then every study side by side,
                        + [(table1_study, g) for g in gans], digits.device)   # the longest first
    rows, euclidean = digit_verdicts(digits)
    high = {v.key: v for v in digit_verdicts(grids[1])[0]} if high_dim else {}
    svae_rows = training_report(grids[1])["rows"] if high_dim else None
    return Verdicts(geometry_verdicts(w2) + rows + [gan_verdict(gan), gan_verdict(gan, low=True)]
                    + untestable_verdicts(svae_rows, high_dim or 512), euclidean, high, high_dim or None)


STORED = "verdicts"
"""The name under which a full-scale run of the verdict page keeps its rows (``results/verdicts.json``,
:mod:`sphericalae.results`)."""


def store_verdicts(verdicts, setting: dict, hardware: str, path=None):
    """Write ``verdicts`` (their rows), the ``setting`` they were measured at (every parameter of
    the page), the ``hardware`` and the git commit to ``results/verdicts.json`` (or ``path``),
    atomically (:func:`sphericalae.results.store_result`)."""
    from .results import store_result

    return store_result(STORED, {"rows": {v.key: v.row() for v in verdicts}}, setting, hardware, path)


def stored_verdicts(path=None):
    """The document :func:`store_verdicts` wrote, or None when there is none. A file that cannot be
    read as one raises ValueError naming it."""
    from .results import result_path, stored_result

    doc = stored_result(STORED, ("rows",), path)
    if doc is not None and not isinstance(doc["rows"], dict):
        raise ValueError(f"{result_path(STORED, path)}: not a stored verdict table (rows is not a mapping)")
    return doc


# --- every verdict with its numbers, for download ----------------------------------------------------

RECORD_FIELDS = ("key", "claim", "setting", "verdict", "role", "metric", "a", "b", "mean_a", "mean_b", "diff", "ci_low",
                 "ci_high", "ci_level", "test", "p_adj", "p_equiv_adj", "margin", "n_a", "n_b", "outcome", "ours")
"""The fields of :func:`verdict_records`, in the order of the downloadable table's columns."""


def _number(x):
    """``x`` as a float, None when it is not finite (JSON has no NaN or infinity)."""
    x = float(x)
    return x if np.isfinite(x) else None


def verdict_records(verdicts, setting: str = "") -> list:
    """Every verdict with its numbers, one dict per comparison (fields :data:`RECORD_FIELDS`):
    the claim's ``key``, ``claim``, ``setting`` (``setting``: empty for the page's own setting, or
    e.g. "digits at d_z = 512") and ``verdict`` (its outcome), ``role`` (``"evidence"``, or
    ``"side"`` for side evidence, outside the verdict), the comparison's ``metric``, sides ``a``
    and ``b``, ``mean_a``, ``mean_b``, ``diff`` (a - b), its interval ``ci_low``, ``ci_high`` at
    ``ci_level``, ``test``, Holm-adjusted ``p_adj`` and ``p_equiv_adj`` (TOST), ``margin`` (the
    metric's units), ``n_a``, ``n_b``, ``outcome`` (the comparison's) and ``ours`` (the verdict's
    line of numbers). A verdict without comparisons (closed form, not testable here) gives one
    record whose comparison fields are None. Non-finite numbers are None."""
    out = []
    for v in verdicts:
        head = {"key": v.key, "claim": v.claim, "setting": setting, "verdict": v.outcome}
        comps = [("evidence", c) for c in v.evidence] + [("side", c) for c in v.side]
        if not comps:
            out.append({**dict.fromkeys(RECORD_FIELDS), **head, "ours": v.ours})
        for role, c in comps:
            out.append({**head, "role": role, "metric": c.metric, "a": c.a, "b": c.b,
                        "mean_a": _number(c.mean_a), "mean_b": _number(c.mean_b), "diff": _number(c.diff),
                        "ci_low": _number(c.ci[0]), "ci_high": _number(c.ci[1]), "ci_level": _number(c.ci_level),
                        "test": c.test, "p_adj": _number(c.p_adj), "p_equiv_adj": _number(c.p_equiv_adj),
                        "margin": _number(c.margin), "n_a": int(c.n_a), "n_b": int(c.n_b), "outcome": c.outcome,
                        "ours": v.ours})
    return out


def write_verdict_table(verdicts, path, also=None):
    """Write :func:`verdict_records` of ``verdicts`` (then of each ``also`` item, ``{setting:
    verdicts}``, e.g. the digit rows at d_z = 512) to ``path``, atomically (its folder made when
    missing): CSV when it ends in ``.csv`` (a header row of :data:`RECORD_FIELDS`, None as an empty
    cell, numbers at full precision), JSON when ``.json`` (a list of objects, None as null). Any
    other extension raises ValueError. Returns the path."""
    import csv
    import io
    import json
    from pathlib import Path

    from .runfiles import write_text_atomic

    path = Path(path)
    kind = path.suffix.lower()
    records = verdict_records(verdicts) + [r for label, more in (also or {}).items()
                                           for r in verdict_records(more, label)]
    if kind == ".csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RECORD_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        text = buf.getvalue()
    elif kind == ".json":
        text = json.dumps(records, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    else:
        raise ValueError(f"{path}: the verdict table is written as .csv or .json, not {kind or 'no extension'!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path
