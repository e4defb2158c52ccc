"""Wrapped code keeps its indentation.

The book wraps long code lines (_static/book.css: ``white-space: pre-wrap``) so that code never
scrolls sideways; a wrapped line would then continue at the left margin, under the indentation
that carries Python's structure. Here the HTML highlighter puts every source line in a
``span.sae-line`` that records the line's indentation (``--sae-indent``, in characters); the
stylesheet starts the line's continuation rows that far in, plus a hanging indent of two
characters. Nothing changes for a line that fits, nor for the text a reader copies.
"""
import html
import re

from pygments.formatters.html import HtmlFormatter

_TAG = re.compile(r"<[^>]*>")


def indentation(line_html: str) -> int:
    """The number of leading spaces of a highlighted line (tabs count as 4)."""
    text = html.unescape(_TAG.sub("", line_html)).expandtabs(4)
    return len(text) - len(text.lstrip(" "))


class IndentKeepingFormatter(HtmlFormatter):
    def wrap(self, source):
        return super().wrap(self._wrap_lines(source))

    @staticmethod
    def _wrap_lines(source):
        for is_code, line in source:
            if not is_code:
                yield is_code, line
                continue
            body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
            yield 1, (f'<span class="sae-line" style="--sae-indent: {indentation(body)}ch">'
                      f"{body}</span>{newline}")


def _use_formatter(app):
    highlighter = getattr(app.builder, "highlighter", None)
    if highlighter is not None and app.builder.format == "html":
        highlighter.formatter = IndentKeepingFormatter


def setup(app):
    app.connect("builder-inited", _use_formatter)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
