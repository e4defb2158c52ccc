"""The code a cached result depends on, definition by definition: the ``source`` part of a cache key
(:func:`sphericalae.cache.source_hash`).

A result names its roots (``sources``): a module (``"sphericalae.models"``: every top-level
definition of it) or one top-level definition (``"sphericalae.experiments.prior_study"``: a
function, a class, a module-level constant). :func:`reachable` follows, by reading the syntax trees
(nothing is imported), every name a reached definition uses: a definition of its own module, a name
imported from another package module (``from .metrics import swd``, also inside functions), an
attribute of an imported package module (``ops.sample_prior``). A class counts whole (its methods,
its bases, its class attributes such as a model's trainer). Each reached module adds its top-level
statements that define nothing (``if``, ``try``, calls: code that runs on import), and the
package's ``__init__`` counts always. What cannot be resolved to one definition (``from .x import
*``, a module used as a value, an import of the package itself) counts the whole module: the walk
errs toward recomputing.

So editing a function recomputes only the results whose roots reach it: ``swd`` the reconstruction
studies, not the t-SNE maps; a new definition nothing uses, none. Docstrings, comments and layout
are not code (:func:`sphericalae.cache.code_of`).
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

__all__ = ["reachable", "definitions_hash", "strip_docstrings"]

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_PROLOGUE = "<module>"          # the name under which a module's top-level non-definitions are kept


def strip_docstrings(node):
    """``node`` (a syntax tree) without its docstrings and bare string statements, in place: what
    the code computes, not its words (:func:`sphericalae.cache.code_of`)."""
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if isinstance(body, list):
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                            and isinstance(s.value.value, str))]
            sub.body = kept or [ast.Pass()]
    return node


def _targets(stmt) -> list:
    """The names a top-level assignment binds, or [] when it is not a plain assignment to names."""
    if isinstance(stmt, ast.Assign):
        if all(isinstance(t, ast.Name) for t in stmt.targets):
            return [t.id for t in stmt.targets]
        return []
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id]
    return []


class _Module:
    """One module's top-level definitions: ``code[name]`` (the dump of its syntax, docstrings out)
    and ``refs[name]`` (the ``(module, name or None)`` pairs it uses; None: the whole module)."""

    def __init__(self, name: str, source: bytes, root: Path, module_file):
        self.name, self.root, self._file = name, root, module_file
        self.pkg = name.split(".")[0]
        self.here = name.split(".") if module_file(name, root).name == "__init__.py" else name.split(".")[:-1]
        tree = ast.parse(source)
        self.aliases = {}
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.aliases.update(self._bind(stmt))
        self.code, self.refs = {}, {}
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                continue                                     # a docstring
            names = [stmt.name] if isinstance(stmt, _DEFS) else _targets(stmt)
            for n in names or [_PROLOGUE]:
                self._add(n, stmt)

    def _add(self, name, stmt):
        dump = ast.dump(strip_docstrings(stmt)).encode()
        self.code[name] = self.code.get(name, b"") + dump + b"\0"
        self.refs.setdefault(name, set()).update(self._uses(stmt))

    def _module(self, node) -> str:
        """The dotted module an ImportFrom names, resolved against this module."""
        base = node.module or ""
        if node.level:
            base = ".".join(self.here[:len(self.here) - node.level + 1] + ([base] if base else []))
        return base

    def _is_module(self, dotted) -> bool:
        return self._file(dotted, self.root).is_file()

    def _bind(self, stmt) -> dict:
        """``{local name: (module, name or None)}`` of an import statement, package modules only."""
        out = {}
        if isinstance(stmt, ast.ImportFrom):
            base = self._module(stmt)
            if not (base == self.pkg or base.startswith(self.pkg + ".")) or not self._is_module(base):
                return out
            for a in stmt.names:
                if a.name == "*":
                    out[f"*{base}"] = (base, None)
                elif self._is_module(f"{base}.{a.name}"):
                    out[a.asname or a.name] = (f"{base}.{a.name}", None)
                else:
                    out[a.asname or a.name] = (base, a.name)
        else:
            for a in stmt.names:
                if (a.name == self.pkg or a.name.startswith(self.pkg + ".")) and self._is_module(a.name):
                    out[a.asname or a.name.split(".")[0]] = (a.name if a.asname else self.pkg, None)
                    if not a.asname:
                        out[f"*{a.name}"] = (a.name, None)     # `import pkg.x`: x reached as pkg.x
        return out

    def _uses(self, stmt) -> set:
        """The ``(module, name or None)`` pairs ``stmt`` uses."""
        aliases = dict(self.aliases)
        for node in ast.walk(stmt):                          # imports inside functions
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                aliases.update(self._bind(node))
        found = {v for k, v in aliases.items() if k.startswith("*")}     # `from .x import *`: all of x
        skip = set()
        for node in ast.walk(stmt):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                module, name = aliases[node.value.id]
                if name is None and module != self.pkg:
                    found.add((module, node.attr))
                    skip.add(id(node.value))
            elif isinstance(node, ast.Name) and id(node) not in skip:
                if node.id in aliases:
                    found.add(aliases[node.id])
                else:
                    found.add((self.name, node.id))
        return found


@functools.lru_cache(maxsize=512)
def _parse(name: str, source: bytes, root: Path, module_file) -> _Module:
    return _Module(name, source, root, module_file)


def reachable(sources, root: Path, module_file, skip=()) -> dict:
    """``{(module, definition): code}`` of every definition the roots ``sources`` reach (see the
    module docstring), with each reached module's prologue and the package's ``__init__``; modules
    of ``skip`` (the cache's own storage code) are left out."""
    names = _root_names(sources)
    out, seen = {}, set()
    todo = [(n.split(".")[0], None) for n in names[:1]]    # the package's __init__
    for name in names:
        if module_file(name, root).is_file():
            todo.append((name, None))
        else:
            module, _, attr = name.rpartition(".")
            if not module or not module_file(module, root).is_file():
                raise ValueError(f"no module or top-level definition {name!r} in {root}")
            todo.append((module, attr))
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        module, attr = item
        if module in skip or not module_file(module, root).is_file():
            continue
        mod = _parse(module, module_file(module, root).read_bytes(), Path(root), module_file)
        if attr is not None and attr not in mod.code and attr not in mod.aliases:
            continue                                       # a local, a builtin, a parameter: not a definition
        if attr is not None and attr in mod.aliases and attr not in mod.code:
            todo.append(mod.aliases[attr])                  # a name re-exported from another module
            continue
        names = list(mod.code) if attr is None else [attr]
        if _PROLOGUE in mod.code and (module, _PROLOGUE) not in out:
            names.append(_PROLOGUE)
        for n in names:
            out[module, n] = mod.code[n]
            todo.extend(r for r in mod.refs[n] if r not in seen)
    return out


def _root_names(sources) -> list:
    """The dotted names of ``sources`` (names, or functions and classes of the package)."""
    return [s if isinstance(s, str) else f"{s.__module__}.{s.__qualname__}" for s in sources]


def _fingerprint(root: Path) -> str:
    """sha256 of the path and bytes of every ``.py`` file under ``root``: any edit changes it."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*.py") if "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


_HASHES = {}


def definitions_hash(sources, root: Path, module_file, skip=()) -> str:
    """sha256 over the module, name and code of every definition :func:`reachable` finds. Remembered
    per process for the same roots and the same bytes of the package's files (read on every call, so
    an edit is seen at once): a study that loads fifty cached models walks the code once."""
    memo = (tuple(_root_names(sources)), str(root), module_file, tuple(skip), _fingerprint(root))
    if memo not in _HASHES:
        h = hashlib.sha256()
        for (module, name), code in sorted(reachable(sources, root, module_file, skip).items()):
            h.update(f"{module}:{name}".encode() + b"\0" + code)
        if len(_HASHES) > 4096:
            _HASHES.clear()
        _HASHES[memo] = h.hexdigest()
    return _HASHES[memo]
