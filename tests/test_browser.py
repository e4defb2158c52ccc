"""The built book as a reader gets it: every page of _build/html opened from disk in headless
Chromium (Debian's `chromium`, driven by Playwright), with every network request refused.

Checks, over all pages: each formula is typeset by the MathJax shipped with the build, every image
loads, no console error, no request leaves the disk, no code block scrolls sideways in a 1280 px
window, nor once every folded code cell is opened, no page text shows a machine path, a Python
warning or an object repr, no table cell says NaN, and the search page finds a term that is in
the book (and nothing for one that is not), with snippets of the pages when the book is served
over HTTP (opened from disk a browser cannot fetch the page sources the snippets come from).

Layout (issue 19): at 1280 px no table, figure or math display is wider than the text column (or
clipped by a box) unless it scrolls inside its own container; figures are shown at least at 90%
of their natural width (so a 9 pt font stays readable); every figure of a cell has a caption (an
italic paragraph right after the cell, or a figcaption); no raw role or backtick shows in the
text; at 390 px (a phone) no page scrolls sideways; every row of the verdict table links to an
anchor that exists on another page.

Issue 27: at 1280 px every table of the book's style (``table.sae-table``) shows all its columns
without scrolling; at 390 px no math display is cut (it fits, or scrolls inside its own box, which
fits the window); no prose or table cell shows a raw LaTeX accent; the API reference documents
the package, the citation page gives the BibTeX entries and names the licence, the verdict page
links a CSV of its verdicts that the build holds, and every page's footer names the version and the
build date. At 1280 px the verdict column of every table of claims is in the first screen of its
table (no sideways scroll, no scroll down to reach it); no prose or table cell shows an internal key
(a model, prior, pipeline, dataset or claim key of the package: "vae", "chi2", "mnist-5k",
"table2", "CONVERGED") or a number in Python's e-notation ("2.2e-04", "x 10^-7"); at 390 px every
figure is shown at a scale that keeps its smallest font (plots.MIN_FONT_PT at 100 dpi) at 6 px or
more. Numbers agree: every number of a verdict row's "ours" cell is shown on the page of its
evidence (the linked section, or the page's tables of results), equal at the coarser of the two
precisions.

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

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
WIDTH, HEIGHT = 1280, 900
PHONE = (390, 844)
MIN_FIGURE_SCALE = 0.9     # a figure shown below 90% of its natural width has its fonts shrunk
VERDICT_PAGE = "book/verdict.html"
RAW_MARKUP = re.compile(r"\{(glue|cite|ref|doc|eq|numref|math)[:}]|`")
# a LaTeX accent left in the text: \"a, \'e, {\"o}, \`e, \^o, \~n
RAW_ACCENT = re.compile(r"\\[\"'`^~][{]?[A-Za-z]")
# a key of the package where a reader should see a name: model, prior, pipeline, dataset, architecture
# and claim keys, and outcome codes (whole words; "normal" and "uniform" are words of the book)
INTERNAL_KEY = re.compile(r"(?<![\w+-])(sae|vae|svae|ps|ae|ae\+gmm|chi2|poisson|vanilla|centerize\+spherize|"
                          r"fd_cnn|d_z|mnist-5k|lfw-faces|mlp28|dcgan\d\d|conv\d\d+|table1|table1_low|table2|"
                          r"table2_ffhq|ae_ablation|raw_draws|rae|svae512|theorem[12]|lemma1|CONVERGED|"
                          r"a better|b better)(?![\w+-])")
# a number as Python prints it, not as the book writes it (sphericalae.display: 2.2 × 10⁻⁴)
E_NOTATION = re.compile(r"(?<![\w.])\d+(\.\d+)?[eE][-+]?\d+(?![\w.])|\bx 10\^|10\^-?\d")
MIN_PHONE_FONT_PX = 6.0
NUMBER = re.compile(r"(?<![\w.^⁰¹²³⁴⁵⁶⁷⁸⁹])[-−]?\d+(?:\.\d+)?(?![\w⁻⁰¹²³⁴⁵⁶⁷⁸⁹])")
FOOTER = re.compile(r"sphericalae \S+ · built on \d{4}-\d{2}-\d{2}")
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
  // the text column, and what is wider than it (or clipped by a box) without scrolling inside
  // its own container
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const cs = getComputedStyle(article), ar = article.getBoundingClientRect();
  const col = {left: ar.left + parseFloat(cs.paddingLeft), right: ar.right - parseFloat(cs.paddingRight)};
  const describe = el => (el.tagName.toLowerCase() + ' ' + (el.getAttribute('src') || el.textContent || '')
                          .trim().replace(/\\s+/g, ' ')).slice(0, 80);
  const tooWide = [];
  const candidates = [...article.querySelectorAll('table, img, mjx-container[display="true"] > mjx-math')]
      .filter(visible).filter(el => !el.closest('details:not([open])'));
  for (const el of candidates) {
    const r = el.getBoundingClientRect();
    let verdict = null;
    for (let a = el.parentElement; a && a !== article.parentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX, ab = a.getBoundingClientRect();
      if (ox === 'auto' || ox === 'scroll') {
        verdict = (ab.right <= col.right + 1 && ab.left >= col.left - 1) ? 'ok'
                  : `its scroll container is wider than the column (${Math.round(ab.width)}px)`;
        break;
      }
      if ((ox === 'hidden' || ox === 'clip') && (r.right > ab.right + 1 || r.left < ab.left - 1)) {
        verdict = `clipped by a box (${Math.round(r.width)}px in ${Math.round(ab.width)}px)`;
        break;
      }
    }
    if (verdict === null)
      verdict = (r.right <= col.right + 1 && r.left >= col.left - 1) ? 'ok'
                : `wider than the column (${Math.round(r.width)}px > ${Math.round(col.right - col.left)}px)`;
    if (verdict !== 'ok') tooWide.push(`${verdict}: ${describe(el)}`);
  }
  // a table of the book's style shows all its columns: it fits the column and no box around it
  // scrolls (or clips) sideways
  const hiddenColumns = [...article.querySelectorAll('table.sae-table')]
      .filter(visible).filter(el => !el.closest('details:not([open])'))
      .filter(t => {
        const r = t.getBoundingClientRect();
        if (r.right > col.right + 1 || r.left < col.left - 1) return true;
        for (let a = t.parentElement; a && a !== article; a = a.parentElement)
          if (a.scrollWidth > a.clientWidth + 1 &&
              ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX)) return true;
        return false;
      }).map(t => `${Math.round(t.getBoundingClientRect().width)}px in a ${Math.round(col.right - col.left)}px column: ` +
                  ((t.querySelector('caption') || t.querySelector('th') || t).textContent || '').trim().slice(0, 60));
  const figures = [...article.querySelectorAll('.cell_output img')].filter(visible);
  const shrunk = figures.filter(img => img.naturalWidth > 0 && img.clientWidth < %(scale)s * img.naturalWidth)
      .map(img => `${img.clientWidth}px of ${img.naturalWidth}px: ${img.getAttribute('src')}`);
  const uncaptioned = figures.filter(img => {
      if (img.closest('figure') && img.closest('figure').querySelector('figcaption')) return false;
      const cell = img.closest('.cell');
      const next = cell && cell.nextElementSibling;
      return !(next && next.tagName === 'P' && next.firstElementChild &&
               next.firstElementChild.tagName === 'EM' &&
               next.textContent.trim().startsWith(next.firstElementChild.textContent.trim().slice(0, 20)));
    }).map(img => img.getAttribute('src'));
  // what a reader reads, without code: no raw role, no backtick
  const prose = article.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, mjx-container, .math, .highlight, details')
       .forEach(el => el.remove());
  const ids = [...document.querySelectorAll('[id]')].map(el => el.id);
  // the page's text without inline code: the API reference names warning classes (``RuntimeWarning``)
  const withoutInlineCode = () => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll('code').forEach(el => { if (!el.closest('pre')) el.remove(); });
    return body.textContent;
  };
  // the rows of the tables of claims (first header "claim"), not of the tables that explain them
  const claimTables = [...article.querySelectorAll('table')].filter(t => {
      const th = t.querySelector('thead th'); return th && th.innerText.trim() === 'claim'; });
  const rows = claimTables.flatMap(t => {
      const heads = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());
      return [...t.querySelectorAll('tbody tr')].map(tr => ({
        text: tr.innerText.trim().replace(/\\s+/g, ' ').slice(0, 60),
        cells: Object.fromEntries([...tr.children].map((td, i) => [heads[i], td.innerText.trim()])),
        links: [...tr.querySelectorAll('a[href]')].map(a => a.href)}));
    });
  // the text a reader reads (tables included; code, scripts and typeset math left out)
  const readable = root => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {acceptNode: n =>
        n.parentElement.closest('pre, script, style, mjx-container, details:not([open])')
          ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    const parts = [];
    while (walker.nextNode()) parts.push(walker.currentNode.textContent);
    return parts.join(' ');
  };
  const sections = Object.fromEntries([...article.querySelectorAll('[id]')]
      .map(el => [el.id, el.closest('section') || article]).filter(([id, sec]) => id)
      .map(([id, sec]) => [id, readable(sec)]));
  // the verdict column of each table of claims: in the first screen of its table (scrolled to its top)
  const verdictOffscreen = claimTables.filter(visible).map(t => {
      const th = [...t.querySelectorAll('thead th')].find(h => h.innerText.trim() === 'verdict');
      if (!th) return null;
      t.scrollIntoView({block: 'start'});
      const r = th.getBoundingClientRect(), tr = t.getBoundingClientRect();
      let clipped = false;
      for (let a = t.parentElement; a && a !== article; a = a.parentElement) {
        const ab = a.getBoundingClientRect();
        if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX) &&
            (r.right > ab.right + 1 || r.left < ab.left - 1)) clipped = true;
      }
      const ok = !clipped && r.left >= 0 && r.right <= window.innerWidth + 1 &&
                 r.top >= 0 && r.bottom <= window.innerHeight;
      return ok ? null : `verdict column at x ${Math.round(r.left)}-${Math.round(r.right)}, ` +
                         `y ${Math.round(r.top - tr.top)} px below the table's top: ` +
                         (t.querySelector('tbody tr') || t).innerText.trim().slice(0, 50);
    }).filter(x => x);
  window.scrollTo(0, 0);
  const cells = [...article.querySelectorAll('td, th')].filter(visible).map(el => el.innerText.trim());
  const downloads = [...article.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
      .filter(h => /\\.csv$/.test(h));
  return {math: math.length, untypeset, images: imgs.length, broken, scrolling, nanCells,
          tooWide, hiddenColumns, shrunk, uncaptioned, prose: prose.textContent, ids, rows,
          sections, verdictOffscreen, cells, downloads, articleText: readable(article),
          column: Math.round(col.right - col.left),
          text: document.body.innerText, textNoInlineCode: withoutInlineCode(), preText: [...document.querySelectorAll('pre')]
              .map(el => el.textContent).join('\\n')};
}""" % {"scale": MIN_FIGURE_SCALE}

