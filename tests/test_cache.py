"""sphericalae.cache: computed once, keyed by name, key and package source, atomic, corrupt files recomputed."""
import shutil

import pytest
import torch

from sphericalae import cache
from sphericalae.cache import cache_path, cached, source_hash


class Counter:
    def __init__(self, value):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return self.value


def test_second_call_loads_instead_of_computing(tmp_path):
    value = {"state": {"w": torch.arange(6.0).view(2, 3)}, "accuracy": 0.97, "n": 10, "tag": None}
    compute = Counter(value)
    first = cached("thing", {"epochs": 3, "seed": 0}, compute, root=tmp_path)
    second = cached("thing", {"seed": 0, "epochs": 3}, compute, root=tmp_path)   # key order is irrelevant
    assert compute.calls == 1
    assert torch.equal(second["state"]["w"], value["state"]["w"]) and second["accuracy"] == 0.97
    assert first is value and second is not value
    assert [p.name for p in tmp_path.iterdir()] == [cache_path("thing", {"epochs": 3, "seed": 0}, tmp_path).name]


def test_changed_key_or_name_recomputes(tmp_path):
    compute = Counter(torch.ones(2))
    cached("thing", {"seed": 0}, compute, root=tmp_path)
    cached("thing", {"seed": 1}, compute, root=tmp_path)
    cached("other", {"seed": 0}, compute, root=tmp_path)
    assert compute.calls == 3


def test_corrupt_file_is_recomputed_and_rewritten(tmp_path):
    compute = Counter({"x": torch.zeros(3)})
    path = cache_path("thing", {}, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="could not be read"):
        out = cached("thing", {}, compute, root=tmp_path)
    assert compute.calls == 1 and torch.equal(out["x"], torch.zeros(3))
    assert torch.equal(cached("thing", {}, compute, root=tmp_path)["x"], torch.zeros(3))
    assert compute.calls == 1                                      # the rewritten file is good
    assert not list(tmp_path.glob(".*.tmp"))                       # no temporary file left behind


def test_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    cached("thing", {}, Counter(1.5))
    assert (tmp_path / "env").is_dir() and len(list((tmp_path / "env").iterdir())) == 1
    monkeypatch.delenv(cache.ENV_VAR)
    assert str(cache.cache_root()).endswith(".cache/sphericalae/objects")


def test_source_hash_follows_every_py_file(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(pkg)
    assert before == source_hash(cache.PACKAGE_DIR)
    with open(pkg / "ops.py", "a") as f:
        f.write("\n# an edit\n")
    assert source_hash(pkg) != before


def test_source_change_invalidates(tmp_path, monkeypatch):
    compute = Counter(2)
    cached("thing", {}, compute, root=tmp_path)
    monkeypatch.setattr(cache, "source_hash", lambda package_dir=None: "edited")
    cached("thing", {}, compute, root=tmp_path)
    assert compute.calls == 2


def test_bad_names_keys_and_values(tmp_path):
    with pytest.raises(ValueError, match="cache name"):
        cached("../escape", {}, Counter(1), root=tmp_path)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        cached("thing", {"x": object()}, Counter(1), root=tmp_path)
    with pytest.raises(ValueError, match="must be a dict"):
        cached("thing", [1, 2], Counter(1), root=tmp_path)
    with pytest.raises(ValueError, match=r"Linear.*state_dict"):
        cached("thing", {}, Counter({"model": torch.nn.Linear(2, 2)}), root=tmp_path)
    assert not list(tmp_path.iterdir())                            # nothing written for a bad value
