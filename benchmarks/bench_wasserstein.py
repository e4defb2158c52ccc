"""Exact W2 (eq. 8-9): sphericalae.theory.wasserstein2 against POT's exact solver ot.emd2.

Both solve the same problem on the same sets (n points of each of two Algorithm-1 samples in
R^512, uniform weights); the values must agree, and the ratio POT time / our time is printed
(> 1: ours is faster). Each timing is the best of `--repeat` runs, measured in this one process.

    python benchmarks/bench_wasserstein.py [--sizes 500 1000 2000] [--dim 512] [--repeat 3]
"""
import argparse
import math

import numpy as np
import ot
import torch

from sphericalae import robust_sample
from sphericalae.seeding import torch_generator
from sphericalae.theory import wasserstein2
from timing import best_time


def pot_w2(x, y):
    n = len(x)
    a = np.full(n, 1.0 / n)
    return math.sqrt(ot.emd2(a, a, ot.dist(x, y), numItermax=10**8))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"exact W2, m = {args.dim}, best of {args.repeat}; torch threads = {torch.get_num_threads()}")
    print(f"{'n':>6} {'ours (s)':>10} {'POT (s)':>10} {'POT/ours':>9} {'|diff|':>9}")
    worst = float("inf")
    for n in args.sizes:
        x = robust_sample("normal", n, args.dim, torch_generator(0, "bench_wasserstein", n, "x"),
                          dtype=torch.float64).numpy()
        y = robust_sample("chi2", n, args.dim, torch_generator(0, "bench_wasserstein", n, "y"),
                          dtype=torch.float64).numpy()
        t_ours, v_ours = best_time(lambda: wasserstein2(x, y), args.repeat)
        t_pot, v_pot = best_time(lambda: pot_w2(x, y), args.repeat)
        ratio = t_pot / t_ours
        worst = min(worst, ratio)
        print(f"{n:>6} {t_ours:>10.3f} {t_pot:>10.3f} {ratio:>9.2f} {abs(v_ours - v_pot):>9.1e}")
        assert abs(v_ours - v_pot) < 1e-9 * v_pot, "the two exact solvers disagree"
    print(f"slowest ratio POT/ours: {worst:.2f} ({'ours not slower' if worst >= 1 else 'OURS IS SLOWER'})")


if __name__ == "__main__":
    main()
