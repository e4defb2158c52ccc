"""vMF speed: sphericalae's VonMisesFisher against Power Spherical, and its torch KL against a
scipy-Bessel KL (the approach of the public S-VAE code), all measured in this one process.

1. rsample + KL, forward and backward, batch 1024, m = 11 and 512: ours / Power Spherical
   (goal: at most 1.5x on the CPU).
2. KL alone on the same batch: scipy-Bessel version / ours, and how many of its values are NaN or
   inf (scipy.special.ive on the CPU, cast to float32, as in the public S-VAE code).

    python benchmarks/bench_vmf.py [--device cpu|cuda] [--batch 1024] [--repeat 20]
"""
import argparse
import time

import numpy as np
import torch
from torch.distributions import kl_divergence

from sphericalae.baselines import kl_scipy_float32
from sphericalae.distributions import HypersphericalUniform, VonMisesFisher, power_spherical


def timed(fn, repeat, device):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def scipy_kl(m, k):
    """The public S-VAE recipe (sphericalae.baselines.kl_scipy_float32), with the trip to the CPU
    and back that it costs a GPU model."""
    return torch.from_numpy(kl_scipy_float32(m, k)).to(k.device)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"device {device}, batch {args.batch}, median of {args.repeat}, torch threads {torch.get_num_threads()}")
    print(f"{'m':>5} {'ours (ms)':>10} {'PS (ms)':>9} {'ours/PS':>8}    rsample + KL, forward + backward")
    for m in [11, 512]:
        theta = torch.randn(args.batch, m, device=device, requires_grad=True)
        kappa = (torch.rand(args.batch, 1, device=device) * 100 + 1).requires_grad_()
        target = torch.randn(args.batch, m, device=device)
        uniform = HypersphericalUniform(m, device=device)

        def step(make):
            loc = torch.nn.functional.normalize(theta, dim=-1)
            q = make(loc, kappa)
            loss = ((q.rsample() - target) ** 2).sum() + kl_divergence(q, uniform).sum()
            loss.backward()

        t_ours = timed(lambda: step(VonMisesFisher), args.repeat, device)
        t_ps = timed(lambda: step(power_spherical), args.repeat, device)
        print(f"{m:>5} {1e3 * t_ours:>10.2f} {1e3 * t_ps:>9.2f} {t_ours / t_ps:>8.2f}")

    print(f"{'m':>5} {'ours (ms)':>10} {'scipy (ms)':>11} {'scipy/ours':>10} {'scipy NaN/inf':>14}    KL alone")
    for m in [11, 512]:
        k = torch.logspace(-2, 5, args.batch, device=device)
        uniform = HypersphericalUniform(m, device=device)
        loc = torch.nn.functional.normalize(torch.randn(args.batch, m, device=device), dim=-1)
        t_ours = timed(lambda: kl_divergence(VonMisesFisher(loc, k), uniform), args.repeat, device)
        t_scipy = timed(lambda: scipy_kl(m, k), args.repeat, device)
        bad = int((~torch.isfinite(scipy_kl(m, k))).sum())
        ours_bad = int((~torch.isfinite(kl_divergence(VonMisesFisher(loc, k), uniform))).sum())
        print(f"{m:>5} {1e3 * t_ours:>10.2f} {1e3 * t_scipy:>11.2f} {t_scipy / t_ours:>10.2f} "
              f"{bad:>8}/{args.batch}  (ours: {ours_bad})")


if __name__ == "__main__":
    main()
