"""The book's table style (sphericalae.display): significant figures, mean ± sd cells, headers."""
import numpy as np
import pandas as pd
import pytest

from sphericalae.display import NBSP, fmt, fmt_mean_sd, format_frame, table


def plain(text):
    return text.replace(NBSP, " ")


@pytest.mark.parametrize("x, sig, want", [
    (316.227766, 3, "316"), (0.000000, 3, "0"), (-0.00001, 2, "-1.0 × 10⁻⁵"),
    (-1e-9, 3, "-1.00 × 10⁻⁹"), (0.012345, 2, "0.012"), (1234.5, 4, "1234"),
    (7.8e-5, 2, "7.8 × 10⁻⁵"), (np.float32(2.5), 2, "2.5"), (7, 3, "7"),
    (np.int64(4500), 3, "4500"), (float("nan"), 3, "—"), (None, 3, "—"),
    (True, 3, "yes"), (float("inf"), 3, "∞"), (-0.00004, 2, "-4.0 × 10⁻⁵")])
def test_fmt_significant_figures(x, sig, want):
    assert plain(fmt(x, sig)) == want


def test_fmt_never_negative_zero():
    frame = format_frame(pd.DataFrame({"a": [-1e-7, 0.5, 0.25]}), 2)
    assert "-0.0" not in "".join(frame["a"]) and not any(c.startswith("-0") for c in frame["a"])


@pytest.mark.parametrize("mean, sd, want", [
    (186.2, 13.5, "186 ± 14"), (923.1, 104.0, "920 ± 100"), (0.5412, 0.0311, "0.541 ± 0.031"),
    (1.2e-5, 3e-6, "(1.20 ± 0.30) × 10⁻⁵"), (3.0, float("nan"), "3.00"),
    (float("nan"), 1.0, "—")])
def test_mean_sd(mean, sd, want):
    text = fmt_mean_sd(mean, sd)
    assert plain(text) == want
    assert " " not in text    # one cell that never wraps: only non-breaking spaces


def test_column_shares_decimals_when_magnitudes_allow():
    frame = format_frame(pd.DataFrame({"x": [33.93, 26.85, 18.15, 6.2]}), 3)
    assert list(frame["x"]) == ["33.93", "26.85", "18.15", "6.20"]   # 3 figures for the smallest


def test_distances_keep_their_digits_beside_larger_values():
    frame = format_frame(pd.DataFrame({"dist": [45.0, 1.41381, 32.0]}), 3)
    assert list(frame["dist"]) == ["45.00", "1.41", "32.00"]


def test_column_of_mixed_magnitudes_is_written_per_cell():
    frame = format_frame(pd.DataFrame({"x": [0.0100, 95.49, 0.0]}), 3)
    assert list(frame["x"]) == ["0.0100", "95.5", "0"]


def test_whole_floats_print_as_integers():
    frame = format_frame(pd.DataFrame({"epochs": [25.0, 1.0], "loss": [0.5, 1.0]}), 3)
    assert list(frame["epochs"]) == ["25", "1"]
    assert list(frame["loss"]) == ["0.500", "1.000"]   # aligned decimals


def test_units_n_and_scale_in_headers():
    df = pd.DataFrame({"SWD": [0.0123, 0.0456], "FD-CNN": [12.0, 13.5]})
    frame = format_frame(df, 3, units={"SWD": "× 10³"}, scale={"SWD": 1e3}, n={"FD-CNN": 1000})
    assert [plain(c) for c in frame.columns] == ["SWD (× 10³)", "FD-CNN (n = 1000)"]
    assert list(frame.iloc[:, 0]) == ["12.3", "45.6"]


def test_mean_sd_columns_join_into_one_cell():
    df = pd.DataFrame({"model": ["sae", "vae"], "mse": [0.0123, 0.02], "mse_sd": [0.0011, 0.003],
                       "other": [1.5, 2.5]})
    frame = format_frame(df, 3, mean_sd={"MSE": ("mse", "mse_sd")})
    assert list(frame.columns) == ["model", "MSE", "other"]
    assert [plain(v) for v in frame["MSE"]] == ["0.0123 ± 0.0011", "0.0200 ± 0.0030"]


def test_pair_cells_are_mean_sd():
    df = pd.DataFrame({"gap": [(0.001234, 0.0002), (0.5, 0.01)]}, index=["a", "b"])
    frame = format_frame(df)
    assert [plain(v) for v in frame["gap"]] == ["0.00123 ± 0.00020", "0.500 ± 0.010"]


