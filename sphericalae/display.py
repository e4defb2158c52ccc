"""One table style for the book: `table` turns a DataFrame, a Series or a list of rows into a
compact, styled HTML table.

* numbers get `sig` significant figures (2 to 4): a column of like magnitudes shares one number of
  decimals (`sig` figures for its smallest value, at most sig + 2 for its largest), so its digits
  align; a column spanning more orders of magnitude than that is written per cell,
  in scientific notation where fixed-point would need more than 6 decimals or 6 digits;
* integers (and floats that are all whole numbers) print as integers; -0.000 prints as 0;
  missing values as an em dash;
* a cell holding a (mean, sd) pair prints as "mean ± sd" in one cell that never wraps (non-breaking
  spaces), the sd with 2 significant figures and the mean rounded to the same decimal place;
  `mean_sd` joins two columns into such a cell;
* `units` and `n` go into the column headers ("SWD (× 10³)", "FD-CNN (n = 1000)"), `scale`
  multiplies a column first (for units such as × 10³);
* `decimals` fixes a column's decimals: the paper's numbers as the paper prints them (6.20,
  0.091), never re-rounded or padded to the column's significant figures;
* the index becomes ordinary leading columns and the table has a single header row: no
  index-name row, no empty corner cells;
* text cells and headers are in the book's words (`book_text`): a model, prior, pipeline or
  dataset key reads as its name ("chi2" -> "χ²", "vanilla" -> "raw"), and a number written in
  Python's e-notation in a text ("1e-2") as the book writes it ("10⁻²").

The verdicts at a glance: `verdict_badge` (an outcome as a coloured badge whose word is always
written; its colours are the book stylesheet's and `VERDICT_COLORS`), `summary_table` (one row per
claim: the claim linked to its evidence, the badge, one short line of our numbers, `short_ours`).

The returned pandas Styler renders as HTML in a notebook; its table carries the class
`sae-table`, which the book's stylesheet (_static/book.css) pads and lets scroll inside its own
container. `fmt` and `fmt_mean_sd` are the same rules for one number, for prose and captions.
"""
from __future__ import annotations

import math
import re
from numbers import Integral, Real

import numpy as np
import pandas as pd

__all__ = ["fmt", "fmt_p", "fmt_mean_sd", "table", "format_frame", "NAMES", "name", "outcome_words",
           "evidence_table", "verdict_findings", "verdict_sentence", "VERDICT_CLASSES", "VERDICT_COLORS",
           "verdict_badge", "TERMS", "readable_words", "book_text", "short_claim", "SHORT_CLAIMS", "comparison_parts",
           "comparison_label", "short_ours", "OURS_LIMIT", "summary_table"]

NBSP = "\u00a0"
PM = f"{NBSP}±{NBSP}"
DASH = "—"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, Real) and not isinstance(x, Integral) and math.isnan(x)) \
        or x is pd.NA or x is pd.NaT


def _exponent(x: float) -> int:
    return int(math.floor(math.log10(abs(x))))


def _sci(x: float, sig: int) -> str:
    """x in scientific notation with `sig` significant figures: 1.2 × 10⁻⁵."""
    mantissa, exp = f"{x:.{sig - 1}e}".split("e")
    exp = int(exp)
    return f"{mantissa}{NBSP}×{NBSP}10{str(exp).translate(_SUPERSCRIPT)}"


def _fixed(x: float, decimals: int) -> str:
    text = f"{x:.{max(decimals, 0)}f}"
    if float(text) == 0:          # no "-0.000"
        text = text.lstrip("-")
    return text


def _needs_sci(x: float, sig: int) -> bool:
    e = _exponent(x)
    return e < -4 or e >= 6 or (sig - 1 - e) > 6


def fmt(x, sig: int = 3) -> str:
    """One number with `sig` significant figures, fixed-point unless that needs more than 6
    decimals or 6 integer digits; integers as integers; missing as an em dash."""
    if _is_missing(x):
        return DASH
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (Integral, np.integer)):
        return str(int(x))
    if not isinstance(x, (Real, np.floating)):
        return str(x)
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if _needs_sci(x, sig):
        return _sci(x, sig)
    return _fixed(x, sig - 1 - _exponent(x))


