"""The statistical rules of the book's verdicts, written once (the verdict page states them).

A comparison sets two groups of numbers against each other, one number per training seed (or per
repetition): ``a`` and ``b``, and says which is better on a metric where ``lower`` (or higher) is
better.

**The test.** Two numbers from different trained models (e.g. SAE's MSE and the VAE's, each seed
its own model): Welch's t-test (unequal variances). Two numbers from one trained model or generator
(``paired=True``: ``a[i]`` and ``b[i]`` are two measurements of unit ``i``): the paired t-test,
i.e. the one-sample t-test of the differences ``a - b``. Every :class:`Comparison` names its test
(``Comparison.test``).

**Equivalence.** Two one-sided tests (TOST, Schuirmann 1987) of "the means differ by ``margin`` or
more", with the comparison's test; ``margin`` is fixed before the data are seen and stated with every
verdict (a share ``rel_margin`` of ``|mean of b|``, b the reference, unless given in the metric's
units).

**The interval.** The ``1 - 2 alpha`` interval of ``a - b`` by the comparison's test (90% at
``alpha = 0.05``): the level at which "the interval lies inside ``±margin``" is the same decision as
TOST at ``alpha`` before correction (:attr:`Comparison.ci_level` reports it).

**The decision, in this order** (:func:`decide`), with Holm's step-down correction (Holm 1979) over
the comparisons of one family (a claim), separately for the TOST p-values and the difference
p-values:

1. **equivalent** when TOST rejects at ``alpha`` after Holm. This comes first: a difference shown to
   lie inside the margin is negligible by the margin's definition, even when the difference test
   also rejects "equal means" (more seeds make every non-zero difference significant);
2. **a better** / **b better** when the two-sided test rejects "equal means" at ``alpha`` after
   Holm, by the sign of ``a - b`` and ``lower_is_better``;
3. **inconclusive**: neither.

Either test needs at least two numbers per group (two pairs when paired) with some spread; with
fewer the p-values are 1 and the outcome is inconclusive. Every number is computed on the groups
divided by their largest magnitude, so that results do not depend on a common scale of both
groups (and values near the floating-point range neither overflow nor underflow).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _st

__all__ = ["Comparison", "compare", "holm", "decide", "ALPHA", "REL_MARGIN", "TESTS", "DIFFERENCES"]

ALPHA = 0.05
"""The level of every test of the book."""
REL_MARGIN = 0.05
"""The default equivalence margin, a share of the reference group's mean (the claims pass theirs
from :data:`sphericalae.claims.MARGINS`)."""
TESTS = {False: "Welch's t-test", True: "paired t-test"}
"""The test's name by ``paired``."""
DIFFERENCES = ("a better", "b better")
"""The outcomes that say the two groups differ."""


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


def _half_width(se, df, alpha):
    """Half the width of the (1 - 2 alpha) interval of a difference with standard error ``se``."""
    if not math.isfinite(se):
        return float("inf")
    return 0.0 if se == 0 else float(_st.t.ppf(1 - alpha, df) * se)


@dataclass(frozen=True)
class Comparison:
    """The evidence of one comparison (see the module docstring). ``diff = mean_a - mean_b``;
    ``ci``: its ``ci_level`` (= 1 - 2 alpha) interval by ``test``; ``p``/``p_equiv``: raw p-values of
    the difference test and of TOST; ``p_adj``/``p_equiv_adj``: after Holm; ``margin``: the
    equivalence margin in the metric's units; ``test``: ``"Welch's t-test"`` or
    ``"paired t-test"``; ``outcome``: ``"a better"``, ``"b better"``, ``"equivalent"`` or
    ``"inconclusive"``."""
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
    test: str = TESTS[False]

    @property
    def ci_level(self) -> float:
        """The level of ``ci``: 1 - 2 alpha (0.9 at alpha = 0.05), the interval of TOST."""
        return 1 - 2 * self.alpha

    @property
    def winner(self):
        """The better group's name, None unless there is a difference."""
        return {"a better": self.a, "b better": self.b}.get(self.outcome)

    def sentence(self) -> str:
        """One line: what was found, with the interval, its level, the test and the adjusted p-values."""
        lo, hi = self.ci
        ci = (f"{self.metric} difference {self.a} - {self.b} = {_fmt(self.diff)}, "
              f"{100 * self.ci_level:.0f}% interval [{_fmt(lo)}, {_fmt(hi)}] ({self.test}, n = {self.n_a}, "
              f"{self.n_b})")
        if self.outcome in DIFFERENCES:
            return f"{self.winner} better on {self.metric}: {ci}, Holm-adjusted p = {_fmt(self.p_adj)}"
        if self.outcome == "equivalent":
            return (f"{self.a} and {self.b} equivalent on {self.metric} (margin ±{_fmt(self.margin)}): {ci}, "
                    f"Holm-adjusted TOST p = {_fmt(self.p_equiv_adj)}")
        return (f"{self.a} vs {self.b} on {self.metric} inconclusive: {ci}, Holm-adjusted p = {_fmt(self.p_adj)}, "
                f"TOST p = {_fmt(self.p_equiv_adj)} (margin ±{_fmt(self.margin)})")


