"""The command line (in-process, through ``main``): configs shared with the API, resume checks, and
every user mistake as one line on stderr with exit status 2 (no traceback)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sphericalae.__main__ import main
from sphericalae.config import TrainConfig
from sphericalae.models import ModelConfig
from sphericalae.models import load_checkpoint
from sphericalae.runfiles import seal

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--dataset", "mnist-5k", "--latent-dim", "6", "--batch-size", "256", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--model", "vae", *FAST, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_help_lists_every_config_field():
    text = subprocess.run([sys.executable, "-m", "sphericalae", "train", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120).stdout
    import dataclasses
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flags", (f"--{f.name.replace('_', '-')}",))[0]
            assert flag in text, flag
    for opt in ("--out", "--resume", "{sae,vae,svae,ps,ae}", "{bce,l2,l1}"):
        assert opt in text


def test_config_json_and_checkpoint_hold_the_configs(trained):
    saved = json.loads((trained / "config.json").read_text())
    state = load_checkpoint(trained)
    assert saved["model"]["kind"] == "vae" and saved["model"]["arch"] == "mlp" and saved["model"]["recon"] == "bce"
    assert saved["train"]["dataset"] == "mnist-5k" and saved["train"]["seed"] == 0
    assert state["model_config"] == ModelConfig(**saved["model"])
    assert state["train_config"] == TrainConfig(**saved["train"])


def test_resume_with_a_changed_setting_is_refused_naming_each_field(trained, capsys):
    before = (trained / "config.json").read_text()
    code, _, err = run(capsys, "train", "--model", "vae", *FAST, "--epochs", "2", "--seed", "3", "--lr", "0.01",
                       "--out", trained, "--resume")
    one_line_error(code, err, "seed: 0 in the checkpoint, 3 now", "lr: 0.001 in the checkpoint, 0.01 now")
    code, _, err = run(capsys, "train", "--model", "sae", *FAST, "--epochs", "2", "--out", trained, "--resume")
    one_line_error(code, err, "model kind: 'vae' in the checkpoint, 'sae' now")
    code, _, err = run(capsys, "train", "--model", "vae", *FAST, "--epochs", "2", "--split-seed", "1",
                       "--out", trained, "--resume")
    one_line_error(code, err, "split_seed: 0 in the checkpoint, 1 now")
    assert (trained / "config.json").read_text() == before          # a failed resume changes nothing
    assert load_checkpoint(trained)["epoch"] == 1


def test_cli_accepts_every_prior_name_the_api_accepts(trained, tmp_path, capsys):
    for prior in ("gaussian", "chi-squared", "poisson"):
        code, out, err = run(capsys, "sample", "--run", trained, "--prior", prior, "-n", "4",
                             "--pipeline", "both", "--out", tmp_path / f"{prior}.png")
        assert code == 0, err
    code, out, err = run(capsys, "sample", "--run", trained, "-n", "4", "--out", tmp_path / "own.png")
    assert code == 0 and "own prior" in out


def test_sample_does_not_overwrite(trained, tmp_path, capsys):
    target = tmp_path / "grid.png"
    target.write_bytes(b"precious")
    code, _, err = run(capsys, "sample", "--run", trained, "--out", target)
    one_line_error(code, err, "exists; pass --force")
    assert target.read_bytes() == b"precious"
    assert run(capsys, "sample", "--run", trained, "--out", target, "--force")[0] == 0


def test_sample_refuses_nan_weights(trained, tmp_path, capsys):
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    state["model"] = {k: v * float("nan") for k, v in state["model"].items()}
    (tmp_path / "nan").mkdir()
    torch.save(seal(state), tmp_path / "nan" / "checkpoint.pt")     # NaN weights with a valid checksum
    code, _, err = run(capsys, "sample", "--run", tmp_path / "nan", "--out", tmp_path / "g.png")
    one_line_error(code, err, "NaN or infinite weights")
    assert not (tmp_path / "g.png").exists()


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("content,needle", [
    (b"", "not a readable checkpoint"),
    (bytes(range(256)) * 40, "not a readable checkpoint"),
    ("truncated", "not a readable checkpoint"),
    ("dict", "not a sphericalae run checkpoint"),
    ("evil", "refused"),
])
def test_bad_checkpoints_are_one_line_errors(trained, tmp_path, capsys, content, needle):
    bad = tmp_path / "bad"
    bad.mkdir()
    path = bad / "checkpoint.pt"
    if content == "truncated":
        data = (trained / "checkpoint.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "dict":
        torch.save({"weights": torch.zeros(3)}, path)
    elif content == "evil":
        torch.save({"model": _Evil()}, path)
    else:
        path.write_bytes(content)
    for argv in (["sample", "--run", bad, "--out", tmp_path / "g.png"],
                 ["train", "--model", "vae", *FAST, "--epochs", "2", "--out", bad, "--resume"]):
        code, out, err = run(capsys, *argv)
        one_line_error(code, err, needle)
        assert "weights_only=False" not in err and "pwned" not in out


@pytest.mark.parametrize("make,needle", [
    (lambda d: d / "afile", "is a file, not a folder"),
    (lambda d: d / "afile" / "run", "a file is in the way"),
    (lambda d: "", "run folder (--out) is empty"),
    (lambda d: d / "foreign", "not part of a sphericalae run (notes.txt)"),
    (lambda d: d / "orphan", "but no checkpoint"),
])
def test_bad_run_folders(tmp_path, capsys, make, needle):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    (tmp_path / "orphan").mkdir()
    (tmp_path / "orphan" / "config.json").write_text("{}")
    code, _, err = run(capsys, "train", "--model", "sae", *FAST, "--epochs", "1", "--out", make(tmp_path))
    one_line_error(code, err, needle)
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "orphan" / "config.json").read_text() == "{}"


@pytest.mark.parametrize("argv,needle", [
    (["--model", "gan"], "valid models: sae, vae, svae, ps, ae"),
    (["--model", "sae", "--dataset", "cifar"], "valid datasets: mnist-5k, mnist, lfw-faces, folder:PATH"),
    (["--model", "vae", "--beta", "-1"], "beta must be >= 0"),
    (["--model", "vae", "--beta", "inf"], "beta must be a finite number"),
    (["--model", "sae", "--seed", str(2**70)], "seed must be an integer in [0, 2^63)"),
    (["--model", "sae", "--seed", "-1"], "seed must be an integer in [0, 2^63)"),
    (["--model", "sae", "--amp", "maybe"], "amp must be true, false or None"),
    (["--model", "sae", "--recon", "l3"], "valid reconstruction losses: bce, l2, l1"),
])
def test_bad_train_options(tmp_path, capsys, argv, needle):
    code, _, err = run(capsys, "train", *argv, "--epochs", "1", "--out", tmp_path / "run")
    one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_bad_sample_options(trained, tmp_path, capsys):
    code, _, err = run(capsys, "sample", "--run", trained, "--prior", "cauchy", "--out", tmp_path / "g.png")
    one_line_error(code, err, "valid priors: normal, uniform, poisson, chi2")
    code, _, err = run(capsys, "sample", "--run", tmp_path / "nowhere", "--out", tmp_path / "g.png")
    one_line_error(code, err, "no checkpoint")
    code, _, err = run(capsys, "sample", "--run", trained, "--pipeline", "sideways", "--out", tmp_path / "g.png")
    one_line_error(code, err, "valid pipelines")


def test_ctrl_c_says_where_the_last_checkpoint_is(trained, tmp_path, capsys, monkeypatch):
    import shutil

    import sphericalae.train

    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sphericalae.train, "fit", interrupted)
    code, _, err = run(capsys, "train", "--model", "vae", *FAST, "--epochs", "3", "--out", run_dir, "--resume")
    assert code == 130 and "epoch 1" in err and str(run_dir / "checkpoint.pt") in err and "--resume" in err
    code, _, err = run(capsys, "train", "--model", "vae", *FAST, "--epochs", "3", "--out", tmp_path / "new")
    assert code == 130 and "no checkpoint was written, so there is nothing to resume" in err


def test_same_command_same_bits(tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        assert main(["train", "--model", "vae", *FAST, "--epochs", "1", "--out", str(tmp_path / name)]) == 0
        runs.append(load_checkpoint(tmp_path / name))
    for key, value in runs[0]["model"].items():
        assert torch.equal(value, runs[1]["model"][key]), key
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]] for r in runs]
    assert strip[0] == strip[1] and math.isfinite(strip[0][0]["train_loss"])


# --- issue 20: the engine's share of reliability, round two -------------------------------------------

GAN = ["train-gan", "--latent-dim", "4", "--width", "4", "--epochs", "1", "--batch-size", "500", "--no-progress"]


@pytest.mark.parametrize("argv,needle", [
    (["train", "--model", "sae", *FAST, "--image-size", "64"], "image_size 64 is not available for mnist-5k"),
    (["train-gan", "--dataset", "mnist-5k", "--image-size", "32"], "image_size 32 is not available for mnist-5k"),
    ([*GAN, "--arch", "mlp28", "--dataset", "lfw-faces"], "makes images of shape (1, 28, 28)"),
    ([*GAN, "--arch", "dcgan64", "--dataset", "mnist-5k"], "use mlp28 or dcgan28"),
])
def test_settings_that_cannot_happen_are_refused_before_a_run(tmp_path, capsys, argv, needle):
    """Items 4 and 14: an image size the dataset cannot give, an architecture that does not read the
    dataset's images: one line, and no config.json recording what did not happen."""
    code, _, err = run(capsys, *argv, "--out", tmp_path / "run")
    one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def _edit_checkpoint(src, dst, edit):
    import shutil

    shutil.copytree(src, dst)
    state = torch.load(dst / "checkpoint.pt", weights_only=True)
    edit(state)
    torch.save(seal(state), dst / "checkpoint.pt")       # damage written with a valid checksum: the checks after it
    (dst / "checkpoint.prev.pt").unlink(missing_ok=True)


