"""The statistical rules of the book's verdicts, written once (the verdict page states them).

A comparison sets two groups of numbers against each other, one number per training seed (or per
repetition): ``a`` and ``b``, and says which is better on a metric where ``lower`` (or higher) is
better. Three outcomes and a fourth when the data cannot decide:

* **difference**: Welch's t-test (unequal variances) rejects "equal means" at level ``alpha``
  after Holm's correction over the comparisons of one family (a page, a claim); for paired
  numbers (two measurements of the same trained model) the t-test of the differences;
* **equivalent**: two one-sided Welch tests (TOST, Schuirmann 1987) reject "the means differ by
  ``margin`` or more" at level ``alpha``, Holm-corrected the same way; ``margin`` is stated with
  every verdict (by default a share ``rel_margin`` of the reference group's mean);
* **inconclusive**: neither.

Every comparison carries its evidence: both means, the difference a - b with its Welch confidence
interval (level 1 - alpha), the raw and adjusted p-values, the margin, and n of each group.
Welch's test needs at least two numbers per group with some spread; with fewer the outcome is
inconclusive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _st

__all__ = ["Comparison", "compare", "holm", "decide"]

ALPHA = 0.05
REL_MARGIN = 0.05


def _moments(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"a group must hold finite numbers, got {x.tolist()}")
    return x.mean(), (x.var(ddof=1) if x.size > 1 else float("nan")), x.size


def _welch(a, b):
    """(difference a - b, its standard error, Welch-Satterthwaite degrees of freedom)."""
    (ma, va, na), (mb, vb, nb) = _moments(a), _moments(b)
    se2 = va / na + vb / nb
    if not (na > 1 and nb > 1) or not math.isfinite(se2):
        return ma - mb, float("nan"), float("nan")
    if se2 == 0:
        return ma - mb, 0.0, float(na + nb - 2)
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return ma - mb, math.sqrt(se2), df


def _paired(a, b):
    """(mean difference, its standard error, n - 1) of paired groups (one-sample t on a - b)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired groups must have the same length, got {a.size} and {b.size}")
    _moments(a), _moments(b)
    d = a - b
    if d.size < 2:
        return float(d.mean()), float("nan"), float("nan")
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)), float(d.size - 1)


def _p_two_sided(d, se, df):
    if not math.isfinite(se):
        return 1.0
    if se == 0:
        return 0.0 if d != 0 else 1.0
    return float(2 * _st.t.sf(abs(d) / se, df))


def _p_equivalent(d, se, df, margin):
    """TOST p-value: the larger of the two one-sided p-values against -margin and +margin."""
    if not math.isfinite(se) or margin <= 0:
        return 1.0
    if se == 0:
        return 0.0 if abs(d) < margin else 1.0
    return float(max(_st.t.sf((d + margin) / se, df), _st.t.cdf((d - margin) / se, df)))


@dataclass(frozen=True)
class Comparison:
    """The evidence of one comparison (see the module docstring). ``diff = mean_a - mean_b``;
    ``ci``: its (1 - alpha) Welch interval; ``p``/``p_equiv``: raw p-values of the difference test
    and of TOST; ``p_adj``/``p_equiv_adj``: after Holm; ``outcome``: ``"a better"``,
    ``"b better"``, ``"equivalent"`` or ``"inconclusive"``."""
    metric: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    diff: float
    ci: tuple
    p: float
    p_equiv: float
    margin: float
    n_a: int
    n_b: int
    lower_is_better: bool = True
    alpha: float = ALPHA
    p_adj: float = float("nan")
    p_equiv_adj: float = float("nan")
    outcome: str = "inconclusive"

    @property
    def winner(self):
        """The better group's name, None unless there is a difference."""
        return {"a better": self.a, "b better": self.b}.get(self.outcome)

    def sentence(self) -> str:
        """One line: what was found, with the interval and the adjusted p-value."""
        lo, hi = self.ci
        ci = f"{self.metric} difference {self.a} - {self.b} = {_fmt(self.diff)} [{_fmt(lo)}, {_fmt(hi)}]"
        if self.outcome in ("a better", "b better"):
            return f"{self.winner} better on {self.metric}: {ci}, Holm-adjusted p = {_fmt(self.p_adj)}"
        if self.outcome == "equivalent":
            return (f"{self.a} and {self.b} equivalent on {self.metric} (margin ±{_fmt(self.margin)}): {ci}, "
                    f"TOST p = {_fmt(self.p_equiv_adj)}")
        return (f"{self.a} vs {self.b} on {self.metric} inconclusive: {ci}, p = {_fmt(self.p_adj)}, "
                f"TOST p = {_fmt(self.p_equiv_adj)} (margin ±{_fmt(self.margin)})")


def _fmt(x):
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def compare(a, b, metric: str, *, names=("a", "b"), lower_is_better=True, margin=None,
            rel_margin=REL_MARGIN, alpha=ALPHA, paired=False) -> Comparison:
    """One unadjusted :class:`Comparison` of groups ``a`` and ``b`` (sequences of numbers, one per
    seed). ``margin``: the equivalence margin in the metric's units; default ``rel_margin`` times
    ``|mean of b|`` (b is the reference). ``paired``: ``a[i]`` and ``b[i]`` come from the same unit
    (the same trained model or generator), so the test is the one-sample t-test of the differences
    instead of Welch's. Adjust a family with :func:`decide`."""
    d, se, df = _paired(a, b) if paired else _welch(a, b)
    ma, mb = float(np.mean(a)), float(np.mean(b))
    margin = abs(mb) * rel_margin if margin is None else float(margin)
    half = float(_st.t.ppf(1 - alpha / 2, df) * se) if math.isfinite(se) and se > 0 else (
        0.0 if se == 0 else float("inf"))
    return Comparison(metric, names[0], names[1], ma, mb, d, (d - half, d + half), _p_two_sided(d, se, df),
                      _p_equivalent(d, se, df, margin), margin, len(np.ravel(a)), len(np.ravel(b)),
                      lower_is_better, alpha)


def holm(pvalues) -> list:
    """Holm's step-down adjusted p-values (Holm 1979), in the given order."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    adj = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def decide(comparisons) -> list:
    """The family's comparisons with Holm-adjusted p-values and their outcomes (module docstring)."""
    comparisons = list(comparisons)
    if not comparisons:
        return []
    p_adj, q_adj = holm([c.p for c in comparisons]), holm([c.p_equiv for c in comparisons])
    out = []
    for c, p, q in zip(comparisons, p_adj, q_adj):
        if p < c.alpha:
            lower = c.diff < 0
            outcome = "a better" if lower == c.lower_is_better else "b better"
        elif q < c.alpha:
            outcome = "equivalent"
        else:
            outcome = "inconclusive"
        out.append(replace(c, p_adj=p, p_equiv_adj=q, outcome=outcome))
    return out
