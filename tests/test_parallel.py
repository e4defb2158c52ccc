"""The process pool: its workers use one thread each, torch's and the BLAS/OpenMP libraries'."""
import pytest

from sphericalae import parallel


def _threads(_):
    import torch
    from threadpoolctl import threadpool_info

    import numpy as np

    np.linalg.solve(np.eye(64) * 2, np.ones(64))     # a BLAS library loaded and used in the worker
    return torch.get_num_threads(), max(i["num_threads"] for i in threadpool_info()), parallel.jobs()


@pytest.mark.slow
def test_workers_use_one_thread_each(monkeypatch):
    monkeypatch.setenv(parallel.ENV_VAR, "2")
    out = parallel.map_processes(_threads, [0, 1])
    assert out == [(1, 1, 1), (1, 1, 1)]


def test_one_job_runs_in_this_process(monkeypatch):
    monkeypatch.setenv(parallel.ENV_VAR, "1")
    import os

    assert parallel.map_processes(lambda x: (x, os.getpid()), [1, 2]) == [(1, os.getpid()), (2, os.getpid())]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_job_count_is_refused(monkeypatch, value):
    monkeypatch.setenv(parallel.ENV_VAR, value)
    with pytest.raises(ValueError, match=parallel.ENV_VAR):
        parallel.jobs()