@pytest.mark.parametrize("edit,needle", [
    (lambda s: s.pop("model"), "is incomplete: it has no model"),
    (lambda s: s.pop("optimizer"), "is incomplete: it has no optimizer"),
    (lambda s: s.update(history=None), "history a list"),
    (lambda s: s.update(epoch="1"), "epoch must be an integer"),
    (lambda s: s["model"].update({k: v * float("nan") for k, v in s["model"].items()}), "NaN or infinite weights"),
    (lambda s: s["model"].pop(next(iter(s["model"]))), "missing: encoder.net.1.weight"),
])
def test_damaged_checkpoints_are_refused_by_name_on_resume(trained, tmp_path, capsys, edit, needle):
    """Items 11, 12 and 17: a resume from a checkpoint with a missing key, a bad epoch or history,
    NaN weights or a missing tensor: one line naming the file and what is wrong."""
    out = tmp_path / "run"
    _edit_checkpoint(trained, out, edit)
    code, _, err = run(capsys, "train", "--model", "vae", *FAST, "--epochs", "2", "--out", out, "--resume")
    one_line_error(code, err, needle)
    assert "is kept" not in err and str(out) in err


def test_a_gan_state_dict_with_a_missing_tensor_names_it(tmp_path, capsys):
    from sphericalae.gan import load_gan_run

    out = tmp_path / "gan"
    assert main([*GAN, "--arch", "mlp28", "--out", str(out)]) == 0
    _edit_checkpoint(out, tmp_path / "broken", lambda s: s["model"].pop("generator.fc.bias"))
    with pytest.raises(ValueError, match=r"missing: generator\.fc\.bias; unexpected: none"):
        load_gan_run(tmp_path / "broken")


