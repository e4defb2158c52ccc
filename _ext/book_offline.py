"""Small Sphinx fixes for a book read offline, loaded through _config.yml (local_extensions).

* sphinx-thebe adds its inline configuration script in two forms (file name None and ''), so every
  page declared `const THEBE_JS_URL` twice: a console error in every browser. An inline script
  whose body is already on the page is dropped.
* MathJax is loaded on every page, not only on pages with math: the navigation shows page and
  section titles that contain formulas on pages (search, index) that have none of their own.
"""


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        body = getattr(js, "attributes", {}).get("body")
        if body:
            if body in seen:
                continue
            seen.add(body)
        kept.append(js)
    scripts[:] = kept


def setup(app):
    app.set_html_assets_policy("always")
    app.connect("html-page-context", _dedupe_inline_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
