"""Fault injection: a training run killed with SIGKILL anywhere (mid-epoch, inside each file
write) resumes to the same weights as an uninterrupted run; a full disk keeps the previous
checkpoint and says so; the NaN guard catches non-finite gradients before anything is saved.
Two processes into one run folder: the second is refused naming the first, nothing of the first is
lost, and a killed holder's lock is taken over; reproduce holds its output folder's lock and, when
stopped by SIGTERM or a failing page, leaves a partial notebook and its record, never a final one
that is incomplete. A broken cache folder costs no result: computed, returned, warned once."""
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

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
# 4500 digits at batch 500: 9 steps an epoch, 3 epochs
ARGS = ["train", "--model", "vae", "--dataset", "mnist-5k", "--latent-dim", "4", "--batch-size", "500",
        "--epochs", "3", "--no-progress"]


def shell_status(returncode):
    """The exit status as a shell reports it (128 + N for a process ended by signal N). Under
    ``python -m``, CPython 3.11-3.13 ends a process by SIGINT after its clean exit when a Ctrl-C
    landed inside a string ``exec`` (a dataclass being made during an import), even one caught
    later; a shell shows 130 either way, and that is the contract."""
    return 128 - returncode if returncode < 0 else returncode


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
            if isinstance(f, (str, Path)):
                with open(f, "wb") as fh:
                    fh.write(b"partial")
            else:                           # the checkpoint is serialised in memory first
                f.write(b"partial")
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
    with pytest.raises(FloatingPointError, match="no checkpoint was written") as err:
        fit(model, train, TrainConfig(epochs=1, batch_size=500), out=tmp_path, progress=False, log=lambda *a: None)
    assert "last good checkpoint" not in str(err.value)


# ------------------------------------------------------------------ run lock, reproduce, SIGTERM
HOLDER = """
import pathlib, sys, time
from sphericalae.runlock import run_lock
folder, ready, release = sys.argv[1:4]
with run_lock(folder):
    (pathlib.Path(folder) / "work.txt").write_text("the first run's work")
    pathlib.Path(ready).write_text("locked")
    while not pathlib.Path(release).exists():
        time.sleep(0.05)
"""


