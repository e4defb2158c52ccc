"""Ctrl-C and SIGTERM for the command lines (``python -m sphericalae``, ``python -m
sphericalae.reproduce``): ``with stop_signals(): ...`` turns SIGINT into ``KeyboardInterrupt`` and
SIGTERM into :class:`Terminated`, so that a run's clean-up (the folder of a run that wrote no
checkpoint is removed, the last checkpoint is named) happens however it is stopped.

Contract:

* SIGINT raises even when the process was started with SIGINT ignored (a shell's background job).
* A signal that arrives while Python runs a callback whose exceptions it cannot propagate (a weakref
  callback, as importlib's module locks use, or a ``__del__``) is not lost: Python reports such an
  exception to ``sys.unraisablehook`` and goes on. While the block runs, that hook has the same
  signal marked as arrived again 10 ms later (``_thread.interrupt_main`` from a timer thread), so
  that the exception is raised in the ordinary code the main thread runs then.
* On leaving the block the previous handlers and hook are restored. Off the main thread (where
  Python allows no handler) the block changes nothing.
"""
from __future__ import annotations

import _thread
import signal
import sys
import threading
from contextlib import contextmanager

__all__ = ["Terminated", "stop_signals"]


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that a run's clean-up and record happen."""


_RAISED = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated}
_AGAIN_S = 0.01


def _in_hook(frame) -> bool:
    while frame is not None:
        if frame.f_code is _unraisable.__code__:
            return True
        frame = frame.f_back
    return False


def _send_later(signum):
    """Mark ``signum`` as arrived on the main thread again, a moment from now, from another thread."""
    timer = threading.Timer(_AGAIN_S, _thread.interrupt_main, args=(signum,))
    timer.daemon = True
    timer.start()


def _stop(signum, frame):
    """The handler of both signals: raise, except while :func:`_unraisable` runs, where the
    exception would be swallowed again: there the signal is sent once more, later."""
    if _in_hook(frame):
        _send_later(signum)
        return
    raise _RAISED[signum]()


def _unraisable(report):
    """``sys.unraisablehook`` within the block: a swallowed stop is sent again, anything else goes
    to the hook that was there before."""
    sig = next((s for s, exc in _RAISED.items() if issubclass(report.exc_type, exc)), None)
    if sig is None:
        _previous_hook[0](report)
    else:
        _send_later(sig)


_previous_hook = [sys.__unraisablehook__]


@contextmanager
def stop_signals():
    """Within the block, SIGINT raises ``KeyboardInterrupt`` and SIGTERM :class:`Terminated`,
    including a signal that lands inside a callback (see the module's contract)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, _stop) for sig in _RAISED}
    hook = _previous_hook[0] = sys.unraisablehook
    sys.unraisablehook = _unraisable
    try:
        yield
    finally:
        sys.unraisablehook = _previous_hook[0] = hook
        for sig, handler in before.items():
            signal.signal(sig, handler)
