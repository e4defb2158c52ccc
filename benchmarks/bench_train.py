"""Training-step time of every model kind on the same architecture and batch, in one run.

Prints, per architecture, the median time of one optimizer step (forward, backward, Adam) for sae,
ae, vae, svae and ps, each model's time relative to ae (the spherical constraint of sae should
cost at most 3% over ae), and images per second. Mixed precision (bfloat16 autocast) is compared
with float32 on CUDA.

The optimizer: the step time of the book's digit model (mlp, d = 10, one thread, as a build worker
trains it) with the trainers' Adam (:func:`sphericalae.train.adam`, fused) against torch's default
Adam, interleaved; the ratio is the share of the step the fused kernel leaves.

Denormals: the seconds of a whole digit model's training (vae, mlp, d = 10, mnist-5k, one thread,
the loop's batches and Adam) with denormal floats as they come and flushed to zero
(:func:`sphericalae.train.flush_denormals`, what the loop does on the CPU), the two interleaved,
with the final held-out loss of each (the flush must not move it beyond run-to-run noise).

Then the price of a spherical posterior at a large latent size: the step-time ratios svae/sae (vMF)
and ps/sae (Power Spherical) at d = 512 on conv64 in float32 on the CPU, and, where a CUDA device
is at hand, on conv128 under bfloat16 autocast (goal there: svae/sae <= 1.3); without CUDA that
line says it was skipped.

    python benchmarks/bench_train.py [--archs mlp conv64] [--batch 64] [--steps 30] [--device auto]
                                     [--ratios-only] [--adam-only] [--denormals [--epochs 60]]
"""
import argparse
import time

import numpy as np
import torch

from sphericalae.models import ARCHS, KINDS, build
from sphericalae.checks import resolve_device
from sphericalae.train import adam, epoch_batches, flush_denormals


def step_time(kind, arch, batch, steps, device, amp, latent_dim=16, optimizer=torch.optim.Adam):
    """Median seconds of one optimizer step of a fresh model (after 3 warm-up steps), ``optimizer``
    called as ``optimizer(parameters, lr=1e-3)``."""
    model = build(kind=kind, arch=arch, latent_dim=latent_dim).to(device)
    opt = optimizer(model.parameters(), lr=1e-3)
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


