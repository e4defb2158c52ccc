"""sphericalae.train and the CLI: learning, exact resume, the NaN guard, safe checkpoint loading,
DistributedDataParallel on CPU (gloo, 2 processes), and the command line."""
import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import Subset

from sphericalae.config import TrainConfig
from sphericalae.data import load
from sphericalae.models import build
from sphericalae.models import load_checkpoint
from sphericalae.models import evaluate
from sphericalae.train import fit


def tc(**kw):
    return TrainConfig(**{"epochs": 1, "batch_size": 64, **kw})


@pytest.fixture(scope="module")
def digits():
    train, test = load("mnist-5k")
    return Subset(train, range(640)), Subset(test, range(200))


def quiet(*args):
    pass


@pytest.mark.parametrize("kind", ["sae", "vae", "svae", "ps", "ae"])
def test_a_few_epochs_lower_the_heldout_loss(kind, digits):
    train, test = digits
    model = build(kind=kind, latent_dim=8)
    before = evaluate(model, test)["heldout_recon"]
    history = fit(model, (train, test), tc(epochs=3, batch_size=32), progress=False, log=quiet)
    assert len(history) == 3 and history[-1]["heldout_recon"] < 0.8 * before


def test_svae_on_the_circle_trains(digits):
    model = build(kind="svae", latent_dim=2)          # the vMF on S^1 (m = 2)
    before = evaluate(model, digits[1])["heldout_recon"]
    history = fit(model, digits, tc(epochs=2), progress=False, log=quiet)
    assert all(math.isfinite(h["train_loss"]) for h in history) and history[-1]["heldout_recon"] < 0.8 * before
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(digits, tmp_path):
    train, test = digits
    straight = build(kind="vae", latent_dim=8, seed=5)     # stochastic: the RNG state must be restored too
    fit(straight, (train, test), tc(epochs=3, seed=5), out=tmp_path / "a", progress=False, log=quiet)
    interrupted = build(kind="vae", latent_dim=8, seed=5)
    fit(interrupted, (train, test), tc(epochs=2, seed=5), out=tmp_path / "b", progress=False, log=quiet)
    resumed = build(kind="vae", latent_dim=8, seed=99)    # other weights: everything comes from the checkpoint
    history = fit(resumed, (train, test), tc(epochs=3, seed=5), out=tmp_path / "b", resume=True,
                  progress=False, log=quiet)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert load_checkpoint(tmp_path / "b")["epoch"] == 3
    assert json.loads((tmp_path / "b" / "history.json").read_text())[-1]["epoch"] == 3


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    train, test = digits
    model = build(kind="sae", latent_dim=8)
    calls = {"n": 0}
    real = model.forward

    def flaky(x, sample=True):
        calls["n"] += 1
        losses = real(x, sample)
        if sample and calls["n"] > len(train) // 64:      # every step of epoch 2 is NaN
            losses = losses._replace(total=losses.total * float("nan"))
        return losses

    model.forward = flaky
    with pytest.raises(FloatingPointError, match="loss.*epoch 2, step 1.*last good checkpoint.*epoch 1"):
        fit(model, (train, test), tc(epochs=3), out=tmp_path, progress=False, log=quiet)
    state = load_checkpoint(tmp_path)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not list(tmp_path.glob("*.tmp"))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_a_malicious_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": _Evil()}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="refused.*weights_only") as err:
        load_checkpoint(tmp_path)
    assert "weights_only=False" not in str(err.value)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_resume_without_checkpoint_is_an_error(digits, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(build(), digits[0], tc(), out=tmp_path, resume=True, progress=False, log=quiet)


def test_bad_device_is_an_error(digits):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(build(), digits[0], tc(device="cuda"), progress=False, log=quiet)


# --- DistributedDataParallel on the CPU --------------------------------------------------------

def _ddp_worker(rank, world, init_file, out_file):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        train, _ = load("mnist-5k")
        model = build(kind="sae", latent_dim=8)
        history = fit(model, Subset(train, range(256)), tc(epochs=2, device="cpu"), progress=False, log=quiet)
        if rank == 0:
            torch.save({"state": model.state_dict(), "loss": [h["train_loss"] for h in history]}, out_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_with_two_processes_matches_one_process_on_the_same_global_batch(tmp_path):
    train, _ = load("mnist-5k")
    single = build(kind="sae", latent_dim=8)
    history = fit(single, Subset(train, range(256)), tc(epochs=2, device="cpu"), progress=False, log=quiet)
    out_file = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(out_file)), nprocs=2, join=True)
    ddp = torch.load(out_file, weights_only=True)
    for h, loss in zip(history, ddp["loss"]):
        assert loss == pytest.approx(h["train_loss"], rel=1e-5)
    for name, p in single.state_dict().items():
        # Adam amplifies float32 rounding in tiny gradients; a missing all-reduce would differ by ~lr = 1e-3
        assert torch.allclose(p, ddp["state"][name], atol=1e-4), name