# every folded code cell opened: does any code block scroll sideways?
_OPENED_CODE = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  return [...document.querySelectorAll('pre')]
      .filter(el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
      .map(el => `${el.scrollWidth}px > ${el.clientWidth}px: ` + el.textContent.split('\\n')
           .reduce((a, b) => b.length > a.length ? b : a, '').trim().slice(0, 90));
}"""

# at a phone's width: does the page itself scroll sideways, and what sticks out?
_PHONE = """() => {
  const root = document.scrollingElement || document.documentElement;
  if (root.scrollWidth <= window.innerWidth + 1) return [];
  const out = [...document.querySelectorAll('body *')].filter(el => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.right > window.innerWidth + 1;
    }).filter(el => ![...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
    .slice(0, 5).map(el => el.tagName.toLowerCase() + '.' + [...el.classList].join('.') + ': ' +
                     (el.textContent || '').trim().slice(0, 50));
  return [`page is ${root.scrollWidth}px wide in a ${window.innerWidth}px window`, ...out];
}"""


# at a phone's width: the displayed scale of each figure (its fonts shrink with it)
_PHONE_FIGURES = """() => [...document.querySelectorAll('article .cell_output img')]
    .filter(img => img.naturalWidth > 0 && img.getClientRects().length)
    .map(img => ({src: img.getAttribute('src'), scale: img.clientWidth / img.naturalWidth}))"""


# at a phone's width: is any math display cut? It must fit the window, or scroll inside a box that
# fits the window and reaches its whole width, with no box clipping it on the way.
_PHONE_MATH = """() => {
  const cut = [];
  [...document.querySelectorAll('mjx-container[display="true"]')].forEach((c, i) => {
    const m = c.querySelector('mjx-math');
    if (!m || !c.getClientRects().length || c.closest('details:not([open])')) return;
    const r = m.getBoundingClientRect();
    let verdict = null;
    for (let a = m.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a), ab = a.getBoundingClientRect();
      if (s.overflowX === 'auto' || s.overflowX === 'scroll') {
        verdict = (ab.left >= -1 && ab.right <= window.innerWidth + 1 && a.scrollWidth + 1 >= r.width)
                  ? 'ok' : `its scroll box is ${Math.round(ab.width)}px wide at x = ${Math.round(ab.left)}`;
        break;
      }
      if ((s.overflowX === 'hidden' || s.overflowX === 'clip') && (r.right > ab.right + 1 || r.left < ab.left - 1)) {
        verdict = `clipped: ${Math.round(r.width)}px shown in ${Math.round(ab.width)}px`;
        break;
      }
    }
    if (verdict === null)
      verdict = (r.left >= -1 && r.right <= window.innerWidth + 1) ? 'ok'
                : `${Math.round(r.width)}px in a ${window.innerWidth}px window`;
    if (verdict !== 'ok') {
      const text = (c.querySelector('mjx-assistive-mml') || c).textContent.trim().replace(/\\s+/g, ' ');
      cut.push(`display ${i + 1}: ${verdict}: ${text.slice(0, 60)}`);
    }
  });
  return cut;
}"""


def _wait_for_mathjax(page):
    # MathJax loads deferred and typesets asynchronously: wait for it to finish
    page.wait_for_function("() => !document.querySelector('script[src*=mathjax]') || "
                           "(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                           timeout=30_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")


def _served_search_snippets(context):
    """Serve _build/html on a local port (as the README says) and count the search results that
    show a snippet of their page."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                   else route.abort())
        page.goto(f"{base}/search.html?q={SEARCH_HIT}", wait_until="load")
        page.wait_for_function("() => document.querySelector('#search-results p.search-summary')",
                               timeout=30_000)
        page.wait_for_timeout(500)
        found = page.evaluate("() => [...document.querySelectorAll('#search-results ul.search li')]"
                              ".filter(li => li.querySelector('.context') && "
                              "li.querySelector('.context').textContent.trim()).length")
        page.close()
        return found
    finally:
        server.shutdown()
        server.server_close()


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
            _wait_for_mathjax(page)
            info = page.evaluate(_INSPECT)
            info["openedCode"] = page.evaluate(_OPENED_CODE)
            info.update(errors=errors, network=network)
            results[str(path.relative_to(HTML))] = info
            page.close()

        phone = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]})
        for path in pages:
            page = phone.new_page()
            page.route("**/*", _offline([]))
            page.goto(path.as_uri(), wait_until="load")
            _wait_for_mathjax(page)
            results[str(path.relative_to(HTML))]["phone"] = page.evaluate(_PHONE)
            results[str(path.relative_to(HTML))]["phoneMath"] = page.evaluate(_PHONE_MATH)
            results[str(path.relative_to(HTML))]["phoneFigures"] = page.evaluate(_PHONE_FIGURES)
            page.close()
        phone.close()

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
        search["snippets when served"] = _served_search_snippets(context)
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
        found = [m.group(0) for rx in (MACHINE_PATH, OBJECT_REPR)
                 for m in rx.finditer(r["text"] + "\n" + r["preText"])]
        # a warning class named in inline code (the API reference) is not a leaked warning
        found += [m.group(0) for m in WARNING.finditer(r["textNoInlineCode"] + "\n" + r["preText"])]
        if r["nanCells"]:
            found.append(f"{r['nanCells']} table cells reading NaN")
        if found:
            bad[page] = sorted(set(found))
    assert not bad, "page text a reader should not see"


