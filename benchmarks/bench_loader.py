"""The data pipeline, in one run: images/s of the image-folder loader alone with 0, 1 and 2 worker
processes, of a full conv128 training step fed by it, and the time of one digits epoch with the
whole-tensor indexing of ``train.fit`` against the item-by-item batch assembly it replaced.

    python benchmarks/bench_loader.py [--images 2000] [--batch 64] [--device auto]

The folder is made of generated JPEGs (smooth random colour fields plus noise) of ``--source-size``
px (default 512: like photo datasets, each is decoded and resized to 128 px), in a temporary
directory removed at the end. Each worker count reads the whole folder once.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sphericalae.config import TrainConfig
from sphericalae.models import ModelConfig
from sphericalae.data import load
from sphericalae.models import build
from sphericalae.checks import resolve_device
from sphericalae.train import batches_of, epoch_batches, fit


def make_folder(root: Path, n: int, size: int = 512):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.random((8, 8, 3))
        img = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC))
        noisy = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / f"img{i:05d}.jpg", quality=90)


def loader_rate(dataset, batch, workers, device, limit):
    batches = epoch_batches(len(dataset), batch, 0, 0)[:limit]
    t0, n = time.perf_counter(), 0
    for x in batches_of(dataset, batches, device, workers):
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def train_rate(dataset, batch, workers, device, steps, amp=None):
    model = build(ModelConfig(kind="sae", arch="conv128", latent_dim=128))
    cfg = TrainConfig(epochs=1, batch_size=batch, device=str(device), workers=workers, amp=amp)
    t0 = time.perf_counter()
    history = fit(model, dataset, cfg, progress=False, log=lambda *a: None, max_batches=steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0), history[0]["seconds"]


def legacy_digits_epoch(train, batch):
    """The loop before the change: each batch stacked item by item, four syncs per step."""
    model = build(ModelConfig(kind="sae", latent_dim=10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    sums = [0.0, 0.0, 0.0]
    for idx in epoch_batches(len(train), batch, 0, 0):
        x = torch.stack([train[int(i)][0] for i in idx])
        losses = model(x)
        loss = losses.total.mean()
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError
        opt.zero_grad()
        loss.backward()
        opt.step()
        sums[0] += float(loss.detach()) * len(idx)
        sums[1] += float(losses.recon.detach().mean()) * len(idx)
        sums[2] += float(losses.kl.detach().mean()) * len(idx)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--source-size", type=int, default=512, help="side of the generated JPEGs")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="training steps per conv128 measurement")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}")

    train, _ = load("mnist-5k")
    new = min(fit(build(ModelConfig(kind="sae", latent_dim=10)), train, TrainConfig(epochs=1, device="cpu"),
                  progress=False, log=lambda *a: None)[0]["seconds"] for _ in range(2))
    old = min(legacy_digits_epoch(train, 64) for _ in range(2))
    print(f"\ndigits epoch (mnist-5k, mlp sae, batch 64, CPU, best of 2): item-by-item {old:.2f} s, "
          f"whole tensors {new:.2f} s, speed-up {old / new:.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_folder(Path(tmp), args.images, args.source_size)
        folder, _ = load(f"folder:{tmp}", image_size=128)
        print(f"\n{args.images} JPEGs of {args.source_size} px written and checked in "
              f"{time.perf_counter() - t0:.1f} s; read at 128 px")
        limit = len(folder) // args.batch
        base = None
        print(f"{'workers':>8} {'loader img/s':>13} {'vs 0':>6} {'conv128 step img/s':>19}")
        for workers in (0, 1, 2):
            rate = loader_rate(folder, args.batch, workers, device, limit)
            base = base or rate
            step, _ = train_rate(folder, args.batch, workers, device, args.steps)
            print(f"{workers:>8} {rate:>13.0f} {rate / base:>6.2f} {step:>19.1f}")
        if device.type == "cuda":
            for amp in (False, True):
                step, _ = train_rate(folder, args.batch, 2, device, args.steps, amp=amp)
                print(f"conv128 step, 2 workers, bf16 {'on ' if amp else 'off'}: {step:.0f} img/s")


if __name__ == "__main__":
    main()
