"""Re-execute book pages at their full-scale parameters with papermill (``make reproduce``).

The plan lives in ``reproduce.yml`` (looked up in the current folder, the repository root under
``make reproduce``; ``--plan`` names another): one entry per experiment page, mapping
the page (``book/NAME.md``) to the papermill parameters of its full-scale run. Papermill reads only
.ipynb, so each MyST page is converted with jupytext in memory on the way. Outputs go to
``results/NAME.ipynb``; papermill records the parameters in the notebook's metadata, and lines are
appended to ``results/runs.tsv`` (time, page, parameters, seconds, status): ``started`` when a page
starts, then ``ok``, ``failed`` or ``interrupted``.

    python -m sphericalae.reproduce                    # every page of the plan
    python -m sphericalae.reproduce robust_sampling    # one page
    python -m sphericalae.reproduce robust_sampling --set device=cuda --set n=20000

Parameters are checked before anything runs: every name (in the plan or a ``--set``) must be a
parameter of the page's ``parameters`` cell, and every value a plain literal (number, string,
true/false, null, list, mapping; parsed as YAML) of the parameter's type (an ``int`` where the page
has an ``int``; an ``int`` is accepted for a ``float``). A ``--set`` applies to each page run that
has the parameter, and is refused if none has it. Nothing typed is ever run as code. YAML is read
without aliases (``*name``) and at most :data:`MAX_DEPTH` lists or mappings deep, in the plan and in
``--set`` alike, so a small text cannot expand into a large value.

Every page name, whether a key of the plan or given on the command line, must be a page of the
book: a name of letters, digits, ``_`` and ``-`` (no path separator, no ``..``) for which
``book/NAME.md`` exists. Nothing is read or written outside ``--book`` and ``--out``.

While it runs, ``reproduce`` holds the lock of its output folder (:mod:`sphericalae.runlock`): a
second ``reproduce`` into the same folder is refused. A page is executed into
``NAME.partial.ipynb`` and renamed to ``NAME.ipynb`` only when it has run to the end, so
``NAME.ipynb`` is always a complete run; a page that fails, or a run stopped by Ctrl-C or SIGTERM,
leaves ``NAME.partial.ipynb`` (the cells run so far) and its status line in ``runs.tsv``. Mistakes
end with one line on stderr and exit status 2; a page that fails, with exit status 1. The kernel's
own stderr (its log, and its shutdown noise when a run is stopped) goes to ``kernel.log`` in the
output folder, so that an interrupted run prints only its one line.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import yaml

from .runlock import run_lock
from .signals import Terminated, stop_signals

_ANY = object()          # a parameter whose default is not a literal: any literal value is accepted
MAX_DEPTH = 32
"""The deepest nesting of lists and mappings a plan or a ``--set`` value may have."""
PAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class _PlainLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases and with at most :data:`MAX_DEPTH` nested collections."""

    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _Refused("aliases (*name) are not accepted; write the value out")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:
                raise _Refused(f"lists or mappings nested deeper than {MAX_DEPTH} levels are not accepted")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refused(ValueError):
    """A YAML text refused by :class:`_PlainLoader`."""


def plain_yaml(text: str):
    """``text`` parsed as YAML by the safe loader, refusing aliases and nesting deeper than
    :data:`MAX_DEPTH` (``ValueError``); malformed YAML raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 (a SafeLoader subclass)


def check_page_name(name, where: str) -> str:
    """``name`` if it can name a page file (``NAME.md``, ``NAME.ipynb``): letters, digits, ``_``
    and ``-``, not starting with ``-``; else a one-line ``ValueError`` saying where it came from."""
    if not isinstance(name, str) or not PAGE_NAME.match(name):
        raise ValueError(f"{where}: {name!r} is not a page name (letters, digits, '_' and '-', no path: "
                         "a page of the book is named as book/NAME.md without folder or suffix)")
    return name


def load_plan(path: Path | str = "reproduce.yml") -> dict:
    """Read the plan: ``{page name: {parameter: value}}``. A missing file raises
    ``FileNotFoundError``, malformed YAML or a wrong shape ``ValueError``, each in one line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reproduction plan at {path} (pass --plan FILE)")
    try:
        plan = plain_yaml(path.read_text()) or {}
    except _Refused as err:
        raise ValueError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ValueError(f"{path}: not valid YAML{at} ({getattr(err, 'problem', None) or err})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({err})") from None
    if not isinstance(plan, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in plan.items()):
        raise ValueError(f"{path}: expected a mapping of page name -> mapping of parameters")
    for name in plan:
        check_page_name(name, f"{path}")
    return plan


