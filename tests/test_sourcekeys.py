"""Cache keys by definition: a result's key changes with the code its roots reach, and only then."""
import textwrap

import pytest

from sphericalae import cache, sourcekeys

A = '''
"""Module a."""
from . import b
from .c import used, Tool


def root():
    """Docstrings are not code."""
    return used(1) + b.helper() + Tool().run()


def other():
    return b.unused()


LIMIT = 3
'''
B = '''
def helper():
    return 1


def unused():
    return 2
'''
C = '''
def used(x):
    return x + LIMIT


def lonely():
    return 0


LIMIT = 2


class Base:
    pass


class Tool(Base):
    def run(self):
        return 5
'''


@pytest.fixture
def pkg(tmp_path):
    root = tmp_path / "sphericalae"
    root.mkdir()
    for name, text in {"__init__": "", "a": A, "b": B, "c": C}.items():
        (root / f"{name}.py").write_text(textwrap.dedent(text))
    return root


def key(pkg, *sources):
    return cache.source_hash(pkg, sources=sources)


def edit(pkg, module, old, new):
    path = pkg / f"{module}.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_reached_definitions_are_those_the_root_uses(pkg):
    found = set(sourcekeys.reachable(["sphericalae.a.root"], pkg, cache.module_file))
    assert {("sphericalae.a", "root"), ("sphericalae.b", "helper"), ("sphericalae.c", "used"),
            ("sphericalae.c", "LIMIT"), ("sphericalae.c", "Tool"), ("sphericalae.c", "Base")} <= found
    assert not found & {("sphericalae.a", "other"), ("sphericalae.b", "unused"), ("sphericalae.c", "lonely"),
                        ("sphericalae.a", "LIMIT")}


@pytest.mark.parametrize("module,old,new,changes", [
    ("b", "return 1", "return 10", True),                       # an attribute of an imported module
    ("b", "return 2", "return 20", False),                      # a function of it nobody reached uses
    ("c", "LIMIT = 2", "LIMIT = 4", True),                      # a constant a used function reads
    ("c", "return 0", "return 9", False),
    ("c", "return 5", "return 6", True),                        # a method of a used class
    ("c", "class Base:\n    pass", "class Base:\n    size = 1", True),   # its base class
    ("a", "return b.unused()", "return 7", False),              # a sibling of the root
    ("a", "Docstrings are not code.", "Prose changed.", False),
    ("c", "\nLIMIT = 2\n", "\nLIMIT = 2\nprint('on import')\n", True),  # code that runs on import
])
def test_an_edit_changes_the_key_when_the_root_reaches_it(pkg, module, old, new, changes):
    before = key(pkg, "sphericalae.a.root")
    edit(pkg, module, old, new)
    assert (key(pkg, "sphericalae.a.root") != before) is changes


def test_the_code_is_walked_once_until_a_file_changes(pkg, monkeypatch):
    walks = []
    walk = sourcekeys.reachable
    monkeypatch.setattr(sourcekeys, "reachable", lambda *a, **kw: walks.append(1) or walk(*a, **kw))
    first = key(pkg, "sphericalae.a.root")
    assert key(pkg, "sphericalae.a.root") == first and len(walks) == 1
    edit(pkg, "c", "return 5", "return 6")                     # same size, same second: still seen
    assert key(pkg, "sphericalae.a.root") != first and len(walks) == 2
    edit(pkg, "c", "return 6", "return 5")
    assert key(pkg, "sphericalae.a.root") == first


def test_a_module_root_counts_its_every_definition(pkg):
    before = key(pkg, "sphericalae.a")
    edit(pkg, "b", "return 2", "return 20")                     # used by a.other
    assert key(pkg, "sphericalae.a") != before


def test_a_star_import_counts_the_whole_module(pkg):
    edit(pkg, "a", "from .c import used, Tool", "from .c import *")
    before = key(pkg, "sphericalae.a.root")
    edit(pkg, "c", "return 0", "return 9")
    assert key(pkg, "sphericalae.a.root") != before


def test_a_function_object_names_its_definition_and_a_bad_name_is_refused(pkg):
    from sphericalae.experiments import reconstruction_study

    assert key(cache.PACKAGE_DIR, reconstruction_study) == key(cache.PACKAGE_DIR,
                                                               "sphericalae.experiments.reconstruction_study")
    with pytest.raises(ValueError, match="no module or top-level definition"):
        key(pkg, "sphericalae.nowhere.f")


@pytest.fixture
def package_copy(tmp_path):
    import shutil

    root = tmp_path / "sphericalae"
    shutil.copytree(cache.PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


STUDIES = ["sphericalae.experiments.reconstruction_study", "sphericalae.experiments.prior_study",
           "sphericalae.experiments.structure_study", "sphericalae.structure.tsne_map", "sphericalae.models",
           "sphericalae.experiments._fit_mixture"]


@pytest.mark.parametrize("function,recomputed", [
    ("swd", {"reconstruction_study", "prior_study"}),           # their floors score SWD too
    ("precision_recall", {"reconstruction_study", "prior_study"}),
])
def test_editing_one_metric_recomputes_only_the_studies_that_use_it(package_copy, function, recomputed):
    before = {s: key(package_copy, s) for s in STUDIES}
    edit(package_copy, "metrics", f"\ndef {function}(", f"\n@(lambda f: f)\ndef {function}(")   # a code change
    after = {s: key(package_copy, s) for s in STUDIES}
    assert {s.split(".")[-1] for s in STUDIES if after[s] != before[s]} == recomputed
