"""Sphinx extension: a page depends on the ``sphericalae`` modules its code cells import and on
everything those import (:func:`sphericalae.cache.dependencies`, the walker the model cache keys
on), and on ``requirements.txt``; each is noted with ``env.note_dependency``, so an incremental
build (``make book``) re-reads, hence re-executes, exactly the pages whose code or package code
changed since they were last built. A page with no code depends on nothing but itself.
"""
from pathlib import Path

from sphericalae.cache import dependencies, imports_in, module_file


def page_modules(text: str) -> set:
    """The package modules the code cells of the MyST notebook ``text`` import (cells that are not
    plain Python, e.g. with IPython magics, are skipped)."""
    import jupytext

    found = set()
    for cell in jupytext.reads(text, fmt="md:myst").cells:
        if cell.cell_type != "code":
            continue
        try:
            found |= imports_in(cell.source)
        except SyntaxError:
            continue
    return found


def page_dependencies(text: str, requirements: Path) -> list:
    """The files a page's execution depends on: its package modules' closure and ``requirements``
    (none for a page without package code)."""
    modules = page_modules(text)
    if not modules:
        return []
    return [module_file(m) for m in dependencies(modules)] + ([requirements] if requirements.is_file() else [])


def _note(app, docname, source):
    if not str(app.env.doc2path(docname)).endswith(".md"):
        return
    for path in page_dependencies(source[0], Path(app.srcdir) / "requirements.txt"):
        app.env.note_dependency(str(path))


def setup(app):
    app.connect("source-read", _note)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
