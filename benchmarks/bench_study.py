"""The cost of the book's digit study (5 kinds x seeds, the same epochs for every model) at each latent
dimension of ``--dims``, side by side in one run: by default the book's d = 10 and the paper's
d_z = 512 (issue 28), so the ratio of the two is measured on one machine at one time.

For each dimension: the models are trained as a build trains them (worker processes of one thread
each, :func:`sphericalae.experiments.trained_grid`), into a temporary cache folder (nothing is read
from the book's cache), then every study the verdict page computes from them (the four digit
studies, the priors row's noise floor and the training report) side by side. Printed per dimension:
model-epochs, the summed training CPU seconds of the models (each epoch's own timing), the wall
time of training and of the studies, and the ratios against the first dimension.

    python benchmarks/bench_study.py [--dims 10 512] [--seeds 5] [--epochs 60]

``--seeds 1`` measures a fifth of the grid (the per-model costs, and so the ratios, are the same).
"""
import argparse
import os
import tempfile
import time

from sphericalae.dimension import training_report
from sphericalae.experiments import DIGIT_STUDIES, STUDY_KINDS, compute_in_parallel, study_models
from sphericalae.nulls import prior_null_study
from sphericalae.parallel import jobs
from sphericalae.studies import DigitStudy


def measure(study, root):
    """Train ``study``'s grid and compute its studies into the cache folder ``root``; returns
    ``{model_epochs, cpu, train_wall, study_wall}``."""
    os.environ["SPHERICALAE_CACHE"] = str(root)
    t0 = time.perf_counter()
    grid = study_models(study, progress=False)
    train_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    compute_in_parallel([(fn, study) for fn in (*DIGIT_STUDIES, prior_null_study, training_report)], "cpu")
    study_wall = time.perf_counter() - t0
    histories = [h for _, h in grid.values()]
    return {"model_epochs": sum(len(h) for h in histories),
            "cpu": sum(r["seconds"] for h in histories for r in h),
            "train_wall": train_wall, "study_wall": study_wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, nargs="+", default=[10, 512])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=DigitStudy().epochs)
    args = ap.parse_args()
    print(f"digit study: {len(STUDY_KINDS)} kinds x {args.seeds} seeds, mnist-5k, {args.epochs} epochs each, "
          f"batch 64, {jobs()} worker processes x 1 thread")
    out = {}
    with tempfile.TemporaryDirectory() as root:
        for d in args.dims:
            out[d] = measure(DigitStudy(latent_dim=d, seeds=args.seeds, epochs=args.epochs, device="cpu"),
                             f"{root}/d{d}")
            r = out[d]
            print(f"d = {d:>4}: {r['model_epochs']} model-epochs, training CPU {r['cpu']:.0f} s "
                  f"({r['cpu'] / r['model_epochs']:.2f} s per model-epoch), wall: training {r['train_wall']:.0f} s, "
                  f"studies {r['study_wall']:.0f} s", flush=True)
    base = out[args.dims[0]]
    for d in args.dims[1:]:
        r = out[d]
        print(f"ratio d = {d} / d = {args.dims[0]}: training CPU {r['cpu'] / base['cpu']:.2f}, training wall "
              f"{r['train_wall'] / base['train_wall']:.2f}, studies wall {r['study_wall'] / base['study_wall']:.2f}")


if __name__ == "__main__":
    main()
