"""Every claim's rule on synthetic evidence (sphericalae.claims): a clear win, a clear loss,
equivalence and noise reach each outcome the rule has; each test first checks that its evidence is
what it says (the comparisons' outcomes), then the verdict read from them."""
import numpy as np
import pytest

from sphericalae import claims, paper
from sphericalae.rules import compare, decide
from sphericalae.claims import (MARGINS, TABLE1_STATEMENTS, ae_ablation, margins, prior_robustness, rae_sampler,
                                raw_draws, statement, table1_gan, table1_statements, table2)

N = 5
NOISE = np.array([0.6, -0.6, 0.3, -0.3, 0.0])      # mean 0, sd 0.47: a relative spread no test can read
TIGHT = np.array([0.002, -0.002, 0.001, -0.001, 0.0])


def _pair(level, effect, higher_better=False):
    """Values of (a, b) over N seeds around ``level`` for ``effect``: ``win`` (a clearly better),
    ``loss`` (a clearly worse), ``equal`` (within a tenth of a 5% margin) or ``noise`` (equal means,
    a spread of about half the level)."""
    good, bad = (1.5, 1.0) if higher_better else (0.5, 1.0)
    b = level * (1 + TIGHT)
    if effect == "win":
        return level * good * (1 + TIGHT[::-1]), b
    if effect == "loss":
        return level * bad * (1 + TIGHT[::-1]), level * good * (1 + TIGHT)
    if effect == "equal":
        return level * (1 + TIGHT[::-1]), b
    if effect == "noise":
        return level * (1 + NOISE), level * (1 - NOISE[[1, 2, 3, 4, 0]])
    raise AssertionError(effect)


EXPECTED = {"win": "a better", "loss": "b better", "equal": "equivalent", "noise": "inconclusive"}


def _outcomes(v):
    return [c.outcome for c in v.evidence]


# --- Table 2 and the AE ablation: SAE against one model on three metrics -----------------------------

def _reconstruction_rows(other, effects):
    rows = []
    levels = {"MSE": 0.02, "SWD": 40.0, "FD-CNN": 30.0}
    per_model = {"sae": {}, other: {}}
    for metric, effect in zip(claims.TABLE2_METRICS, effects):
        per_model["sae"][metric], per_model[other][metric] = _pair(levels[metric], effect)
    for model, values in per_model.items():
        rows += [{"model": model, "seed": s, **{m: float(values[m][s]) for m in values}} for s in range(N)]
    return rows


CASES3 = [(("win", "win", "win"), "holds"),
          (("win", "win", "noise"), "holds in part"),
          (("win", "win", "loss"), "holds in part"),            # more wins than losses
          (("win", "loss", "noise"), "does not hold"),          # a tie is not partial support
          (("win", "equal", "equal"), "does not hold"),         # equivalence says "not better"
          (("loss", "loss", "loss"), "does not hold"),
          (("equal", "equal", "equal"), "does not hold"),
          (("loss", "noise", "noise"), "does not hold"),
          (("noise", "noise", "noise"), "inconclusive")]


@pytest.mark.parametrize("claim,other", [(table2, "vae"), (ae_ablation, "ae")])
@pytest.mark.parametrize("effects,outcome", CASES3)
def test_reconstruction_rows_reach_every_outcome(claim, other, effects, outcome):
    v = claim(_reconstruction_rows(other, effects))
    assert _outcomes(v) == [EXPECTED[e] for e in effects]
    assert v.outcome == outcome
    assert all(c.test == "Welch's t-test" and c.ci_level == pytest.approx(0.9) for c in v.evidence)
    assert v.margins == claims.TABLE2_METRICS


def test_a_loss_is_reported_as_a_loss():
    v = table2(_reconstruction_rows("vae", ("win", "loss", "noise")))
    assert "(sae better)" in v.ours and "(vae better)" in v.ours and "(inconclusive)" in v.ours


def test_table2_says_what_was_measured():
    v = table2(_reconstruction_rows("vae", ("win",) * 3))
    assert v.claim.startswith("Table 2's direction, on digits")


# --- sampling from any prior: SAE's FD-CNN spread over the four priors against the VAE's and S-VAE's ---