def test_search_finds_a_term_of_the_book(visits):
    assert visits["search"][SEARCH_HIT] > 0, f"search for {SEARCH_HIT!r} found nothing"
    assert visits["search"][SEARCH_MISS] == 0, f"search for {SEARCH_MISS!r} should find nothing"


def test_search_shows_snippets_when_served(visits):
    assert visits["search"]["snippets when served"] > 0, \
        "served over HTTP, the search results show no snippet of their pages"


def test_opened_code_fits(visits):
    assert not _offenders(visits, "openedCode"), \
        f"code blocks wider than a {WIDTH} px window once folded code is opened"


def test_tables_figures_and_math_fit_the_column(visits):
    assert not _offenders(visits, "tooWide"), \
        "tables, figures or math displays wider than the text column (or clipped), not scrolling " \
        "inside their own container"


def test_figures_are_shown_near_their_natural_size(visits):
    assert not _offenders(visits, "shrunk"), \
        f"figures shrunk below {MIN_FIGURE_SCALE:.0%} of their width (fonts shrink with them): " \
        "draw them at most sphericalae.plots.TEXT_WIDTH_IN wide"


def test_text_column_is_what_the_figure_style_assumes(visits):
    from sphericalae.plots import DPI, TEXT_WIDTH_IN

    widths = {r["column"] for r in visits["pages"].values() if r["column"] > 0}
    assert widths and min(widths) >= TEXT_WIDTH_IN * DPI - 2, \
        f"text column {sorted(widths)} px, narrower than plots.TEXT_WIDTH_IN ({TEXT_WIDTH_IN * DPI:.0f} px)"