def test_two_processes_one_folder_one_refused_nothing_lost_dead_holder_taken_over(tmp_path):
    folder, ready, release = tmp_path / "run", tmp_path / "ready", tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(ready), str(release)],
                              cwd=HERE.parent, stderr=subprocess.PIPE, text=True)
    wait_for(ready, holder)
    second = subprocess.run([sys.executable, "-c", HOLDER, str(folder), str(tmp_path / "r2"), str(release)],
                            cwd=HERE.parent, capture_output=True, text=True, timeout=600)
    assert second.returncode != 0 and f"RunLockedError: {folder} is in use by another run (pid {holder.pid})" \
        in second.stderr
    assert not (tmp_path / "r2").exists()
    holder.send_signal(signal.SIGKILL)                          # dies holding the lock
    holder.wait(timeout=600)
    assert (folder / "work.txt").read_text() == "the first run's work"
    release.write_text("go")
    third = subprocess.run([sys.executable, "-c", HOLDER, str(folder), str(tmp_path / "r3"), str(release)],
                           cwd=HERE.parent, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0 and (tmp_path / "r3").exists(), third.stderr


PAGE = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

```{code-cell} ipython3
:tags: [parameters]

marker = "started"   # written when the page runs
release = ""         # the page waits until this file exists ("" = no wait)
fail = False
```

```{code-cell} ipython3
import pathlib, time
pathlib.Path(marker).write_text("running")
while release and not pathlib.Path(release).exists():
    time.sleep(0.05)
assert not fail, "the page failed on purpose"
```
"""


def wait_for(path, proc):
    """Wait until ``path`` exists (or ``proc`` ended, which fails the test): a wait, not a timing."""
    import time
    while not Path(path).exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


def reproduce(tmp, *extra):
    book = tmp / "book"
    book.mkdir(exist_ok=True)
    (book / "slow.md").write_text(PAGE)
    (tmp / "plan.yml").write_text("slow: {}\n")
    argv = [sys.executable, "-m", "sphericalae.reproduce", "slow", "--plan", str(tmp / "plan.yml"),
            "--book", str(book), "--out", str(tmp / "out"), *extra]
    return subprocess.Popen(argv, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_reproduce_locks_its_folder_and_sigterm_leaves_a_record(tmp_path):
    marker, release = tmp_path / "marker", tmp_path / "release"
    first = reproduce(tmp_path, "--set", f"marker={marker}", "--set", f"release={release}")
    wait_for(marker, first)
    second = reproduce(tmp_path, "--set", f"marker={tmp_path / 'other'}")
    _, err = second.communicate(timeout=600)
    assert second.returncode == 2 and f"pid {first.pid}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()                   # the refused run ran nothing
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=600)
    # our one line; the kernel, killed with the run, may print its own shutdown noise after it
    terminated = sum(line.startswith("terminated;") for line in err.splitlines())
    assert shell_status(first.returncode) == 143 and terminated == 1, err
    out = tmp_path / "out"
    assert not (out / "slow.ipynb").exists() and (out / "slow.partial.ipynb").exists()
    status = [line.split("\t")[-1] for line in (out / "runs.tsv").read_text().splitlines()]
    assert status == ["started", "interrupted (slow.partial.ipynb)"]
    assert not list(out.glob(".*lock"))


def test_an_interrupted_page_prints_only_its_one_line(tmp_path):
    """Issue 29: after Ctrl-C the kernel, shut down mid-cell, logs a ZMQError traceback; it goes to
    kernel.log in --out, and the terminal shows only the run's own line."""
    marker, release = tmp_path / "marker", tmp_path / "release"
    proc = reproduce(tmp_path, "--set", f"marker={marker}", "--set", f"release={release}")
    wait_for(marker, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("Executing:")]
    assert shell_status(proc.returncode) == 130 and lines[-1].startswith("interrupted;"), err
    assert not [line for line in lines if "Traceback" in line or "Error" in line], err
    assert (tmp_path / "out" / "kernel.log").is_file() and (tmp_path / "out" / "slow.partial.ipynb").is_file()


def test_a_failed_page_keeps_the_last_complete_notebook(tmp_path):
    for extra, code in [([], 0), (["--set", "fail=true"], 1)]:
        proc = reproduce(tmp_path, "--set", f"marker={tmp_path / 'm'}", *extra)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == code, err
    out = tmp_path / "out"
    import nbformat
    assert nbformat.read(out / "slow.ipynb", as_version=4).metadata.papermill.parameters.get("fail") is None
    assert (out / "slow.partial.ipynb").exists() and "AssertionError" in err.strip().splitlines()[-1]
    assert (out / "runs.tsv").read_text().splitlines()[-1].endswith("\tfailed (slow.partial.ipynb)")


def test_two_train_runs_into_one_new_folder_the_second_is_refused_nothing_lost(tmp_path):
    """Issue 20, item 1: an sae and a vae started into the same new --out; the second is refused in
    one line naming the first's pid, and the folder holds the first run, whole."""
    from sphericalae.runlock import LOCK_NAME

    out, gate = tmp_path / "run", tmp_path / "gate"
    # the first run waits at its first step until the gate opens: it holds the lock while the second asks
    first = subprocess.Popen([sys.executable, str(HERE / "fault_runner.py"), f"hold:{gate}", "--", *ARGS,
                              "--out", str(out)], cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    wait_for(out / LOCK_NAME, first)
    argv = [a if a != "vae" else "sae" for a in ARGS]
    second = subprocess.run([sys.executable, "-m", "sphericalae", *argv, "--out", str(out)], cwd=HERE.parent,
                            capture_output=True, text=True, timeout=600)
    gate.touch()
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.wait(timeout=600) == 0, first.communicate()
    state = load_checkpoint(out)
    assert state["model_config"].kind == "vae" and state["epoch"] == 3
    assert len(history_without_time(out)) == 3 and not (out / LOCK_NAME).exists()


def test_a_failed_run_leaves_no_folder_and_an_interrupted_one_says_there_is_no_checkpoint(tmp_path, capsys,
                                                                                          monkeypatch):
    """Items 10 and 20: a run that fails (or is interrupted) before its first checkpoint removes
    the folder it created and says there is nothing to resume, for train and train-gan."""
    import sphericalae.train as T

    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(T, "_loop", broken)
    assert main([*ARGS, "--out", str(tmp_path / "a")]) == 2 and not (tmp_path / "a").exists()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "_loop", interrupted)
    gan = ["train-gan", "--arch", "mlp28", "--latent-dim", "4", "--width", "4", "--epochs", "1", "--no-progress"]
    capsys.readouterr()
    assert main([*gan, "--out", str(tmp_path / "g")]) == 130
    err = capsys.readouterr().err
    assert "no checkpoint was written" in err and "is kept" not in err and not (tmp_path / "g").exists()


# ------------------------------------------------------------------------------ cache folder
@pytest.mark.parametrize("fault", ["env-under-a-file", "folder-where-the-file-goes", "home-under-a-file",
                                   "root-under-a-file", "disk-full"])
def test_a_cache_folder_fault_costs_no_result_and_warns_once(tmp_path, monkeypatch, fault):
    from sphericalae import cache

    monkeypatch.setattr(cache, "_WARNED", set())
    (tmp_path / "file").write_text("x")
    root, setting = None, "SPHERICALAE_CACHE"
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "file" / "cache"))
    if fault == "folder-where-the-file-goes":
        monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "cache"))
        cache.cache_path("thing", {"n": 1}).mkdir(parents=True)
    elif fault == "home-under-a-file":
        monkeypatch.delenv(cache.ENV_VAR)
        monkeypatch.setenv("HOME", str(tmp_path / "file" / "home"))
        setting = "HOME"
    elif fault == "root-under-a-file":
        root, setting = tmp_path / "file", "root argument"
    elif fault == "disk-full":
        monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "cache"))

        def full(obj, f, *args, **kwargs):
            if isinstance(f, (str, Path)):
                with open(f, "wb") as fh:
                    fh.write(b"part")
            else:                                  # entries are serialised in memory first
                f.write(b"part")
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(cache.torch, "save", full)
    calls = []
    with pytest.warns(RuntimeWarning, match=f"not stored.*{setting}") as caught:
        for n in range(2):
            got = cache.cached("thing", {"n": 1}, lambda: calls.append(1) or {"x": torch.ones(2)}, root)
            assert got["x"].sum() == 2
    assert len(calls) == 2 and len([w for w in caught if "not stored" in str(w.message)]) == 1
    assert not list(tmp_path.rglob("*.tmp"))


