"""Fault injection: a training run killed with SIGKILL anywhere (mid-epoch, inside each file
write) resumes to the same weights as an uninterrupted run; a full disk keeps the previous
checkpoint and says so; the NaN guard catches non-finite gradients before anything is saved."""
import errno
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sphericalae.__main__ import main
from sphericalae.config import TrainConfig
from sphericalae.data import load
from sphericalae.models import build
from sphericalae.models import load_checkpoint
from sphericalae.train import fit

HERE = Path(__file__).resolve().parent
# 4500 digits at batch 500: 9 steps an epoch, 3 epochs
ARGS = ["train", "--model", "vae", "--dataset", "mnist-5k", "--latent-dim", "4", "--batch-size", "500",
        "--epochs", "3", "--no-progress"]


def cli(out, fault=None, resume=False):
    argv = [*ARGS, "--out", str(out)] + (["--resume"] if resume else [])
    cmd = [sys.executable, str(HERE / "fault_runner.py"), fault, "--", *argv] if fault else \
        [sys.executable, "-m", "sphericalae", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=HERE.parent)


def history_without_time(run):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads((run / "history.json").read_text())]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "straight"
    r = cli(out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("fault", ["step:13", "write:checkpoint.pt:2", "write:history.json:2",
                                   "write:config.json:1"])
def test_a_killed_run_resumes_to_the_same_weights(reference, tmp_path, fault):
    out = tmp_path / "run"
    r = cli(out, fault)
    assert r.returncode == -signal.SIGKILL, r.stderr
    if (out / "checkpoint.pt").exists():
        load_checkpoint(out)                                  # never left unreadable
        r = cli(out, resume=True)
    else:                                                     # killed before the first checkpoint
        r = cli(out)
    assert r.returncode == 0, r.stderr
    ref, got = load_checkpoint(reference), load_checkpoint(out)
    assert got["epoch"] == 3
    for name, value in ref["model"].items():
        assert torch.equal(value, got["model"][name]), name
    assert history_without_time(out) == history_without_time(reference)
    assert json.loads((out / "config.json").read_text()) == json.loads((reference / "config.json").read_text())
    assert not list(out.glob("*.tmp"))


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    import sphericalae.train

    real_save, calls = torch.save, {"n": 0}

    def full(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(f, "wb") as fh:
                fh.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(sphericalae.train.torch, "save", full)
    out = tmp_path / "run"
    code = main([*ARGS, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "No space left on device" in err and "previous epoch are kept" in err
    assert load_checkpoint(out)["epoch"] == 1 and not list(out.glob("*.tmp"))
    monkeypatch.setattr(sphericalae.train.torch, "save", real_save)
    assert main([*ARGS, "--out", str(out), "--resume"]) == 0 and load_checkpoint(out)["epoch"] == 3


def test_nan_gradient_with_a_finite_loss_stops_before_saving(tmp_path):
    train, _ = load("mnist-5k")
    model = build(kind="sae", latent_dim=6)
    hook = {"on": False}

    def poison(grad):                       # the loss stays finite; only the gradient is NaN
        return grad * float("nan") if hook["on"] else grad

    model.encoder.net[1].weight.register_hook(poison)
    cfg = TrainConfig(epochs=3, batch_size=500)
    fit(model, train, TrainConfig(epochs=1, batch_size=500), out=tmp_path, progress=False, log=lambda *a: None)
    hook["on"] = True
    with pytest.raises(FloatingPointError, match="non-finite gradient.*epoch 2, step 1.*epoch 1\\), is kept"):
        fit(model, train, cfg, out=tmp_path, resume=True, progress=False, log=lambda *a: None)
    state = load_checkpoint(tmp_path)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_nan_before_any_checkpoint_does_not_claim_one(tmp_path):
    train, _ = load("mnist-5k")
    model = build(kind="sae", latent_dim=6)
    model.encoder.net[1].weight.register_hook(lambda g: g * float("nan"))
    with pytest.raises(FloatingPointError, match="No checkpoint was written") as err:
        fit(model, train, TrainConfig(epochs=1, batch_size=500), out=tmp_path, progress=False, log=lambda *a: None)
    assert "last good checkpoint" not in str(err.value)
