"""sphericalae.gan: shapes at each resolution, a few steps move both losses, the spherized
generator's first layer sees unit-norm inputs whatever the prior, exact resume, refused resume with
another config, the NaN guard, the CLI, and the Table 1 builder on a tiny generator."""
import math

import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from sphericalae.__main__ import main
from sphericalae.gan import (GAN_ARCHS, GANConfig, GANTrainConfig, build_gan, fit_gan, gan_arch_for,
                             load_gan_checkpoint, load_gan_run)
from sphericalae.table1 import latents, table1, table1_frame
from sphericalae.features import DigitClassifier
from sphericalae.ops import PIPELINES
from sphericalae.paper import PRIORS


def quiet(*args):
    pass


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(128, 1, 28, 28, generator=gen) > 0.8).float()   # stand-in digits: fast, no I/O
    return TensorDataset(x, torch.zeros(128, dtype=torch.long))


def tc(**kw):
    return GANTrainConfig(**{"epochs": 1, "batch_size": 32, "device": "cpu", **kw})


@pytest.mark.parametrize("arch", list(GAN_ARCHS))
def test_shapes_at_each_resolution(arch):
    gan = build_gan(arch=arch, latent_dim=16, width=4)
    channels, size, _ = GAN_ARCHS[arch]
    with torch.no_grad():
        images = gan.generator(torch.randn(3, 16))
        logits = gan.discriminator(images)
    assert images.shape == (3, channels, size, size)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    assert logits.shape == (3,)


def test_arch_from_image_shape():
    assert gan_arch_for((1, 28, 28)) == "dcgan28"
    assert gan_arch_for((3, 64, 64)) == "dcgan64"
    with pytest.raises(ValueError, match="no GAN architecture"):
        gan_arch_for((3, 48, 48))
    with pytest.raises(ValueError, match="unknown GAN architecture"):
        GANConfig(arch="stylegan")


@pytest.mark.parametrize("arch", ["mlp28", "dcgan28"])
def test_a_few_steps_move_both_losses_and_weights(arch, digits):
    gan = build_gan(arch=arch, latent_dim=8, width=4)
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    history = fit_gan(gan, digits, tc(epochs=2), progress=False, log=quiet, max_batches=3)
    assert len(history) == 2
    assert all(math.isfinite(h[k]) for h in history for k in ("loss_d", "loss_g", "r1"))
    assert history[0]["loss_d"] != history[1]["loss_d"] and history[0]["loss_g"] != history[1]["loss_g"]
    for part in ("generator", "discriminator"):
        moved = [not torch.equal(v, before[k]) for k, v in gan.state_dict().items() if k.startswith(part)]
        assert all(moved), part


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_spherized_generator_sees_unit_norm_inputs(prior, pipeline):
    gan = build_gan(latent_dim=32, width=4, spherize_input=True, arch="mlp28")
    raw = build_gan(latent_dim=32, width=4, spherize_input=False, arch="mlp28")
    z = latents(prior, pipeline, 64, 32, seed=1, radius=7.0)
    for g in (gan, raw):
        g.generator.record = True
        g.generator(z)
    assert torch.allclose(gan.generator.first_input.norm(dim=1), torch.ones(64), atol=1e-5)
    assert torch.equal(raw.generator.first_input, z)                   # raw z, untouched


def test_spherized_generator_ignores_the_scale_of_z():
    gan = build_gan(latent_dim=16, width=4, arch="mlp28")
    z = torch.randn(5, 16)
    assert torch.allclose(gan.generator(z), gan.generator(3.7 * z), atol=1e-6)


def test_resume_ends_with_the_same_weights(digits, tmp_path):
    cfg = dict(arch="dcgan28", latent_dim=8, width=2)
    straight = build_gan(seed=3, **cfg)
    fit_gan(straight, digits, tc(epochs=3, seed=3), out=tmp_path / "a", progress=False, log=quiet)
    part = build_gan(seed=3, **cfg)
    fit_gan(part, digits, tc(epochs=2, seed=3), out=tmp_path / "b", progress=False, log=quiet)
    resumed = build_gan(seed=99, **cfg)                 # other weights: all comes from the checkpoint
    history = fit_gan(resumed, digits, tc(epochs=3, seed=3), out=tmp_path / "b", resume=True,
                      progress=False, log=quiet)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    gan, state = load_gan_run(tmp_path / "b")
    assert state["epoch"] == 3 and state["gan_config"] == GANConfig(**cfg)