# ------------------------------------------------------------------ issue 29: Ctrl-C, damage, full disk
def _started(out, wait_for_file, sig):
    """Start the CLI run into ``out`` as a shell's background job (SIGINT ignored), wait until
    ``wait_for_file`` exists, send ``sig``; returns the finished process and its stderr."""
    import time

    pre = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)          # noqa: E731
    proc = subprocess.Popen([sys.executable, "-m", "sphericalae", *ARGS, "--out", str(out)], cwd=HERE.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre)
    while not wait_for_file.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    return proc, err


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_before_the_first_checkpoint_leaves_no_folder_and_says_so(tmp_path, sig, code, word):
    from sphericalae.runlock import LOCK_NAME

    out = tmp_path / "run"
    proc, err = _started(out, out / LOCK_NAME, sig)
    assert shell_status(proc.returncode) == code and not out.exists(), err
    assert err.strip() == f"{word}; no checkpoint was written, so there is nothing to resume"


def test_ctrl_c_mid_run_says_what_is_kept_and_the_resume_is_exact(reference, tmp_path):
    import time

    out = tmp_path / "run"
    pre = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)          # noqa: E731  a background job
    proc = subprocess.Popen([sys.executable, "-m", "sphericalae", *ARGS, "--out", str(out)], cwd=HERE.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre)
    while not (out / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    if proc.returncode == 0:
        pytest.skip("the run ended before the signal arrived")
    epoch = load_checkpoint(out)["epoch"]
    assert shell_status(proc.returncode) == 130 and len(err.strip().splitlines()) == 1, err
    assert f"interrupted; the last checkpoint, {out / 'checkpoint.pt'} (epoch {epoch}), is kept; continue with " \
           "--resume" in err
    assert cli(out, resume=True).returncode == 0
    ref, got = load_checkpoint(reference), load_checkpoint(out)
    assert all(torch.equal(v, got["model"][k]) for k, v in ref["model"].items())


def test_a_damaged_last_checkpoint_resumes_from_the_previous_one(reference, tmp_path):
    """Weights altered on disk (the zip still valid) are caught by the checksum; the run goes on
    from the previous intact checkpoint and ends with the uninterrupted run's weights."""
    out = tmp_path / "run"
    two = [a if a != "3" else "2" for a in ARGS]                       # --epochs 2
    r = subprocess.run([sys.executable, "-m", "sphericalae", *two, "--out", str(out)], cwd=HERE.parent,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and load_checkpoint(out / "checkpoint.prev.pt")["epoch"] == 1, r.stderr
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["model"][next(iter(state["model"]))].view(-1)[:64] *= 4
    torch.save(state, out / "checkpoint.pt")
    r = cli(out, resume=True)
    assert r.returncode == 0, r.stderr
    assert f"{out / 'checkpoint.pt'} is damaged: its contents do not match its checksum" in r.stdout
    assert f"going on from the previous checkpoint, {out / 'checkpoint.prev.pt'} (epoch 1)" in r.stdout
    ref, got = load_checkpoint(reference), load_checkpoint(out)
    assert got["epoch"] == 3 and all(torch.equal(v, got["model"][k]) for k, v in ref["model"].items())
    assert history_without_time(out) == history_without_time(reference)


def test_a_real_full_disk_is_named_and_keeps_the_previous_checkpoint(reference, tmp_path):
    """A tiny tmpfs that holds two checkpoints and not a third (where the machine lets us mount one;
    the patched writer above covers the others)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    size = (reference / "checkpoint.pt").stat().st_size
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size * 2.5) // 4096 * 4096}", "tmpfs", str(disk)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip()})")
    try:
        out = disk / "run"
        r = cli(out)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert f"could not write the run files in {out}" in lines[0] and "No space left on device" in lines[0]
        assert "enforce fail" not in r.stderr and "unexpected pos" not in r.stderr
        assert load_checkpoint(out)["epoch"] == 2 and not list(out.glob("*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
