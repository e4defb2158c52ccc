"""The book's figure style and the figure helpers that several pages share (matplotlib).

A page calls `use_book_style()` once, after importing pyplot. Figures are then drawn at 100 dpi,
at most `TEXT_WIDTH_IN` wide (the book's text column at a 1280 px window), so the browser shows
them at their natural size and a 10 pt font stays a 10 pt font; `figsize` gives such sizes.
`readable(fig)` says whether every text of a figure is at least `MIN_FONT_PT` at the displayed
size (a wider figure is scaled down by the browser; its fonts with it); pages assert it in their
hidden checks.

Helpers: `legend_outside` (a legend beside or under the axes, never over the data),
`label_lines` (direct labels at the right end of lines), `heatmap` (values with a colour key and,
optionally, the numbers in the cells), `class_scatter` (a 2-d map coloured by class, with a class
key), `image_rows` (rows of images, each at least `MIN_IMAGE_PX` pixels wide, rows labelled),
`overlay_hist`, and `forest_plot` (the verdicts' comparisons with their intervals, on the scale of
their equivalence margins).
"""
from __future__ import annotations

import numpy as np

PRIOR_COLORS = {"normal": "C0", "uniform": "C1", "poisson": "C2", "chi2": "C3"}

DPI = 100                 # figure and savefig dpi: 1 inch of figure = 100 CSS px on the page
TEXT_WIDTH_IN = 6.85      # the text column at a 1280 px window (688 px; tests/test_browser.py checks)
FIG_WIDTH_IN = TEXT_WIDTH_IN - 0.25   # a full-width figure: its tight box and padding must fit too
MIN_FONT_PT = 9           # the smallest font at the displayed size
MIN_IMAGE_PX = 40         # the smallest displayed width of one image (digit, face) in a grid

BOOK_RC = {
    "figure.dpi": DPI, "savefig.dpi": DPI,
    "figure.figsize": (FIG_WIDTH_IN, 3.4),
    "figure.constrained_layout.use": True,
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
    "xtick.labelsize": 9.5, "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5, "legend.title_fontsize": 9.5, "legend.frameon": False,
    "figure.titlesize": 11,
    "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": False, "lines.linewidth": 1.6, "lines.markersize": 4,
    "image.cmap": "viridis", "savefig.bbox": "tight", "savefig.pad_inches": 0.05,
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (BOOK_RC) to every later figure of the session."""
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_RC)


def figsize(width: float = 1.0, aspect: float = 0.45) -> tuple[float, float]:
    """(width, height) in inches for a figure `width` of the text column wide, height =
    aspect x width."""
    w = FIG_WIDTH_IN * width
    return (w, w * aspect)


def displayed_scale(fig) -> float:
    """How much the browser shrinks the figure: 1 when it fits the text column (with its
    tight bounding box, as the inline backend saves it)."""
    fig.draw_without_rendering()      # works after the inline backend has shown the figure
    bbox = fig.get_tightbbox()
    width_in = bbox.width + 2 * BOOK_RC["savefig.pad_inches"]
    return min(1.0, TEXT_WIDTH_IN / width_in)


def smallest_font_pt(fig) -> float:
    """The smallest font size (pt) of the figure's visible texts at the displayed size."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip()]
    return min(sizes) * displayed_scale(fig) if sizes else float("inf")


def readable(fig, min_pt: float = MIN_FONT_PT) -> bool:
    """Every text of the figure is at least `min_pt` at its displayed size."""
    return smallest_font_pt(fig) >= min_pt - 1e-9


def legend_outside(ax, where: str = "right", title: str | None = None, **kw):
    """The axes' legend beside ("right") or under ("below") the axes, never over the data."""
    if where == "right":
        kw = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0, **kw}
    elif where == "below":
        kw = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.22), "borderaxespad": 0,
              "ncols": 2, **kw}
    else:
        raise ValueError(f"where must be 'right' or 'below', not {where!r}")
    return ax.legend(title=title, **kw)