def test_index_becomes_columns_and_no_index_name_row():
    df = pd.DataFrame({1: [1.5, 2.5], 2: [3.5, 4.5]},
                      index=pd.MultiIndex.from_tuples([("a", "raw"), ("a", "alg")],
                                                      names=["prior", None]))
    df.columns.name = "m"
    html = table(df).to_html()
    thead = html.split("<thead>")[1].split("</thead>")[0]
    assert thead.count("<tr>") == 1                                   # a single header row
    assert "index_name" not in html and "level_0" not in html and ">m<" not in thead
    assert ">prior<" in thead and 'class="sae-table"' in html
    assert ">raw<" in html and "<th" not in html.split("<tbody>")[1]  # no row headers


def test_table_caption_n_and_alignment():
    html = table([{"name": "x", "v": 1.25}, {"name": "y", "v": 2.5}], caption="Scores",
                 n=500).to_html()
    assert "<caption>Scores; n\u00a0=\u00a0500</caption>" in html
    assert "text-align: right" in html
    # cells wrap (the book's stylesheet lets a wide table fit the column): only a "mean ± sd"
    # cell stays whole, through its non-breaking spaces
    assert "nowrap" not in html


def test_series_and_rows_are_accepted():
    frame = format_frame(pd.Series({"a": 1.23456, "b": 0.5}, name="R^512"), 4)
    assert list(frame.columns) == [" ", "R^512"]
    assert list(frame["R^512"]) == ["1.2346", "0.5000"]


def test_sig_is_checked():
    with pytest.raises(ValueError):
        format_frame(pd.DataFrame({"a": [1.0]}), 6)


def test_evidence_table_states_interval_level_test_and_outcome_in_words():
    import numpy as np

    from sphericalae.display import evidence_table, fmt_p, outcome_words
    from sphericalae.rules import compare, decide

    rng = np.random.default_rng(0)
    win, = decide([compare(rng.normal(1, 0.1, 6), rng.normal(2, 0.1, 6), "MSE", names=("sae", "vae"))])
    same, = decide([compare(rng.normal(5, 0.01, 6), rng.normal(5, 0.01, 6), "FD-CNN", names=("svae", "vae"),
                            rel_margin=0.05)])
    assert outcome_words(win) == "SAE better" and outcome_words(same).startswith("equivalent (±")
    styler = evidence_table({"claim one": [win, same]})
    frame = styler.data
    assert list(frame.columns) == ["statement", "a vs b", "metric", "a − b [90% interval]", "p (Holm)", "outcome"]
    assert frame["a vs b"].tolist() == ["SAE vs VAE", "S-VAE vs VAE"]
    assert styler.caption == "Welch's t-test"                     # one test for every row: said once
    paired, = decide([compare([1.0, 2.0, 3.1], [1.1, 2.2, 3.0], "x", names=("raw", "Algorithm 1"), paired=True)])
    assert evidence_table([[win, paired]]).data["test"].tolist() == ["Welch's t-test", "paired t-test"]
    assert fmt_p(1e-7) == "< 0.001" and fmt_p(0.0123) == "0.0123" and fmt_p(1.0) == "1"


def test_verdict_sentence_states_each_finding_in_words():
    import numpy as np

    from sphericalae import claims
    from sphericalae.display import verdict_sentence

    rng = np.random.default_rng(0)
    rows = [{"model": m, "seed": s, "MSE": 0.01 + 0.002 * (m == "sae") + rng.random() * 1e-4,
             "SWD": 1 + rng.random(), "FD-CNN": 10 + 0.01 * rng.random()} for m in ("sae", "vae") for s in range(5)]
    text = verdict_sentence(claims.table2(rows))
    assert text.startswith("Does not hold. SAE against the VAE: the VAE is better on MSE")
    assert "the data cannot tell the two apart on SWD" in text and "equivalent on FD-CNN" in text
    assert "a better" not in text and "sae" not in text.replace("SAE", "")


# --- the verdicts at a glance: badges, their colours, the summary table ----------------------------

import re  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from sphericalae import claims  # noqa: E402
from sphericalae.display import (OURS_LIMIT, VERDICT_CLASSES, VERDICT_COLORS, short_claim, short_ours,  # noqa: E402
                                 summary_table, verdict_badge)
from sphericalae.rules import compare, decide  # noqa: E402

CSS = Path(__file__).resolve().parent.parent / "_static" / "book.css"
PAGE = {"light": ("#ffffff", "#f3f4f5"), "dark": ("#14181e", "#29313d")}   # the theme's background, table stripe


