"""Which book pages a change of the package concerns, so that ``make book`` re-executes only those.

A page depends on the package modules its code imports and on everything they import
(:func:`sphericalae.cache.dependencies`), and on ``requirements.txt``. ``python -m
sphericalae.bookdeps STAMP [BOOK]`` compares each page's dependency hash with the one recorded in
the JSON file STAMP, touches the pages whose hash changed (Sphinx re-reads, hence re-executes, a
page whose file is newer than its last build) and writes the new hashes to ``STAMP.new``; the
Makefile renames it over STAMP once the build has succeeded. A page with no record is touched.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

from .cache import PACKAGE_DIR, _module_file, dependencies

__all__ = ["page_modules", "page_hash", "stale_pages"]

_IMPORT = re.compile(r"^\s*(?:from\s+(sphericalae(?:\.\w+)*)\s+import\s+([\w ,()]+)|import\s+(sphericalae(?:\.\w+)*))",
                     re.M)


def page_modules(text: str) -> set:
    """The package modules a page's text imports (``from sphericalae import claims`` counts
    ``sphericalae.claims``)."""
    found = set()
    for base, names, plain in _IMPORT.findall(text):
        module = base or plain
        found.add(module)
        if base == "sphericalae":
            found.update(f"sphericalae.{n.strip()}" for n in names.strip("() ").split(",") if n.strip())
    return {m for m in found if _module_file(m, PACKAGE_DIR).is_file()}


def page_hash(page: Path, requirements: Path | None = None) -> str:
    """sha256 of the sources of the modules ``page`` depends on, and of ``requirements``."""
    h = hashlib.sha256()
    for module in dependencies(page_modules(page.read_text()) or ["sphericalae"]):
        h.update(module.encode() + b"\0" + _module_file(module, PACKAGE_DIR).read_bytes() + b"\0")
    if requirements is not None and requirements.is_file():
        h.update(requirements.read_bytes())
    return h.hexdigest()


def stale_pages(book: Path, recorded: dict, requirements: Path | None = None):
    """``(stale page names, new hashes)`` for the ``.md`` pages of ``book``."""
    new = {p.stem: page_hash(p, requirements) for p in sorted(Path(book).glob("*.md"))}
    return [name for name, h in new.items() if recorded.get(name) != h], new


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m sphericalae.bookdeps STAMP [BOOK]", file=sys.stderr)
        return 2
    stamp, book = Path(argv[0]), Path(argv[1] if len(argv) > 1 else "book")
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        recorded = {}
    stale, new = stale_pages(book, recorded, Path("requirements.txt"))
    for name in stale:
        os.utime(book / f"{name}.md")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stamp}.new").write_text(json.dumps(new, indent=1))
    print(f">> pages to execute (their code or the package code they use changed): {', '.join(stale) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