def interleaved(kinds, arch, batch, steps, device, amp, latent_dim=16, rounds=3):
    """Median step time per kind, the kinds interleaved over ``rounds`` rounds so that drift in the
    machine's speed hits all alike."""
    runs = {k: [] for k in kinds}
    for _ in range(rounds):
        for kind in kinds:
            runs[kind].append(step_time(kind, arch, batch, steps // rounds or 1, device, amp, latent_dim))
    return {k: float(np.median(v)) for k, v in runs.items()}


def spherical_ratios(batch, steps, latent_dim=512):
    """Print svae/sae and ps/sae at ``latent_dim`` on conv64 (CPU, float32) and conv128 (CUDA, bf16)."""
    print(f"\nspherical posteriors at d = {latent_dim}: step time relative to sae")
    settings = [("conv64", torch.device("cpu"), False), ("conv128", torch.device("cuda"), True)]
    for arch, device, amp in settings:
        where = f"{arch} {'bf16 autocast' if amp else 'float32'} on {device.type}"
        if device.type == "cuda" and not torch.cuda.is_available():
            print(f"  {where}: skipped (no CUDA device here; goal there: svae/sae <= 1.3)")
            continue
        t = interleaved(["sae", "svae", "ps"], arch, batch, steps, device, amp, latent_dim)
        goal = "  (goal <= 1.3)" if device.type == "cuda" else ""
        print(f"  {where}: sae {1e3 * t['sae']:.1f} ms/step, svae/sae {t['svae'] / t['sae']:.3f}, "
              f"ps/sae {t['ps'] / t['sae']:.3f}{goal}")


def adam_ratio(batch, steps, rounds=5):
    """Print the step time of sae on mlp at d = 10 (one thread) with torch's default Adam and with the
    trainers' fused one, interleaved over ``rounds`` rounds, and their ratio."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {"default": [], "fused": []}
    try:
        for _ in range(rounds):
            for name, opt in (("default", torch.optim.Adam), ("fused", adam)):
                runs[name].append(step_time("sae", "mlp", batch, steps, torch.device("cpu"), False, 10, opt))
    finally:
        torch.set_num_threads(threads)
    t = {k: float(np.median(v)) for k, v in runs.items()}
    print(f"\nAdam on the digit model (sae, mlp, d = 10, batch {batch}, one thread, cpu): default "
          f"{1e3 * t['default']:.2f} ms/step, fused {1e3 * t['fused']:.2f} ms/step, fused/default "
          f"{t['fused'] / t['default']:.3f}")


def _train_digits(flush, epochs, batch, data, seed=0):
    """Seconds of ``epochs`` epochs of the vae digit model and its final held-out loss."""
    import contextlib

    (x, _), (xh, _) = data[0].tensors, data[1].tensors
    model = build(kind="vae", arch="mlp", latent_dim=10, seed=seed)
    opt = adam(model.parameters(), lr=1e-3)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    with flush_denormals("cpu") if flush else contextlib.nullcontext():
        for epoch in range(epochs):
            for idx in epoch_batches(len(x), batch, seed, epoch):
                loss = model(x[idx]).total.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        model.eval()
        heldout = float(model(xh).total.mean())
    return seconds, heldout


def denormal_ratio(epochs, batch, rounds=2):
    """Print the training time of the vae digit model with denormals as they come and flushed,
    interleaved over ``rounds`` rounds (one thread), their ratio and each run's held-out loss."""
    from sphericalae.data import load

    data = load("mnist-5k")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {"as they come": [], "flushed": []}
    try:
        for r in range(rounds):
            for name, flush in (("as they come", False), ("flushed", True)):
                runs[name].append(_train_digits(flush, epochs, batch, data, seed=r))
    finally:
        torch.set_num_threads(threads)
    sec = {k: float(np.median([s for s, _ in v])) for k, v in runs.items()}
    loss = {k: ", ".join(f"{h:.2f}" for _, h in v) for k, v in runs.items()}
    print(f"\ndenormals, vae digit model (mlp, d = 10, mnist-5k, {epochs} epochs, batch {batch}, one thread, "
          f"cpu, median of {rounds}): as they come {sec['as they come']:.1f} s, flushed {sec['flushed']:.1f} s, "
          f"flushed/as they come {sec['flushed'] / sec['as they come']:.3f}; held-out loss per seed: as they come "
          f"{loss['as they come']}, flushed {loss['flushed']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["mlp", "conv64"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ratios-only", action="store_true", help="only the svae/sae and ps/sae ratios at d = 512")
    ap.add_argument("--adam-only", action="store_true", help="only the fused against the default Adam")
    ap.add_argument("--denormals", action="store_true", help="only the training time with and without the flush")
    ap.add_argument("--epochs", type=int, default=60, help="epochs of each --denormals run (default 60, the book's)")
    args = ap.parse_args()
    if args.denormals:
        denormal_ratio(args.epochs, args.batch)
        return
    if args.adam_only:
        adam_ratio(args.batch, args.steps)
        return
    if args.ratios_only:
        spherical_ratios(args.batch, args.steps)
        return
    device = resolve_device(args.device)
    modes = [False, True] if device.type == "cuda" else [False]
    print(f"device {device}, batch {args.batch}, median of {args.steps} steps, threads {torch.get_num_threads()}")
    for arch in args.archs:
        for amp in modes:
            t = interleaved(list(KINDS), arch, args.batch, args.steps, device, amp)
            print(f"\n{arch}{' bf16 autocast' if amp else ''}: {'kind':>5} {'ms/step':>9} {'vs ae':>7} {'img/s':>9}")
            for kind in KINDS:
                print(f"{'':>{len(arch) + (13 if amp else 0)}}  {kind:>5} {1e3 * t[kind]:>9.2f} "
                      f"{t[kind] / t['ae']:>7.3f} {args.batch / t[kind]:>9.0f}")
    adam_ratio(args.batch, args.steps)
    spherical_ratios(args.batch, args.steps)


if __name__ == "__main__":
    main()
