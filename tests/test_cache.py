"""sphericalae.cache: computed once, keyed by name, key and package source, atomic, corrupt files recomputed."""
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert [p.name for p in tmp_path.glob("*.pt")] == [cache_path("thing", {"epochs": 3, "seed": 0}, tmp_path).name]


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


def test_values_digest_follows_every_bit_dtype_and_shape():
    from sphericalae.cache import values_digest

    x = torch.rand(4, 6)
    assert values_digest(x) == values_digest(x.clone()) == values_digest(x.T.contiguous().T)
    y = x.clone()
    y[2, 3] = torch.nextafter(y[2, 3], torch.tensor(2.0))
    assert len({values_digest(x), values_digest(y), values_digest(x.double()), values_digest(x.view(6, 4)),
                values_digest(x, x), values_digest(x[:0]), values_digest(x[:0].view(0, 24))}) == 7


def test_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    cached("thing", {}, Counter(1.5))
    assert (tmp_path / "env").is_dir() and len(list((tmp_path / "env").glob("*.pt"))) == 1
    monkeypatch.delenv(cache.ENV_VAR)
    assert str(cache.cache_root()).endswith(".cache/sphericalae/objects")


def test_source_hash_follows_every_py_file(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(pkg)
    assert before == source_hash(cache.PACKAGE_DIR)
    with open(pkg / "ops.py", "a") as f:
        f.write("\nEDITED = 1\n")
    assert source_hash(pkg) != before


def test_prose_edits_keep_the_key_code_edits_change_it(tmp_path):
    """Docstrings, comments and layout are not what a result depends on: editing them retrains nothing."""
    pkg = tmp_path / "pkg"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(pkg, sources=["sphericalae.models"])
    text = (pkg / "train.py").read_text()
    prose = text.replace('"""The one training loop', '"""The one (and only) training loop', 1) + "\n# a comment\n"
    (pkg / "train.py").write_text(prose)
    assert prose != text and source_hash(pkg, sources=["sphericalae.models"]) == before
    (pkg / "train.py").write_text(text.replace("MIN_EPOCHS = 30", "MIN_EPOCHS = 31", 1))
    assert source_hash(pkg, sources=["sphericalae.models"]) != before


def test_storage_code_is_not_in_the_key(tmp_path):
    """Editing how results are stored or locked retrains nothing; editing what they compute does."""
    pkg = tmp_path / "pkg"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(pkg, sources=["sphericalae.models"]), source_hash(pkg)
    for name in ("cache.py", "runlock.py", "runfiles.py", "sourcekeys.py"):
        with open(pkg / name, "a") as f:
            f.write("\nassert True\n")
    assert (source_hash(pkg, sources=["sphericalae.models"]), source_hash(pkg)) == before
    with open(pkg / "train.py", "a") as f:
        f.write("\nassert True\n")
    assert source_hash(pkg, sources=["sphericalae.models"]) != before[0]


def _study(root, compute):
    return cached("study", {"n": 1}, compute, root=root)


def test_each_computed_entry_is_logged_with_its_seconds(tmp_path):
    _study(tmp_path, Counter(1))
    _study(tmp_path, Counter(1))                       # read, not computed: no second line
    lines = (tmp_path / cache.LOG_FILE).read_text().splitlines()
    assert len(lines) == 1 and lines[0].split()[-1] == cache_path("study", {"n": 1}, tmp_path).name
    assert float(lines[0].split()[2]) >= 0


def test_missing_tells_without_reading_or_computing(tmp_path):
    compute = Counter(3)
    assert cache.missing(_study, tmp_path, compute) and compute.calls == 0
    assert not list(tmp_path.glob("*.pt"))
    _study(tmp_path, compute)
    assert not cache.missing(_study, tmp_path, compute) and compute.calls == 1
    assert not cache.missing(lambda: 7)                # asks no cache: it has computed its result
    assert _study(tmp_path, compute) == 3 and compute.calls == 1     # probing left normal calls alone


def test_a_cached_job_starts_no_process(tmp_path, monkeypatch):
    from sphericalae import experiments

    sent = []
    monkeypatch.setattr(experiments, "map_processes", lambda fn, items: sent.extend(items))
    monkeypatch.setattr(experiments.torch.cuda, "is_available", lambda: False)
    stored, new = Counter(1), Counter(2)
    _study(tmp_path / "a", stored)
    experiments.compute_in_parallel([(_study, tmp_path / "a", stored), (_study, tmp_path / "b", new)], "cpu")
    assert sent == [(_study, tmp_path / "b", new)]


def test_a_job_listed_twice_is_sent_once_in_the_order_given(tmp_path, monkeypatch):
    from sphericalae import experiments

    sent = []
    monkeypatch.setattr(experiments, "map_processes", lambda fn, items: sent.extend(items))
    monkeypatch.setattr(experiments.torch.cuda, "is_available", lambda: False)
    b, c = (_study, tmp_path / "b", Counter(2)), (_study, tmp_path / "c", Counter(3))
    experiments.compute_in_parallel([c, b, c, b], "cpu")
    assert sent == [c, b]


def test_source_change_invalidates(tmp_path, monkeypatch):
    compute = Counter(2)
    cached("thing", {}, compute, root=tmp_path)
    monkeypatch.setattr(cache, "source_hash", lambda package_dir=None, sources=None: "edited")
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


# --- what a cached model's key depends on ----------------------------------------------------------

TRAINING = {"sphericalae.models", "sphericalae.train", "sphericalae.data", "sphericalae.distributions",
            "sphericalae.bessel", "sphericalae.ops", "sphericalae.runfiles", "sphericalae.config"}
NOT_TRAINING = {"sphericalae.metrics", "sphericalae.plots", "sphericalae.structure", "sphericalae.experiments",
                "sphericalae.tables", "sphericalae.table1", "sphericalae.stats", "sphericalae.theory",
                "sphericalae.reproduce", "sphericalae.features"}


def test_a_trained_autoencoder_depends_on_the_training_code_only():
    deps = set(cache.dependencies(["sphericalae.models"]))
    assert TRAINING <= deps and not deps & (NOT_TRAINING | {"sphericalae.gan"})
    gan = set(cache.dependencies(["sphericalae.gan"]))
    assert {"sphericalae.gan", "sphericalae.train", "sphericalae.data"} <= gan
    assert not gan & (NOT_TRAINING | {"sphericalae.models", "sphericalae.distributions"})


@pytest.fixture
def package_copy(tmp_path):
    import shutil

    root = tmp_path / "sphericalae"
    shutil.copytree(cache.PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("edited,retrains", [("metrics.py", False), ("plots.py", False), ("structure.py", False),
                                             ("experiments.py", False), ("models.py", True), ("train.py", True),
                                             ("data.py", True), ("bessel.py", True)])
def test_editing_a_module_retrains_only_what_depends_on_it(package_copy, edited, retrains):
    before = cache.source_hash(package_copy, sources=["sphericalae.models"])
    whole = cache.source_hash(package_copy)
    with open(package_copy / edited, "a") as fh:
        fh.write("\nassert True\n")                              # code that runs on import
    assert (cache.source_hash(package_copy, sources=["sphericalae.models"]) != before) is retrains
    assert cache.source_hash(package_copy) != whole                  # the whole-package hash sees everything


def test_a_new_import_enters_the_key(package_copy):
    before = cache.source_hash(package_copy, sources=["sphericalae.models"])
    (package_copy / "plots.py").write_text((package_copy / "plots.py").read_text() + "\nEDITED = 1\n")
    assert cache.source_hash(package_copy, sources=["sphericalae.models"]) == before
    text = (package_copy / "train.py").read_text()
    (package_copy / "train.py").write_text(text.replace("import torch\n", "import torch\n\nfrom . import plots\n", 1))
    assert "sphericalae.plots" in cache.dependencies(["sphericalae.models"], package_copy)


@pytest.mark.parametrize("family", ["models", "gan"])
def test_training_runs_no_module_outside_its_key(tmp_path, family):
    """The key is read from the import statements; a run must not load package code outside it."""
    import subprocess
    import sys

    script = f"""
import sys, torch
from sphericalae import cache
data = torch.utils.data.TensorDataset(torch.rand(32, 1, 28, 28), torch.zeros(32))
if "{family}" == "models":
    from sphericalae.config import TrainConfig
    from sphericalae.models import ModelConfig, trained
    trained(ModelConfig(kind="svae", latent_dim=4), TrainConfig(epochs=1, batch_size=16), (data, data), root=r"{tmp_path}")
else:
    from sphericalae.gan import GANConfig, GANTrainConfig, trained_gan
    trained_gan(GANConfig(arch="mlp28", latent_dim=4, width=4), GANTrainConfig(epochs=1, batch_size=16), data,
                root=r"{tmp_path}")
loaded = {{m for m in sys.modules if m == "sphericalae" or m.startswith("sphericalae.")}}
key = set(cache.dependencies(["sphericalae.{family}"]))
extra = loaded - key
print(sorted(extra))
sys.exit(1 if extra else 0)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def _book_deps():
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_deps", Path(__file__).resolve().parent.parent / "_ext" / "book_deps.py")
    book_deps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book_deps)
    return book_deps


def _pages():
    text = (Path(__file__).resolve().parent.parent / "book" / "training.md").read_text()
    head = text[:text.index("---", 3) + 4] + "\n"                     # a real page's MyST header
    cell = "```{{code-cell}} ipython3\n{}\n```\n"
    return {"geometry": head + cell.format("from sphericalae.theory import wasserstein2"),
            "training": head + cell.format("%matplotlib inline") + "\n" + cell.format(
                "from sphericalae.experiments import reconstruction_study\nimport sphericalae.display"),
            "latent": head + cell.format("from sphericalae.experiments import structure_study"),
            "words": head + "# References\n\nNo code.\n"}


@pytest.mark.parametrize("edit,stale", [
    (("metrics.py", "\ndef swd(", "\n@(lambda f: f)\ndef swd("), {"training"}),     # code a page reaches
    (("metrics.py", "Sliced Wasserstein distance", "The sliced Wasserstein distance"), set()),   # words only
    (("theory.py", "\ndef wasserstein2(", "\n@(lambda f: f)\ndef wasserstein2("), {"geometry"}),
    (("requirements.txt", "torch", "torch==2.0"), {"geometry", "training", "latent"}),
])
def test_make_book_re_executes_the_pages_whose_code_changed(tmp_path, edit, stale):
    """_ext/book_deps.py: a page's key follows the definitions its imports reach, and requirements."""
    import shutil

    book_deps = _book_deps()
    pkg = tmp_path / "sphericalae"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("torch\n")
    pages = _pages()
    assert book_deps.page_names(pages["training"]) == {"sphericalae.experiments.reconstruction_study",
                                                       "sphericalae.display"}
    before = {name: book_deps.page_key(text, requirements, pkg) for name, text in pages.items()}
    assert before["words"] is None
    name, old, new = edit
    path = requirements if name == "requirements.txt" else pkg / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    after = {name: book_deps.page_key(text, requirements, pkg) for name, text in pages.items()}
    assert {n for n in pages if after[n] != before[n]} == stale


def test_the_outdated_pages_are_those_whose_key_changed(tmp_path):
    from types import SimpleNamespace

    book_deps = _book_deps()
    pages = _pages()
    for name, text in pages.items():
        (tmp_path / f"{name}.md").write_text(text)
    env = SimpleNamespace(doc2path=lambda d: tmp_path / f"{d}.md")
    app = SimpleNamespace(srcdir=tmp_path, env=env)
    for name, text in pages.items():
        book_deps._read(app, name, [text])
    assert book_deps.outdated(app, env, set(), set(), set()) == []
    env.sphericalae_keys["latent"] = "a key of older code"
    env.sphericalae_keys["words"] = None
    assert book_deps.outdated(app, env, set(), set(), set()) == ["latent"]
    assert book_deps.outdated(app, env, set(), {"latent"}, set()) == []       # Sphinx reads it already


_LOCK_SCRIPT = """
import sys, time
from sphericalae.cache import cached
root, log = sys.argv[1], sys.argv[2]
def compute():
    with open(log, "a") as f:
        f.write("computed\\n")
    time.sleep(1.5)
    return {"answer": 42}
print(cached("lock-test", {"k": 1}, compute, root=root, sources=["sphericalae.cache"])["answer"])
"""


def test_two_processes_asking_for_one_entry_compute_it_once(tmp_path):
    """The per-entry lock: one process computes, the other waits and reads the stored result."""
    log = tmp_path / "log.txt"
    procs = [subprocess.Popen([sys.executable, "-c", _LOCK_SCRIPT, str(tmp_path / "c"), str(log)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == ["42", "42"]
    assert log.read_text().count("computed") == 1


_TRAIN_SCRIPT = """
import sys
import torch
from torch.utils.data import TensorDataset
import sphericalae.train as train
from sphericalae.config import TrainConfig
from sphericalae.models import ModelConfig, trained
log = sys.argv[1]
real_fit = train.fit
def counted(*args, **kwargs):
    with open(log, "a") as f:
        f.write("fit\\n")
    return real_fit(*args, **kwargs)
train.fit = counted
x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
data = (TensorDataset(x, torch.zeros(64)), TensorDataset(x[:16], torch.zeros(16)))
model, history = trained(ModelConfig(kind="sae", latent_dim=3), TrainConfig(epochs=3, batch_size=16), data)
print(len(history))
"""


def test_two_processes_asking_for_one_model_train_it_once(tmp_path):
    """Two processes (two pages, two builds) asking for the same uncached model: one trains it."""
    import os

    log = tmp_path / "log.txt"
    env = {**os.environ, "SPHERICALAE_CACHE": str(tmp_path / "c"), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _TRAIN_SCRIPT, str(log)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == ["3", "3"]
    assert log.read_text().count("fit") == 1


@pytest.mark.parametrize("damage", ["scaled-weights", "foreign-object", "no-checksum"])
def test_an_altered_or_foreign_entry_is_recomputed_never_returned(tmp_path, damage):
    """Issue 29: an entry whose tensors were altered on disk (it still unpickles) or that holds
    another valid object was returned by every later call."""
    calls = []

    def compute():
        calls.append(1)
        return {"state_dict": {"w": torch.ones(8, 8)}, "history": [1.0]}

    cached("thing", {"n": 1}, compute, root=tmp_path)
    path = cache_path("thing", {"n": 1}, root=tmp_path)
    if damage == "scaled-weights":
        entry = torch.load(path, weights_only=True)
        entry["result"]["state_dict"]["w"].view(-1)[:4] *= 4
        torch.save(entry, path)
    elif damage == "foreign-object":
        torch.save([1, 2, 3], path)
    else:
        entry = torch.load(path, weights_only=True)
        entry.pop("checksum")
        torch.save(entry, path)
    with pytest.warns(RuntimeWarning, match=f"cache file {path} could not be read"):
        got = cached("thing", {"n": 1}, compute, root=tmp_path)
    assert len(calls) == 2 and torch.equal(got["state_dict"]["w"], torch.ones(8, 8))
    again = cached("thing", {"n": 1}, compute, root=tmp_path)                # rewritten whole
    assert len(calls) == 2 and torch.equal(again["state_dict"]["w"], torch.ones(8, 8))
