"""sphericalae.warm: the parallel cache warm-up before a build reads the pages' own parameters and
never stops the build."""
from pathlib import Path

from sphericalae import warm

ROOT = Path(__file__).resolve().parent.parent


def test_a_group_that_fails_is_reported_in_one_line(tmp_path):
    lines = warm.warm(tmp_path)                       # a folder without the pages
    assert len(lines) == len(warm.GROUPS)
    assert all("not warmed (FileNotFoundError: no page" in line and "\n" not in line for line in lines)


def test_the_groups_read_parameters_the_pages_have():
    needs = {"training": {"dataset", "latent_dim", "epochs", "seeds", "batch_size", "device"},
             "priors": {"n_samples", "gmm_components"}, "latent": {"k", "tsne_runs", "map_digits"},
             "gan_table1": {"dataset", "arch", "width", "epochs", "seeds", "n_samples", "reps", "device",
                            "latent_dim", "low_dim"}}
    for page, names in needs.items():
        assert names <= set(warm._params(ROOT / "book", page)), page
    # the digit pages share one setting, so one warm-up serves them all
    shared = needs["training"]
    tr = warm._params(ROOT / "book", "training")
    for page in ("priors", "latent", "verdict"):
        params = warm._params(ROOT / "book", page)
        assert {k: params[k] for k in shared} == {k: tr[k] for k in shared}, page


def test_the_verdict_page_reads_the_same_studies_as_the_experiment_pages():
    verdict = warm._params(ROOT / "book", "verdict")
    priors, latent = warm._params(ROOT / "book", "priors"), warm._params(ROOT / "book", "latent")
    gan = warm._params(ROOT / "book", "gan_table1")
    assert (verdict["n_samples"], verdict["gmm_components"]) == (priors["n_samples"], priors["gmm_components"])
    assert verdict["k"] == latent["k"]
    assert (verdict["gan_latent_dim"], verdict["gan_low_dim"], verdict["gan_device"]) == (
        gan["latent_dim"], gan["low_dim"], gan["device"])
