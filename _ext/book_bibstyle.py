"""The bibliography in one author-year style: every entry of the list is labelled as the text
cites it, "[Kingma and Welling, 2014]", "[Davidson et al., 2018]" (sphinxcontrib-bibtex's
`author_year` reference style cites that way, but its default list style labels entries with
alpha keys such as [KW14]). Registered as the pybtex formatting style `authoryear`, which
_config.yml selects with `bibtex_default_style`. A name written with LaTeX accents in
references.bib ("Sz{\\'e}kely") is labelled in Unicode ("Székely"), never as raw LaTeX.
"""
import codecs
import re

import latexcodec  # noqa: F401  (registers the "ulatex" codec; a dependency of pybtex)

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitle


def _plain(latex: str) -> str:
    """LaTeX text as Unicode: accents decoded, grouping braces dropped."""
    return re.sub(r"[{}]", "", codecs.decode(latex, "ulatex"))


def _last_name(person) -> str:
    return _plain(" ".join(person.prelast_names + person.last_names) or " ".join(person.first_names))


def author_year_label(entry) -> str:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in persons]
    if not names:
        who = _plain(entry.fields.get("title", entry.key))[:30]
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [author_year_label(e) for e in sorted_entries]
        seen = {}
        for i, label in enumerate(labels):          # two works of one author and year: a, b
            if labels.count(label) > 1:
                seen[label] = seen.get(label, 0) + 1
                labels[i] = label + "abcdefghij"[seen[label] - 1]
        yield from labels


class AuthorYearSorting(AuthorYearTitle):
    """Sorted by the label's author and year (braces in a corporate author ignored)."""

    def sorting_key(self, entry):
        return (author_year_label(entry).lower(), entry.fields.get("title", "").lower())


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = AuthorYearSorting


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