def _prior_rows(spread_a1, spread_raw=None, level=300.0):
    """``spread_a1[model]``: that model's spread per seed through Algorithm 1 (raw: ``spread_raw``,
    default the same)."""
    spread_raw = spread_a1 if spread_raw is None else spread_raw
    offsets = np.array([0.0, 0.3, 0.6, 1.0])                # max - min = the spread
    rows = []
    for model in spread_a1:
        for pipe, spreads in (("centerize+spherize", spread_a1[model]), ("vanilla", spread_raw[model])):
            for s in range(N):
                rows += [{"model": model, "seed": s, "cell": f"{p} / {pipe}", "FD-CNN": level + spreads[s] * o}
                         for p, o in zip(paper.PRIORS, offsets)]
    return rows


def _spreads(effect_vae, effect_svae):
    """SAE's spreads and the comparators' by effect (SAE's group is shared by both comparisons)."""
    tight50 = 50 * (1 + TIGHT)
    sae = tight50
    out = {"sae": sae}
    for model, effect in (("vae", effect_vae), ("svae", effect_svae)):
        out[model] = {"win": 150 * (1 + TIGHT[::-1]), "loss": 10 * (1 + TIGHT[::-1]),
                      "equal": 50 * (1 + TIGHT[::-1]), "noise": 50 * (1 + NOISE)}[effect]
    return out


@pytest.mark.parametrize("effects,outcome", [
    (("win", "win"), "holds"), (("win", "noise"), "holds in part"), (("noise", "win"), "holds in part"),
    (("win", "loss"), "does not hold"), (("loss", "loss"), "does not hold"), (("equal", "equal"), "does not hold"),
    (("noise", "noise"), "inconclusive")])
def test_prior_robustness_reaches_every_outcome(effects, outcome):
    v = prior_robustness(_prior_rows(_spreads(*effects)))
    assert [c.b for c in v.evidence] == ["vae", "svae"]
    assert _outcomes(v) == [EXPECTED[e] for e in effects]
    assert v.outcome == outcome


def test_prior_robustness_can_fail_whatever_the_raw_setting():
    """The VAE more robust like for like, though SAE's spread through Algorithm 1 is far below the
    VAE's raw one: the old 'paper's setting' branch read 'holds in part' here."""
    a1 = _spreads("loss", "loss")
    raw = {"sae": a1["sae"], "vae": 900 * (1 + TIGHT), "svae": 900 * (1 + TIGHT)}
    v = prior_robustness(_prior_rows(a1, raw))
    assert v.outcome == "does not hold"
    assert [c.outcome for c in v.side] == ["a better", "a better", "a better"]   # outside the verdict
    assert "Outside the verdict" in v.sentence()


def test_prior_robustness_margin_is_a_share_of_the_comparators_level():
    v = prior_robustness(_prior_rows(_spreads("win", "equal"), level=400.0))
    vae = v.evidence[0]
    level = 400 + 150 * np.mean([0.0, 0.3, 0.6, 1.0])
    assert vae.margin == pytest.approx(MARGINS["FD-CNN spread"].size * level, rel=1e-3)
    assert v.margins == ("FD-CNN spread",)


def test_prior_robustness_names_a_missing_comparator():
    rows = [r for r in _prior_rows(_spreads("win", "win")) if r["model"] != "svae"]
    with pytest.raises(ValueError, match="no prior cells of model 'svae'"):
        prior_robustness(rows)


def _null_rows(null_spread, level=300.0):
    """``null_spread[model]``: that model's spread over four normal draw sets per seed, both pipelines."""
    offsets = np.array([0.0, 0.3, 0.6, 1.0])
    return [{"model": m, "seed": s, "set": j, "pipeline": pipe, "FD-CNN": level + sp[s] * o}
            for m, sp in null_spread.items() for pipe in ("centerize+spherize", "vanilla")
            for s in range(N) for j, o in enumerate(offsets)]


def test_nulls_are_side_evidence_read_against_each_models_floor():
    """A prior spread at its noise floor reads 'equivalent', one far above it 'a worse'; the noise
    floor never changes the verdict (a family of its own)."""
    a1 = _spreads("win", "win")                              # SAE's spread the smaller
    floor = {"sae": a1["sae"] * (1 + TIGHT) + 1e-3, "vae": 0.2 * a1["vae"], "svae": 0.2 * a1["svae"]}
    with_floor = prior_robustness(_prior_rows(a1), _null_rows(floor))
    without = prior_robustness(_prior_rows(a1))
    assert with_floor.outcome == without.outcome == "holds"
    nulls = with_floor.side[-3:]
    assert [c.a for c in nulls] == ["sae over four priors", "vae over four priors", "svae over four priors"]
    assert [c.test for c in nulls] == ["paired t-test"] * 3
    assert [c.outcome for c in nulls] == ["equivalent", "b better", "b better"]
    assert len(without.side) == 3 and len(with_floor.side) == 6


