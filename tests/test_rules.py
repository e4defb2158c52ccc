"""The statistical rules of the verdicts (sphericalae.rules): Welch's test against scipy, Holm's
correction against its definition, TOST, and the four outcomes."""
import numpy as np
import pytest
from scipy import stats

from sphericalae.rules import compare, decide, holm


def test_welch_p_value_and_interval_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 6), rng.normal(0.8, 2, 5)
    c = compare(a, b, "x")
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-10)
    lo, hi = ref.confidence_interval(0.90)                 # 1 - 2 alpha: the interval of TOST
    assert c.ci == pytest.approx((lo, hi), rel=1e-10) and c.ci_level == pytest.approx(0.90)
    assert c.diff == pytest.approx(a.mean() - b.mean())
    assert c.test == "Welch's t-test" and "Welch's t-test" in c.sentence() and "90% interval" in c.sentence()


def test_holm_is_the_step_down_of_its_definition():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    p = np.random.default_rng(2).uniform(size=8)
    adj = holm(p)
    assert all(x >= y for x, y in zip(adj, p)) and max(adj) <= 1


@pytest.mark.parametrize("shift,outcome", [(-1.0, "a better"), (1.0, "b better"), (0.0, "equivalent")])
def test_outcomes_follow_the_data(shift, outcome):
    base = np.array([10.0, 10.1, 9.9, 10.05, 9.95])
    c, = decide([compare(base + shift, base, "MSE", rel_margin=0.02)])
    assert c.outcome == outcome
    assert (c.winner is None) == (outcome == "equivalent")


def test_higher_is_better_flips_the_winner():
    c, = decide([compare([0.9, 0.91, 0.92], [0.5, 0.52, 0.51], "accuracy", lower_is_better=False)])
    assert c.outcome == "a better"


def test_too_few_or_too_noisy_is_inconclusive():
    c, = decide([compare([1.0], [2.0], "x")])
    assert c.outcome == "inconclusive" and c.p == 1.0
    c, = decide([compare([1.0, 3.0, 0.0], [1.5, -1.0, 4.0], "x", rel_margin=0.01)])
    assert c.outcome == "inconclusive"


