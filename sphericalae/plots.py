"""The few figure helpers that several book pages share (matplotlib, imported lazily)."""
from __future__ import annotations

import numpy as np

PRIOR_COLORS = {"normal": "C0", "uniform": "C1", "poisson": "C2", "chi2": "C3"}


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
    ax.set_title(title, fontsize=10)
    return ax