def test_null_spreads_name_a_missing_model():
    from sphericalae.nulls import null_spreads

    rows = _null_rows({"sae": np.full(N, 10.0)})
    assert null_spreads(rows, "sae", "vanilla") == pytest.approx(np.full(N, 10.0))
    with pytest.raises(ValueError, match="no null rows of model 'vae'"):
        null_spreads(rows, "vae", "vanilla")


# --- raw draws and the RAE sampler ----------------------------------------------------------------

@pytest.mark.parametrize("effect,outcome", [("win", "holds"), ("loss", "does not hold"),
                                            ("equal", "does not hold"), ("noise", "inconclusive")])
def test_raw_draws_reaches_every_outcome(effect, outcome):
    raw, a1 = _pair(300.0, effect)
    rows = [{"model": "sae", "seed": s, "cell": cell, "FD-CNN": float(v[s])}
            for cell, v in (("normal / vanilla", raw), ("normal / centerize+spherize", a1)) for s in range(N)]
    v = raw_draws(rows)
    assert _outcomes(v) == [EXPECTED[effect]] and v.evidence[0].test == "paired t-test"
    assert v.outcome == outcome


@pytest.mark.parametrize("effects,outcome", [
    (("win", "win"), "holds"), (("win", "noise"), "holds in part"), (("win", "loss"), "does not hold"),
    (("equal", "noise"), "does not hold"), (("noise", "noise"), "inconclusive")])
def test_rae_sampler_reaches_every_outcome(effects, outcome):
    ae = 300 * (1 + TIGHT)                                   # one AE + mixture group faces both
    against = {"win": 600 * (1 + TIGHT[::-1]), "loss": 150 * (1 + TIGHT[::-1]), "equal": 300 * (1 + TIGHT[::-1]),
               "noise": 300 * (1 + NOISE)}
    groups = {"ae+gmm": ae, "sae": against[effects[0]], "vae": against[effects[1]]}
    rows = [{"model": m, "seed": s, "cell": "own prior", "FD-CNN": float(v[s])} for m, v in groups.items()
            for s in range(N)]
    v = rae_sampler(rows)
    assert _outcomes(v) == [EXPECTED[e] for e in effects]
    assert v.outcome == outcome


# --- class margins: the silhouette against the VAE and S-VAE ---------------------------------------

def _structure_rows(effect_vae, effect_svae, ae="loss", metric="cosine", knn=0.9):
    sae = 0.3 * (1 + TIGHT)
    groups = {"sae": sae}
    for model, effect in (("vae", effect_vae), ("svae", effect_svae), ("ae", ae)):
        groups[model] = {"win": 0.1 * (1 + TIGHT[::-1]), "loss": 0.6 * (1 + TIGHT[::-1]),
                         "equal": 0.3 * (1 + TIGHT[::-1]), "noise": 0.3 * (1 + NOISE)}[effect]
    rows = []
    for m in ("cosine", "euclidean"):
        for model, values in groups.items():
            values = values if m == metric else 0.3 * (1 + TIGHT[::-1] if model == "sae" else 1 + TIGHT)
            rows += [{"model": model, "seed": s, "space": "codes", "run": 0, "metric": m,
                      "silhouette": float(values[s]), "knn": knn if model == "sae" else 0.5, "probe": 0.8}
                     for s in range(N)]
    return rows


@pytest.mark.parametrize("effects,outcome", [
    (("win", "win"), "holds"), (("noise", "win"), "holds in part"), (("win", "loss"), "does not hold"),
    (("equal", "equal"), "does not hold"), (("noise", "noise"), "inconclusive")])
def test_margins_reaches_every_outcome(effects, outcome):
    v = margins(_structure_rows(*effects))
    assert [c.b for c in v.evidence] == ["vae", "svae"] and all(c.metric == "silhouette (cosine)" for c in v.evidence)
    assert _outcomes(v) == [EXPECTED[e] for e in effects]
    assert v.outcome == outcome
    assert [c.b for c in v.side] == ["ae"] and v.side[0].outcome == "b better"   # the AE: outside the verdict


