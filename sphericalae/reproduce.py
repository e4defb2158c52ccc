"""Re-execute book pages at their full-scale parameters with papermill (``make reproduce``).

The plan lives in ``reproduce.yml`` (looked up in the current folder, the repository root under
``make reproduce``; ``--plan`` names another): one entry per experiment page, mapping
the page (``book/NAME.md``) to the papermill parameters of its full-scale run. Papermill reads only
.ipynb, so each MyST page is converted with jupytext in memory on the way. Outputs go to
``results/NAME.ipynb``; papermill records the parameters in the notebook's metadata, and a line per
run is appended to ``results/runs.tsv`` (page, parameters, seconds, status).

    python -m sphericalae.reproduce                    # every page of the plan
    python -m sphericalae.reproduce robust_sampling    # one page
    python -m sphericalae.reproduce robust_sampling --set device=cuda --set n=20000
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

def load_plan(path: Path | str = "reproduce.yml") -> dict:
    """Read the plan: ``{page name: {parameter: value}}``. Refuses a malformed file clearly."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reproduction plan at {path}")
    plan = yaml.safe_load(path.read_text()) or {}
    if not isinstance(plan, dict) or not all(isinstance(v, dict) for v in plan.values()):
        raise ValueError(f"{path}: expected a mapping of page name -> mapping of parameters")
    return plan


def parse_overrides(items) -> dict:
    """``["device=cuda", "n=5000"]`` -> ``{"device": "cuda", "n": 5000}`` (values parsed as YAML)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run_page(name: str, parameters: dict, book_dir: Path = Path("book"), out_dir: Path = Path("results"),
             kernel_name: str = "python3"):
    """Execute ``book_dir/name.md`` with ``parameters`` into ``out_dir/name.ipynb``; returns seconds."""
    import jupytext
    import papermill

    src = Path(book_dir) / f"{name}.md"
    if not src.is_file():
        raise FileNotFoundError(f"no page {src}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    t0 = time.perf_counter()
    status = "failed"
    try:
        papermill.execute_notebook(nb, str(out_dir / f"{name}.ipynb"), parameters=parameters,
                                   kernel_name=kernel_name, cwd=str(src.parent), progress_bar=True)
        status = "ok"
    finally:
        seconds = time.perf_counter() - t0
        with open(out_dir / "runs.tsv", "a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{name}\t{json.dumps(parameters)}\t{seconds:.1f}\t{status}\n")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sphericalae.reproduce", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pages", nargs="*", help="page names from reproduce.yml (default: all)")
    ap.add_argument("--plan", default="reproduce.yml", help="the plan file (default: ./reproduce.yml)")
    ap.add_argument("--book", default="book", help="folder of the MyST pages (default: ./book)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a parameter for every page run (repeatable)")
    ap.add_argument("--out", default="results", help="output folder (default: ./results)")
    args = ap.parse_args(argv)
    plan = load_plan(args.plan)
    unknown = [p for p in args.pages if p not in plan]
    if unknown:
        ap.error(f"unknown page(s) {unknown}; pages in the plan: {', '.join(plan)}")
    overrides = parse_overrides(args.set)
    for name in args.pages or list(plan):
        params = {**plan[name], **overrides}
        print(f"== {name}: {params}", flush=True)
        seconds = run_page(name, params, book_dir=Path(args.book), out_dir=Path(args.out))
        print(f"== {name}: done in {seconds:.1f} s -> {Path(args.out) / (name + '.ipynb')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
