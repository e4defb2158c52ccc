"""Kept runs in results/: stored, read back, named when damaged; the GAN page's stored Table 1 run
judged by the book's rule and described by its numbers."""
import json

import numpy as np
import pytest

from sphericalae.results import store_result, stored_result
from sphericalae.studies import GanStudy
from sphericalae.table1 import near_data_words, own_prior_gap, store_table1, stored_table1

PRIORS = ("normal", "uniform", "poisson", "chi2")
PIPES = ("vanilla", "spherize", "centerize", "centerize+spherize")


def rows_of(normal=100.0, after=None, floor=10.0, seeds=(0, 1, 2), seed=0):
    """Synthetic Table 1 rows: every cell at ``normal`` (plus noise of 0.1%), the other priors after
    both steps at ``after`` (default: like normal); the spherized generator at half of it."""
    rng = np.random.default_rng(seed)
    rows = []
    for gen, scale in (("spherized", 0.5), ("raw", 1.0)):
        for s in seeds:
            rows.append({"generator": gen, "seed": s, "prior": "real (floor)", "pipeline": "-", "rep": 0,
                         "fd_cnn": floor, "precision": 0.8, "recall": 0.8})
            for p in PRIORS:
                for q in PIPES:
                    fd = after if (after is not None and p != "normal" and q == "centerize+spherize") else normal
                    rows.append({"generator": gen, "seed": s, "prior": p, "pipeline": q, "rep": 0,
                                 "fd_cnn": scale * fd * (1 + 1e-3 * rng.standard_normal()),
                                 "precision": 0.5, "recall": 0.5})
    return rows


def test_a_result_round_trips_and_a_damaged_one_is_named(tmp_path):
    path = store_result("thing", {"rows": [1, 2]}, {"epochs": 3}, "CPU (x86_64, 1 thread)", tmp_path / "r" / "t.json")
    doc = stored_result("thing", ("rows",), path)
    assert doc["rows"] == [1, 2] and doc["setting"] == {"epochs": 3} and doc["hardware"].startswith("CPU")
    assert "commit" in doc
    assert stored_result("thing", path=tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text(json.dumps({"setting": {}, "hardware": "x"}))
    with pytest.raises(ValueError, match="bad.json.*no rows"):
        stored_result("thing", ("rows",), tmp_path / "bad.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(ValueError, match="text.json"):
        stored_result("thing", path=tmp_path / "text.json")


def test_own_prior_gap_is_normal_raw_over_the_floor():
    gaps = {g["generator"]: g for g in own_prior_gap(rows_of(normal=100.0, floor=10.0))}
    assert gaps["raw"]["times the floor"] == pytest.approx(10.0, rel=1e-2)
    assert gaps["spherized"]["times the floor"] == pytest.approx(5.0, rel=1e-2)


def test_without_a_stored_run_both_pages_say_so():
    words = near_data_words(None, rows_of())
    assert words["verdicts"] == {} and "No run" in words["page"] and "No run" in words["verdict_line"]


@pytest.mark.parametrize("stored_normal,nearer", [(30.0, True), (300.0, False)])
def test_the_stored_run_is_judged_by_the_rule_and_called_nearer_by_its_numbers(tmp_path, monkeypatch,
                                                                               stored_normal, nearer):
    import sphericalae.table1 as T

    study = GanStudy(arch="dcgan28", width=16, epochs=30, latent_dim=128, low_dim=8)
    kept_rows = {"main": rows_of(stored_normal), "low": rows_of(stored_normal, after=3 * stored_normal)}
    monkeypatch.setattr(T, "table1_study", lambda s: kept_rows["low" if s.latent_dim == s.low_dim else "main"])
    path = store_table1(study, "NVIDIA H200", tmp_path / "gan_table1.json")
    kept = stored_table1(path)
    assert kept[0] == study
    words = near_data_words(kept, rows_of(100.0))
    assert [v.outcome for v in words["verdicts"].values()] == ["holds", "does not hold"]
    assert list(words["verdicts"]) == [128, 8]
    assert ("no nearer" not in words["page"]) is nearer and "NVIDIA H200" in words["page"]
    assert "d = 128: holds; d = 8: does not hold" in words["verdict_line"]


def test_a_stored_table1_without_both_dimensions_is_refused(tmp_path):
    path = store_result("gan_table1", {"rows": {"main": []}}, GanStudy().as_dict(), "cpu", tmp_path / "g.json")
    with pytest.raises(ValueError, match="g.json.*main and low"):
        stored_table1(path)