def test_every_figure_has_a_caption(visits):
    assert not _offenders(visits, "uncaptioned"), \
        "figures with no caption (an italic paragraph right after their cell)"


def test_no_raw_role_or_backtick_in_the_text(visits):
    bad = {page: sorted({m.group(0) for m in RAW_MARKUP.finditer(r["prose"])} |
                        {r["prose"][max(0, m.start() - 30):m.end() + 30].replace("\n", " ")
                         for m in RAW_MARKUP.finditer(r["prose"])})
           for page, r in visits["pages"].items() if RAW_MARKUP.search(r["prose"])}
    assert not bad, "raw roles or backticks in the page text"


def test_no_page_scrolls_sideways_on_a_phone(visits):
    assert not _offenders(visits, "phone"), f"pages wider than a {PHONE[0]} px window"


def test_every_verdict_row_links_to_its_evidence(visits):
    pages = visits["pages"]
    assert VERDICT_PAGE in pages, f"no {VERDICT_PAGE}"
    rows = pages[VERDICT_PAGE]["rows"]
    assert rows, "the verdict page has no table rows"
    here = (HTML / VERDICT_PAGE).resolve()
    bad = []
    for row in rows:
        ok = False
        for href in row["links"]:
            url, _, anchor = href.partition("#")
            if not url.startswith("file:") or not anchor:
                continue
            target = Path(url[len("file://"):]).resolve()
            if target == here:
                continue
            rel = str(target.relative_to(HTML.resolve())) if target.is_relative_to(HTML.resolve()) else None
            if rel in pages and anchor in pages[rel]["ids"]:
                ok = True
        if not ok:
            bad.append(row["text"])
    assert not bad, "verdict rows without a link to an anchor on another page"


