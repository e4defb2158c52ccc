"""Let nbval test the book's MyST notebooks (.md, jupytext text format) listed in _toc.yml.

nbval collects only .ipynb files; here each .md notebook of the table of contents is read with
jupytext and handed to nbval's own collector, so `pytest --nbval-lax --nbval-current-env book/`
executes every page cell by cell, hidden assertion cells included.
"""
import functools
import types
from pathlib import Path
from unittest import mock

import yaml

ROOT = Path(__file__).parent


@functools.lru_cache(maxsize=None)
def _toc_files():
    """Paths (resolved) of the documents named in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return {(ROOT / f).with_suffix(".md").resolve() for f in found}


def _is_text_notebook(path: Path) -> bool:
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec:" in head


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if not (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)):
        return None
    if file_path.suffix != ".md" or file_path.resolve() not in _toc_files():
        return None
    if not _is_text_notebook(file_path):
        return None
    return MarkdownNotebook.from_parent(parent, path=file_path)


try:
    import nbval.plugin as _nbval_plugin
except ImportError:  # nbval missing: plain unit tests still run
    _nbval_plugin = None

if _nbval_plugin is not None:
    class MarkdownNotebook(_nbval_plugin.IPyNbFile):
        """An nbval notebook file whose cells come from a jupytext .md file."""

        def collect(self):
            import jupytext

            nb = jupytext.read(self.path)
            reader = types.SimpleNamespace(read=lambda *args, **kwargs: nb)
            with mock.patch.object(_nbval_plugin, "nbformat", reader):
                yield from super().collect()