def _linear(hex_colour):
    h = hex_colour.lstrip("#")
    c = np.array([int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _contrast(fg, bg):
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    lum = sorted(float(np.array([0.2126, 0.7152, 0.0722]) @ _linear(c)) for c in (fg, bg))
    return (lum[1] + 0.05) / (lum[0] + 0.05)


def _badge_rules():
    """{(theme, class): {property: value}} of the stylesheet's badge rules."""
    rules = {}
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.S)):
        m = re.fullmatch(r'\s*(html\[data-theme="dark"\]\s+)?\.(verdict-[a-z]+)\s*', selector)
        if m:
            props = dict((k.strip(), v.strip()) for k, v in (p.split(":", 1) for p in body.split(";") if ":" in p))
            rules[("dark" if m.group(1) else "light", m.group(2))] = props
    return rules


def test_badge_writes_the_word_with_its_class():
    assert tuple(VERDICT_CLASSES) == claims.OUTCOMES
    for outcome, cls in VERDICT_CLASSES.items():
        assert verdict_badge(outcome) == f'<span class="verdict {cls}">{outcome}</span>'
    assert len(set(VERDICT_CLASSES.values())) == len(VERDICT_CLASSES)
    with pytest.raises(ValueError, match="unknown outcome 'holds mostly'; valid: holds, holds in part"):
        verdict_badge("holds mostly")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_badge_is_styled_with_text_contrast_of_at_least_4_5(theme):
    rules = _badge_rules()
    for outcome, cls in VERDICT_CLASSES.items():
        props = rules[(theme, cls)]
        fill = props["background-color"].lower()
        grounds = PAGE[theme] if fill == "transparent" else (fill,)
        for ground in grounds:
            assert _contrast(props["color"], ground) >= 4.5, (theme, outcome, ground)
        assert "nowrap" not in " ".join(props.values())


def test_badge_colours_are_the_figures_colours():
    rules = _badge_rules()
    for outcome, cls in VERDICT_CLASSES.items():
        props = rules[("light", cls)]
        fill = props["background-color"]
        shown = props["border"].split()[-1] if fill == "transparent" else fill
        assert shown.lower() == VERDICT_COLORS[outcome].lower(), outcome