def label_lines(ax, lines=None, dx: float = 0.02, **kw):
    """Write each line's label at its right end, in its colour (direct labels, no legend box).
    Labels that would overlap are spread vertically."""
    lines = [ln for ln in (lines or ax.get_lines()) if not ln.get_label().startswith("_")]
    ends = []
    for ln in lines:
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            ends.append((ln, x[ok][-1], y[ok][-1]))
    # spread in axes coordinates so that labels are at least one line apart
    to_axes = ax.transAxes.inverted()
    pos = [to_axes.transform(ax.transData.transform((x, y))) for _, x, y in ends]
    order = np.argsort([p[1] for p in pos])
    import matplotlib

    size_pt = kw.get("fontsize", matplotlib.rcParams["font.size"])
    gap = 1.3 * float(size_pt) * ax.figure.dpi / 72 / max(ax.bbox.height, 1.0)   # one text line apart
    ys = {}
    last = -np.inf
    for i in order:
        y = max(pos[i][1], last + gap)
        ys[i] = y
        last = y
    texts = []
    for i, (ln, _, _) in enumerate(ends):
        texts.append(ax.annotate(ln.get_label(), xy=(pos[i][0], ys[i]), xycoords="axes fraction",
                                 xytext=(pos[i][0] + dx, ys[i]), textcoords="axes fraction",
                                 color=ln.get_color(), va="center", ha="left",
                                 annotation_clip=False, **kw))
    return texts


def heatmap(ax, values, rows, cols, *, cbar_label: str, vmin=None, vmax=None, cmap="viridis",
            annotate: str | None = "{:.2g}", log10: bool = False):
    """A map of `values` (rows x cols) with its colour key, rows and columns labelled in the book's
    words (:func:`sphericalae.display.readable_words`); `annotate` formats the numbers
    written in the cells (None: none). log10: colour by log10 of the values (the numbers in the
    cells stay the values). Returns (image, colorbar)."""
    from .display import readable_words

    values = np.asarray(values, dtype=float)
    shown = np.log10(values) if log10 else values
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), [readable_words(c) for c in cols])
    ax.set_yticks(range(len(rows)), [readable_words(r) for r in rows])
    ax.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if annotate:
        lo, hi = im.get_clim()
        for (i, j), v in np.ndenumerate(values):
            light = (shown[i, j] - lo) / ((hi - lo) or 1) < 0.5
            ax.text(j, i, annotate.format(v), ha="center", va="center",
                    color="w" if light == (cmap in ("viridis", "magma", "inferno", "cividis"))
                    else "k")
    cbar = ax.figure.colorbar(im, ax=ax, shrink=0.9)
    cbar.set_label(cbar_label)
    return im, cbar


