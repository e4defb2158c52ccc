"""The reproduction plan and its command line (the papermill run itself is exercised by make reproduce)."""
import json
from pathlib import Path

import pytest

from sphericalae.reproduce import check_parameters, load_plan, main, page_parameters, parse_overrides, read_page

ROOT = Path(__file__).resolve().parent.parent
PLAN = ["--plan", str(ROOT / "reproduce.yml"), "--book", str(ROOT / "book")]


def test_plan_names_existing_pages_with_their_parameters():
    plan = load_plan(ROOT / "reproduce.yml")
    assert plan, "reproduce.yml lists no page"
    for name, params in plan.items():
        declared = page_parameters(read_page(ROOT / "book", name), name)   # refuses a page without one
        missing = [key for key in params if key not in declared]          # every full-scale parameter
        assert not missing, f"{name}: {missing} not in its parameters cell"
        check_parameters(name, params, declared, "plan")


def _toc_pages():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    # executable pages only (jupytext header with a kernel), not e.g. the bibliography
    return [p for p in pages if "kernelspec:" in (ROOT / f"{p}.md").read_text()[:2000]]


def test_every_parameters_cell_is_understood_by_papermill():
    # papermill silently drops a parameter whose line it cannot parse (e.g. an '=' in a comment)
    import re

    import jupytext
    from papermill.translators import PythonTranslator

    for page in _toc_pages():
        nb = jupytext.read(ROOT / f"{page}.md")
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, f"{page}: needs exactly one cell tagged parameters"
        assigned = re.findall(r"^(\w+)\s*=", cells[0].source, flags=re.M)
        parsed = [p.name for p in PythonTranslator.inspect(cells[0])]
        assert assigned and parsed == assigned, f"{page}: papermill parses {parsed}, the cell sets {assigned}"


def test_overrides_parse_values_as_yaml():
    assert parse_overrides(["device=cuda", "n=5000", "dims=[2, 10]"]) == {"device": "cuda", "n": 5000, "dims": [2, 10]}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["device"])


def test_bad_plan_is_refused(tmp_path):
    bad = tmp_path / "plan.yml"
    bad.write_text("robust_sampling: 5\n")
    with pytest.raises(ValueError, match="mapping"):
        load_plan(bad)
    with pytest.raises(FileNotFoundError):
        load_plan(tmp_path / "missing.yml")


def test_unknown_page_is_an_error(capsys):
    assert main(["no_such_page", *PLAN]) == 2
    err = capsys.readouterr().err
    assert "pages in the plan" in err and len(err.strip().splitlines()) == 1