def fmt_mean_sd(mean, sd, sig_sd: int = 2) -> str:
    """"mean ± sd" in one unbreakable string: the sd with `sig_sd` significant figures and the
    mean rounded to the same decimal place (923.1, 104 -> "923 ± 100" is avoided: 920 ± 100
    is what the sd supports)."""
    if _is_missing(mean):
        return DASH
    if _is_missing(sd) or not math.isfinite(float(sd)) or float(sd) == 0:
        return fmt(mean, 3) + ("" if _is_missing(sd) else f"{PM}{fmt(sd, 1)}")
    mean, sd = float(mean), abs(float(sd))
    decimals = sig_sd - 1 - _exponent(sd)
    scale = max(abs(mean), sd)
    if _needs_sci(scale, max(decimals + _exponent(scale) + 1, 1)):
        e = _exponent(scale)
        m_txt = _fixed(mean / 10 ** e, decimals + e)
        s_txt = _fixed(sd / 10 ** e, decimals + e)
        return f"({m_txt}{PM}{s_txt}){NBSP}×{NBSP}10{str(e).translate(_SUPERSCRIPT)}"
    if decimals < 0:   # round to tens, hundreds, ...
        q = 10 ** (-decimals)
        return f"{int(round(mean / q) * q)}{PM}{int(round(sd / q) * q)}"
    return f"{_fixed(mean, decimals)}{PM}{_fixed(sd, decimals)}"


def _is_pair(x) -> bool:
    return isinstance(x, (tuple, list, np.ndarray)) and len(x) == 2 \
        and all(isinstance(v, (Real, np.floating, np.integer)) or v is None for v in x)


def _format_column(values: pd.Series, sig: int) -> list[str]:
    """Format one column: a shared number of decimals when its magnitudes allow, else per cell."""
    vals = list(values)
    if any(_is_pair(v) for v in vals):
        return [fmt_mean_sd(*v) if _is_pair(v) else fmt(v, sig) for v in vals]
    nums = [float(v) for v in vals if isinstance(v, (Real, np.floating, np.integer))
            and not isinstance(v, (bool, np.bool_)) and not _is_missing(v)]
    if not nums or len(nums) < sum(not _is_missing(v) for v in vals):   # text (or mixed)
        return [fmt(v, sig) if not isinstance(v, str) else v for v in vals]
    finite = [v for v in nums if math.isfinite(v)]
    if finite and all(float(v).is_integer() and abs(v) < 1e15 for v in finite):
        return [DASH if _is_missing(v) else fmt(int(v)) if math.isfinite(float(v)) else fmt(v)
                for v in vals]
    nonzero = [abs(v) for v in finite if v != 0]
    if not nonzero:
        return [fmt(v, sig) for v in vals]
    top, low = max(nonzero), min(nonzero)
    # one shared number of decimals: `sig` figures for the smallest value, as long as the
    # largest then has at most sig + 2 figures and nothing needs scientific notation
    decimals = max(sig - 1 - _exponent(low), 0)
    shared = decimals <= 6 and _exponent(top) < 6 and _exponent(top) + 1 + decimals <= sig + 2
    if not shared:
        return [fmt(v, sig) for v in vals]
    return [DASH if _is_missing(v) else fmt(v) if not math.isfinite(float(v))
            else "0" if float(v) == 0 else _fixed(float(v), decimals) for v in vals]


def _printed(values: pd.Series, decimals: int) -> list[str]:
    """A column of numbers with a fixed number of decimals (missing as an em dash)."""
    return [DASH if _is_missing(v) else fmt(v) if isinstance(v, str) or not math.isfinite(float(v))
            else _fixed(float(v), decimals) for v in values]


def _flat(label) -> str:
    if isinstance(label, tuple):
        return ", ".join(str(p) for p in label if str(p) != "")
    return str(label)