def test_margins_reads_one_distance_and_only_the_silhouette():
    rows = _structure_rows("win", "win", metric="euclidean")
    assert margins(rows).outcome == "does not hold"           # cosine rows: all equal, so equivalent
    assert margins(rows, "euclidean").outcome == "holds"
    assert claims.MARGIN_DISTANCE == "cosine"
    low_knn = margins(_structure_rows("win", "win", knn=0.1))
    assert low_knn.outcome == "holds"                         # k-NN is not a margin: no say in the verdict
    assert margins(_structure_rows("win", "win")).evidence[0].margin == MARGINS["silhouette"].size


def test_margins_cites_figure_14_only():
    v = margins(_structure_rows("win", "win"))
    assert "Fig. 14" in v.claim and "13" not in v.claim


# --- Table 1 on a GAN: every other prior after both steps against normal fed raw ------------------

def _table1_rows(fid, noise=None, seeds=N):
    """Table 1 rows of one generator: cell ``(prior, pipeline)`` at ``fid[prior][pipeline]`` times a
    generator level per seed (0.9 to 1.1) times ``1 + TIGHT`` (``noise[(prior, pipeline)]``: a relative
    spread instead)."""
    noise = noise or {}
    rows = []
    for s in range(seeds):
        g = 0.9 + 0.05 * s
        for prior, cells in fid.items():
            for pipe, value in cells.items():
                jitter = noise.get((prior, pipe), TIGHT)[s]
                for rep in range(2):
                    rows.append({"prior": prior, "pipeline": pipe, "rep": rep, "seed": s,
                                 "fd_cnn": 10 * value * g * (1 + jitter), "generator": "raw"})
        rows.append({"prior": "real (floor)", "pipeline": "-", "rep": 0, "seed": s, "fd_cnn": 1.0, "generator": "raw"})
    return rows


def _with(cells):
    """The paper's Table 1 with ``cells`` ((prior, pipeline) -> FID) replaced."""
    fid = {p: dict(v) for p, v in paper.TABLE1_FID.items()}
    for (p, q), value in cells.items():
        fid[p][q] = value
    return fid


BOTH = "centerize+spherize"


@pytest.mark.parametrize("changes,noisy,outcome", [
    ({}, (), "holds"),                                                               # the paper's own table
    ({}, ("chi2",), "holds in part"),
    ({("uniform", BOTH): 12.0, ("poisson", BOTH): 12.0, ("chi2", BOTH): 12.0}, (), "does not hold"),
    ({("poisson", BOTH): 12.0}, ("chi2",), "does not hold"),                          # 1 equal, 1 apart: a tie
    ({}, ("uniform", "poisson", "chi2"), "inconclusive"),
])
def test_table1_gan_reaches_every_outcome(changes, noisy, outcome):
    noise = {(p, BOTH): NOISE for p in noisy}
    v = table1_gan(_table1_rows(_with(changes), noise))
    assert [c.a for c in v.evidence] == [f"{p} {BOTH}" for p in ("uniform", "poisson", "chi2")]   # never normal
    assert all(c.test == "paired t-test" for c in v.evidence)
    assert v.outcome == outcome


def test_table1_gan_never_counts_normal_against_itself():
    """At d = 8 the review found only normal-vs-normal equivalent and read 'holds in part'."""
    v = table1_gan(_table1_rows(_with({}), {(p, BOTH): NOISE for p in ("uniform", "poisson", "chi2")}))
    assert all(not c.a.startswith("normal") for c in v.evidence) and v.outcome == "inconclusive"
    with pytest.raises(ValueError, match="no prior besides normal"):
        table1_gan([r for r in _table1_rows(_with({})) if r["prior"] in ("normal", "real (floor)")])


# --- Table 1's statements, in the paper's direction ------------------------------------------------

def test_the_papers_own_table_satisfies_every_statement_as_written():
    """Fed the paper's Table 1 (with seed-to-seed jitter), every statement holds: they say what the
    paper says (Poisson and chi-squared after centerization alone: better than raw and than raw
    uniform, not "as good as normal")."""
    words = {name: statement(comps, want) for name, (want, comps) in table1_statements(_table1_rows(_with({}))).items()}
    assert words == {name: "holds" for name in TABLE1_STATEMENTS}
    assert list(TABLE1_STATEMENTS)[0] == "uniform after spherization alone matches normal"


