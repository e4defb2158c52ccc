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
key), `image_rows` (rows of images, each at least `MIN_IMAGE_PX` pixels wide, rows labelled), and
`overlay_hist`.
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
    """A map of `values` (rows x cols) with its colour key; `annotate` formats the numbers
    written in the cells (None: none). log10: colour by log10 of the values (the numbers in the
    cells stay the values). Returns (image, colorbar)."""
    values = np.asarray(values, dtype=float)
    shown = np.log10(values) if log10 else values
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
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
    The figure is at most the text column wide: `per_row` is cut to what fits at `cell_px`.
    """
    import matplotlib.pyplot as plt

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
        fig.text((label_px - 8) / width_px, (bottom + cell_px / 2) / height_px, label,
                 ha="right", va="center")
        if titles and label in titles:
            ax.set_title(titles[label], loc="left", pad=3)
    return fig


def overlay_hist(ax, samples: dict, bins=60, xlabel: str = "", title: str = ""):
    """Overlay step histograms (densities) of several 1-d samples on one axis, one per key."""
    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in samples.items()}
    lo = min(a.min() for a in arrays.values())
    hi = max(a.max() for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for k, a in arrays.items():
        ax.hist(a, bins=edges, density=True, histtype="step", lw=1.5, label=k,
                color=PRIOR_COLORS.get(k))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax
