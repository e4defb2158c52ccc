"""sphericalae.metrics: the two numerical choices, timed against the obvious alternative in one run.

1. SWD sorts the projections of N * 128 descriptors on 512 directions: numpy's sort (used on the CPU)
   against torch's sort along the same axis. Printed: torch time / numpy time (> 1: numpy is faster).
2. The Frechet distance's tr((C_a C_b)^(1/2)) from the symmetric eigen form (ours) against
   scipy.linalg.sqrtm of C_a C_b (the FID reference's recipe), on d-dimensional features: the two
   values and scipy time / our time.
Then the time of each metric on digits-sized inputs (n images, 28 px; d = 128 features).

    python benchmarks/bench_metrics.py [--n 2000] [--dim 2048] [--repeat 3]
"""
import argparse

import numpy as np
import scipy.linalg
import torch

from sphericalae import metrics as M
from timing import best_time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="images per set")
    ap.add_argument("--dim", type=int, default=2048, help="feature dimension for the Frechet comparison")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)

    proj = torch.randn(128, args.n * 128, generator=g)            # one repeat: 128 directions
    t_torch, _ = best_time(lambda: proj.sort(dim=1).values, args.repeat)
    t_numpy, _ = best_time(lambda: M._sort_rows(proj), args.repeat)
    print(f"sort {tuple(proj.shape)}: torch {t_torch:.3f} s, numpy {t_numpy:.3f} s, ratio {t_torch / t_numpy:.1f}")

    fa = torch.randn(4 * args.dim, args.dim, generator=g, dtype=torch.float64)
    fb = fa @ torch.randn(args.dim, args.dim, generator=g, dtype=torch.float64) / args.dim ** 0.5
    ca, cb = np.cov(fa.numpy(), rowvar=False), np.cov(fb.numpy(), rowvar=False)
    t_ours, ours = best_time(lambda: M.frechet_distance(fa, fb), args.repeat)

    def reference():
        s = scipy.linalg.sqrtm(ca @ cb)
        mu = fa.mean(0).numpy() - fb.mean(0).numpy()
        return float(mu @ mu + np.trace(ca + cb - 2 * s.real))

    t_ref, ref = best_time(reference, 1)
    print(f"Frechet distance, d={args.dim}: ours {ours:.6f} in {t_ours:.3f} s, scipy.sqrtm {ref:.6f} "
          f"in {t_ref:.3f} s, ratio {t_ref / t_ours:.1f}")

    x = torch.rand(2 * args.n, 1, 28, 28, generator=g)
    a, b = x[:args.n], x[args.n:]
    fa, fb = torch.randn(args.n, 128, generator=g), torch.randn(args.n, 128, generator=g)
    for name, fn in [("swd (1 level)", lambda: M.swd(a, b)), ("swd (28, 14, 7)", lambda: M.swd(a, b, min_resolution=7)),
                     ("frechet_distance d=128", lambda: M.frechet_distance(fa, fb)),
                     ("precision_recall d=128", lambda: M.precision_recall(fa, fb))]:
        t, _ = best_time(fn, args.repeat)
        print(f"{name}, n={args.n}: {t:.3f} s")


if __name__ == "__main__":
    main()