def test_reproduce_runs_a_page(tmp_path):
    # small parameters: checks the jupytext -> papermill path end to end and the run log
    main(["robust_sampling", *PLAN, "--set", "n=200", "--set", "reps=2", "--out", str(tmp_path)])
    import nbformat
    nb = nbformat.read(tmp_path / "robust_sampling.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters == {"n": 200, "reps": 2}
    assert "\tok" in (tmp_path / "runs.tsv").read_text()


def _one_line_error(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "out"
    err = _one_line_error(capsys, ["robust_sampling", *PLAN, "--set", "nn=5", "--out", str(out)])
    assert "'nn'" in err and "dim_high, dim_low, n, reps, seed, device" in err
    assert not out.exists()


@pytest.mark.parametrize("item", ['import os;os.system("touch X");x=1', "n=1;import os", "n=abc", "n=1.5",
                                  "reps=true", "device=3", "n=!!python/object:os.system x", "seed=.nan",
                                  "__class__=1", "n x=1"])
def test_set_never_runs_code_and_checks_types(tmp_path, capsys, monkeypatch, item):
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, ["robust_sampling", *PLAN, "--set", item, "--out", str(tmp_path / "out")])
    assert err.startswith("error: --set")
    assert not (tmp_path / "X").exists() and not (tmp_path / "out").exists()


def test_set_values_are_literals_of_the_parameters_type():
    declared = page_parameters(read_page(ROOT / "book", "distance"), "distance")
    assert declared["radius"] == 1.0 and declared["n"] == 100_000
    check_parameters("distance", parse_overrides(["radius=2", "n=10", "hist_dims=[3]"]), declared, "--set")
    quoted = parse_overrides(['x=a\\"); import os; os.system("touch X")'])
    check_parameters("p", quoted, {"x": "a"}, "--set")          # a string stays a string literal
    assert quoted["x"] == 'a\\"); import os; os.system("touch X")'
    with pytest.raises(ValueError, match="int"):
        check_parameters("distance", {"n": 1.5}, declared, "--set")


@pytest.mark.parametrize("case", ["missing-plan", "bad-yaml", "list-plan", "scalar-plan", "missing-book",
                                  "out-is-file", "set-without-equals", "bad-value", "missing-page"])
def test_every_mistake_is_one_line_and_exit_2(tmp_path, capsys, case):
    plan, book, out = tmp_path / "plan.yml", ROOT / "book", tmp_path / "out"
    plan.write_text("robust_sampling:\n  n: 10\n")
    extra = []
    if case == "missing-plan":
        plan = tmp_path / "none.yml"
    elif case == "bad-yaml":
        plan.write_text("robust_sampling: [\n  n: 10\n")
    elif case == "list-plan":
        plan.write_text("- robust_sampling\n")
    elif case == "scalar-plan":
        plan.write_text("robust_sampling: 5\n")
    elif case == "missing-book":
        book = tmp_path / "nobook"
    elif case == "out-is-file":
        out.write_text("x")
    elif case == "set-without-equals":
        extra = ["--set", "n"]
    elif case == "bad-value":
        extra = ["--set", "n=[1, 2"]
    elif case == "missing-page":
        book = tmp_path / "book"
        book.mkdir()
    _one_line_error(capsys, ["robust_sampling", "--plan", str(plan), "--book", str(book), "--out", str(out), *extra])
    assert out.is_file() if case == "out-is-file" else not out.exists()


# --- issue 29: nothing read or written outside --book and --out; bounded YAML --------------------

def test_a_plan_key_with_a_path_is_refused_before_anything_is_read_or_written(tmp_path, capsys):
    book, out = tmp_path / "book", tmp_path / "out"
    book.mkdir()
    (tmp_path / "outside.md").write_text((ROOT / "book" / "distance.md").read_text())
    (tmp_path / "outside.ipynb").write_text("the user's own file")
    for key in ["../outside", "/abs/page", "sub/page", "..", ".hidden", "a b", "page.md"]:
        plan = tmp_path / "plan.yml"
        plan.write_text(f"{json.dumps(key)}: {{}}\n")
        assert "not a page name" in _one_line_error(capsys, ["--plan", str(plan), "--book", str(book), "--out", str(out)])
        assert "not a page name" in _one_line_error(capsys, [key, "--plan", str(plan), "--book", str(book),
                                                             "--out", str(out)])
    assert (tmp_path / "outside.ipynb").read_text() == "the user's own file" and not out.exists()
    with pytest.raises(ValueError, match="not a page name"):
        read_page(book, "../outside")


@pytest.mark.parametrize("value,why", [
    ("[" * 3000 + "]" * 3000, "nested deeper than 32"),
    ("[" * 33 + "1" + "]" * 33, "nested deeper than 32"),
    # the 212-byte "billion laughs": each level repeats the one before ten times (10^5 elements)
    ("{a: &a [1,1,1,1,1,1,1,1,1,1], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b],"
     " d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]}", "aliases"),
    ("[&a [1, 2], *a]", "aliases"),
    ("{<<: &m {a: 1}, b: *m}", "aliases")])
def test_set_yaml_is_bounded_in_depth_and_has_no_aliases(value, why, tmp_path):
    with pytest.raises(ValueError, match=why) as err:
        parse_overrides([f"x={value}"])
    assert "\n" not in str(err.value)
    deep = parse_overrides(["x=" + "[" * 32 + "1" + "]" * 32])["x"]        # the limit itself is accepted
    for _ in range(32):
        deep = deep[0]
    assert deep == 1
    bomb = tmp_path / "plan.yml"
    bomb.write_text("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "robust_sampling: {n: *b}\n")
    with pytest.raises(ValueError, match="aliases"):
        load_plan(bomb)


def test_an_out_folder_that_cannot_be_created_is_named_with_the_cause(tmp_path, capsys):
    if not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc")
    plan = tmp_path / "plan.yml"
    plan.write_text("distance: {}\n")
    err = _one_line_error(capsys, ["distance", "--plan", str(plan), "--book", str(ROOT / "book"), "--out", "/proc/x"])
    assert "cannot create the folder /proc/x: No such file or directory" in err