def class_scatter(ax, xy, labels, names=None, s: float = 4, title: str | None = "class"):
    """A 2-d map (t-SNE, PCA) coloured by class, with a class key beside the axes (none when
    ``title`` is None: maps set side by side share one key, from ``ax.get_legend_handles_labels()``)."""
    xy, labels = np.asarray(xy), np.asarray(labels)
    classes = list(np.unique(labels))
    for k, c in enumerate(classes):
        sel = labels == c
        ax.scatter(xy[sel, 0], xy[sel, 1], s=s, color=f"C{k % 10}", lw=0,
                   label=str(names[c] if names is not None else c), rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    if title is None:
        return None
    return legend_outside(ax, "right", title=title, markerscale=3, handletextpad=0.2)


def _to_hwc(img) -> np.ndarray:
    a = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return np.clip(a, 0, 1)


def image_rows(rows: dict, *, per_row: int | None = None, cell_px: int = 56,
               titles: dict | None = None, label_px: int = 110):
    """One figure of labelled rows of images, each image `cell_px` (>= MIN_IMAGE_PX) CSS pixels
    wide on the page.

    rows: label -> a sequence of images (tensors (C, H, W) or arrays (H, W[, C]) in [0, 1]);
    per_row: images per row (default: the longest row; a longer row is cut);
    titles: label -> a short note drawn above the row (e.g. the prior it decodes).
    Labels are written in the book's words (:func:`sphericalae.display.readable_words`).
    The figure is at most the text column wide: `per_row` is cut to what fits at `cell_px`.
    """
    import matplotlib.pyplot as plt

    from .display import readable_words

    if cell_px < MIN_IMAGE_PX:
        raise ValueError(f"cell_px must be at least {MIN_IMAGE_PX}")
    fit = int((TEXT_WIDTH_IN * DPI - label_px) // cell_px)
    per_row = min(per_row or max(len(v) for v in rows.values()), fit)
    title_px = 20 if titles else 0
    row_px = cell_px + title_px + 4
    width_px, height_px = label_px + per_row * cell_px, len(rows) * row_px
    fig = plt.figure(figsize=(width_px / DPI, height_px / DPI), layout="none")
    for r, (label, images) in enumerate(rows.items()):
        strip = [_to_hwc(im) for im in list(images)[:per_row]]
        if not strip:
            continue
        gray = strip[0].ndim == 2
        line = np.concatenate(strip, axis=1)
        bottom = height_px - r * row_px - title_px - cell_px
        ax = fig.add_axes([label_px / width_px, bottom / height_px,
                           len(strip) * cell_px / width_px, cell_px / height_px])
        ax.imshow(line, cmap="gray" if gray else None, vmin=0, vmax=1, aspect="auto",
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        fig.text((label_px - 8) / width_px, (bottom + cell_px / 2) / height_px, readable_words(label),
                 ha="right", va="center")
        if titles and label in titles:
            ax.set_title(titles[label], loc="left", pad=3)
    return fig


def overlay_hist(ax, samples: dict, bins=60, xlabel: str = "", title: str = ""):
    """Overlay step histograms (densities) of several 1-d samples on one axis, one per key (labelled
    in the book's words, :func:`sphericalae.display.readable_words`)."""
    from .display import readable_words

    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in samples.items()}
    lo = min(a.min() for a in arrays.values())
    hi = max(a.max() for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for k, a in arrays.items():
        ax.hist(a, bins=edges, density=True, histtype="step", lw=1.5, label=readable_words(k),
                color=PRIOR_COLORS.get(k))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax


FOREST_LABEL_CHARS = 34   # a forest plot's row label wraps after this many characters
FOREST_ROW_IN = 0.2       # the height of one line of a row label (inches)
FOREST_LINEAR_UP_TO = 8   # a wider axis (in margins) turns logarithmic beyond +-2 margins


def _forest_rows(verdicts):
    """The rows of :func:`forest_plot`: per verdict with drawable comparisons, its short name and
    ``(label, x, lo, hi)`` per comparison, signed so that positive means a better."""
    import math

    from .display import comparison_label, short_claim

    groups = []
    for v in verdicts:
        rows = []
        for c in getattr(v, "evidence", ()) or ():
            numbers = (c.diff, *c.ci, c.margin)
            if not all(math.isfinite(x) for x in numbers) or c.margin <= 0:
                continue
            sign = -1.0 if c.lower_is_better else 1.0
            lo, hi = sorted(sign * x / c.margin for x in c.ci)
            rows.append((comparison_label(c, plain_metric=True), sign * c.diff / c.margin, lo, hi))
        if rows:
            groups.append((short_claim(v), v.outcome, rows))
    return groups


def forest_plot(verdicts, ax=None):
    """A forest plot of the measured verdicts: for every comparison in a verdict's evidence
    (:class:`sphericalae.claims.Verdict`, its :class:`sphericalae.rules.Comparison` objects), one
    line: a point at the difference a - b divided by the comparison's equivalence margin, so that
    every metric shares one axis, and the comparison's interval (``ci``, at its ``ci_level``, the
    level of TOST) divided by the same margin. **Sign**: flipped where lower is better, so that
    right of 0 always means *a better* (a, the first named, is the claim's side in every claim of
    the book: SAE, the prior after Algorithm 1, the raw draws, the AE with a mixture); the axis
    label says so. The equivalence band [-1, 1] is shaded and 0 drawn as a line: an interval inside
    the band is what TOST calls equivalent. Each verdict is a group headed by its short name
    (:func:`sphericalae.display.short_claim`), its lines labelled "a vs b, metric"; points are
    coloured by the verdict's outcome in the badges' colours
    (:data:`sphericalae.display.VERDICT_COLORS`), with a legend of the outcomes shown. Left out:
    verdicts without evidence (closed forms, rows not testable here), and comparisons whose margin
    is 0 or whose difference, interval or margin is not finite. An axis wider than
    ``FOREST_LINEAR_UP_TO`` margins is logarithmic beyond ±2 (symlog), so that a large effect does
    not squeeze the others. ``ax``: draw into it (its figure keeps its size); default: a new figure
    of the text column's width whose height grows with the number of lines. Returns the figure.
    Raises a one-line ValueError for no verdicts or nothing to draw."""
    import matplotlib.pyplot as plt

    from .display import VERDICT_COLORS

    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("forest_plot needs at least one verdict, got none")
    groups = _forest_rows(verdicts)
    if not groups:
        raise ValueError(f"none of the {len(verdicts)} verdicts has a comparison with a finite, positive "
                         "margin and a finite interval: nothing to draw")
    ticks, labels, bold, drawn, y = _forest_layout(groups)
    if ax is None:
        fig, ax = plt.subplots(figsize=(FIG_WIDTH_IN, 1.5 - y), layout="constrained")
    ax.axvspan(-1, 1, color="0.88", zorder=0, lw=0)
    ax.axvline(0, color="0.3", lw=0.9, zorder=1)
    for yy, x, lo, hi, outcome in drawn:
        color = VERDICT_COLORS[outcome]
        ax.plot([lo, hi], [yy, yy], color=color, lw=2.0, solid_capstyle="butt", zorder=2, gid="forest-interval")
        ax.plot([x], [yy], "o", ms=6.5, color=color, mec="black", mew=0.7, zorder=3, gid="forest-point")
    _forest_x_axis(ax, max(max(abs(lo), abs(hi)) for _, _, lo, hi, _ in drawn))
    ax.set_ylim(y + FOREST_ROW_IN * 0.5, 0)
    _forest_labels(ax, ticks, labels, bold)
    _forest_legend(ax, [o for o in VERDICT_COLORS if any(o == d[4] for d in drawn)])
    return ax.figure


def _forest_layout(groups):
    """Where each line of :func:`forest_plot` goes: ``(ticks, labels, bold, drawn, y)``, heights in
    inches from the top (a claim's name, then its wrapped comparison labels, a gap between claims)."""
    import textwrap

    ticks, labels, bold, drawn, y = [], [], [], [], 0.0       # y: the bottom of the rows so far (inches)

    def row(text, lines):
        nonlocal y
        height = FOREST_ROW_IN * (lines + 0.3)
        ticks.append(y - height / 2), labels.append(text)
        y -= height
        return ticks[-1]

    for title, outcome, rows in groups:
        row(title, 1), bold.append(True)
        for label, x, lo, hi in rows:
            text = textwrap.fill(label, FOREST_LABEL_CHARS, subsequent_indent="  ", break_on_hyphens=False)
            drawn.append((row(text, text.count("\n") + 1), x, lo, hi, outcome)), bold.append(False)
        y -= FOREST_ROW_IN * 0.5                                   # a gap between claims
    return ticks, labels, bold, drawn, y


def _forest_labels(ax, ticks, labels, bold):
    """The row labels, left-aligned, claims in bold; the x label with the sign convention."""
    ax.set_yticks(ticks, labels)
    ax.tick_params(axis="y", length=0)
    width_px = max(t.get_window_extent().width for t in ax.get_yticklabels())   # any backend's renderer
    for tick, is_title in zip(ax.get_yticklabels(), bold):
        tick.set_fontweight("bold" if is_title else "normal")
        tick.set_horizontalalignment("left")
    ax.tick_params(axis="y", pad=width_px * 72 / ax.figure.dpi + 6)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel("difference a − b / equivalence margin\n(right of 0: a better; shaded: within the margin)")


def _forest_legend(ax, shown):
    from matplotlib.lines import Line2D

    from .display import VERDICT_COLORS

    handles = [Line2D([], [], ls="", marker="o", ms=6.5, color=VERDICT_COLORS[o], mec="black", mew=0.7,
                      label=o) for o in shown]
    ax.legend(handles=handles, title="verdict of the claim", loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncols=len(shown), borderaxespad=0.3, handletextpad=0.2, columnspacing=1.0)


def _forest_x_axis(ax, reach):
    """The forest plot's x axis for intervals reaching ``reach`` margins from 0: linear when that is
    at most ``FOREST_LINEAR_UP_TO``, else linear within ±2 and logarithmic beyond; ticks at 0, ±1
    (the margin) and round numbers, written plainly."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    extent = max(1.5, reach * 1.08)
    ax.set_xlim(-extent, extent)
    if extent > FOREST_LINEAR_UP_TO:
        ax.set_xscale("symlog", linthresh=2, linscale=1.2)
        big = [10 ** e for e in range(1, 13) if 10 ** e <= extent] or [5]   # a decade apart: never crowded
        ticks = sorted({0, 1, 2, *big, *(-t for t in (1, 2, *big))})
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("-", "−")))
