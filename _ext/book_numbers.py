"""Numbers and numbering as the book writes them.

* ``{glue:text}`` with a format spec in e-notation (``{glue:text}`gap:.1e```) writes the number
  as :func:`sphericalae.display.fmt` does, with the spec's significant figures: fixed-point where
  that needs at most 6 decimals (``0.0033``), else ``3.3 × 10⁻⁷``; never Python's ``3.3e-07``.
  Other specs (``.3f``, ``.0%``) are Python's, as written.
* A code cell's table numbered as a table: give the cell the metadata ``mystnb: figure: {caption,
  name, classes: sae-table-figure, caption_before: true}``; myst-nb wraps the output in a figure,
  and this extension turns it into a ``table_figure``, numbered as a table with the book's other
  tables and referenced with ``{numref}`` by its name.
* Figures and tables numbered page by page, "Figure 4.2" for the second figure of the fourth page
  in the table of contents (the introduction is page 0): the book's own numbers never read like the
  paper's ("the paper's Figure 14" is not this book's Figure 14).
"""
from docutils import nodes
from sphinx.transforms import SphinxTransform

TABLE_CLASS = "sae-table-figure"


def book_format(text: str, fmt_spec: str) -> str:
    """myst-nb's ``format_plain_text``, with e-notation specs in the book's notation."""
    from ast import literal_eval

    from myst_nb.core.variables import format_plain_text
    from sphericalae.display import fmt

    if fmt_spec and fmt_spec[-1] in "eE":
        precision = fmt_spec[:-1].lstrip("<>=^+- ").lstrip(".") or "6"
        try:
            value = float(literal_eval(text))
        except (SyntaxError, ValueError, TypeError):
            return format_plain_text(text, fmt_spec)
        return fmt(value, max(2, min(4, int(precision) + 1)))
    return format_plain_text(text, fmt_spec)


class table_figure(nodes.figure):
    """A code cell's table output with a caption, numbered as a table."""


class table_caption(nodes.caption):
    """The caption of a :class:`table_figure`, above its table: a ``<figcaption>`` of its own
    (docutils closes a figure's ``<figcaption>`` only at the figure's end, after its table)."""


class TableFigures(SphinxTransform):
    """Figures of the class ``sae-table-figure`` (a table cell's output) become table figures."""
    default_priority = 500

    def apply(self, **kwargs):
        for fig in list(self.document.findall(nodes.figure)):
            if TABLE_CLASS in fig["classes"] and type(fig) is nodes.figure:
                children = [table_caption(c.rawsource, *c.children, **c.attributes)
                            if type(c) is nodes.caption else c for c in fig.children]
                new = table_figure(fig.rawsource, *children, **fig.attributes)
                fig.replace_self(new)
                for node_id in new["ids"]:          # {numref} finds its target by id
                    self.document.ids[node_id] = new


def _visit(self, node):
    self.visit_figure(node)


def _depart(self, node):
    self.body.append("</figure>\n")


def _visit_caption(self, node):
    self.visit_caption(node)


def _depart_caption(self, node):
    self.depart_caption(node)
    self.body.append("</figcaption>\n")


def _depart_latex(self, node):
    self.depart_figure(node)


def _depart_caption_latex(self, node):
    self.depart_caption(node)


def toc_order(env) -> list:
    """The pages in the order of the table of contents, the root first."""
    order = []

    def walk(doc):
        if doc not in order:
            order.append(doc)
            for sub in env.toctree_includes.get(doc, []):
                walk(sub)

    walk(env.config.root_doc)
    return order


def number_by_page(app, env):
    """Renumber the figures and tables Sphinx numbered through the book as (page, n): page is the
    page's place in the table of contents, n counts from 1 on each page. Every page is rewritten
    (a number on one page may be cited from another)."""
    if not env.config.numfig:
        return []
    page = {doc: i for i, doc in enumerate(toc_order(env))}
    for doc, types in env.toc_fignumbers.items():
        for figtype, ids in types.items():
            for k, node_id in enumerate(list(ids), 1):
                ids[node_id] = (page.get(doc, 0), k)
    return list(env.found_docs)


def setup(app):
    import myst_nb.ext.glue.roles as roles

    roles.format_plain_text = book_format
    app.add_enumerable_node(table_figure, "table", html=(_visit, _depart), latex=(_visit, _depart_latex))
    app.add_node(table_caption, html=(_visit_caption, _depart_caption),
                 latex=(_visit_caption, _depart_caption_latex))
    app.add_transform(TableFigures)
    app.connect("env-get-updated", number_by_page, priority=900)   # after Sphinx numbers them
    return {"parallel_read_safe": True, "parallel_write_safe": True}
