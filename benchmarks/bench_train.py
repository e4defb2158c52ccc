"""Training-step time of every model kind on the same architecture and batch, in one run.

Prints, per architecture, the median time of one optimizer step (forward, backward, Adam) for sae,
ae, vae, svae and ps, each model's time relative to ae (the spherical constraint of sae should
cost at most 3% over ae), and images per second. Mixed precision (bfloat16 autocast) is compared
with float32 on CUDA.

    python benchmarks/bench_train.py [--archs mlp conv64] [--batch 64] [--steps 30] [--device auto]
"""
import argparse
import time

import numpy as np
import torch

from sphericalae.models import ARCHS, KINDS, build
from sphericalae.train import resolve_device


def step_time(kind, arch, batch, steps, device, amp):
    model = build(kind=kind, arch=arch, latent_dim=16).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, *ARCHS[arch].image_shape, device=device)
    times = []
    for i in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = model(x).total.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["mlp", "conv64"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    modes = [False, True] if device.type == "cuda" else [False]
    print(f"device {device}, batch {args.batch}, median of {args.steps} steps, threads {torch.get_num_threads()}")
    for arch in args.archs:
        for amp in modes:
            # interleave kinds over rounds so that drift in machine speed hits all alike
            runs = {k: [] for k in KINDS}
            for _ in range(3):
                for kind in KINDS:
                    runs[kind].append(step_time(kind, arch, args.batch, args.steps // 3 or 1, device, amp))
            t = {k: float(np.median(v)) for k, v in runs.items()}
            print(f"\n{arch}{' bf16 autocast' if amp else ''}: {'kind':>5} {'ms/step':>9} {'vs ae':>7} {'img/s':>9}")
            for kind in KINDS:
                print(f"{'':>{len(arch) + (13 if amp else 0)}}  {kind:>5} {1e3 * t[kind]:>9.2f} "
                      f"{t[kind] / t['ae']:>7.3f} {args.batch / t[kind]:>9.0f}")


if __name__ == "__main__":
    main()
