"""Fixtures shared by the unit tests."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny tensors and networks: one torch thread is faster, and on a busy 2-core machine much
    faster (no thread barriers). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
