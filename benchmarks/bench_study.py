"""The cost of the book's default digit study (5 kinds x 5 seeds, every model converged), before and
after the stop rule, in one run.

*Before*: every model trains the fixed budget the slowest kinds need (``--fixed``, 150 epochs: in
our trial runs Power Spherical and S-VAE needed about 100-110 epochs at the study's batch size 64
and learning rate 1e-3 to meet the convergence criterion, SAE and AE about 30-45). With ``--full``
it also prints the criterion after the fixed budget: a fixed budget that suits the slow kinds lets
the fast ones overfit (their held-out loss rises again), so it need not meet the criterion either. *After*: each
model stops once converged (``TrainConfig.converge = CONVERGED``, at least ``MIN_EPOCHS`` epochs),
the cap being the same ``--fixed`` epochs. Both as the study trains: two worker processes of one
thread each, models cached in a temporary folder (nothing is read from the book's cache).

By default the *after* study is trained and timed, and the *before* cost is its per-epoch times
extended to the fixed budget (each model's mean seconds per epoch x ``--fixed``), which costs
nothing extra; ``--full`` trains the fixed-budget study too and times it. Also printed: the old
default (30 epochs for every model, not converged) at the same per-epoch times, and, per kind, the
epochs each model needed and the criterion's value when it stopped.

    python benchmarks/bench_study.py [--seeds 5] [--fixed 150] [--full]

Other levers measured while choosing (trial runs, not repeated here): a batch of 256 at learning
rate 2e-3 needs more epochs to meet the criterion than it saves per epoch (PS still 3.3% at 150
epochs); learning rate 2e-3 at batch 64 leaves the VAE's held-out loss 10% higher (99.7 against
90.2 nats); training the five seeds as one vmap-batched ensemble (torch.func) was not faster than
five separate models on this CPU (34 against 5 x 6 ms per step for the AE), so it was not adopted.
"""
import argparse
import os
import tempfile
import time

import numpy as np

from sphericalae.experiments import CONVERGED, STUDY_KINDS, trained_grid
from sphericalae.parallel import jobs
from sphericalae.train import MIN_EPOCHS, convergence


def study(seeds, epochs, converge, root):
    """Train the study's grid into the cache folder ``root`` (the worker processes read
    ``$SPHERICALAE_CACHE``); returns (wall seconds, {(kind, seed): history})."""
    fields = dict(dataset="mnist-5k", epochs=epochs, batch_size=64, device="cpu", converge=converge)
    os.environ["SPHERICALAE_CACHE"] = str(root)
    t0 = time.perf_counter()
    grid = trained_grid(STUDY_KINDS, range(seeds), {"latent_dim": 10}, fields, progress=False)
    return time.perf_counter() - t0, {k: h for k, (_, h) in grid.items()}


def cpu_seconds(histories, epochs=None):
    """Summed training seconds of every model; with ``epochs``, each model's mean seconds per epoch
    times ``epochs``."""
    per_epoch = {k: np.mean([r["seconds"] for r in h]) for k, h in histories.items()}
    if epochs is None:
        return sum(sum(r["seconds"] for r in h) for h in histories.values())
    return sum(v * epochs for v in per_epoch.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fixed", type=int, default=150, help="the fixed budget (epochs) of 'before', the cap of 'after'")
    ap.add_argument("--full", action="store_true", help="train the fixed-budget study too")
    args = ap.parse_args()
    n = len(STUDY_KINDS) * args.seeds
    print(f"digit study: {len(STUDY_KINDS)} kinds x {args.seeds} seeds = {n} models, mnist-5k, batch 64, "
          f"lr 1e-3, {jobs()} worker processes x 1 thread")
    with tempfile.TemporaryDirectory() as root:
        wall, hist = study(args.seeds, args.fixed, CONVERGED, root + "/after")
        after = cpu_seconds(hist)
        print(f"\nafter (stop rule, criterion {CONVERGED:.0%}, from epoch {MIN_EPOCHS}, cap {args.fixed}): "
              f"wall {wall:.0f} s, training CPU {after:.0f} s, {sum(len(h) for h in hist.values())} model-epochs")
        for kind in STUDY_KINDS:
            runs = [hist[kind, s] for s in range(args.seeds)]
            print(f"  {kind:>5}: epochs {', '.join(str(len(h)) for h in runs)}; criterion at stop "
                  f"{', '.join(f'{convergence(h):.2%}' for h in runs)}")
        if args.full:
            wall_b, hist_b = study(args.seeds, args.fixed, None, root + "/before")
            before, how = cpu_seconds(hist_b), f"measured, wall {wall_b:.0f} s"
            print(f"  criterion after {args.fixed} epochs: largest {max(convergence(h) for h in hist_b.values()):.2%}")
        else:
            before, how = cpu_seconds(hist, args.fixed), "each model's s/epoch above x the budget"
            wall_b = wall * before / after
        print(f"before (fixed {args.fixed} epochs for every model; {how}): training CPU {before:.0f} s, "
              f"{n * args.fixed} model-epochs")
        print(f"old default (30 epochs, not converged), same s/epoch: training CPU {cpu_seconds(hist, 30):.0f} s")
        print(f"\nratio after / before: {after / before:.2f} (CPU); wall about {wall:.0f} s against {wall_b:.0f} s")


if __name__ == "__main__":
    main()
