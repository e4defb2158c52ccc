"""The reproduction plan and its command line (the papermill run itself is exercised by make reproduce)."""
from pathlib import Path

import pytest

from sphericalae.reproduce import load_plan, main, parse_overrides

ROOT = Path(__file__).resolve().parent.parent
PLAN = ["--plan", str(ROOT / "reproduce.yml"), "--book", str(ROOT / "book")]


def test_plan_names_existing_pages_with_their_parameters():
    plan = load_plan(ROOT / "reproduce.yml")
    assert plan, "reproduce.yml lists no page"
    for name, params in plan.items():
        page = (ROOT / "book" / f"{name}.md").read_text()
        assert ":tags: [parameters]" in page, f"{name} has no parameters cell"
        for key in params:  # every full-scale parameter exists in the page's parameters cell
            cell = page.split(":tags: [parameters]", 1)[1].split("```", 1)[0]
            assert f"\n{key} =" in cell, f"{name}: parameter {key!r} is not in its parameters cell"


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
    with pytest.raises(SystemExit):
        main(["no_such_page", *PLAN])
    assert "pages in the plan" in capsys.readouterr().err


def test_reproduce_runs_a_page(tmp_path):
    # small parameters: checks the jupytext -> papermill path end to end and the run log
    main(["robust_sampling", *PLAN, "--set", "n=200", "--set", "reps=2", "--out", str(tmp_path)])
    import nbformat
    nb = nbformat.read(tmp_path / "robust_sampling.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters == {"n": 200, "reps": 2}
    assert "\tok" in (tmp_path / "runs.tsv").read_text()
