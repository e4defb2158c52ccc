"""The book's figure style (sphericalae.plots): sizes, fonts, colour keys, image grids."""
import io
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sphericalae import plots  # noqa: E402


@pytest.fixture(autouse=True)
def book_style():
    with matplotlib.rc_context():
        plots.use_book_style()
        yield
    plt.close("all")


def test_style_sets_dpi_and_fonts_of_at_least_9pt():
    assert matplotlib.rcParams["figure.dpi"] == plots.DPI
    for key in ["font.size", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
                "legend.fontsize", "axes.titlesize"]:
        assert matplotlib.rcParams[key] >= plots.MIN_FONT_PT, key


def test_a_figure_of_the_column_width_is_readable_a_wider_one_is_not():
    fig, ax = plt.subplots(figsize=plots.figsize(1.0))
    ax.plot([0, 1], [0, 1], label="a")
    ax.set(xlabel="x", ylabel="y")
    assert plots.readable(fig)
    wide, ax = plt.subplots(figsize=(14, 3.8))   # shrunk to about half: 10 pt shows as 5 pt
    ax.plot([0, 1], [0, 1])
    ax.set(xlabel="x")
    assert plots.displayed_scale(wide) < 0.6
    assert not plots.readable(wide)


def test_small_legend_font_is_caught():
    fig, ax = plt.subplots(figsize=plots.figsize(0.8))
    ax.plot([0, 1], [0, 1], label="a")
    ax.legend(fontsize=5)
    assert plots.smallest_font_pt(fig) == pytest.approx(5)
    assert not plots.readable(fig)


