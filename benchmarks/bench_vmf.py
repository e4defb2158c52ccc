"""vMF speed: sphericalae's VonMisesFisher against Power Spherical, and its torch KL against a
scipy-Bessel KL (the approach of the public S-VAE code), all measured in this one process.

1. rsample + KL, forward and backward (an S-VAE step's share), for m = 3, 11, 64, 512 at batch
   1024 and 64: ours / Power Spherical (goal: at most 1.5x).
2. KL alone (forward) on a batch of 1024 concentrations from 1e-2 to 1e5, m = 11 and 512:
   ours / the scipy float32 recipe (goal at m = 512: at most 3x), and how many of the recipe's
   values are NaN or inf (scipy.special.ive on the CPU, cast to float32, as in the public S-VAE
   code; ours are all finite).

Each ratio compares two functions timed in alternation (ours, theirs, ours, ...) in this process,
so that a busy machine slows both alike; the times are medians over ``--repeat`` alternations. On
the CPU they are the process's CPU time (``time.process_time``: time spent waiting for a core
shared with other programs is not counted), on CUDA wall time with a synchronize on each side.

    python benchmarks/bench_vmf.py [--device cpu|cuda] [--repeat 30]
"""
import argparse
import time

import numpy as np
import torch
from torch.distributions import kl_divergence

from sphericalae.baselines import kl_scipy_float32
from sphericalae.distributions import HypersphericalUniform, VonMisesFisher, power_spherical

STEP_GOAL, KL_GOAL = 1.5, 3.0


def alternating(fns, repeat, device):
    """Median seconds of each function in ``fns``, called in alternation ``repeat`` times (after one
    warm-up call each)."""
    for fn in fns:
        fn()
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = clock()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            out.append(clock() - t0)
    return [float(np.median(t)) for t in times]


def scipy_kl(m, k):
    """The public S-VAE recipe (sphericalae.baselines.kl_scipy_float32), with the trip to the CPU
    and back that it costs a GPU model."""
    return torch.from_numpy(kl_scipy_float32(m, k)).to(k.device)


def step_ratio(dim, batch, repeat, device):
    """(ours, PS) seconds of one rsample + KL, forward + backward, in float32 as a model has them."""
    gen = torch.Generator().manual_seed(dim * batch)
    theta = torch.randn(batch, dim, generator=gen).to(device).requires_grad_()
    kappa = (torch.rand(batch, 1, generator=gen) * 100 + 1).to(device).requires_grad_()
    target = torch.randn(batch, dim, generator=gen).to(device)
    uniform = HypersphericalUniform(dim, device=device)

    def step(make):
        loc = torch.nn.functional.normalize(theta, dim=-1)
        q = make(loc, kappa)
        loss = ((q.rsample() - target) ** 2).sum() + kl_divergence(q, uniform).sum()
        loss.backward()

    return alternating([lambda: step(VonMisesFisher), lambda: step(power_spherical)], repeat, device)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, median of {args.repeat} alternations, torch threads {torch.get_num_threads()}")
    print(f"{'dim':>5} {'batch':>6} {'ours (ms)':>10} {'PS (ms)':>9} {'ours/PS':>8}    rsample + KL, forward + backward"
          f" (goal <= {STEP_GOAL})")
    met = []
    for batch in [1024, 64]:
        for dim in [3, 11, 64, 512]:
            t_ours, t_ps = step_ratio(dim, batch, args.repeat, device)
            met.append(t_ours / t_ps <= STEP_GOAL)
            print(f"{dim:>5} {batch:>6} {1e3 * t_ours:>10.2f} {1e3 * t_ps:>9.2f} {t_ours / t_ps:>8.2f}")

    print(f"{'dim':>5} {'ours (ms)':>10} {'scipy (ms)':>11} {'ours/scipy':>10} {'scipy NaN/inf':>14}    KL alone, batch"
          f" 1024 (goal at dim 512: <= {KL_GOAL})")
    batch = 1024
    for dim in [11, 512]:
        k = torch.logspace(-2, 5, batch, device=device)
        uniform = HypersphericalUniform(dim, device=device)
        loc = torch.nn.functional.normalize(torch.randn(batch, dim, device=device), dim=-1)
        t_ours, t_scipy = alternating([lambda: kl_divergence(VonMisesFisher(loc, k), uniform),
                                       lambda: scipy_kl(dim, k)], args.repeat, device)
        bad = int((~torch.isfinite(scipy_kl(dim, k))).sum())
        ours_bad = int((~torch.isfinite(kl_divergence(VonMisesFisher(loc, k), uniform))).sum())
        if dim == 512:
            met.append(t_ours / t_scipy <= KL_GOAL)
        print(f"{dim:>5} {1e3 * t_ours:>10.2f} {1e3 * t_scipy:>11.2f} {t_ours / t_scipy:>10.2f} "
              f"{bad:>8}/{batch}  (ours: {ours_bad})")
    print(f"goals met: {sum(met)} of {len(met)}")


if __name__ == "__main__":
    main()
