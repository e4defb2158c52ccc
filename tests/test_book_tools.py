"""The book's own tools, checked without building the book: the local Sphinx extensions of _ext/
(bibliography labels, API docstrings, footer and citation entries), the API page's coverage of the
package, references.bib's links and the licence."""
import datetime
import html
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import book_api  # noqa: E402
import book_bibstyle  # noqa: E402
import book_meta  # noqa: E402
import book_numbers  # noqa: E402,F401

# Entries of references.bib with no DOI or URL that could be checked when the links were added.
UNLINKED = {"lord1954"}


def _bib():
    from pybtex.database import parse_file

    return parse_file(str(ROOT / "references.bib"), "bibtex")


def test_labels_decode_latex_accents():
    from pybtex.database import Entry, Person

    entry = Entry("article", fields={"year": "2013"},
                  persons={"author": [Person("Sz{\\'e}kely, G{\\'a}bor J."), Person("Rizzo, Maria L.")]})
    assert book_bibstyle.author_year_label(entry) == "Székely and Rizzo, 2013"
    entry = Entry("article", fields={"year": "2019"},
                  persons={"author": [Person('Kynk{\\"a}{\\"a}nniemi, Tuomas'), Person("Karras, Tero"),
                                      Person("Aila, Timo")]})
    assert book_bibstyle.author_year_label(entry) == "Kynkäänniemi et al., 2019"


def test_no_label_of_the_bibliography_shows_raw_latex():
    for key, entry in _bib().entries.items():
        label = book_bibstyle.author_year_label(entry)
        assert not re.search(r"[\\{}]", label), f"{key}: {label!r}"


def test_every_reference_has_a_doi_or_url():
    entries = _bib().entries
    unlinked = {k for k, e in entries.items() if not ({"doi", "url"} & {f.lower() for f in e.fields})}
    assert unlinked <= UNLINKED, f"references without a DOI or URL: {sorted(unlinked - UNLINKED)}"
    for key, entry in entries.items():
        fields = {f.lower(): v for f, v in entry.fields.items()}
        if "doi" in fields:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", fields["doi"]), f"{key}: doi {fields['doi']!r}"
        if "url" in fields:
            assert fields["url"].startswith("https://"), f"{key}: url {fields['url']!r}"


def test_bars_outside_literals_are_escaped():
    text = "on the sphere (|sum_j z_j| and |1 - ||z|||), ``|x - y|`` and ``a\nb |c|``"
    out = book_api.escape_bars(text)
    assert out == ("on the sphere (\\|sum_j z_j\\| and \\|1 - \\|\\|z\\|\\|\\|), ``|x - y|`` and "
                   "``a\nb |c|``")


def test_a_constant_is_documented_by_the_comment_above_it():
    source = "import os\n\n# Table 2: the paper's numbers.\n# FFHQ, dz = 512.\nTABLE2 = {}\nOTHER = 1\n"
    assert book_api.comment_above(source, "TABLE2") == ["Table 2: the paper's numbers.", "FFHQ, dz = 512."]
    assert book_api.comment_above(source, "OTHER") == []
    assert book_api.comment_above(source, "MISSING") == []


def test_footer_names_the_version_and_the_build_date(monkeypatch):
    from sphericalae import __version__

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")            # 2026-01-01 00:00 UTC
    assert book_meta.build_date() == datetime.date(2026, 1, 1)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert book_meta.build_date() == datetime.datetime.now(datetime.timezone.utc).date()
    assert book_meta.package_version() == __version__
    text = book_meta.footer_text(__version__, datetime.date(2026, 1, 1))
    assert __version__ in text and "2026-01-01" in text


def test_citation_entries():
    from pybtex.database import parse_string

    paper = book_meta.reference_bibtex(ROOT / "references.bib", "sae2020")
    assert paper.startswith("@misc{sae2020,") and paper.endswith("}")
    assert paper in (ROOT / "references.bib").read_text()             # as written there, whole
    parsed = parse_string(paper, "bibtex").entries["sae2020"]
    assert parsed.fields["title"] == "Latent Variables on Spheres for Sampling and Spherical Inference"
    with pytest.raises(KeyError):
        book_meta.reference_bibtex(ROOT / "references.bib", "no_such_key")
    book = book_meta.book_bibtex("A title", "the authors", "2026", "1.2.3")
    fields = parse_string(book, "bibtex").entries["sphericalae_book"].fields
    assert fields["title"] == "A title" and fields["year"] == "2026" and "1.2.3" in fields["note"]


def test_api_page_documents_every_module():
    page = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", page, flags=re.M))
    modules = {"sphericalae"} | {f"sphericalae.{p.stem}" for p in (ROOT / "sphericalae").glob("*.py")
                                 if not p.stem.startswith("_")}
    assert documented == modules, f"missing: {sorted(modules - documented)}, unknown: {sorted(documented - modules)}"


def test_book_pages_for_users_are_in_the_table_of_contents():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert {"book/api", "book/cite", "book/bibliography"} <= set(files)
    assert files.index("book/verdict") <= 1, "'Does it hold?' first or second after the introduction"


def test_licence_matches_pyproject():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    licence = (ROOT / "LICENSE").read_text()
    assert meta["license"]["text"] == "MIT" and licence.startswith("MIT License")
    assert "Copyright (c) 2026 the sphericalae developers" in licence


def test_highlighted_lines_record_their_indentation():
    import book_code
    from pygments import highlight
    from pygments.lexers import PythonLexer

    source = "def f(x):\n    if x:\n\n\treturn [1,\n            2]\n"
    out = highlight(source, PythonLexer(), book_code.IndentKeepingFormatter())
    indents = [int(m) for m in re.findall(r"--sae-indent: (\d+)ch", out)]
    assert indents == [0, 4, 0, 4, 12]
    # the text of the block is unchanged, line for line: what a reader copies (the formatter's
    # wrapping ends with a newline of its own)
    assert html.unescape(re.sub(r"<[^>]*>", "", out)).rstrip("\n") == source.rstrip("\n")


def test_glued_numbers_in_e_notation_are_written_as_the_book_writes_numbers():
    import book_numbers

    assert book_numbers.book_format("0.00033", ".1e") == "0.00033"
    assert book_numbers.book_format("1.234e-07", ".1e").replace("\u00a0", " ") == "1.2 × 10⁻⁷"
    assert book_numbers.book_format("3.14159", ".2f") == "3.14"          # other specs are Python's
    assert book_numbers.book_format("'text'", "") == "text"


def test_figures_and_tables_are_numbered_page_by_page():
    from types import SimpleNamespace

    import book_numbers

    env = SimpleNamespace(config=SimpleNamespace(numfig=True, root_doc="intro"),
                          toctree_includes={"intro": ["verdict", "volume", "faces"]},
                          found_docs={"intro", "verdict", "volume", "faces"},
                          toc_fignumbers={"verdict": {"figure": {"fig-forest": (1,)},
                                                      "table": {"tab-a": (1,), "tab-b": (2,)}},
                                          "faces": {"figure": {"fig-x": (7,), "fig-y": (8,)}}})
    assert book_numbers.toc_order(env) == ["intro", "verdict", "volume", "faces"]
    assert set(book_numbers.number_by_page(None, env)) == env.found_docs       # every page rewritten
    assert env.toc_fignumbers["verdict"] == {"figure": {"fig-forest": (1, 1)},
                                             "table": {"tab-a": (1, 1), "tab-b": (1, 2)}}
    assert env.toc_fignumbers["faces"]["figure"] == {"fig-x": (3, 1), "fig-y": (3, 2)}