def test_legend_outside_is_beside_the_axes():
    fig, ax = plt.subplots(figsize=plots.figsize(0.8))
    ax.plot([0, 1], [0, 1], label="a line")
    leg = plots.legend_outside(ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert leg.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    with pytest.raises(ValueError):
        plots.legend_outside(ax, "inside")


def test_label_lines_writes_each_label_in_its_colour_without_overlap():
    fig, ax = plt.subplots(figsize=plots.figsize(0.8))
    ax.plot([0, 1], [1.0, 1.0], color="C0", label="first")
    ax.plot([0, 1], [1.001, 1.001], color="C1", label="second")   # ends at nearly one height
    ax.plot([0, 1], [0, 0], label="_hidden")
    texts = plots.label_lines(ax)
    assert [t.get_text() for t in texts] == ["first", "second"]
    assert [t.get_color() for t in texts] == ["C0", "C1"]
    fig.canvas.draw()
    a, b = (t.get_window_extent(fig.canvas.get_renderer()) for t in texts)
    assert not a.overlaps(b)


def test_heatmap_has_a_colour_key_and_the_numbers():
    fig, ax = plt.subplots(figsize=plots.figsize(0.6))
    im, cbar = plots.heatmap(ax, [[1e-4, 1e-2], [1.0, 0.5]], ["a", "b"], ["x", "y"],
                             cbar_label="log10 gap", log10=True, vmin=-5, vmax=0)
    assert cbar.ax.get_ylabel() == "log10 gap"
    assert im.get_clim() == (-5, 0)
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.0001", "0.01", "1", "0.5"])


def test_class_scatter_has_one_key_entry_per_class():
    rng = np.random.default_rng(0)
    xy, labels = rng.normal(size=(60, 2)), np.repeat([0, 1, 2], 20)
    fig, ax = plt.subplots(figsize=plots.figsize(0.8, 0.8))
    leg = plots.class_scatter(ax, xy, labels)
    assert [t.get_text() for t in leg.get_texts()] == ["0", "1", "2"]
    assert leg.get_title().get_text() == "class"
    fig, ax = plt.subplots(figsize=plots.figsize(0.8, 0.8))        # side by side: no key of its own
    assert plots.class_scatter(ax, xy, labels, title=None) is None and ax.get_legend() is None
    assert ax.get_legend_handles_labels()[1] == ["0", "1", "2"]      # ... but the handles for a shared one


def test_image_rows_shows_images_at_the_asked_size():
    imgs = np.random.default_rng(0).random((12, 1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # the book shows warnings; drawing must give none
        fig = plots.image_rows({"SAE": imgs, "VAE": imgs[:5]}, cell_px=48)
        fig.savefig(io.BytesIO(), format="png")
    width_px = fig.get_figwidth() * plots.DPI
    assert width_px <= plots.TEXT_WIDTH_IN * plots.DPI + 1
    ax = fig.axes[0]
    shown = len(ax.images[0].get_array()[0]) // 28            # images in the first row
    assert ax.get_position().width * width_px / shown == pytest.approx(48)
    assert ax.get_position().width * width_px / shown >= plots.MIN_IMAGE_PX
    assert fig.axes[1].get_position().width < ax.get_position().width   # a shorter row
    assert {t.get_text() for t in fig.texts} == {"SAE", "VAE"}
    with pytest.raises(ValueError):
        plots.image_rows({"x": imgs}, cell_px=20)


# --- the forest plot of the verdicts -------------------------------------------------------------------

from sphericalae import claims  # noqa: E402
from sphericalae.display import VERDICT_COLORS  # noqa: E402
from sphericalae.rules import compare, decide  # noqa: E402

LOW = np.array([1.0, 1.01, 0.99, 1.0])
HIGH = 2 * LOW


def _verdict(comps, outcome="holds", key="k"):
    return claims.Verdict(key, "a claim: in words", "p", outcome, "x", "r", "page.html#s", tuple(decide(comps)))


def _drawn(fig, gid):
    return [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == gid]


def test_forest_plot_draws_one_interval_per_comparison_with_a_finite_positive_margin():
    table = _verdict([compare(LOW, HIGH, "MSE", names=("sae", "vae")),                      # drawn
                      compare(LOW, HIGH, "SWD", names=("sae", "vae"), margin=0.0),          # margin 0: left out
                      compare(LOW, HIGH, "FD-CNN", names=("sae", "vae"))], "holds in part", key="table2")
    lonely = _verdict([compare([1.0], [2.0], "MSE", names=("sae", "ae"))], "inconclusive")   # n = 1: infinite interval
    higher = _verdict([compare(HIGH, LOW, "silhouette", names=("sae", "vae"), lower_is_better=False, margin=0.1)])
    closed = claims.closed_form("theorem1", "Theorem 1", "p", "99%", True, rule="r", anchor="volume.html#t")
    fig = plots.forest_plot([table, lonely, higher, closed])
    intervals = _drawn(fig, "forest-interval")
    assert len(intervals) == 3 == len(_drawn(fig, "forest-point"))
    # right of 0 is "a better" whichever way the metric points: SAE's lower MSE and higher silhouette
    points = [ln.get_xdata()[0] for ln in _drawn(fig, "forest-point")]
    assert all(x > 1 for x in points)
    assert points[0] == pytest.approx(1.0 / (0.05 * 2.0))          # diff / margin: 1 / (5% of 2)
    colours = [matplotlib.colors.to_hex(ln.get_color()) for ln in intervals]
    assert colours == [VERDICT_COLORS["holds in part"].lower()] * 2 + [VERDICT_COLORS["holds"].lower()]
    ax = fig.axes[0]
    assert "equivalence margin" in ax.get_xlabel() and "a better" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["holds", "holds in part"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Table 2" and "SAE vs VAE, MSE" in labels and "SAE vs VAE, SWD" not in labels
    assert plots.readable(fig)


def test_forest_plot_grows_with_its_lines_and_its_labels_never_overlap():
    def verdict(k):
        return _verdict([compare(LOW * (1 + j / 10), HIGH, f"metric {j} with a long name that wraps (a note)",
                                 names=("sae", "vae")) for j in range(k)])
    small, big = plots.forest_plot([verdict(2)]), plots.forest_plot([verdict(3), verdict(6)])
    assert big.get_figheight() > small.get_figheight() + 1
    for fig in (small, big):
        assert plots.readable(fig)
        fig.canvas.draw()
        boxes = [t.get_window_extent() for t in fig.axes[0].get_yticklabels() if t.get_text()]
        assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_forest_plot_refuses_nothing_to_draw():
    with pytest.raises(ValueError, match="at least one verdict") as err:
        plots.forest_plot([])
    assert "\n" not in str(err.value)
    closed = claims.closed_form("theorem1", "Theorem 1", "p", "99%", True, rule="r", anchor="volume.html#t")
    with pytest.raises(ValueError, match="nothing to draw"):
        plots.forest_plot([closed])