def test_statements_reach_every_outcome():
    flat = {p: {q: 6.2 for q in paper.TABLE1_FID[p]} for p in paper.TABLE1_FID}     # every cell like normal
    words = {name: statement(comps, want) for name, (want, comps) in table1_statements(_table1_rows(flat)).items()}
    assert words["uniform after spherization alone matches normal"] == "holds"
    assert words["uniform, Poisson and chi2 raw are worse than normal"] == "does not hold"      # equivalent
    assert words["Poisson, chi2 are considerably improved by centerization alone"] == "does not hold"
    cells = [(p, q) for p in paper.TABLE1_FID for q in paper.TABLE1_FID[p]]
    noise = {cell: NOISE if cell == ("normal", "vanilla") else np.roll(NOISE, 1 + i % 4)   # never normal's jitter
             for i, cell in enumerate(cells)}
    noisy = {name: statement(comps, want) for name, (want, comps) in
             table1_statements(_table1_rows(_with({}), noise)).items()}
    assert noisy["uniform after spherization alone matches normal"] == "inconclusive"
    half = {("chi2", "centerize"): NOISE, ("chi2", "vanilla"): NOISE[[1, 2, 3, 4, 0]]}
    part = table1_statements(_table1_rows(_with({("chi2", "centerize"): 25.26}), half))
    want, comps = part["Poisson, chi2 are considerably improved by centerization alone"]
    assert [c.outcome for c in comps] == ["a better", "inconclusive"]
    assert statement(comps, want) == "holds in part"


def test_statements_point_the_papers_way_on_its_numbers():
    """Each statement read off the paper's FIDs directly: 'worse' where its FID is above the other
    cell's by more than the margin, 'better' below, 'match' within it."""
    fid, m = paper.TABLE1_FID, MARGINS["FD-CNN"].size
    for name, (want, pairs, words) in TABLE1_STATEMENTS.items():
        assert words and all(a != b for a, b in pairs)
        for (p, q), (p2, q2) in pairs:
            gap = (fid[p][q] - fid[p2][q2]) / fid[p2][q2]
            assert {"worse": gap > m, "better": gap < -m, "match": abs(gap) < m}[want], name


def test_statement_refuses_no_comparisons():
    with pytest.raises(ValueError, match="at least one comparison"):
        statement([], "match")


# --- margins and words ------------------------------------------------------------------------------

def test_margins_sit_where_their_reasons_say():
    win, negligible, considerable = claims._paper_gaps()
    assert win == pytest.approx((77.68 - 56.58) / 77.68) and negligible == pytest.approx(0.08 / 6.20)
    assert considerable == pytest.approx((23.70 - 18.15) / 23.70)
    for metric in ("MSE", "SWD"):
        assert MARGINS[metric].size < win / 5                 # "under a fifth of the smallest win"
    assert negligible < MARGINS["FD-CNN"].size < min(considerable, win)
    assert MARGINS["silhouette"].size == pytest.approx(0.20 / 10) and MARGINS["silhouette"].of is None
    rows = claims.margin_table()
    assert [r["metric"] for r in rows] == list(MARGINS) and all(r["why"] and r["margin"] for r in rows)
    assert rows[0]["margin"] == "5% of the comparator's mean"


def test_rules_text_names_both_tests_and_the_interval_level():
    assert "Welch's t-test" in claims.RULES and "paired t-test" in claims.RULES
    assert "90%" in claims.RULES and "95%" not in claims.RULES and "decided first" in claims.RULES


def test_a_verdict_row_shows_test_interval_margin_and_n():
    row = table2(_reconstruction_rows("vae", ("win",) * 3)).row()
    assert row["test"] == "Welch's t-test, Holm over 3" and row["interval"] == "90%" and row["n"] == "5"
    assert row["margin"].startswith("MSE: 5% of the comparator's mean")
    with pytest.raises(ValueError, match="unknown margin"):
        claims.Verdict("k", "c", "p", "holds", "o", "r", "a", margins=("speed",))


# --- every verdict with its numbers, for download -------------------------------------------------

