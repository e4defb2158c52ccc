"""One writer per output folder: ``with run_lock(folder): ...`` holds an exclusive lock on the
folder for the duration of a run (``train``, ``train-gan``, ``reproduce``), so that two runs started
into the same folder cannot overwrite each other's files.

The lock is ``fcntl.flock`` on the file ``LOCK_NAME`` inside the folder, which holds the holder's
process id (for the message). The kernel drops a ``flock`` when its process ends, however it ends
(exit, exception, SIGKILL, out of memory), so a lock file left by a killed run is *stale* and is
taken over by the next run without any clean-up or guessing from pids. A second run while the
first is alive gets :class:`RunLockedError` (a ``ValueError``; one line naming the holder's pid).

POSIX only (``fcntl``); on a network file system without ``flock`` support the lock is advisory at
best. Child processes forked while the lock is held (DataLoader workers) share it; it is released
when the last of them closes the file.
"""
from __future__ import annotations

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

__all__ = ["run_lock", "key_lock", "RunLockedError", "LOCK_NAME", "lock_holder"]

LOCK_NAME = ".sphericalae.lock"
_ATTEMPTS = 20


class RunLockedError(ValueError):
    """The folder is locked by another live process; ``pid`` is its id (None if not yet written)."""

    def __init__(self, folder, pid):
        self.folder, self.pid = str(folder), pid
        who = f"pid {pid}" if pid is not None else "a process that has not written its pid yet"
        super().__init__(f"{folder} is in use by another run ({who}); wait for it to end, stop it, "
                         "or choose another output folder")


def lock_holder(folder):
    """The pid written in ``folder``'s lock file, or None (no file, empty, unreadable). The pid of a
    live holder or of a stale lock; it says nothing about whether the lock is held."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _try_lock(path):
    """Open ``path`` (created if missing) and ``flock`` it without waiting. Returns the fd, or None
    when another process holds it. The fd is checked to still be the file at ``path``: a holder
    that was releasing may have unlinked it between our open and our lock (then we retry)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        raise FileNotFoundError(path)
    return fd


def _acquire(folder: Path):
    """Create ``folder`` if needed and lock it; returns ``(fd, created)``. Retries the races with a
    holder that is releasing (lock file or folder removed under us); a live holder raises."""
    for _ in range(_ATTEMPTS):
        created = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError):
            raise ValueError(f"{folder} is not a folder (a file is in the way)") from None
        except OSError as err:      # /proc/x, a read-only file system, no permission, a full disk
            raise ValueError(f"cannot create the folder {folder}: {err.strerror or err}") from None
        try:
            fd = _try_lock(folder / LOCK_NAME)
        except FileNotFoundError:   # the folder was removed between our mkdir and open: retry
            continue
        except NotADirectoryError:
            raise ValueError(f"{folder} is not a folder (a file is in the way)") from None
        except OSError as err:
            raise ValueError(f"cannot lock {folder}: {err.strerror or err}") from None
        if fd is None:
            raise RunLockedError(folder, lock_holder(folder))
        return fd, created
    raise ValueError(f"cannot lock {folder}: its lock file kept disappearing (another process is "
                     "removing the folder?)")


@contextmanager
def run_lock(folder):
    """Hold the exclusive run lock of ``folder`` for the ``with`` block.

    ``folder`` is created (with its parents) if it does not exist. Raises :class:`RunLockedError`
    (a ``ValueError``) naming the holder's pid when another live process holds the lock; takes over
    a stale lock file left by a process that died. Inside the block the lock file holds our pid. On
    exit the lock file is removed, then the folder too if this call created it and it is left
    empty (a run that failed before writing anything leaves nothing behind), and the lock released.
    Yields the folder as a ``Path``. Not re-entrant: a second ``run_lock`` on the same folder, even
    from the same process, is refused.
    """
    folder = Path(os.path.expanduser(str(folder)))
    fd, created = _acquire(folder)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield folder
    finally:
        try:
            os.unlink(folder / LOCK_NAME)           # while still locked: no one else owns this path
            if created:
                folder.rmdir()                      # only if empty; a run's files keep it
        except OSError:
            pass
        os.close(fd)                                # releases the flock


@contextmanager
def key_lock(path):
    """Hold an exclusive ``flock`` on the file ``path`` for the ``with`` block, waiting while another
    process holds it: the per-entry lock of :func:`sphericalae.cache.cached`, so that processes
    asking for one result compute it once. The file is created for the block and removed at its
    end (while still locked); a waiter that finds it has locked a removed file tries again. Like
    :func:`run_lock`, the kernel releases it when the holder dies, however it dies."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)                                # the holder removed it as we waited: again
    try:
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)                                # releases the flock