def _fmt(x):
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _real(value, name):
    """``value`` as a finite float, or a one-line ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check(alpha, margin, rel_margin, names):
    alpha = _real(alpha, "alpha")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5) (the interval's level is 1 - 2 alpha), got {alpha!r}")
    for name, value in (("margin", margin), ("rel_margin", rel_margin)):
        if value is not None and _real(value, name) < 0:
            raise ValueError(f"{name} must be >= 0 (a width), got {value!r}")
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different names (never an item against itself), got {names!r}")
    return alpha


def _scale(a, b):
    """The largest magnitude of both groups (1 when all are zero, or when a value is not finite,
    which :func:`_moments` then refuses)."""
    both = np.concatenate([np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()])
    s = float(np.max(np.abs(both))) if both.size else 0.0
    return s if s > 0 and math.isfinite(s) else 1.0


def compare(a, b, metric: str, *, names=("a", "b"), lower_is_better=True, margin=None,
            rel_margin=REL_MARGIN, alpha=ALPHA, paired=False) -> Comparison:
    """One unadjusted :class:`Comparison` of groups ``a`` and ``b`` (sequences of finite numbers, one
    per seed). ``margin``: the equivalence margin in the metric's units (>= 0); default ``rel_margin``
    (>= 0) times ``|mean of b|`` (b is the reference). ``alpha`` in (0, 0.5): the tests' level; the
    interval's is 1 - 2 alpha. ``paired``: ``a[i]`` and ``b[i]`` come from the same unit (the same
    trained model or generator), so the test is the paired t-test (the one-sample t-test of the
    differences) instead of Welch's. ``names``: two different names. The result does not depend on
    a common positive scale of ``a``, ``b`` and ``margin``. Adjust a family with :func:`decide`.
    Raises a one-line ValueError for an argument out of its range."""
    alpha = _check(alpha, margin, rel_margin, names)
    s = _scale(a, b)
    sa, sb = np.asarray(a, dtype=np.float64) / s, np.asarray(b, dtype=np.float64) / s
    d, se, df = _paired(sa, sb) if paired else _welch(sa, sb)
    ma, mb = float(np.mean(sa)), float(np.mean(sb))
    m = abs(mb) * float(rel_margin) if margin is None else float(margin) / s
    half = _half_width(se, df, alpha)
    return Comparison(metric, names[0], names[1], ma * s, mb * s, d * s, ((d - half) * s, (d + half) * s),
                      _p_two_sided(d, se, df), _p_equivalent(d, se, df, m), m * s, sa.size, sb.size,
                      bool(lower_is_better), alpha, test=TESTS[bool(paired)])


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
    """The family's comparisons with Holm-adjusted p-values and their outcomes, decided in the
    module docstring's order: equivalent first, then a difference, else inconclusive."""
    comparisons = list(comparisons)
    if not comparisons:
        return []
    p_adj, q_adj = holm([c.p for c in comparisons]), holm([c.p_equiv for c in comparisons])
    out = []
    for c, p, q in zip(comparisons, p_adj, q_adj):
        if q < c.alpha:
            outcome = "equivalent"
        elif p < c.alpha:
            outcome = "a better" if (c.diff < 0) == c.lower_is_better else "b better"
        else:
            outcome = "inconclusive"
        out.append(replace(c, p_adj=p, p_equiv_adj=q, outcome=outcome))
    return out
