"""Timing shared by the benchmarks: each prints ratios measured in one run, never absolute goals."""
import time


def best_time(fn, repeat):
    """``(best seconds, last value)`` of ``repeat`` calls of ``fn``."""
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value