def _download_verdicts():
    rec = table2(_reconstruction_rows("vae", ("win", "loss", "equal")))
    pri = prior_robustness(_prior_rows(_spreads("win", "noise")))          # 2 comparisons + 3 side
    lonely = claims.Verdict("lonely", "one seed", "p", "inconclusive", "x", "r", "a",
                            tuple(decide([compare([1.0], [2.0], "MSE", names=("sae", "vae"))])))
    closed = claims.closed_form("lemma1", "Lemma 1: distances concentrate at √2", "p", "mean 1.4139", True,
                                rule="r", anchor="distance.html#lemma-1")
    return [rec, pri, lonely, closed]


def test_verdict_records_hold_every_comparison_with_its_numbers():
    rec, pri, lonely, closed = verdicts = _download_verdicts()
    records = claims.verdict_records(verdicts)
    assert len(records) == 3 + (2 + 3) + 1 + 1
    assert all(tuple(r) == claims.RECORD_FIELDS for r in records)
    first, c = records[0], rec.evidence[0]
    assert (first["key"], first["verdict"], first["role"], first["metric"], first["a"], first["b"]) == \
        ("table2", rec.outcome, "evidence", "MSE", "sae", "vae")
    assert (first["diff"], first["ci_low"], first["ci_high"], first["p_adj"], first["margin"]) == \
        (c.diff, c.ci[0], c.ci[1], c.p_adj, c.margin)
    assert first["ci_level"] == pytest.approx(0.9) and first["n_a"] == 5 and first["outcome"] == "a better"
    assert [r["role"] for r in records if r["key"] == "priors"] == ["evidence"] * 2 + ["side"] * 3
    one = [r for r in records if r["key"] == "lonely"][0]
    assert one["ci_low"] is None and one["ci_high"] is None and one["mean_a"] == 1.0      # infinite: None
    last = records[-1]
    assert last["key"] == "lemma1" and last["verdict"] == "holds" and last["ours"] == "mean 1.4139"
    assert last["metric"] is None and last["diff"] is None


def test_write_verdict_table_as_csv_and_json(tmp_path):
    import csv
    import json

    verdicts = _download_verdicts()
    records = claims.verdict_records(verdicts)
    out = claims.write_verdict_table(verdicts, tmp_path / "new" / "verdicts.csv")
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records) and tuple(rows[0]) == claims.RECORD_FIELDS
    assert float(rows[0]["diff"]) == records[0]["diff"] and rows[-1]["claim"].endswith("√2")
    assert rows[-1]["diff"] == ""
    back = json.loads(claims.write_verdict_table(verdicts, tmp_path / "verdicts.json").read_text(encoding="utf-8"))
    assert back == records
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "verdicts.json"]      # no temporary file left
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        claims.write_verdict_table(verdicts, tmp_path / "verdicts.txt")
    assert not (tmp_path / "verdicts.txt").exists()


def test_theorem_2_row_quotes_the_wasserstein_pages_own_calls():
    """One number everywhere: the verdict's Theorem 2 levels are the Wasserstein page's calls
    (w2_between_priors(q, other or q, m, n_main, reps=reps, seed=seed, pipeline=...)) at m = 512."""
    from sphericalae.claims import geometry_verdicts
    from sphericalae.studies import W2Study
    from sphericalae.theory import w2_between_priors

    w2 = W2Study(n_main=20, reps=2, seed=3)
    row = {v.key: v for v in geometry_verdicts(w2)}["theorem2"]
    page = {"normal": w2_between_priors("normal", "normal", 512, 20, reps=2, seed=3, pipeline=None).mean(),
            "chi2 vs normal": w2_between_priors("chi2", "normal", 512, 20, reps=2, seed=3, pipeline=None).mean(),
            "spherized chi2": w2_between_priors("chi2", "chi2", 512, 20, reps=2, seed=3, pipeline="spherize").mean()}
    assert row.ours == (f"m = 512: normal {page['normal']:.4f}, χ² vs normal {page['chi2 vs normal']:.4f}; "
                        f"spherized χ² {page['spherized chi2']:.4f}")
    assert row.anchor == "wasserstein.html#theorem-2-measured"


# --- the abstract's superiority: each model from its own prior ------------------------------------

@pytest.mark.parametrize("effects,outcome", [
    (("win", "win"), "holds"), (("win", "noise"), "holds in part"), (("win", "loss"), "does not hold"),
    (("equal", "noise"), "does not hold"), (("noise", "noise"), "inconclusive")])