def _literal(value, where: str):
    """``value`` if it is a plain literal papermill writes back as itself; else ``ValueError``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, list):
        return [_literal(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _literal(v, where) for k, v in value.items()}
    raise ValueError(f"{where}: {value!r} is a {type(value).__name__}; use a number, string, "
                     "true/false, null, or a list or mapping of these")


def parse_overrides(items) -> dict:
    """``["device=cuda", "n=5000"]`` -> ``{"device": "cuda", "n": 5000}``. Keys must be Python
    identifiers; values are parsed as YAML and must be plain literals: numbers, strings, booleans, null, lists and mappings of these."""
    out = {}
    for item in items or []:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        if not key.isidentifier() or key.startswith("_"):
            raise ValueError(f"--set {item!r}: {key!r} is not a parameter name (letters, digits, '_')")
        try:
            value = plain_yaml(text)
        except _Refused as err:
            raise ValueError(f"--set {key}: {err}") from None
        except yaml.YAMLError:
            raise ValueError(f"--set {item!r}: the value is not a literal (quote a string: {key}='...')") from None
        out[key] = _literal(value, f"--set {key}")
    return out


def page_parameters(nb, name: str = "page") -> dict:
    """``{parameter: default}`` of the notebook's cell tagged ``parameters`` (default ``_ANY`` where
    it is not a literal). A page without exactly one such cell, or whose cell does not parse, is
    refused."""
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{name} has {len(cells)} cells tagged parameters; papermill needs exactly one")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as err:
        raise ValueError(f"{name}: its parameters cell does not parse ({err.msg}, line {err.lineno})") from None
    params = {}
    for stmt in tree.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else \
            getattr(stmt, "target", None) if isinstance(stmt, ast.AnnAssign) else None
        if isinstance(target, ast.Name):
            try:
                params[target.id] = ast.literal_eval(stmt.value)
            except (ValueError, TypeError, SyntaxError):
                params[target.id] = _ANY
    return params


def _type_ok(value, default) -> bool:
    if default is _ANY or default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    kinds = {int: int, str: str, list: list, tuple: list, dict: dict}
    want = next((v for k, v in kinds.items() if isinstance(default, k)), None)
    return want is None or isinstance(value, want)


def check_parameters(name: str, params: dict, declared: dict, source: str) -> None:
    """Refuse (``ValueError``, one line) a parameter ``declared`` lacks, or a value whose type
    differs from the declared default's; ``source`` says where the value came from."""
    for key, value in params.items():
        if key not in declared:
            raise ValueError(f"{source}: page {name} has no parameter {key!r}; its parameters: "
                             f"{', '.join(declared)}")
        if not _type_ok(value, declared[key]):
            raise ValueError(f"{source}: page {name}'s parameter {key} takes {type(declared[key]).__name__} "
                             f"values (default {declared[key]!r}), got {value!r}")
        _literal(value, f"{source}: {key}")
        if not _round_trips(value):
            raise ValueError(f"{source}: the value of {key} ({value!r}) would not be written back as itself")


