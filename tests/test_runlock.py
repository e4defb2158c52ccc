"""sphericalae.runlock: one run per folder; a second is refused naming the holder, a dead holder's
lock is taken over, nothing is left behind."""
import os

import pytest

from sphericalae.runlock import LOCK_NAME, RunLockedError, lock_holder, run_lock


def test_second_holder_is_refused_naming_the_pid(tmp_path):
    with run_lock(tmp_path / "run") as folder:
        assert folder.is_dir() and lock_holder(folder) == os.getpid()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}") as err:
            with run_lock(tmp_path / "run"):
                pass
        assert isinstance(err.value, ValueError) and len(str(err.value).splitlines()) == 1
        (folder / "kept.txt").write_text("x")
    assert (tmp_path / "run" / "kept.txt").read_text() == "x"
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_created_folder_left_empty_is_removed_existing_one_kept(tmp_path):
    with pytest.raises(RuntimeError):
        with run_lock(tmp_path / "a" / "new"):
            raise RuntimeError("the run failed before writing anything")
    assert not (tmp_path / "a" / "new").exists() and (tmp_path / "a").is_dir()
    (tmp_path / "old").mkdir()
    with run_lock(tmp_path / "old"):
        pass
    assert (tmp_path / "old").is_dir() and not list((tmp_path / "old").iterdir())


def test_stale_lock_file_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("999999999\n")           # left by a process that died
    with run_lock(tmp_path):
        assert lock_holder(tmp_path) == os.getpid()


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    for path in (tmp_path / "f" / "run", tmp_path / "f"):
        with pytest.raises(ValueError, match="not a folder"):
            with run_lock(path):
                pass


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_cannot_be_created_is_named_with_the_cause():
    """Issue 29: mkdir's "No such file or directory" under /proc is not a release race to retry."""
    with pytest.raises(ValueError, match="cannot create the folder /proc/x: No such file or directory") as err:
        with run_lock("/proc/x"):
            pass
    assert "disappearing" not in str(err.value)