def test_own_prior_reaches_every_outcome(effects, outcome):
    sae = 300 * (1 + TIGHT)                                  # one SAE group faces both
    against = {"win": 600 * (1 + TIGHT[::-1]), "loss": 150 * (1 + TIGHT[::-1]), "equal": 300 * (1 + TIGHT[::-1]),
               "noise": 300 * (1 + NOISE)}
    groups = {"sae": sae, "vae": against[effects[0]], "svae": against[effects[1]]}
    rows = [{"model": m, "seed": s, "cell": cell, "FD-CNN": float(v[s] if cell == "own prior" else 1.0)}
            for m, v in groups.items() for s in range(N) for cell in ("own prior", "normal / vanilla")]
    v = claims.own_prior(rows)
    assert [(c.a, c.b) for c in v.evidence] == [("sae", "vae"), ("sae", "svae")]
    assert _outcomes(v) == [EXPECTED[e] for e in effects]
    assert all(c.test == "Welch's t-test" for c in v.evidence)
    assert v.outcome == outcome and v.margins == ("FD-CNN",)


# --- Section 3.2: codes off the sphere ------------------------------------------------------------

def _radius_rows(effects, level=400.0):
    """SAE's radius rows: per comparison (FD-CNN at 0.9, 1.1, then binarised at 0.9, 1.1) the values
    at that radius for ``effect`` against a shared group at radius 1 (lower is better)."""
    at = {"win": 0.5, "loss": 1.5, "equal": 1.0}
    rows = []
    for i, metric in enumerate(claims.OFF_SPHERE_METRICS):
        for r, effect in [(1.0, None)] + list(zip(claims.NEAR_SPHERE, effects[2 * i:2 * i + 2])):
            v = (level * (1 + TIGHT) if effect is None else level * (1 + NOISE) if effect == "noise"
                 else level * at[effect] * (1 + TIGHT[::-1]))
            for s in range(N):
                rows.append({"model": "sae", "seed": s, "cell": "Alg. 1", "radius": r, "metric": metric,
                             "value": float(v[s])})
    merged = {}
    for r in rows:
        merged.setdefault((r["seed"], r["radius"]), {"model": "sae", "seed": r["seed"], "cell": "Alg. 1",
                                                     "radius": r["radius"]})[r["metric"]] = r["value"]
    raw = [{"model": "sae", "seed": s, "cell": "raw", "radius": 3.0, **dict.fromkeys(claims.OFF_SPHERE_METRICS, 1.0)}
           for s in range(N)]
    return list(merged.values()) + raw


@pytest.mark.parametrize("effects,outcome", [
    (("equal",) * 4, "holds"), (("win",) * 4, "holds"), (("win", "equal", "equal", "win"), "holds"),
    (("loss", "equal", "equal", "equal"), "holds in part"), (("loss", "equal", "equal", "noise"), "holds in part"),
    (("loss", "loss", "equal", "equal"), "does not hold"), (("loss", "noise", "noise", "noise"), "does not hold"),
    (("noise",) * 4, "inconclusive")])
def test_off_sphere_reaches_every_outcome(effects, outcome):
    v = claims.off_sphere(_radius_rows(effects))
    assert _outcomes(v) == [EXPECTED[e] for e in effects]
    assert [c.metric for c in v.evidence] == ["FD-CNN", "FD-CNN", "binarised FD-CNN", "binarised FD-CNN"]
    assert [c.a for c in v.evidence[:2]] == ["radius 0.9×", "radius 1.1×"] and v.evidence[0].b == "radius 1×"
    assert all(c.test == "paired t-test" for c in v.evidence)
    assert v.outcome == outcome and v.margins == claims.OFF_SPHERE_METRICS


def test_no_worse_counts_equivalence_and_a_win_for_the_claim():
    comps = [c for e in ("equal", "win", "loss") for c in claims.off_sphere(_radius_rows((e,) * 4)).evidence[:1]]
    assert [c.outcome for c in comps] == ["equivalent", "a better", "b better"]
    assert statement(comps[:2], "no worse") == "holds"
    assert statement(comps, "no worse") == "holds in part"
    assert statement(comps[1:], "no worse") == "does not hold"


# --- Section 5.2: blurriness ----------------------------------------------------------------------

