"""How many processes and threads the package uses, decided here and nowhere else, and the one
process pool that trains a grid of models.

* :func:`jobs`: the number of cores the package may use: ``$SPHERICALAE_JOBS`` when set (a positive
  integer), else the machine's cores. A worker process of :func:`map_processes` sees 1, so pools
  never nest.
* :func:`loader_workers`: DataLoader worker processes of the training loop (image folders only;
  at most 4: decoding is rarely the bottleneck beyond that).
* :func:`decode_threads`: threads that decode an image folder into memory (at most 8).
* :func:`map_processes`: ``fn`` over ``items`` in spawned processes of one thread each (at most
  :func:`jobs`), in this process when one is all it may use. One thread means torch's and the
  BLAS and OpenMP pools' (numpy, scipy, scikit-learn: :data:`THREAD_VARS` for the libraries a
  worker loads later): a worker that fits a mixture beside one that trains a model must not start
  threads of its own, which on a busy machine spin against each other.
"""
from __future__ import annotations

import os

__all__ = ["ENV_VAR", "THREAD_VARS", "jobs", "loader_workers", "decode_threads", "map_processes"]

ENV_VAR = "SPHERICALAE_JOBS"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The environment variables that size the BLAS and OpenMP thread pools of libraries loaded later
(set to 1 in a worker of :func:`map_processes`)."""


def jobs() -> int:
    """Cores the package may use: ``$SPHERICALAE_JOBS`` (a positive integer), else every core."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"${ENV_VAR} must be a positive integer, got {value!r}")
        return int(value)
    return os.cpu_count() or 1


def loader_workers() -> int:
    """DataLoader workers of a training run reading from disk."""
    return min(4, jobs())


def decode_threads() -> int:
    """Threads decoding the images of a folder."""
    return min(8, jobs())


def _worker_init():
    import torch
    from threadpoolctl import threadpool_limits   # a dependency of scikit-learn

    os.environ[ENV_VAR] = "1"          # a worker's own pools stay in the worker
    os.environ.update({var: "1" for var in THREAD_VARS})    # libraries loaded from now on
    torch.set_num_threads(1)
    threadpool_limits(1)               # BLAS and OpenMP libraries loaded already


def map_processes(fn, items) -> list:
    """``[fn(item) for item in items]``, computed in up to :func:`jobs` spawned processes of one
    thread each (``fn`` must be importable, items picklable); in this process when there is one
    item or one job."""
    items = list(items)
    processes = min(jobs(), len(items))
    if processes <= 1:
        return [fn(item) for item in items]
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_worker_init) as pool:
        return list(pool.map(fn, items))