def _round_trips(value) -> bool:
    """Whether papermill's Python rendering of ``value`` reads back (as a literal) to ``value``."""
    from papermill.translators import PythonTranslator

    try:
        return ast.literal_eval(PythonTranslator.translate(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def read_page(book_dir, name: str):
    """The MyST page ``book_dir/name.md`` as a notebook (jupytext); a missing page is refused."""
    import jupytext

    src = Path(book_dir) / f"{check_page_name(name, 'page')}.md"
    if not src.is_file():
        raise FileNotFoundError(f"no page {src} (is --book the folder of the MyST pages?)")
    return jupytext.read(src)


def _record(out_dir: Path, name: str, parameters: dict, seconds: float, status: str) -> None:
    with open(out_dir / "runs.tsv", "a") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{name}\t{json.dumps(parameters)}\t"
                  f"{seconds:.1f}\t{status}\n")


def run_page(name: str, parameters: dict, book_dir: Path = Path("book"), out_dir: Path = Path("results"),
             kernel_name: str = "python3", nb=None):
    """Execute ``book_dir/name.md`` (or the notebook ``nb`` read from it) with ``parameters`` into
    ``out_dir/name.ipynb``; returns seconds. The notebook is written as ``name.partial.ipynb`` and
    renamed when the page has run to the end; a failure or an interruption leaves the partial
    notebook, and ``runs.tsv`` records ``started`` and then ``ok``, ``failed`` or ``interrupted``.
    Exceptions (papermill's execution error, ``KeyboardInterrupt``,
    :class:`~sphericalae.signals.Terminated`) propagate. The caller checks ``parameters`` and holds
    the folder's lock."""
    import papermill

    src = Path(book_dir) / f"{check_page_name(name, 'page')}.md"
    nb = read_page(book_dir, name) if nb is None else nb
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial, final = out_dir / f"{name}.partial.ipynb", out_dir / f"{name}.ipynb"
    _record(out_dir, name, parameters, 0.0, "started")
    t0, status = time.perf_counter(), "failed"
    try:
        with open(out_dir / "kernel.log", "a") as kernel_log:
            kernel_log.write(f"== {time.strftime('%Y-%m-%dT%H:%M:%S')} {name}\n")
            kernel_log.flush()
            papermill.execute_notebook(nb, str(partial), parameters=parameters, kernel_name=kernel_name,
                                       cwd=str(src.parent), progress_bar=True,
                                       kernel_manager_class=_kernel_manager(kernel_log))
        os.replace(partial, final)
        status = "ok"
    except (KeyboardInterrupt, Terminated):
        status = "interrupted"
        raise
    finally:
        seconds = time.perf_counter() - t0
        _record(out_dir, name, parameters, seconds, status if status == "ok" else f"{status} ({partial.name})")
    return seconds


def _kernel_manager(log):
    """The kernel manager class nbclient starts a page's kernel with: jupyter_client's own, with
    the kernel process's stderr written to the open file ``log``."""
    from jupyter_client import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stderr", log)
            return await super().start_kernel(**kw)

    return LoggedKernelManager


def _plan_runs(args) -> list:
    """``[(page, parameters, notebook)]`` for the pages asked for, every name and value checked."""
    plan = load_plan(args.plan)
    for page in args.pages:
        check_page_name(page, "page")
    unknown = [p for p in args.pages if p not in plan]
    if unknown:
        raise ValueError(f"unknown page(s) {', '.join(unknown)}; pages in the plan: {', '.join(plan)}")
    if not Path(args.book).is_dir():
        raise FileNotFoundError(f"no book folder {args.book} (pass --book FOLDER)")
    overrides = parse_overrides(args.set)
    names = args.pages or list(plan)
    runs, known = [], {}
    for name in names:
        nb = read_page(args.book, name)
        declared = page_parameters(nb, name)
        check_parameters(name, plan[name], declared, str(args.plan))
        mine = overrides if len(names) == 1 else {k: v for k, v in overrides.items() if k in declared}
        check_parameters(name, mine, declared, "--set")
        known.update(declared)
        runs.append((name, {**plan[name], **mine}, nb))
    for key in overrides.keys() - known.keys():
        raise ValueError(f"--set {key}: no page run has a parameter {key!r}; their parameters: {', '.join(known)}")
    return runs


def _run_all(args) -> int:
    runs = _plan_runs(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    with run_lock(out):
        for name, params, nb in runs:
            print(f"== {name}: {params}", flush=True)
            seconds = run_page(name, params, book_dir=Path(args.book), out_dir=out, nb=nb)
            print(f"== {name}: done in {seconds:.1f} s -> {out / (name + '.ipynb')}", flush=True)
    return 0


def _parser():
    ap = argparse.ArgumentParser(prog="python -m sphericalae.reproduce", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pages", nargs="*", help="page names from reproduce.yml (default: all)")
    ap.add_argument("--plan", default="reproduce.yml", help="the plan file (default: ./reproduce.yml)")
    ap.add_argument("--book", default="book", help="folder of the MyST pages (default: ./book)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a parameter of every page run that has it (repeatable)")
    ap.add_argument("--out", default="results", help="output folder (default: ./results)")
    return ap


def main(argv=None) -> int:
    """The command line; returns the exit status (0 done, 1 a page failed, 2 a mistake, 130
    Ctrl-C, 143 SIGTERM), every error in one line on stderr."""
    from papermill.exceptions import PapermillExecutionError

    args = _parser().parse_args(argv)
    try:
        with stop_signals():       # Ctrl-C works even when started with SIGINT ignored (a background job)
            return _run_all(args)
    except PapermillExecutionError as err:
        why = str(err.evalue).splitlines()[0] if err.evalue else ""
        print(f"error: a page failed in cell {err.exec_count}: {err.ename}: {why} (partial notebook and "
              f"status in {args.out})", file=sys.stderr)
        return 1
    except (ValueError, OSError) as err:
        print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; the partial notebook and its status are in {args.out}", file=sys.stderr)
        return 130
    except Terminated:
        print(f"terminated; the partial notebook and its status are in {args.out}", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
