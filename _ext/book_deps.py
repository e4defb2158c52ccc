"""Sphinx extension: ``make book`` re-reads, hence re-executes, a page when the package code its cells
use has changed. A page's code key is the hash of the definitions its imported names reach
(:func:`sphericalae.sourcekeys.definitions_hash`, the walker the model cache keys on: a function,
what it calls, the classes and constants those use) and of ``requirements.txt``. The key of each
page is kept in the build environment when the page is read; on an incremental build
(``env-get-outdated``) the pages whose key differs are read again. So editing ``swd`` re-executes
the pages that reach it (training, priors, dimension, verdict, intro), not the latent page or the
geometry pages, and a docstring or a comment re-executes none (they are not code; the API page,
which shows docstrings, has autodoc's own dependencies). A page with no package code has no key.
"""
import ast
import hashlib
from pathlib import Path

from sphericalae.cache import PACKAGE_DIR, STORAGE_MODULES, module_file
from sphericalae.sourcekeys import definitions_hash

PKG = PACKAGE_DIR.name


def page_names(text: str) -> set:
    """The package modules and top-level definitions the code cells of the MyST notebook ``text``
    import (``from sphericalae.x import f`` gives ``sphericalae.x.f``; a module imported whole, its
    name). Cells that are not plain Python (IPython magics) are skipped."""
    import jupytext

    found = set()
    for cell in jupytext.reads(text, fmt="md:myst").cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module \
                    and (node.module == PKG or node.module.startswith(PKG + ".")):
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    found.add(node.module if a.name == "*" else sub)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name == PKG or a.name.startswith(PKG + "."))
    return found


def page_key(text: str, requirements: Path, package_dir: Path = PACKAGE_DIR):
    """The code key of a page (see the module docstring), or None for a page without package code."""
    names = page_names(text)
    if not names:
        return None
    h = hashlib.sha256(definitions_hash(sorted(names), Path(package_dir), module_file, STORAGE_MODULES).encode())
    h.update(requirements.read_bytes() if requirements.is_file() else b"")
    return h.hexdigest()


def _keys(env) -> dict:
    if not hasattr(env, "sphericalae_keys"):
        env.sphericalae_keys = {}
    return env.sphericalae_keys


def _requirements(app) -> Path:
    return Path(app.srcdir) / "requirements.txt"


def _read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".md"):
        _keys(app.env)[docname] = page_key(source[0], _requirements(app))


def outdated(app, env, added, changed, removed) -> list:
    """The pages read before whose code key has changed since (``env-get-outdated``)."""
    stale = []
    for docname, key in _keys(env).items():
        if docname in added or docname in changed or docname in removed:
            continue
        path = Path(env.doc2path(docname))
        if key is not None and path.is_file() and page_key(path.read_text(), _requirements(app)) != key:
            stale.append(docname)
    return stale


def _purge(app, env, docname):
    _keys(env).pop(docname, None)


def _merge(app, env, docnames, other):
    _keys(env).update({d: k for d, k in _keys(other).items() if d in docnames})


def setup(app):
    app.connect("source-read", _read)
    app.connect("env-get-outdated", outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