def test_book_style_tables_show_all_columns(visits):
    assert not _offenders(visits, "hiddenColumns"), \
        f"tables (sae-table) that do not show all their columns in a {WIDTH} px window: wrap their " \
        "cells, split or transpose them"


def test_no_math_display_is_cut_on_a_phone(visits):
    assert not _offenders(visits, "phoneMath"), \
        f"math displays cut at {PHONE[0]} px (neither fitting nor scrolling inside a box that fits)"


def test_no_raw_latex_accent_in_the_text(visits):
    bad = {page: sorted({r["prose"][max(0, m.start() - 20):m.end() + 20].replace("\n", " ")
                         for m in RAW_ACCENT.finditer(r["prose"])})
           for page, r in visits["pages"].items() if RAW_ACCENT.search(r["prose"])}
    assert not bad, "raw LaTeX accents in the text (write names in Unicode in references.bib)"


def test_api_reference_and_citation_pages(visits):
    pages = visits["pages"]
    api, cite = pages.get("book/api.html"), pages.get("book/cite.html")
    assert api is not None, "no API reference page (book/api.md)"
    assert cite is not None, "no citation page (book/cite.md)"
    # the front door of the package, documented from its docstrings
    for name in ("sphericalae.ops.spherize", "sphericalae.ops.centerize", "sphericalae.ops.robust_sample"):
        assert name in api["ids"], f"the API reference does not document {name}"
    assert "@misc{sae2020," in cite["preText"], "the citation page has no BibTeX entry for the paper"
    assert "@misc{sphericalae_book," in cite["preText"], "the citation page has no BibTeX entry for the book"


def test_footer_names_version_and_build_date(visits):
    from sphericalae import __version__

    missing = [f + ".html" for f in _toc_pages()
               if not any(m.group(0).startswith(f"sphericalae {__version__} ")
                          for m in FOOTER.finditer(visits["pages"].get(f + ".html", {}).get("text", "")))]
    assert not missing, f"pages whose footer does not read 'sphericalae {__version__} · built on YYYY-MM-DD'"


