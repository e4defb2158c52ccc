"""The latent-dimension layer: how a run is judged (trained / failed / still falling), footnote 2's
rule reaching every outcome, active units, the ladder's rungs."""
import math

import numpy as np
import pytest
import torch

from sphericalae.claims import svae_convergence
from sphericalae.dimension import (ACTIVE_SHARE, HIGH_DIM, RUNG_KINDS, active_units, ladder_studies, mean_interval,
                                   svae_fails, trains)
from sphericalae.models import ModelConfig, build
from sphericalae.studies import DIGIT_KINDS as STUDY_KINDS, DigitStudy


def _history(curve, train=None):
    return [{"epoch": i + 1, "train_loss": (train or curve)[i], "heldout_recon": v, "heldout_mse": 0.02,
             "train_kl": 1.0} for i, v in enumerate(curve)]


FLAT = [200.0] + list(100 + 20 * np.exp(-np.arange(59) / 3))        # fell, then levelled off
FALLING = list(200 - 2.0 * np.arange(60))                           # still falls 2 nats an epoch
RISING = list(100 + np.arange(60, dtype=float))                     # never below the first epoch


@pytest.mark.parametrize("curve,state", [(FLAT, "trained"), (FALLING, "still falling"), (RISING, "failed")])
def test_trains_reads_the_held_out_curve(curve, state):
    assert trains(_history(curve)) == state


def test_a_non_finite_loss_is_a_failure_even_on_a_good_curve():
    bad = list(FLAT)
    bad[10] = math.nan
    assert trains(_history(FLAT, train=bad)) == "failed"
    assert trains([]) == "failed"


def _rows(states):
    curves = {"trained": FLAT, "failed": RISING, "still falling": FALLING}
    return [{"model": "svae", "seed": s, "state": st, "epochs": 60, "MSE": 0.02, "active": 500}
            for s, st in enumerate(states)] + [{"model": "vae", "seed": 0, "state": "failed", "epochs": 60,
                                                "MSE": 0.02, "active": 3}]


@pytest.mark.parametrize("states,outcome", [
    (["failed"] * 5, "holds"),
    (["failed"] * 3 + ["trained"] * 2, "holds in part"),
    (["failed", "still falling", "still falling"], "holds in part"),
    (["failed", "trained"], "does not hold"),
    (["trained"] * 5, "does not hold"),
    (["still falling"] * 5, "inconclusive")])
def test_footnote_2_reaches_every_outcome(states, outcome):
    assert svae_fails(_rows(states))[0] == outcome
    v = svae_convergence(_rows(states), HIGH_DIM)
    assert v.outcome == outcome and v.key == "svae512"
    assert f"{states.count('trained')} of {len(states)} seeds trained" in v.ours


def test_footnote_2_names_a_missing_model():
    with pytest.raises(ValueError, match="no training-report rows of model 'svae'"):
        svae_fails([{"model": "vae", "state": "failed"}])


@pytest.mark.parametrize("kind", ["vae", "svae"])
def test_a_collapsed_unit_is_not_active(kind):
    """A posterior whose mean ignores the input in all but 3 coordinates has 3 active units."""
    torch.manual_seed(0)
    model = build(ModelConfig(kind=kind, latent_dim=8), seed=0)
    fc = model.bottleneck.fc
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.zero_()
        fc.bias[:8] = 0.1            # a fixed mean (direction)
        fc.weight[:3] = 10 * torch.randn(3, fc.weight.shape[1])
        if kind == "vae":
            fc.bias[8:] = -4.0       # small posterior variances
        else:
            fc.bias[8] = 50.0        # a concentrated vMF
    x = torch.rand(200, 1, 28, 28)
    assert active_units(model, x) == 3


def test_deterministic_kinds_have_no_active_unit_count():
    model = build(ModelConfig(kind="sae", latent_dim=8), seed=0)
    assert active_units(model, torch.rand(20, 1, 28, 28)) is None
    assert 0 < ACTIVE_SHARE < 1


def test_ladder_keeps_the_end_rungs_full_and_thins_the_others():
    rungs = ladder_studies(DigitStudy(seeds=5), (3, 10, 64, 512), rung_seeds=2)
    assert {d: s.seeds for d, s in rungs.items()} == {3: 2, 10: 5, 64: 2, 512: 5}
    assert all(s.latent_dim == d and s.epochs == 60 for d, s in rungs.items())
    assert ladder_studies(DigitStudy(seeds=1), (3,), rung_seeds=2)[3].seeds == 1
    assert {d: s.kinds for d, s in rungs.items()} == {3: RUNG_KINDS, 10: STUDY_KINDS, 64: RUNG_KINDS, 512: STUDY_KINDS}
    few = ladder_studies(DigitStudy(kinds=("ae", "vae")), (3, 10), rung_kinds=("sae", "vae"))
    assert few[3].kinds == ("vae",) and few[10].kinds == ("vae", "ae")
    assert ladder_studies(DigitStudy(kinds=("ae",)), (3, 10), rung_kinds=("sae",))[3].kinds == ("ae",)


def test_mean_interval_is_a_t_interval():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0], level=0.9)
    assert m == 2.0 and lo == pytest.approx(2 - 2.919986 / math.sqrt(3)) and hi == pytest.approx(2 + 2.919986 / math.sqrt(3))
    assert math.isnan(mean_interval([1.0])[1])


@pytest.mark.parametrize("ladder", ["[3, 10]", [2, 10], [3, 10.5]])
def test_a_bad_ladder_is_refused_by_name(ladder):
    with pytest.raises(ValueError, match="the ladder must be a list of latent dimensions"):
        ladder_studies(DigitStudy(), ladder)