def format_frame(data, sig: int = 3, *, units: dict | None = None, n=None,
                 scale: dict | None = None, mean_sd: dict | None = None,
                 index: bool = True, decimals: dict | None = None) -> pd.DataFrame:
    """The table as a DataFrame of strings with one header row (what `table` styles).

    data: a DataFrame, a Series, or a list of dicts (rows).
    sig: significant figures of plain numbers (2 to 4).
    units: column -> unit, shown in the header as "column (unit)".
    n: an int for every column, or column -> sample size, shown as "n = ..." in the header.
    scale: column -> factor applied before formatting (e.g. {"SWD": 1e3} with units "× 10⁻³").
    mean_sd: new column -> (mean column, sd column): the two are replaced by one "mean ± sd" cell.
    index: keep the index as leading columns (unnamed levels are dropped when it is a RangeIndex).
    decimals: column -> a fixed number of decimals for its numbers (the paper's numbers as printed).
    Text cells and headers are given in the book's words (:func:`book_text`).
    """
    if not 2 <= sig <= 4:
        raise ValueError(f"sig must be 2, 3 or 4 significant figures, not {sig}")
    if isinstance(data, pd.Series):
        df = data.to_frame(data.name if data.name is not None else "value")
    elif isinstance(data, pd.DataFrame):
        df = data.copy()
    else:
        df = pd.DataFrame(list(data))
    if isinstance(df.columns, pd.MultiIndex):
        df.columns = [_flat(c) for c in df.columns]
    df.columns = [str(c) for c in df.columns]
    for col, factor in (scale or {}).items():
        df[col] = df[col].map(lambda v: v if _is_missing(v) else
                              tuple(x * factor for x in v) if _is_pair(v) else v * factor)
    for new, (mu, sd) in (mean_sd or {}).items():
        pos = list(df.columns).index(mu)
        pairs = [(a, b) for a, b in zip(df[mu], df[sd])]
        df = df.drop(columns=[mu, sd])
        df.insert(min(pos, len(df.columns)), new, pd.Series(pairs, index=df.index, dtype=object))
    if index and not (isinstance(df.index, pd.RangeIndex) and df.index.name is None):
        idx = df.index.to_frame(index=False)
        # an unnamed level gets a blank header (unique: k spaces), never "index" or "level_0"
        idx.columns = [str(name) if name is not None else " " * (k + 1)
                       for k, name in enumerate(df.index.names)]
        df = pd.concat([idx, df.reset_index(drop=True)], axis=1)
    else:
        df = df.reset_index(drop=True)
    out = pd.DataFrame({c: _printed(df[c], (decimals or {})[c]) if c in (decimals or {})
                        else [book_text(v) for v in _format_column(df[c], sig)] for c in df.columns},
                       index=df.index)
    headers = []
    for c in out.columns:
        h = book_text(c) if c.strip() else c
        if units and c in units and units[c]:
            h += f" ({units[c]})"
        cn = n.get(c) if isinstance(n, dict) else None
        if cn is not None:
            h += f" (n{NBSP}={NBSP}{cn})"
        headers.append(h)
    out.columns = headers
    return out


def table(data, sig: int = 3, *, units: dict | None = None, n=None, scale: dict | None = None,
          mean_sd: dict | None = None, caption: str | None = None, index: bool = True,
          decimals: dict | None = None):
    """A styled table for the book (pandas Styler): see the module docstring and `format_frame`.

    n may be an int (one sample size for the whole table, added to the caption) or a dict
    (per column, in the headers). The first columns (the former index) are left-aligned text,
    number columns right-aligned with tabular figures.
    """
    frame = format_frame(data, sig, units=units, n=n if isinstance(n, dict) else None,
                         scale=scale, mean_sd=mean_sd, index=index, decimals=decimals)
    if isinstance(n, Integral):
        caption = f"{caption + '; ' if caption else ''}n{NBSP}={NBSP}{n}"
    styler = frame.style.hide(axis="index")
    styler = styler.set_table_attributes('class="sae-table"')
    numeric = [c for c in frame.columns
               if all(_looks_numeric(v) for v in frame[c] if v != DASH) and
               any(v != DASH for v in frame[c])]
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right",
                                                          "font-variant-numeric": "tabular-nums"})
    if caption:
        styler = styler.set_caption(caption)
    return styler


_NUMBER = re.compile(r"^\(?[-−]?(\d[\d.]*|∞)(\u00a0±\u00a0\d[\d.]*)?\)?"
                     r"(\u00a0×\u00a010[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?$")