def _lab(rgb_linear):
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) \
        @ np.clip(rgb_linear, 0, 1) / np.array([0.95047, 1, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


# Viénot, Brettel and Mollon (1999): protanopia and deuteranopia in linear RGB
CVD = {"typical": np.eye(3),
       "protanopia": np.array([[0.11238, 0.88762, 0], [0.11238, 0.88762, 0], [0.00401, -0.00401, 1]]),
       "deuteranopia": np.array([[0.29275, 0.70725, 0], [0.29275, 0.70725, 0], [-0.02234, 0.02234, 1]])}


@pytest.mark.parametrize("vision", list(CVD))
def test_outcome_colours_stay_apart_for_colour_blind_readers(vision):
    """The four filled outcomes differ by at least 20 (CIE76 colour difference) as a reader with
    that vision sees them (red against green would fail here)."""
    filled = ["holds", "holds in part", "does not hold", "inconclusive"]
    seen = {o: _lab(CVD[vision] @ _linear(VERDICT_COLORS[o])) for o in filled}
    for i, a in enumerate(filled):
        for b in filled[i + 1:]:
            assert np.linalg.norm(seen[a] - seen[b]) >= 20, (vision, a, b)


WIN = (np.array([1.0, 1.01, 0.99, 1.0]), np.array([2.0, 2.02, 1.98, 2.0]))        # a lower: a better
SAME = (np.array([5.0, 5.001, 4.999, 5.0]), np.array([5.0, 4.999, 5.001, 5.0]))    # equivalent
NOISY = (np.array([5.0, 7.0, 3.0, 5.5]), np.array([5.0, 3.0, 7.0, 4.5]))          # inconclusive


def _verdict(evidence, outcome="holds", **kw):
    fields = dict(key="k", claim="a claim", paper="p", outcome=outcome, ours="x", rule="r", anchor="page.html#s")
    return claims.Verdict(**{**fields, **kw}, evidence=tuple(evidence))


def test_short_ours_names_what_each_comparison_found_in_the_books_words():
    comps = decide([compare(*WIN, "MSE", names=("sae", "vae")), compare(*SAME, "SWD", names=("sae", "vae")),
                    compare(*WIN, "FD-CNN", names=("sae", "vae"))])
    assert short_ours(_verdict(comps)) == "SAE vs VAE · MSE, FD-CNN: SAE better; SWD: equivalent"
    cells = decide(compare(*g, f"FD-CNN {p} centerize+spherize", names=(f"{p} centerize+spherize", "normal vanilla"),
                           paired=True) for g, p in ((SAME, "uniform"), (NOISY, "poisson"), (SAME, "chi2")))
    line = short_ours(_verdict(cells))
    assert line == "… Algorithm 1 vs normal raw, FD-CNN · uniform, χ²: equivalent; Poisson: inconclusive"
    win = decide([compare(*WIN, "FD-CNN chi2 centerize+spherize", names=("chi2 centerize+spherize", "normal vanilla"),
                          paired=True)])
    named = short_ours(_verdict(win))
    assert named == "χ² Algorithm 1 vs normal raw, FD-CNN: χ² Algorithm 1 better"
    for text in (line, named):
        assert not re.search(r"chi2|centerize|vanilla|\bsae\b|\bvae\b", text)     # no internal key


def test_short_ours_is_short_and_cuts_between_words():
    many = decide(compare(*WIN, f"a rather long metric name number {k} (with a long note)", names=("sae", f"m{k}"))
                  for k in range(8))
    line = short_ours(_verdict(many))
    assert len(line) <= OURS_LIMIT and "long note" not in line and line.endswith("SAE better")   # as counts
    long = "the closed form gives " + " ".join(f"value{k} = {k}.25" for k in range(20))
    cut = short_ours(_verdict((), ours=long))
    assert len(cut) <= OURS_LIMIT and cut.endswith("…")
    kept = cut[:-1]
    assert long.startswith(kept) and long[len(kept)] == " "                  # whole words only
    assert short_ours(_verdict((), ours="99.01% (closed form)")) == "99.01% (closed form)"


def test_short_claim_names_a_claim_in_a_few_words():
    assert short_claim(SimpleNamespace(key="table2", claim="Table 2's direction, on digits: ...")) == "Table 2"
    other = short_claim(SimpleNamespace(key="new", claim="(not in the paper) SAE's gain is the sphere's: SAE beats"))
    assert other == "SAE's gain is the…" and len(other) <= 24


def test_summary_table_has_three_columns_of_unescaped_html():
    v = _verdict(decide([compare(*WIN, "MSE", names=("sae", "vae"))]), claim="SAE < VAE & more",
                 anchor="training.html#table-2")
    none = _verdict((), outcome="not testable here", ours="needs FFHQ", anchor="faces.html#full")
    styler = summary_table([v, none])
    assert list(styler.data.columns) == ["claim", "verdict", "ours"]
    html = styler.to_html()
    assert '<a href="training.html#table-2">SAE &lt; VAE &amp; more</a>' in html
    assert '<span class="verdict verdict-holds">holds</span>' in html
    assert '<span class="verdict verdict-untestable">not testable here</span>' in html
    assert ">SAE vs VAE, MSE: SAE better<" in html and ">needs FFHQ<" in html
    assert 'class="sae-table sae-summary"' in html and "nowrap" not in html
    with pytest.raises(ValueError, match="at least one verdict"):
        summary_table([])


def test_text_cells_and_headers_in_the_books_words():
    from sphericalae.display import book_text

    frame = format_frame(pd.DataFrame({"model": ["sae", "ae+gmm"], "chi2 vanilla": [1.0, 2.5],
                                       "note": ["[1e-2, 1e4]", "mnist-5k, d_z 512"]}), 3)
    assert list(frame.columns) == ["model", "χ² raw", "note"]
    assert list(frame["model"]) == ["SAE", "AE + mixture"]
    assert plain(frame["note"].iloc[0]) == "[10⁻², 10⁴]" and frame["note"].iloc[1] == "MNIST-5k, d 512"
    assert plain(book_text("gap 2.5e-07")) == "gap 2.5 × 10⁻⁷"
    link = '<a href="x.html#sae">sae</a>'
    assert book_text(link) == link                      # HTML (links, badges) is left as it is
    assert book_text("sae-like saes") == "sae-like saes"     # whole keys only


def test_decimals_print_the_papers_numbers_as_printed():
    frame = format_frame(pd.DataFrame({"FID": [6.2, 33.93, np.nan], "MSE": [0.091, 0.063, 0.1]}), 3,
                         decimals={"FID": 2, "MSE": 3})
    assert list(frame["FID"]) == ["6.20", "33.93", "—"] and list(frame["MSE"]) == ["0.091", "0.063", "0.100"]
