"""The API reference (book/api.md): the package's docstrings read as the plain text they are.

* A vertical bar outside an inline literal is a character, not reST markup: the docstrings write
  norms and absolute values as ``|x|``, which reST would take for a substitution reference
  ("|sum_j z_j|" is an error). Such bars are escaped before autodoc parses the docstring.
* autodoc documents a constant from a ``#:`` comment or a docstring after it; a constant with
  neither (the numbers of :mod:`sphericalae.paper`, each under a ``#`` comment naming its source)
  would show the docstring of its type (``dict``, ``tuple``). Here such a constant is documented
  by the ``#`` comment block right above its assignment, or by nothing.
"""
import inspect
import re
import sys


def comment_above(source: str, name: str) -> list:
    """The lines of the ``#`` comment block right above ``name = ...`` at module level in
    ``source`` (without the ``#``), or [] when there is none."""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"{re.escape(name)}\s*(:[^=]*)?=", line):
            block = []
            for above in reversed(lines[:i]):
                if not above.startswith("#"):
                    break
                block.insert(0, above[1:].strip())
            return block
    return []


_LITERAL = re.compile(r"(``.+?``)", re.S)


def escape_bars(text: str) -> str:
    """``text`` with every ``|`` outside a ``literal`` escaped for reST."""
    return "".join(part if part.startswith("``") and part.endswith("``") and len(part) > 4
                   else part.replace("|", "\\|") for part in _LITERAL.split(text))


def _escape_bars(app, what, name, obj, options, lines):
    if name.startswith("sphericalae"):
        lines[:] = escape_bars("\n".join(lines)).split("\n")


def _document_from_comment(app, what, name, obj, options, lines):
    if what != "data" or "." not in name:
        return
    modname, attr = name.rsplit(".", 1)
    module = sys.modules.get(modname)
    if module is None or type(obj).__doc__ is None:
        return
    own = inspect.cleandoc(type(obj).__doc__).splitlines()
    if [ln.strip() for ln in lines if ln.strip()] != [ln.strip() for ln in own if ln.strip()]:
        return                                           # the constant has a doc of its own
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        source = ""
    lines[:] = comment_above(source, attr)


def setup(app):
    app.connect("autodoc-process-docstring", _document_from_comment)
    app.connect("autodoc-process-docstring", _escape_bars)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