def _looks_numeric(text: str) -> bool:
    return bool(_NUMBER.match(text))


NAMES = {"sae": "SAE", "vae": "VAE", "svae": "S-VAE", "ps": "Power Spherical", "ae": "AE",
         "ae+gmm": "AE + mixture"}
"""How the book names the models of the digit studies (their keys in :mod:`sphericalae.experiments`)."""


def name(key) -> str:
    """The book's name for a model key (:data:`NAMES`), else the key itself."""
    return NAMES.get(key, key)


def fmt_p(p) -> str:
    """A p-value in the book's one notation: 3 significant figures, "< 0.001" below 0.001."""
    return DASH if _is_missing(p) else ("< 0.001" if p < 1e-3 else f"{p:.3g}")


def outcome_words(c) -> str:
    """A comparison's outcome as a reader says it: "SAE better", "equivalent (±0.5)", "inconclusive"."""
    if c.winner is not None:
        return f"{name(c.winner)} better"
    if c.outcome == "equivalent":
        return f"equivalent (±{fmt(c.margin)})"
    return c.outcome


def evidence_table(verdicts, *, side=False, caption=None):
    """The comparisons behind ``verdicts`` (:class:`sphericalae.claims.Verdict` objects, or lists of
    :class:`sphericalae.rules.Comparison`), one row each: the two sides, the metric, the difference
    a - b with its interval at the level the test uses (90% beside TOST at alpha 0.05), the test
    (in the caption when every row shares it), the Holm-adjusted p-value and the outcome in words,
    names in the book's words (:func:`comparison_parts`). ``side``: a verdict's side evidence
    (outside the verdict) instead of its evidence. A dict ``{label: verdict or comparisons}`` adds a
    first column, "statement", with the labels."""
    labelled = verdicts.items() if isinstance(verdicts, dict) else ((None, v) for v in verdicts)
    rows = []
    for label, v in labelled:
        comps = v if isinstance(v, (list, tuple)) else (v.side if side else v.evidence)
        for c in comps:
            (lo, hi), (a, b, metric) = c.ci, comparison_parts(c)
            rows.append({**({"statement": label} if label is not None else {}),
                         "a vs b": f"{name(a)} vs {name(b)}", "metric": metric,
                         f"a − b [{100 * c.ci_level:.0f}% interval]": f"{fmt(c.diff)} [{fmt(lo)}, {fmt(hi)}]",
                         "test": c.test, "p (Holm)": fmt_p(c.p_adj), "outcome": outcome_words(c)})
    frame = pd.DataFrame(rows)
    if len(frame) and frame["test"].nunique() == 1:
        caption = f"{frame['test'].iloc[0]}; {caption}" if caption else frame["test"].iloc[0]
        frame = frame.drop(columns="test")
    return table(frame, index=False, caption=caption)


_IN_TEXT = {"vae": "the VAE", "ae": "the plain AE", "ae+gmm": "the AE with a fitted mixture"}


def _said(key) -> str:
    """A model's name inside a sentence ("the VAE", "SAE")."""
    return _IN_TEXT.get(key, name(key))


def _finding(c, pair: bool) -> str:
    who = "" if pair else f"{_said(c.a)} against {_said(c.b)}, "
    lo, hi = c.ci
    if c.winner is not None:
        return (f"{who}{_said(c.winner)} is better on {c.metric} (a − b = {fmt(c.diff)}, "
                f"{100 * c.ci_level:.0f}% interval [{fmt(lo)}, {fmt(hi)}], Holm-adjusted p {_p_words(c.p_adj)})")
    if c.outcome == "equivalent":
        return f"{who}the two are equivalent on {c.metric} (the difference lies within ±{fmt(c.margin)})"
    # the adjusted p-value says why an interval that misses 0 still decides nothing (Holm's correction)
    return (f"{who}the data cannot tell the two apart on {c.metric} (a − b = {fmt(c.diff)}, "
            f"{100 * c.ci_level:.0f}% interval [{fmt(lo)}, {fmt(hi)}], Holm-adjusted p {_p_words(c.p_adj)})")


