"""The built book as a reader gets it: every page of _build/html opened from disk in headless
Chromium (Debian's `chromium`, driven by Playwright), with every network request refused.

Checks, over all pages: each formula is typeset by the MathJax shipped with the build, every image
loads, no console error, no request leaves the disk, no code block scrolls sideways in a 1280 px
window (code folded behind a toggle is not checked), no page text shows a machine path, a Python
warning or an object repr, no table cell says NaN, and the search page finds a term that is in
the book (and nothing for one that is not).

Needs a built book (`make book`; `make test` builds it first). Without Chromium or Playwright the
module is skipped with a message saying how to install them; under CI (CI=true) it fails instead.
"""
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
WIDTH, HEIGHT = 1280, 900
SEARCH_HIT, SEARCH_MISS = "Wasserstein", "qzxqvj"   # a word of the book, and one in no page

MACHINE_PATH = re.compile(r"(/work/|/root/|/home/[\w.-]+/|/tmp/|site-packages|dist-packages)")
WARNING = re.compile(r"\b[A-Z]\w*Warning\b|Traceback \(most recent call last\)")
OBJECT_REPR = re.compile(r"<[\w.]+( object)? at 0x[0-9a-fA-F]+>")


def _under_ci():
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(msg):
    if _under_ci():
        pytest.fail(f"{msg} (CI=true: the browser test may not be skipped)")
    pytest.skip(msg)


def _chromium():
    for candidate in (os.environ.get("SPHERICALAE_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]
    for part in toc.get("parts", []):
        found += [c["file"] for c in part.get("chapters", [])]
    return found


# Run in the page after load: what a reader would see, as plain data.
_INSPECT = """() => {
  const visible = el => el.offsetParent !== null || el.getClientRects().length > 0;
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(el => !el.querySelector('mjx-container'))
                        .map(el => el.textContent.trim().slice(0, 60));
  const imgs = [...document.querySelectorAll('img')];
  const broken = imgs.filter(img => !(img.complete && img.naturalWidth > 0))
                     .map(img => img.getAttribute('src'));
  // code folded behind a toggle (hide-input: plotting boilerplate) is not what a reader sees
  const scrolling = [...document.querySelectorAll('pre')]
      .filter(el => visible(el) && !el.closest('details:not([open])'))
      .filter(el => el.scrollWidth > el.clientWidth + 1)
      .map(el => {
        const longest = el.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '');
        return `${el.scrollWidth}px > ${el.clientWidth}px: ${longest.trim().slice(0, 90)}`;
      });
  const nanCells = [...document.querySelectorAll('td, th')]
      .filter(el => /^\\s*(nan|NaN)\\s*$/.test(el.textContent)).length;
  return {math: math.length, untypeset, images: imgs.length, broken, scrolling, nanCells,
          text: document.body.innerText, preText: [...document.querySelectorAll('pre')]
              .map(el => el.textContent).join('\\n')};
}"""


@pytest.fixture(scope="module")
def visits():
    if not (HTML / "index.html").exists():
        _unavailable(f"no built book in {HTML}: run `make book` first (make test builds it)")
    chromium = _chromium()
    if chromium is None:
        _unavailable("no Chromium found: install Debian's browser with `sudo apt-get install chromium` "
                     "(make test does it when run as root), or set SPHERICALAE_CHROMIUM to a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is missing: `make setup` installs requirements.txt")

    def _collect(into, what):
        def handler(event):
            text = what(event)
            if text is not None:
                into.append(text)
        return handler

    def _offline(blocked):
        def handler(route):
            url = route.request.url
            if url.startswith(("file:", "data:", "blob:", "about:")):
                route.continue_()
            else:
                blocked.append(url)
                route.abort()
        return handler

    # Redirect stubs (index.html -> the first page) hold no content, and evaluating one races
    # with its navigation: visit the pages they point to instead.
    pages = sorted(p for p in HTML.rglob("*.html") if not {"_static", "_sources"} & set(p.parts)
                   and not re.search(r'http-equiv="refresh"', p.read_text(errors="ignore"), re.I))
    results = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        for path in pages:
            page = context.new_page()
            errors, network = [], []
            # Playwright passes a handler as many arguments as it takes: one-argument closures
            # only (a default argument would receive the Request).
            page.on("console", _collect(errors, lambda m: m.text if m.type == "error" else None))
            page.on("pageerror", _collect(errors, str))
            page.on("requestfailed", _collect(errors, lambda r: f"failed to load {r.url}"
                                              if r.url.startswith("file:") else None))
            page.route("**/*", _offline(network))
            page.goto(path.as_uri(), wait_until="load")
            # MathJax loads deferred and typesets asynchronously: wait for it to finish
            page.wait_for_function("() => !document.querySelector('script[src*=mathjax]') || "
                                   "(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                                   timeout=30_000)
            page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
            info = page.evaluate(_INSPECT)
            info.update(errors=errors, network=network)
            results[str(path.relative_to(HTML))] = info
            page.close()

        search = {}
        for term in (SEARCH_HIT, SEARCH_MISS):
            page = context.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())
            page.goto((HTML / "search.html").as_uri() + f"?q={term}", wait_until="load")
            page.wait_for_function("() => document.querySelector('#search-results p.search-summary')",
                                   timeout=30_000)
            search[term] = page.evaluate("() => document.querySelectorAll('#search-results ul.search li').length")
            page.close()
        browser.close()

    counts = {"pages": len(results), "math": sum(r["math"] for r in results.values()),
              "images": sum(r["images"] for r in results.values()), "search": search}
    (ROOT / "_build" / "browser-report.json").write_text(json.dumps(counts, indent=1))
    print(f"\nbrowser test: {counts['pages']} pages, {counts['math']} math elements, "
          f"{counts['images']} images, search {search}")
    return {"pages": results, "search": search}


def _offenders(visits, key):
    return {page: r[key] for page, r in visits["pages"].items() if r[key]}


def test_every_toc_page_was_built_and_visited(visits):
    missing = [f for f in _toc_pages() if f + ".html" not in visits["pages"]]
    assert not missing, f"pages of _toc.yml missing from {HTML}: {missing}"


def test_math_is_typeset_offline(visits):
    assert sum(r["math"] for r in visits["pages"].values()) > 50      # the book has math to check
    assert not _offenders(visits, "untypeset"), "formulas left as raw TeX"


def test_images_load(visits):
    assert sum(r["images"] for r in visits["pages"].values()) > 5     # figures of the pages
    assert not _offenders(visits, "broken"), "images that did not load"


def test_no_console_errors_and_no_network(visits):
    assert not _offenders(visits, "errors"), "console errors"
    assert not _offenders(visits, "network"), "requests that would need the network"


def test_no_code_block_scrolls_sideways(visits):
    assert not _offenders(visits, "scrolling"), f"code blocks wider than a {WIDTH} px window"


def test_no_machine_path_warning_repr_or_nan_in_pages(visits):
    bad = {}
    for page, r in visits["pages"].items():
        found = [m.group(0) for rx in (MACHINE_PATH, WARNING, OBJECT_REPR)
                 for m in rx.finditer(r["text"] + "\n" + r["preText"])]
        if r["nanCells"]:
            found.append(f"{r['nanCells']} table cells reading NaN")
        if found:
            bad[page] = sorted(set(found))
    assert not bad, "page text a reader should not see"


def test_search_finds_a_term_of_the_book(visits):
    assert visits["search"][SEARCH_HIT] > 0, f"search for {SEARCH_HIT!r} found nothing"
    assert visits["search"][SEARCH_MISS] == 0, f"search for {SEARCH_MISS!r} should find nothing"