@pytest.mark.parametrize("effect,outcome", [("win", "holds"), ("loss", "does not hold"),
                                            ("equal", "does not hold"), ("noise", "inconclusive")])
def test_blurriness_reaches_every_outcome(effect, outcome):
    sae, vae = _pair(0.8, effect, higher_better=True)
    groups = {"sae": sae, "vae": vae, "ae": 0.9 * (1 + TIGHT)}
    rows = [{"model": m, "seed": s, "sharpness": float(v[s])} for m, v in groups.items() for s in range(N)]
    v = claims.blurriness(rows)
    assert _outcomes(v) == [EXPECTED[effect]] and not v.evidence[0].lower_is_better
    assert v.outcome == outcome and v.margins == ("sharpness",)
    assert [c.b for c in v.side] == ["ae"]                   # the plain AE: outside the verdict


# --- Fig. 13: globally uniform codes --------------------------------------------------------------

def _uniformity_rows(effects, vae=2.0):
    """Codes statistics of SAE against its uniform sets: ``equal``, ``differ`` (SAE's twice the
    uniform's) or ``noise`` per statistic."""
    levels = {"mean resultant length": 0.3, "top eigenvalue × p": 1.3}
    rows = []
    for model in ("sae", "uniform", "vae"):
        values = {}
        for (m, level), effect in zip(levels.items(), effects):
            values[m] = {"sae": {"equal": level * (1 + TIGHT[::-1]), "differ": 2 * level * (1 + TIGHT[::-1]),
                                 "noise": level * (1 + NOISE)}[effect],
                         "uniform": level * (1 + TIGHT), "vae": vae * level * (1 + TIGHT)}[model]
        rows += [{"model": model, "seed": s, "p": 9, **({"beside": "sae"} if model == "uniform" else {}),
                  **{m: float(v[s]) for m, v in values.items()}} for s in range(N)]
    return rows


@pytest.mark.parametrize("effects,outcome", [
    (("equal", "equal"), "holds"), (("equal", "noise"), "holds in part"), (("equal", "differ"), "does not hold"),
    (("differ", "noise"), "does not hold"), (("noise", "noise"), "inconclusive")])
def test_uniform_codes_reaches_every_outcome(effects, outcome):
    v = claims.uniform_codes(_uniformity_rows(effects))
    want = {"equal": "equivalent", "differ": "b better", "noise": "inconclusive"}
    assert _outcomes(v) == [want[e] for e in effects]
    assert [c.b for c in v.evidence] == ["uniform", "uniform"] and all(c.test == "Welch's t-test" for c in v.evidence)
    assert v.outcome == outcome and v.margins == ("mean resultant length", "top eigenvalue × p")
    assert [c.b for c in v.side] == ["vae", "vae"]           # SAE against the VAE: outside the verdict


def test_uniform_codes_reads_the_uniform_set_beside_its_model():
    rows = _uniformity_rows(("equal", "equal"))
    rows += [{**r, "beside": "vae", "mean resultant length": 5.0} for r in rows if r["model"] == "uniform"]
    assert claims.uniform_codes(rows).outcome == "holds"     # the VAE's uniform sets play no part


def test_new_margins_have_reasons_and_units():
    assert MARGINS["mean resultant length"].of is None       # near 0 for uniform: its own units
    assert MARGINS["top eigenvalue × p"].of and MARGINS["sharpness"].size == MARGINS["MSE"].size
    assert MARGINS["binarised FD-CNN"].size == MARGINS["FD-CNN"].size


def test_the_verdict_studies_go_to_the_pool_the_longest_kind_first_at_both_dimensions():
    from sphericalae.claims import _study_jobs
    from sphericalae.dimension import training_report
    from sphericalae.experiments import DIGIT_STUDIES
    from sphericalae.nulls import prior_null_study
    from sphericalae.probes import PROBE_STUDIES
    from sphericalae.studies import DigitStudy

    studies = (*DIGIT_STUDIES, *PROBE_STUDIES, prior_null_study, training_report)
    jobs = _study_jobs(studies, [DigitStudy(), DigitStudy(latent_dim=512)])
    named = [(fn.__name__, g.latent_dim) for fn, g in jobs]
    assert named[:4] == [("prior_study", 512), ("prior_study", 10), ("tsne_study", 512), ("tsne_study", 10)]
    assert len(jobs) == 2 * len(studies) and len(set(named)) == len(named)