def test_holm_can_turn_a_difference_into_inconclusive():
    """A gap at raw p just under 0.05 is a difference alone, not among three comparisons."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.normal(0, 1, 5), rng.normal(1.2, 1, 5)
        c = compare(a, b, "x", margin=1e-9)
        if 0.02 < c.p < 0.045:
            break
    alone, = decide([c])
    among = decide([c, compare([0, 1, 2], [0, 1, 2], "y", margin=1e-9), compare([0, 1, 2], [0, 1, 2.1], "z", margin=1e-9)])
    assert alone.outcome != "inconclusive" and among[0].outcome == "inconclusive"


def test_bad_groups_are_refused():
    with pytest.raises(ValueError, match="finite"):
        compare([1.0, float("nan")], [1.0, 2.0], "x")
    with pytest.raises(ValueError, match="finite"):
        compare([], [1.0, 2.0], "x")


def _rows(sae, vae):
    return [{"model": m, "seed": s, **{k: x * (1 + 0.001 * s) for k, x in zip(("MSE", "SWD", "FD-CNN"), v)}}
            for m, vals in (("sae", sae), ("vae", vae)) for s, v in enumerate([vals] * 5)]


@pytest.mark.parametrize("sae,vae,outcome", [
    ((1, 1, 1), (2, 2, 2), "holds"),
    ((1, 1, 3), (2, 2, 2), "holds in part"),
    ((3, 3, 3), (2, 2, 2), "does not hold"),
    ((2, 2, 2), (2, 2, 2), "does not hold"),
])
def test_table2_verdict_follows_its_comparisons(sae, vae, outcome):
    from sphericalae.claims import table2

    v = table2(_rows(sae, vae))
    assert v.outcome == outcome
    assert v.outcome in v.sentence() and len(v.evidence) == 3


def test_a_verdict_refuses_an_unknown_outcome():
    from sphericalae.claims import Verdict

    with pytest.raises(ValueError, match="valid: holds"):
        Verdict("k", "c", "p", "probably", "o", "r", "a")


def test_paired_comparison_is_the_t_test_of_the_differences():
    a = np.array([270.0, 310.0, 240.0, 295.0])
    b = a + np.array([1.0, -0.5, 0.7, 0.2])             # same units: a large spread between units
    c = compare(a, b, "FD-CNN", paired=True, rel_margin=0.05)
    ref = stats.ttest_rel(a, b)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert c.ci == pytest.approx(ref.confidence_interval(0.90), rel=1e-10) and c.test == "paired t-test"
    assert decide([c])[0].outcome == "equivalent"
    assert decide([compare(a, b, "FD-CNN", rel_margin=0.05)])[0].outcome == "inconclusive"   # Welch cannot tell
    with pytest.raises(ValueError, match="same length"):
        compare([1.0, 2.0], [1.0], "x", paired=True)


def test_a_statement_holds_fails_or_is_inconclusive_by_its_comparisons():
    from sphericalae.claims import statement

    rng = np.random.default_rng(3)
    base = rng.normal(100, 1, 6)
    same = decide([compare(base + rng.normal(0, 0.5, 6), base, "same", rel_margin=0.1, paired=True)])
    apart = decide([compare(base + 50 + rng.normal(0, 0.5, 6), base, "apart", rel_margin=0.1, paired=True)])
    unclear = decide([compare(rng.normal(100, 30, 3), rng.normal(100, 30, 3), "noisy", rel_margin=0.01)])
    assert same[0].outcome == "equivalent" and apart[0].winner is not None and unclear[0].outcome == "inconclusive"
    assert statement(same, "match") == "holds" and statement(apart, "match") == "does not hold"
    assert statement(apart, "differ") == "holds" and statement(same, "differ") == "does not hold"
    assert statement(same + unclear, "match") == "holds in part"          # one says it, none against
    assert statement(unclear, "match") == "inconclusive"
    assert statement(apart, "worse") == "holds"               # a (base + 50) is worse than b
    flipped = decide([compare(base, base + 50 + rng.normal(0, 0.5, 6), "flipped", rel_margin=0.1, paired=True)])
    assert statement(flipped, "differ") == "holds" and statement(flipped, "worse") == "does not hold"
    with pytest.raises(ValueError, match="want must be one of"):
        statement(same, "equal")


def test_stored_verdicts_round_trip_and_a_bad_file_is_named(tmp_path):
    from sphericalae.claims import Verdict, store_verdicts, stored_verdicts

    v = Verdict("table2", "Table 2", "SAE best", "holds in part", "MSE 0.02", "Welch + Holm", "training.html#table-2")
    path = store_verdicts([v], {"seeds": 10, "epochs": 300}, "NVIDIA H200", tmp_path / "results" / "v.json")
    doc = stored_verdicts(path)
    assert doc["rows"]["table2"]["verdict"] == "holds in part" and doc["setting"]["seeds"] == 10
    assert doc["hardware"] == "NVIDIA H200"
    assert stored_verdicts(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text('{"rows": 3}')
    with pytest.raises(ValueError, match="bad.json"):
        stored_verdicts(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text('{"rows": [], "setting": {}, "hardware": "cpu"}')
    with pytest.raises(ValueError, match="list.json.*not a mapping"):
        stored_verdicts(tmp_path / "list.json")



def test_a_difference_inside_the_margin_is_equivalent_not_a_win():
    """With many seeds a tiny gap is significant; shown inside the margin it is negligible."""
    rng = np.random.default_rng(4)
    b = 100 + rng.normal(0, 0.1, 40)
    a = b - 1.0 + rng.normal(0, 0.1, 40)                 # 1% better, clearly inside a 5% margin
    c, = decide([compare(a, b, "FD-CNN", rel_margin=0.05)])
    assert c.p_adj < c.alpha and c.p_equiv_adj < c.alpha  # both tests reject ...
    assert c.outcome == "equivalent" and c.winner is None  # ... and equivalence decides
    c, = decide([compare(a, b, "FD-CNN", rel_margin=0.005)])   # outside a 0.5% margin: a win
    assert c.outcome == "a better"


@pytest.mark.parametrize("paired", [False, True])
def test_tost_rejects_exactly_when_the_interval_lies_inside_the_margin(paired):
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(300):
        n = int(rng.integers(3, 9))
        a, b = rng.normal(rng.normal(0, 0.5), 1, n), rng.normal(0, rng.uniform(0.3, 2), n)
        c = compare(a, b, "x", margin=float(rng.uniform(0.2, 2.5)), paired=paired)
        inside = -c.margin < c.ci[0] and c.ci[1] < c.margin
        assert (c.p_equiv < c.alpha) == inside
        seen.add(inside)
    assert seen == {True, False}


@pytest.mark.parametrize("kw,match", [
    (dict(alpha=0), r"alpha must be in \(0, 0.5\)"), (dict(alpha=1.5), r"alpha must be in \(0, 0.5\)"),
    (dict(alpha=0.5), r"alpha must be in \(0, 0.5\)"), (dict(alpha=-0.05), r"alpha must be in"),
    (dict(alpha=float("nan")), "alpha must be a finite number"), (dict(alpha="0.05"), "alpha must be a finite"),
    (dict(alpha=True), "alpha must be a finite number"),
    (dict(margin=-1.0), "margin must be >= 0"), (dict(margin=float("inf")), "margin must be a finite number"),
    (dict(margin=float("nan")), "margin must be a finite number"), (dict(rel_margin=-0.1), "rel_margin must be >= 0"),
    (dict(rel_margin=float("inf")), "rel_margin must be a finite"), (dict(names=("x", "x")), "two different names"),
    (dict(names=("x",)), "two different names"),
])
def test_arguments_out_of_range_are_refused_in_one_line(kw, match):
    with pytest.raises(ValueError, match=match) as err:
        compare([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "x", **kw)
    assert "\n" not in str(err.value)


def test_a_zero_margin_is_allowed_and_never_equivalent():
    c, = decide([compare([1.0, 1.1, 0.9], [1.0, 1.05, 0.95], "x", margin=0)])
    assert c.margin == 0 and c.p_equiv == 1.0 and c.outcome == "inconclusive"


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-12, 7.5e12])
@pytest.mark.parametrize("paired", [False, True])
def test_a_common_scale_changes_no_result(scale, paired):
    a, b = np.array([1.0, 1.1, 0.9, 1.05, 0.95]), np.array([2.0, 2.2, 1.9, 2.1, 2.05])
    for margin in (None, 0.3):
        ref, = decide([compare(a, b, "x", margin=margin, paired=paired)])
        big, = decide([compare(a * scale, b * scale, "x", paired=paired,
                               margin=None if margin is None else margin * scale)])
        assert ref.outcome == big.outcome == "a better"
        assert big.p == pytest.approx(ref.p, rel=1e-9)
        assert big.p_equiv == pytest.approx(ref.p_equiv, rel=1e-9, abs=1e-300)
        assert big.diff == pytest.approx(ref.diff * scale, rel=1e-9)
        assert big.ci == pytest.approx((ref.ci[0] * scale, ref.ci[1] * scale), rel=1e-9)
        assert big.margin == pytest.approx(ref.margin * scale, rel=1e-9)
    tight = np.array([2.0, 2.01, 1.99, 2.005, 1.995])
    same, = decide([compare(tight * scale, tight[::-1] * scale, "x", paired=paired)])
    assert same.outcome == "equivalent"