def _ddp_nan_worker(rank, world, init_file):
    import datetime

    import torch.distributed as dist

    # a short timeout turns a regression (one process waiting for the other) into a failure, not a hang
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        train, _ = load("mnist-5k")
        model = build(kind="sae", latent_dim=8)
        if rank == 1:                       # only one process sees a NaN
            real = model.forward
            model.forward = lambda x, sample=True: real(x, sample)._replace(total=real(x, sample).total * float("nan"))
        try:
            fit(model, Subset(train, range(128)), tc(device="cpu"), progress=False, log=quiet)
        except FloatingPointError:
            return
        raise AssertionError(f"rank {rank} did not stop")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_nan_on_one_process_stops_all(tmp_path):
    # would hang (and time out) if the healthy process waited for the stopped one
    mp.spawn(_ddp_nan_worker, args=(2, str(tmp_path / "init")), nprocs=2, join=True)


@pytest.mark.parametrize("kw,msg", [({"epochs": 0}, "epochs must be a positive integer"),
                                    ({"batch_size": 0}, "batch_size must be a positive integer"),
                                    ({"lr": float("nan")}, "lr must be a finite number"),
                                    ({"seed": -1}, "seed must be an integer in \\[0, 2\\^63\\)"),
                                    ({"seed": 2**70}, "seed must be an integer in"),
                                    ({"dataset": "cifar"}, "valid datasets: mnist-5k"),
                                    ({"workers": -1}, "workers must be an integer >= 0")])