def _p_words(p) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def verdict_findings(v) -> str:
    """What each comparison of a verdict (:class:`sphericalae.claims.Verdict`) found, in plain
    sentences, with the interval and the adjusted p-value; ``v.ours`` for a row without comparisons."""
    comps = list(v.evidence)
    if not comps:
        return f"{v.ours[:1].upper()}{v.ours[1:]}."
    pair = len({(c.a, c.b) for c in comps}) == 1
    text = (f"{_said(comps[0].a)} against {_said(comps[0].b)}: " if pair else "") + \
        "; ".join(_finding(c, pair) for c in comps)
    return f"{text[:1].upper()}{text[1:]}."


def verdict_sentence(v) -> str:
    """A verdict in plain sentences: its outcome, then :func:`verdict_findings`."""
    return f"{v.outcome.capitalize()}. {verdict_findings(v)}"


# --- the verdicts at a glance ----------------------------------------------------------------------

VERDICT_CLASSES = {"holds": "verdict-holds", "holds in part": "verdict-part", "does not hold": "verdict-fails",
                   "inconclusive": "verdict-inconclusive", "not testable here": "verdict-untestable"}
"""The CSS class of each outcome's badge (``sphericalae.claims.OUTCOMES``, in its order); every badge
also has the class ``verdict``. _static/book.css colours them."""

VERDICT_COLORS = {"holds": "#0072B2", "holds in part": "#56B4E9", "does not hold": "#B84A00",
                  "inconclusive": "#6E6E6E", "not testable here": "#6E6E6E"}
"""Each outcome's colour in the light theme: the badge's fill (the dashed border of "not testable
here", which has no fill) in _static/book.css, and the colour of its points in figures
(:func:`sphericalae.plots.forest_plot`). Blue against vermillion (Okabe and Ito's colour-blind-safe
pair), the partial outcome a lighter blue, no decision grey; a test checks that the stylesheet
agrees and that every badge's text has a contrast of at least 4.5:1."""


def verdict_badge(outcome) -> str:
    """``outcome`` (one of ``sphericalae.claims.OUTCOMES``) as an HTML badge,
    ``<span class="verdict verdict-holds">holds</span>``: the word is always written, the colour
    (_static/book.css) only adds to it. An unknown outcome raises ValueError naming the valid ones."""
    if outcome not in VERDICT_CLASSES:
        raise ValueError(f"unknown outcome {outcome!r}; valid: {', '.join(VERDICT_CLASSES)}")
    return f'<span class="verdict {VERDICT_CLASSES[outcome]}">{outcome}</span>'


TERMS = {"uniform": "uniform", "normal": "normal", "poisson": "Poisson", "chi2": "χ²", "vanilla": "raw",
         "centerize": "centred", "spherize": "spherized", "centerize+spherize": "Algorithm 1",
         "fd_cnn": "FD-CNN", "d_z": "d", "mnist-5k": "MNIST-5k", "lfw-faces": "LFW faces",
         "mlp28": "MLP", "dcgan28": "DCGAN", "dcgan32": "DCGAN", "dcgan64": "DCGAN"}
"""How the book names the priors, pipelines, datasets and architectures (their keys in
:mod:`sphericalae.table1`, :mod:`sphericalae.data`, :mod:`sphericalae.gan` and the studies), word by
word in :func:`readable_words`."""

_KEY = re.compile(r"(?<![\w+-])[\w+-]+(?![\w+-])")


def readable_words(text) -> str:
    """``text`` with every word that is a model key (:data:`NAMES`) or a prior, pipeline, dataset
    or architecture key (:data:`TERMS`) replaced by the book's name: ``"chi2 centerize+spherize"`` ->
    ``"χ² Algorithm 1"``; punctuation around a word stays (``"mnist-5k,"`` -> ``"MNIST-5k,"``)."""
    return _KEY.sub(lambda m: NAMES.get(m.group(0), TERMS.get(m.group(0), m.group(0))), str(text))


_E_NUMBER = re.compile(r"(?<![\w.])([-−]?\d+(?:\.\d+)?)e([-+]?\d+)(?![\w.])")


