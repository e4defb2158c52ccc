"""What a reader of the package's book expects to find about the book itself.

* The footer of every page names the package version (``sphericalae.__version__``) and the date
  of the build (UTC; ``SOURCE_DATE_EPOCH`` when set, for a reproducible build), through the
  theme's ``extra_footer``. The date is part of the configuration, so a build on another day
  rewrites every page (without re-executing any).
* ``sae-bibtex`` directive: a BibTeX entry as a code block, ``book`` for the book itself (title,
  authors and year from _config.yml, the version from the package) or a key of references.bib
  (the entry exactly as written there), so the citation page never restates either by hand.
"""
import datetime
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective


def package_version() -> str:
    from sphericalae import __version__

    return __version__


def build_date() -> datetime.date:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
           else datetime.datetime.now(datetime.timezone.utc))
    return now.date()


def footer_text(version: str, date: datetime.date) -> str:
    return f"sphericalae {version} · built on {date.isoformat()}"


def book_bibtex(title: str, author: str, year: str, version: str) -> str:
    return ("@misc{sphericalae_book,\n"
            f"  title        = {{{title}}},\n"
            f"  author       = {{{{{author}}}}},\n"
            f"  year         = {{{year}}},\n"
            f"  note         = {{Version {version}}},\n"
            "  howpublished = {Jupyter Book and Python package},\n"
            "}")


def reference_bibtex(bibfile: Path, key: str) -> str:
    """The entry ``key`` of ``bibfile`` exactly as written there (from ``@type{key,`` to its
    closing brace)."""
    text = Path(bibfile).read_text(encoding="utf-8")
    match = re.search(r"@\w+\s*\{\s*" + re.escape(key) + r"\s*,", text)
    if match is None:
        raise KeyError(f"no entry {key!r} in {bibfile}")
    depth = 0
    for end in range(text.index("{", match.start()), len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0 and text[end] == "}":
            return text[match.start():end + 1]
    raise KeyError(f"entry {key!r} of {bibfile} is not closed")


class SaeBibtex(SphinxDirective):
    """``sae-bibtex`` with one argument: ``book`` or a key of the first bibtex_bibfiles file."""

    required_arguments = 1
    option_spec = {"caption": directives.unchanged}

    def run(self):
        key = self.arguments[0]
        config = self.env.config
        if key == "book":
            text = book_bibtex(config.html_title, config.author, config.copyright, package_version())
        else:
            bibfile = Path(self.env.srcdir) / config.bibtex_bibfiles[0]
            self.env.note_dependency(str(bibfile))
            try:
                text = reference_bibtex(bibfile, key)
            except KeyError as err:
                raise self.error(str(err)) from err
        block = nodes.literal_block(text, text, language="bibtex")
        self.set_source_info(block)
        return [block]


def _footer(app, config):
    options = dict(config.html_theme_options or {})
    options["extra_footer"] = footer_text(package_version(), build_date())
    config.html_theme_options = options


def setup(app):
    app.connect("config-inited", _footer)
    app.add_directive("sae-bibtex", SaeBibtex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