def test_verdict_column_in_the_first_screen_of_its_table(visits):
    page = visits["pages"].get(VERDICT_PAGE)
    assert page is not None and page["rows"], f"no table of claims on {VERDICT_PAGE}"
    assert not page["verdictOffscreen"], \
        f"the verdict column of a table of claims is not in the first {WIDTH} x {HEIGHT} screen of its table"


def test_no_internal_key_or_e_notation_in_prose_or_tables(visits):
    bad = {}
    for page, r in visits["pages"].items():
        if page in ("book/api.html", "genindex.html", "py-modindex.html", "search.html"):
            continue     # the API reference names the package's keys in its docstrings
        found = set()
        for rx, what in ((INTERNAL_KEY, "key"), (E_NOTATION, "e-notation")):
            for text in [r["prose"]] + r["cells"]:
                found |= {f"{what}: …{text[max(0, m.start() - 25):m.end() + 25]}…".replace("\n", " ")
                          for m in rx.finditer(text)}
        if found:
            bad[page] = sorted(found)
    assert not bad, "internal keys or numbers in e-notation where a reader reads"


def test_figures_legible_on_a_phone(visits):
    from sphericalae.plots import DPI, MIN_FONT_PT

    smallest_px = MIN_FONT_PT * DPI / 72          # the smallest font of a figure at its natural size
    bad = {page: [f"{f['scale']:.2f}: {f['src']}" for f in r.get("phoneFigures", [])
                  if f["scale"] * smallest_px < MIN_PHONE_FONT_PX]
           for page, r in visits["pages"].items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"figures whose {MIN_FONT_PT} pt fonts fall below {MIN_PHONE_FONT_PX} px at {PHONE[0]} px"


def test_licence_and_verdict_download(visits):
    pages = visits["pages"]
    assert "MIT licence" in pages["book/cite.html"]["text"], "the citation page does not name the licence"
    assert (ROOT / "LICENSE").exists(), "no LICENSE file"
    csv = pages[VERDICT_PAGE]["downloads"]
    assert csv, "the verdict page links no CSV of its verdicts"
    for href in csv:
        assert (HTML / "book" / href).resolve().exists(), f"the verdict download {href} is not in the build"


def _numbers(text):
    return [m.group(0).replace("−", "-") for m in NUMBER.finditer(text.replace("\u00a0", " "))]


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def _shown_as(value: str, evidence: list) -> bool:
    """``value`` (as the verdict page prints it) is one of ``evidence`` (numbers as a page prints
    them), the two equal at the coarser of their two precisions: 0.0201 is 0.02008, 115 is 114.7,
    and 55.7 is the 56 of a "56 ± 23" cell (a mean rounded to its sd's precision)."""
    v = float(value)
    for e in evidence:
        d = min(_decimals(value), _decimals(e))
        if abs(round(v, d) - round(float(e), d)) <= 1e-9 * max(1.0, abs(v)):
            return True
    return False


def test_verdict_numbers_equal_the_evidence(visits):
    """Every number of a verdict row's "ours" cell is shown on the evidence page its link points to
    (in the linked section or in the page's tables of results), the two equal at the coarser of their
    precisions: the verdict page and the evidence pages quote one computation (sphericalae.claims on the
    same cached studies), so what they render must agree."""
    pages = visits["pages"]
    rows = [row for row in pages[VERDICT_PAGE]["rows"] if "ours" in row.get("cells", {})]
    assert rows, "no row of the verdict page has an 'ours' cell"
    checked, bad = 0, []
    for row in rows:
        for href in row["links"]:
            url, _, anchor = href.partition("#")
            if not url.startswith("file:") or not anchor:
                continue
            target = Path(url[len("file://"):]).resolve()
            if not target.is_relative_to(HTML.resolve()):
                continue
            rel = str(target.relative_to(HTML.resolve()))
            if rel == VERDICT_PAGE or rel not in pages or anchor not in pages[rel]["sections"]:
                continue
            # the section the row links to, and the page around it (a row quotes the groups' means,
            # which the page's table of results shows above the section of the comparisons)
            evidence = _numbers(pages[rel]["sections"][anchor]) + _numbers(pages[rel]["articleText"])
            missing = [v for v in _numbers(row["cells"]["ours"]) if not _shown_as(v, evidence)]
            checked += 1
            if missing:
                bad.append(f"{row['text'][:50]}: {missing} not in {rel}#{anchor}")
            break
    assert checked >= len(rows) // 2, f"only {checked} of {len(rows)} verdict rows could be followed"
    assert not bad, "verdict numbers that the evidence section does not show"