@pytest.mark.parametrize("seed", [str(2**63), "1180591620717411303424", "-1"])
def test_sample_checks_its_seed_as_train_does(trained, tmp_path, capsys, seed):
    # a huge seed used to end in 'Overflow when unpacking long long'; -1 was accepted
    code, _, err = run(capsys, "sample", "--run", trained, "--seed", seed, "--out", tmp_path / "g.png")
    one_line_error(code, err, "--seed must be an integer in [0, 2^63)")
    code, _, err = run(capsys, "train", "--model", "sae", *FAST, "--seed", seed, "--out", tmp_path / "r")
    one_line_error(code, err, "seed must be an integer in [0, 2^63)")
    assert not (tmp_path / "g.png").exists()


def test_seed_check_is_shared_by_the_api():
    from sphericalae.ops import robust_sample

    for seed in (-1, 2**64):
        with pytest.raises(ValueError, match=r"generator \(an int seed\) must be an integer in \[0, 2\^64\)"):
            robust_sample("normal", 3, 4, seed)


def test_a_raw_pickle_checkpoint_is_one_line_without_a_warning(tmp_path):
    # torch.load printed a UserWarning (pickle protocol 4) before the error
    import pickle

    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / "checkpoint.pt", "wb") as fh:
        pickle.dump({"model": [1, 2, 3]}, fh, protocol=4)
    r = subprocess.run([sys.executable, "-m", "sphericalae", "sample", "--run", str(tmp_path / "run"),
                        "--out", str(tmp_path / "g.png")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "checkpoint.pt" in r.stderr and "Warning" not in r.stderr


@pytest.mark.parametrize("n", [str(2**70), str(10**9)])
def test_sample_refuses_a_grid_beyond_memory_before_drawing(trained, tmp_path, capsys, n):
    """Issue 29: ``sample -n 2**70`` ended in a C++ stack trace; now one line, nothing allocated."""
    code, _, err = run(capsys, "sample", "--run", trained, "-n", n, "--out", tmp_path / "g.png")
    one_line_error(code, err, f"{n} images would need", "GiB", "ask for fewer")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("edit,needle", [
    (lambda s: s.update(model=list(s["model"].values())), "model must map parameter names to tensors"),
    (lambda s: s["model"].update({k: "abc" for k in s["model"]}), "model must map parameter names to tensors"),
    (lambda s: s.update(optimizer="adam"), "optimizer is not an optimizer state"),
    (lambda s: s["optimizer"]["state"][0].update(exp_avg="x"), "optimizer is not an optimizer state"),
    (lambda s: s["optimizer"]["state"][0]["exp_avg"].fill_(float("nan")), "optimizer holds NaN or infinite"),
    (lambda s: s["optimizer"]["state"][0].update(exp_avg=torch.zeros(3)), "exp_avg of parameter 0 has shape (3,)"),
    (lambda s: s.update(rng_cpu="abc"), "rng_cpu must be a random generator state"),
    (lambda s: s.update(rng_cpu=0.5), "rng_cpu must be a random generator state"),
    (lambda s: s.update(rng_cpu=s["rng_cpu"][:100]), "rng_cpu must be a random generator state"),
    (lambda s: s.update(history=[1, 2]), "history entry 1 must map names to numbers"),
    (lambda s: s["history"][0].update(train_loss="abc"), "history entry 1 must map names to numbers"),
])
def test_a_checkpoint_of_the_wrong_structure_is_one_line_on_resume(trained, tmp_path, capsys, edit, needle):
    """Issue 29: a checkpoint whose fields have the wrong type, even with a valid checksum, is
    refused in one line naming the file, before anything is loaded."""
    out = tmp_path / "run"
    _edit_checkpoint(trained, out, edit)
    code, _, err = run(capsys, "train", "--model", "vae", *FAST, "--epochs", "2", "--out", out, "--resume")
    one_line_error(code, err, needle, str(out / "checkpoint.pt"))


def _scale_first_layer(path):
    """Alter weights on disk as a bad sector or a careless script would: the file stays a valid zip."""
    state = torch.load(path, weights_only=True)
    name = next(iter(state["model"]))
    state["model"][name].view(-1)[:64] *= 4
    torch.save(state, path)


def test_weights_altered_on_disk_are_refused_by_their_checksum(trained, tmp_path, capsys):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained, out)
    (out / "checkpoint.prev.pt").unlink(missing_ok=True)
    _scale_first_layer(out / "checkpoint.pt")
    for argv in (["sample", "--run", out, "--out", tmp_path / "g.png"],
                 ["train", "--model", "vae", *FAST, "--epochs", "2", "--out", out, "--resume"]):
        code, _, err = run(capsys, *argv)
        one_line_error(code, err, f"{out / 'checkpoint.pt'} is damaged: its contents do not match its checksum")
    assert not (tmp_path / "g.png").exists()
