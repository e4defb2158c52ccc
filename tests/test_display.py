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
    frame = evidence_table({"claim one": [win, same]}).data
    assert list(frame.columns) == ["statement", "a vs b", "metric", "a − b [90% interval]", "test", "p (Holm)",
                                   "outcome"]
    assert frame["a vs b"].tolist() == ["SAE vs VAE", "S-VAE vs VAE"]
    assert frame["test"].tolist() == ["Welch's t-test"] * 2
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
