"""What an edit of a metric costs a study: the priors page's study (the book's digit study at d = 10)
recomputed with its FD-CNN features computed, as before they were stored, and read back from the
cache (:func:`sphericalae.features.stored_features`, what a recomputed study does now), the two
interleaved in one run.

Each run works in a temporary cache folder that links the book's cached models, digit classifier
and mixtures (trained first when missing) and, for the stored run, the stored features, so the
study itself is recomputed every time, as after an edit of ``frechet_distance``. Printed: the
median seconds of each, their ratio, and the largest relative difference of a score between the
two (features computed on another thread count may differ in their last bits; nothing more).

    python benchmarks/bench_rescore.py [--repeats 2] [--latent-dim 10]
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import sphericalae.experiments as E
from sphericalae.cache import cache_root
from sphericalae.features import features, stored_features
from sphericalae.studies import DigitStudy

KEPT = ("autoencoder-", "digit-classifier-", "code-mixture-")


def linked_cache(source: Path, target: Path, with_features: bool) -> None:
    """``target`` holding links to the entries of ``source`` a recomputed study reads."""
    target.mkdir(parents=True)
    prefixes = KEPT + (("features-",) if with_features else ())
    for entry in source.glob("*.pt"):
        if entry.name.startswith(prefixes):
            (target / entry.name).symlink_to(entry)


def rescore(study, source: Path, work: Path, stored: bool):
    """Seconds to recompute ``study``'s prior study, and its rows."""
    os.environ["SPHERICALAE_CACHE"] = str(work)
    linked_cache(source, work, stored)
    E.stored_features = stored_features if stored else features
    try:
        t0 = time.perf_counter()
        rows = E.prior_study(study)["scores"]
        return time.perf_counter() - t0, rows
    finally:
        E.stored_features = stored_features


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--latent-dim", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    study = DigitStudy(latent_dim=args.latent_dim)
    source = cache_root()
    E.prior_study(study)                          # the models, mixtures and features, once, in the book's cache
    times = {"computed": [], "stored": []}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for how in ("computed", "stored"):
                seconds, rows[how] = rescore(study, source, Path(tmp) / f"{how}{r}", how == "stored")
                times[how].append(seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    gap = max(abs(a[m] - b[m]) / max(abs(a[m]), 1e-12) for a, b in zip(rows["computed"], rows["stored"])
              for m in ("FD-CNN", "precision", "recall"))
    print(f"prior study recomputed ({study.summary()}; {study.n_samples} samples per cell, one thread, cpu, "
          f"median of {args.repeats}): features computed {med['computed']:.1f} s, features stored "
          f"{med['stored']:.1f} s, stored/computed {med['stored'] / med['computed']:.3f}; "
          f"largest relative difference of a score between the two: {gap:.1e}")


if __name__ == "__main__":
    main()