def _e_number(m) -> str:
    mantissa, exp = m.group(1), int(m.group(2))
    power = f"10{str(exp).translate(_SUPERSCRIPT)}"
    return power if mantissa in ("1", "1.0") else f"{mantissa}{NBSP}×{NBSP}{power}"


def book_text(text) -> str:
    """A text cell in the book's words: :func:`readable_words`, and every number written in
    Python's e-notation written as the book writes numbers (``"1e-2"`` -> ``"10⁻²"``,
    ``"2.5e-07"`` -> ``"2.5 × 10⁻⁷"``). Text that already holds HTML (a link, a badge) is left as it is."""
    text = str(text)
    if "<" in text and ">" in text:
        return text
    return _E_NUMBER.sub(_e_number, readable_words(text))


SHORT_CLAIMS = {"theorem1": "Theorem 1", "lemma1": "Lemma 1", "theorem2": "Theorem 2", "table2": "Table 2",
                "ae_ablation": "SAE vs plain AE", "priors": "Any prior", "raw_draws": "Raw draws",
                "rae": "RAE sampler", "margins": "Class margins", "table1": "Table 1",
                "own_prior": "Own priors", "off_sphere": "Off the sphere", "blurriness": "Blurriness",
                "uniform_codes": "Uniform codes",
                "table1_low": "Table 1, low d", "svae512": "S-VAE at 512", "table2_ffhq": "Table 2, FFHQ"}
"""A few words naming each claim of the verdict page (by ``Verdict.key``),
where a figure has no room for the claim."""


def short_claim(v, limit: int = 24) -> str:
    """A few words naming verdict ``v`` (anything with ``key`` and ``claim``): :data:`SHORT_CLAIMS`
    by its key, else its claim up to the first ``:`` or ``;`` without a leading "(not in the
    paper)", cut after a whole word to at most ``limit`` characters (with "…")."""
    if getattr(v, "key", None) in SHORT_CLAIMS:
        return SHORT_CLAIMS[v.key]
    text = re.sub(r"^\(not in the paper\)\s*", "", str(v.claim))
    return _fit(re.split(r"[:;]", text, maxsplit=1)[0].strip(), limit)


def _fit(text: str, limit: int) -> str:
    """``text`` when it has at most ``limit`` characters, else its longest run of whole words that
    fits with "…" after it (a single word longer than ``limit`` is kept whole)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    words, out = text.split(" "), ""
    for w in words:
        if len(out) + len(w) + (1 if out else 0) + 1 > limit:
            break
        out = f"{out} {w}" if out else w
    return (out or words[0]).rstrip(",;:") + "…"


OURS_LIMIT = 90
"""The most characters of a summary table's "ours" line (:func:`short_ours`)."""


def _found(c) -> str:
    """What one comparison found, in a few words (its margin is in the evidence table)."""
    return f"{readable_words(c.winner)} better" if c.winner is not None else c.outcome


def _affixes(values):
    """Split each of ``values`` (strings) into (common leading words, own words, common trailing
    words), the common parts shared by all of them; a value keeps at least one own word."""
    split = [v.split(" ") for v in values]
    shortest = min(len(s) for s in split)
    lead = 0
    while lead < shortest - 1 and len({s[lead] for s in split}) == 1:
        lead += 1
    trail = 0
    while trail < shortest - 1 - lead and len({s[-1 - trail] for s in split}) == 1:
        trail += 1
    head, tail = " ".join(split[0][:lead]), " ".join(split[0][len(split[0]) - trail:])
    return head, [" ".join(s[lead:len(s) - trail]) for s in split], tail


def comparison_parts(c, plain_metric: bool = False) -> tuple:
    """``(a, b, metric)`` of comparison ``c`` in the book's words (:func:`readable_words`); a metric
    that ends with side a's name (``"FD-CNN uniform centerize+spherize"``) is given without it, and
    ``plain_metric`` drops its parentheses (``"silhouette (cosine)"`` -> ``"silhouette"``)."""
    metric = c.metric[:-len(c.a)].strip() if c.metric.endswith(" " + c.a) else c.metric
    if plain_metric:
        metric = re.sub(r"\s*\([^)]*\)", "", metric)
    return readable_words(c.a), readable_words(c.b), metric


