"""sphericalae.train and the CLI: learning, exact resume, the NaN guard, safe checkpoint loading,
DistributedDataParallel on CPU (gloo, 2 processes), and the command line."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import Subset

from sphericalae.data import load
from sphericalae.models import build
from sphericalae.train import evaluate, fit, load_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits():
    train, test = load("mnist-5k")
    return Subset(train, range(640)), Subset(test, range(200))


def quiet(*args):
    pass


@pytest.mark.parametrize("kind", ["sae", "vae", "svae", "ps", "ae"])
def test_a_few_epochs_lower_the_heldout_loss(kind, digits):
    train, test = digits
    torch.manual_seed(0)
    model = build(kind, "mlp", 8)
    before = evaluate(model, test)["heldout_recon"]
    history = fit(model, train, test, epochs=3, batch_size=32, progress=False, log=quiet)
    assert len(history) == 3 and history[-1]["heldout_recon"] < 0.8 * before


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(digits, tmp_path):
    train, test = digits
    torch.manual_seed(1)
    straight = build("vae", "mlp", 8)          # stochastic: the RNG state must be restored too
    fit(straight, train, test, epochs=3, batch_size=64, seed=5, out=tmp_path / "a", progress=False, log=quiet)
    torch.manual_seed(1)
    interrupted = build("vae", "mlp", 8)
    fit(interrupted, train, test, epochs=2, batch_size=64, seed=5, out=tmp_path / "b", progress=False, log=quiet)
    resumed = build("vae", "mlp", 8)            # fresh weights: everything comes from the checkpoint
    history = fit(resumed, train, test, epochs=3, batch_size=64, seed=5, out=tmp_path / "b", resume=True,
                  progress=False, log=quiet)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert load_checkpoint(tmp_path / "b")["epoch"] == 3
    assert json.loads((tmp_path / "b" / "history.json").read_text())[-1]["epoch"] == 3


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    train, test = digits
    model = build("sae", "mlp", 8)
    calls = {"n": 0}
    real_loss = model.loss

    def flaky(x, forward=None):
        calls["n"] += 1
        total, recon, kl = real_loss(x, forward)
        if calls["n"] > len(train) // 64:      # every step of epoch 2 is NaN
            total = total * float("nan")
        return total, recon, kl

    model.loss = flaky
    with pytest.raises(FloatingPointError, match="epoch 2, step 1.*last good checkpoint"):
        fit(model, train, test, epochs=3, batch_size=64, out=tmp_path, progress=False, log=quiet)
    state = load_checkpoint(tmp_path)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "checkpoint.pt.tmp").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_a_malicious_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": _Evil()}, tmp_path / "checkpoint.pt")
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|unsupported"):
        load_checkpoint(tmp_path)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_resume_without_checkpoint_is_an_error(digits, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(build("sae", "mlp", 8), digits[0], epochs=1, out=tmp_path, resume=True, progress=False, log=quiet)


def test_bad_device_is_an_error(digits):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(build("sae", "mlp", 8), digits[0], epochs=1, device="cuda", progress=False, log=quiet)


# --- DistributedDataParallel on the CPU --------------------------------------------------------

def _ddp_worker(rank, world, init_file, out_file):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        train, _ = load("mnist-5k")
        torch.manual_seed(0)
        model = build("sae", "mlp", 8)
        history = fit(model, Subset(train, range(256)), None, epochs=2, batch_size=64, device="cpu",
                      progress=False, log=quiet)
        if rank == 0:
            torch.save({"state": model.state_dict(), "loss": [h["train_loss"] for h in history]}, out_file)
    finally:
        dist.destroy_process_group()


def test_ddp_with_two_processes_matches_one_process_on_the_same_global_batch(tmp_path):
    train, _ = load("mnist-5k")
    torch.manual_seed(0)
    single = build("sae", "mlp", 8)
    history = fit(single, Subset(train, range(256)), None, epochs=2, batch_size=64, device="cpu",
                  progress=False, log=quiet)
    out_file = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(out_file)), nprocs=2, join=True)
    ddp = torch.load(out_file, weights_only=True)
    for h, loss in zip(history, ddp["loss"]):
        assert loss == pytest.approx(h["train_loss"], rel=1e-5)
    for name, p in single.state_dict().items():
        # Adam amplifies float32 rounding in tiny gradients; a missing all-reduce would differ by ~lr = 1e-3
        assert torch.allclose(p, ddp["state"][name], atol=1e-4), name


# --- command line --------------------------------------------------------------------------------

def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sphericalae", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600)


def test_cli_help_documents_every_option():
    r = cli("train", "--help")
    assert r.returncode == 0
    for opt in ["--model", "--dataset", "--latent-dim", "--epochs", "--device", "--out", "--resume", "--batch-size"]:
        assert opt in r.stdout
    assert "--prior" in cli("sample", "--help").stdout


def test_cli_one_epoch_then_resume_then_sample(tmp_path):
    run = tmp_path / "run"
    r = cli("train", "--model", "sae", "--dataset", "mnist-5k", "--latent-dim", "6", "--epochs", "1",
            "--out", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "config.json").read_text())["kind"] == "sae"
    r = cli("train", "--model", "sae", "--dataset", "mnist-5k", "--latent-dim", "6", "--epochs", "1",
            "--out", str(run), "--no-progress")
    assert r.returncode != 0 and "--resume" in r.stderr          # never overwrite a run silently
    r = cli("sample", "--run", str(run), "--prior", "poisson", "-n", "9", "--out", str(tmp_path / "g.png"))
    assert r.returncode == 0, r.stderr
    from PIL import Image
    assert Image.open(tmp_path / "g.png").size[0] > 28 * 3


@pytest.mark.parametrize("args,msg", [
    (["train", "--model", "gan", "--dataset", "mnist-5k", "--out", "x"], "valid models: sae, vae, svae, ps, ae"),
    (["train", "--model", "sae", "--dataset", "cifar", "--out", "x"], "valid datasets"),
    (["sample", "--run", "nowhere", "--prior", "cauchy", "--out", "g.png"], "valid priors"),
    (["sample", "--run", "nowhere", "--out", "g.png"], "no checkpoint"),
])
def test_cli_bad_options(args, msg, tmp_path):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode != 0 and msg in r.stderr


def _ddp_nan_worker(rank, world, init_file):
    import datetime

    import torch.distributed as dist

    # a short timeout turns a regression (one process waiting for the other) into a failure, not a hang
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        train, _ = load("mnist-5k")
        model = build("sae", "mlp", 8)
        if rank == 1:                       # only one process sees a NaN
            real = model.reconstruction_loss
            model.reconstruction_loss = lambda logits, x: real(logits, x) * float("nan")
        try:
            fit(model, Subset(train, range(128)), None, epochs=1, batch_size=64, device="cpu",
                progress=False, log=quiet)
        except FloatingPointError:
            return
        raise AssertionError(f"rank {rank} did not stop")
    finally:
        dist.destroy_process_group()


def test_ddp_nan_on_one_process_stops_all(tmp_path):
    # would hang (and time out) if the healthy process waited for the stopped one
    mp.spawn(_ddp_nan_worker, args=(2, str(tmp_path / "init")), nprocs=2, join=True)


@pytest.mark.parametrize("kw,msg", [({"epochs": 0}, "at least 1"), ({"batch_size": 0}, "at least 1"),
                                    ({"device": "tpu"}, "unknown device 'tpu'.*auto, cpu, cuda")])
def test_bad_fit_arguments(digits, kw, msg):
    with pytest.raises(ValueError, match=msg):
        fit(build("sae", "mlp", 8), digits[0], **{"epochs": 1, "progress": False, "log": quiet, **kw})
