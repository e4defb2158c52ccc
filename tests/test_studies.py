"""sphericalae.studies: one settings object per study, built from a page's parameters, checked,
keyed; the verdict page reads the very settings the other pages set."""
from pathlib import Path

import pytest

from sphericalae.pages import page_study, verdict_studies
from sphericalae.studies import DigitStudy, GanStudy

ROOT = Path(__file__).resolve().parent.parent


def test_from_params_takes_the_fields_it_knows_and_defaults_the_rest():
    study = DigitStudy.from_params({"seeds": 2, "epochs": 7, "n_show": 10, "plt": object()})
    assert (study.seeds, study.epochs, study.latent_dim) == (2, 7, DigitStudy().latent_dim)
    assert DigitStudy.from_params({"seeds": 2}, seeds=3).seeds == 3


def test_keys_hold_the_model_fields_and_only_the_named_extras():
    a, b = DigitStudy(), DigitStudy(k=5)
    assert a.key() == b.key()                           # models and reconstructions do not depend on k
    assert a.key("k") != b.key("k")
    assert set(a.key("n_samples")) == {*DigitStudy.model_fields, "n_samples"}
    assert GanStudy(seeds=[0, 1]).key()["seeds"] == [0, 1]      # JSON-ready
    assert GanStudy().at_low_dim().latent_dim == GanStudy().low_dim


@pytest.mark.parametrize("make,match", [
    (lambda: GanStudy(generators=("raw", "sphere")), "unknown generator.*valid: spherized, raw"),
    (lambda: GanStudy(seeds=[]), "seeds must be a non-empty list"),
    (lambda: DigitStudy(dataset="mnist5k"), "unknown dataset 'mnist5k'; valid: .*mnist-5k"),
    (lambda: DigitStudy(seeds=0), "DigitStudy.seeds must be a positive integer"),
    (lambda: DigitStudy(epochs=2.5), "DigitStudy.epochs must be a positive integer"),
    (lambda: DigitStudy(converge=1.5), r"converge must be None \(equal budgets\) or a criterion in \(0, 1\)"),
    (lambda: DigitStudy(kinds=("sae", "gan")), "DigitStudy.kinds must be distinct kinds of sae, vae, svae, ps, ae"),
    (lambda: DigitStudy(kinds=()), "DigitStudy.kinds must be distinct kinds"),
    (lambda: DigitStudy(kinds=("vae", "vae")), "DigitStudy.kinds must be distinct kinds"),
])
def test_bad_settings_are_refused_naming_the_valid_ones(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_page_study_reads_the_pages_parameters_and_a_plan(tmp_path):
    text = (ROOT / "book" / "training.md").read_text()
    head = text[:text.index("---", 3) + 4] + "\n"                     # a real page's MyST header
    cell = "```{{code-cell}} ipython3\n:tags: [parameters]\n\n{}\n```\n"
    (tmp_path / "training.md").write_text(head + cell.format("seeds = 3\nepochs = 9\nn_show = 4"))
    (tmp_path / "priors.md").write_text(head + cell.format("seeds = 8\nn_samples = 123"))
    (tmp_path / "latent.md").write_text(head + cell.format("k = 7"))
    study = page_study("digits", tmp_path)
    assert (study.seeds, study.epochs, study.n_samples, study.k) == (3, 9, 123, 7)   # the training page wins
    full = page_study("digits", tmp_path, {"priors": {"n_samples": 2000}, "training": {"seeds": 10}}, k=1)
    assert (full.seeds, full.n_samples, full.k) == (10, 2000, 1)
    with pytest.raises(ValueError, match="unknown study 'faces'; valid: digits, gan, w2"):
        page_study("faces", tmp_path)


def test_the_verdict_page_reads_the_studies_the_pages_set():
    digits, gan, w2 = verdict_studies({"digits": {"seeds": 2}, "w2": {"reps": 3}}, ROOT / "book")
    assert digits == page_study("digits", ROOT / "book").replace(seeds=2)
    assert gan == page_study("gan", ROOT / "book")
    assert w2 == page_study("w2", ROOT / "book").replace(reps=3)
    with pytest.raises(ValueError, match="scale must be 'book' or 'full'"):
        verdict_studies({"scale": "huge"}, ROOT / "book")


def test_equal_budgets_by_default_the_stop_rule_on_request():
    assert DigitStudy().converge is None and "the same budget for every kind" in DigitStudy().summary()
    rule = DigitStudy(converge=0.01)
    assert "levelled off" in rule.summary() and rule.key() != DigitStudy().key()


def test_kinds_keep_the_book_order_and_enter_the_key():
    assert DigitStudy(kinds=["ae", "sae"]).kinds == ("sae", "ae") == DigitStudy(kinds=("sae", "ae")).kinds
    assert DigitStudy(kinds="vae").kinds == ("vae",)
    assert DigitStudy(kinds=("sae", "vae")).key() != DigitStudy().key()