def test_resume_with_another_config_is_refused(digits, tmp_path):
    gan = build_gan(arch="mlp28", latent_dim=8, width=4)
    fit_gan(gan, digits, tc(), out=tmp_path, progress=False, log=quiet)
    other = build_gan(arch="mlp28", latent_dim=8, width=4, spherize_input=False)
    with pytest.raises(ValueError, match="spherize_input"):
        fit_gan(other, digits, tc(epochs=2), out=tmp_path, resume=True, progress=False, log=quiet)
    with pytest.raises(ValueError, match="lr"):
        fit_gan(gan, digits, tc(epochs=2, lr=1e-3), out=tmp_path, resume=True, progress=False, log=quiet)
    with pytest.raises(ValueError, match="already holds a run"):
        fit_gan(gan, digits, tc(), out=tmp_path, progress=False, log=quiet)


def test_nan_guard_stops_before_the_weights_are_hit(digits, tmp_path):
    gan = build_gan(arch="mlp28", latent_dim=8, width=4)
    fit_gan(gan, digits, tc(), out=tmp_path, progress=False, log=quiet)
    with torch.no_grad():
        gan.discriminator.net[1].weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite discriminator loss"):
        fit_gan(gan, digits, tc(), progress=False, log=quiet)
    state = load_gan_checkpoint(tmp_path)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_checkpoint_that_is_not_a_gan_is_refused(tmp_path):
    torch.save({"format": "something-else"}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="not a sphericalae run checkpoint \\(format .sphericalae-gan/1. expected"):
        load_gan_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_gan_checkpoint(tmp_path)


def test_cli_train_gan_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train-gan", "--dataset", "lfw-faces", "--image-size", "32", "--latent-dim", "8",
            "--width", "4", "--batch-size", "50", "--epochs", "1", "--device", "cpu",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    state = load_gan_checkpoint(out)
    assert state["gan_config"].arch == "dcgan32" and state["epoch"] == 1
    assert main(args[:-3] + ["--epochs", "2", "--no-progress", "--out", str(out), "--resume"]) == 0
    assert load_gan_checkpoint(out)["epoch"] == 2
    assert main(args[:-1] + [str(out)]) == 2                   # refuses to overwrite
    assert "already holds a run" in capsys.readouterr().err
    assert main(args[:-3] + ["--epochs", "3", "--spherize-input", "off", "--out", str(out),
                             "--resume"]) == 2
    assert "spherize_input" in capsys.readouterr().err


def test_table_builder_on_a_tiny_generator(digits):
    gan = build_gan(arch="mlp28", latent_dim=8, width=2)
    clf = DigitClassifier().eval()
    real = digits.tensors[0]
    rows = table1(gan, real, n=40, reps=2, classifier=clf)      # 128 real images: 2n = 80 fit
    df = pd.DataFrame(rows)
    assert len(df) == 2 * (1 + 16) and set(df["rep"]) == {0, 1}
    assert (df[["fd_cnn", "precision", "recall"]] >= 0).all().all()
    assert (df[["precision", "recall"]] <= 1).all().all()
    frame = table1_frame(rows)
    assert list(frame.index) == list(PRIORS) and list(frame.columns) == list(PIPELINES)
    assert table1_frame(rows, "recall", spread=True).shape == (4, 4)
    # the spherized generator cannot tell the vanilla column from the spherize column
    assert frame.loc["uniform", "vanilla"] == pytest.approx(frame.loc["uniform", "spherize"], rel=1e-4)
    with pytest.raises(ValueError, match="at least 2n"):
        table1(gan, real[:50], n=40, classifier=clf)