def comparison_label(c, plain_metric: bool = False) -> str:
    """Comparison ``c`` in a few words, ``"SAE vs VAE, MSE"`` (:func:`comparison_parts`)."""
    a, b, metric = comparison_parts(c, plain_metric)
    return f"{a} vs {b}, {metric}"


def _ours_forms(comps, plain_metric=False):
    """The candidate lines for ``comps``: a head naming what all share (a side that varies is "…"),
    then the comparisons grouped by what they found."""
    a, b, metric = (list(side) for side in zip(*(comparison_parts(c, plain_metric) for c in comps)))
    if len(comps) == 1:
        return [f"{comparison_label(comps[0], plain_metric)}: {_found(comps[0])}"]
    fields, own, head = [], [], {}
    for key, values in (("a", a), ("b", b), ("metric", metric)):
        if len(set(values)) == 1:
            head[key] = values[0]
        else:
            lead, mine, trail = _affixes(values)
            head[key] = " ".join(p for p in (lead, "…", trail) if p) if key != "metric" else None
            fields.append(key)
            own.append(mine)
    items = [", ".join(parts) for parts in zip(*own)]
    pair = f"{head['a']} vs {head['b']}"
    start = pair + (f", {head['metric']}" if head["metric"] else "")
    groups = {}
    for item, c in zip(items, comps):
        groups.setdefault(_found(c), []).append(item)
    listed = "; ".join(f"{', '.join(dict.fromkeys(its))}: {found}" for found, its in groups.items())
    counted = ", ".join(f"{len(its)} {found}" for found, its in groups.items())
    return [f"{start} · {listed}", f"{start}: {counted}"]


def short_ours(v, limit: int = OURS_LIMIT) -> str:
    """One short line of our numbers for the summary table (at most ``limit`` characters, cut only
    between words, with "…"). A verdict with evidence (decided comparisons with ``a``, ``b``,
    ``metric``, ``outcome``, ``winner``): what the comparisons share, then what each found, those
    that found the same grouped, e.g. ``"SAE vs VAE · MSE, SWD: SAE better; FD-CNN: equivalent"``;
    when that is too long, without the metric's parenthesis, then as counts (``"…: 2 equivalent,
    1 inconclusive"``). A verdict without evidence (a closed form, a row not testable here): its
    ``ours``. Needs no other attribute of :class:`sphericalae.claims.Verdict`."""
    comps = tuple(getattr(v, "evidence", ()) or ())
    if not comps:
        return _fit(v.ours, limit)
    forms = _ours_forms(comps) + _ours_forms(comps, plain_metric=True)
    fitting = [f for f in forms if len(f) <= limit]
    return fitting[0] if fitting else _fit(forms[-1], limit)


def summary_table(verdicts, *, caption=None, also=None):
    """The answer on one screen: one row per verdict (:class:`sphericalae.claims.Verdict`) with three
    columns, "claim" (the claim, a link to its evidence ``v.anchor``), "verdict" (its
    :func:`verdict_badge`) and "ours" (:func:`short_ours`: at most :data:`OURS_LIMIT` characters).
    The cells hold HTML (their text escaped, the link and badge not); cells wrap, so the table fits
    the text column. ``also``: ``{column: {key: verdict}}``, a badge column after "verdict" per item
    (the same claims at another setting, e.g. the digit rows at d_z = 512; a dash for a row it does
    not hold). A pandas Styler, as :func:`table` returns, with the classes ``sae-table`` and
    ``sae-summary``. Raises ValueError for no verdicts or an unknown outcome."""
    import html

    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("summary_table needs at least one verdict, got none")
    rows = [{"claim": f'<a href="{html.escape(str(v.anchor))}">{html.escape(str(v.claim), quote=False)}</a>',
             "verdict": verdict_badge(v.outcome),
             **{col: verdict_badge(more[v.key].outcome) if v.key in more else DASH for col, more in (also or {}).items()},
             "ours": html.escape(short_ours(v), quote=False)} for v in verdicts]
    styler = table(pd.DataFrame(rows), index=False, caption=caption)
    return styler.set_table_attributes('class="sae-table sae-summary"')