def test_bad_train_config(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TrainConfig(**kw)


def test_bad_device_name(digits):
    with pytest.raises(ValueError, match="unknown device 'tpu'.*auto, cpu, cuda"):
        fit(build(), digits[0], tc(device="tpu"), progress=False, log=quiet)


# --- the stop rule (converge) --------------------------------------------------------------------

def _history(values):
    return [{"heldout_recon": v} for v in values]


def test_convergence_reads_the_trend_of_the_last_fifth():
    from sphericalae.train import convergence

    falling = [100 - i for i in range(50)]                     # last fifth: 60 -> 51 over 10 epochs
    assert convergence(_history(falling)) == pytest.approx(9 / 55.5)
    flat = [50.0 + 0.1 * (-1) ** i for i in range(50)]         # noise around a level: no trend
    assert convergence(_history(flat)) < 0.002                 # a fifth of the 1% criterion
    spike = flat[:-1] + [51.0]                                 # one bad last epoch moves the line a little
    assert convergence(_history(spike)) < abs(spike[-1] - spike[-11]) / spike[-1]
    assert convergence(_history([3.0])) == math.inf


def test_the_stop_rule_stops_a_run_once_converged_and_a_resume_has_nothing_to_do(digits, tmp_path, monkeypatch):
    import sphericalae.train as T

    monkeypatch.setattr(T, "MIN_EPOCHS", 3)
    train, test = digits
    model = build(kind="ae", latent_dim=8)
    history = fit(model, (train, test), tc(epochs=6, converge=10.0), out=tmp_path, progress=False, log=quiet)
    assert len(history) == 3                                  # any change is below 1000%: stops at MIN_EPOCHS
    lines = []
    again = fit(build(kind="ae", latent_dim=8), (train, test), tc(epochs=6, converge=10.0), out=tmp_path,
                resume=True, progress=False, log=lines.append)
    assert len(again) == 3 and "converged" in lines[0]
    strict = fit(build(kind="ae", latent_dim=8), (train, test), tc(epochs=4, converge=1e-9), progress=False,
                 log=quiet)
    assert len(strict) == 4                                   # never met: the cap ends the run


def test_the_stop_rule_needs_a_heldout_loss(digits):
    from sphericalae.gan import GANConfig, GANTrainConfig, build_gan

    with pytest.raises(ValueError, match="held-out set"):
        fit(build(kind="ae", latent_dim=8), digits[0], tc(converge=0.01), progress=False, log=quiet)
    with pytest.raises(ValueError, match="no held-out loss|has none"):
        fit(build_gan(GANConfig()), digits, GANTrainConfig(epochs=1, converge=0.01), progress=False, log=quiet)
    with pytest.raises(ValueError, match="converge"):
        tc(converge=-1)


def _ddp_stop_worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    import sphericalae.train as T

    T.MIN_EPOCHS = 3                                  # this process's copy of the module
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        train, test = load("mnist-5k")
        # each process scores its own held-out digits: their stop rules could disagree; process 0 decides
        heldout = Subset(test, range(rank * 100, rank * 100 + 100))
        history = fit(build(kind="ae", latent_dim=8), (Subset(train, range(256)), heldout),
                      tc(epochs=6, device="cpu", converge=10.0 if rank == 0 else 1e-9), progress=False, log=quiet)
        (Path(out_dir) / f"rank{rank}").write_text(str(len(history)))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_under_ddp_every_process_stops_when_process_0_does(tmp_path):
    mp.spawn(_ddp_stop_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    assert (tmp_path / "rank0").read_text() == "3" and (tmp_path / "rank1").read_text() == "3"


def test_fit_refuses_an_empty_training_or_held_out_set():
    """Issue 29: an empty training set 'trained' and returned a history; an empty held-out set
    raised ZeroDivisionError."""
    from torch.utils.data import TensorDataset

    from sphericalae.models import build
    from sphericalae.train import fit

    empty, some = TensorDataset(torch.zeros(0, 1, 28, 28)), TensorDataset(torch.rand(8, 1, 28, 28))
    for data, which in [((empty, some), "training"), (empty, "training"), ((some, empty), "held-out")]:
        with pytest.raises(ValueError, match=f"the {which} set is empty"):
            fit(build(kind="sae", latent_dim=4), data, TrainConfig(epochs=1, batch_size=4), progress=False,
                log=lambda *a: None)


def test_the_trainers_adam_is_fused_on_the_cpu_and_takes_the_default_adams_steps():
    from sphericalae.train import adam

    torch.manual_seed(0)
    a = torch.nn.Linear(20, 7)
    b = torch.nn.Linear(20, 7)
    b.load_state_dict(a.state_dict())
    start = a.weight.detach().clone()
    fused, plain = adam(a.parameters(), lr=1e-2, betas=(0.5, 0.9)), torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.5, 0.9))
    assert fused.defaults["fused"] and not plain.defaults.get("fused")
    x = torch.randn(64, 20)
    for _ in range(25):
        for net, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    assert (a.weight - start).abs().max() > 0.1                   # 25 steps of 1e-2 moved the weights
    for p, q in zip(a.parameters(), b.parameters()):             # the same steps, to float32 rounding
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_denormals_are_flushed_while_training_on_the_cpu_only():
    from sphericalae.train import flush_denormals

    tiny = torch.tensor([1e-39], dtype=torch.float32)          # below float32's normal range
    with flush_denormals("cpu") as on:
        inside = float(tiny * 1.0)
    assert on and inside == 0.0
    assert float(tiny * 1.0) > 0                                # torch's default again after the block
    with flush_denormals("cuda") as on:
        assert not on and float(tiny * 1.0) > 0
