"""Class structure of latent codes, measured on the codes themselves (not only on a t-SNE map):
k-nearest-neighbour accuracy, silhouette and a linear probe; t-SNE maps and their own scores; and
interpolation between two codes, straight (``lerp``) or along the great circle (``slerp``, White
2016), the paper's Figures 13 and 14 in numbers.

The metric follows the geometry: codes on a sphere (sae, svae, ps) are compared by cosine
distance, codes in R^d (vae, ae) by Euclidean distance (:func:`code_metric`, read from each
bottleneck class of :data:`sphericalae.models.KINDS`).
"""
from __future__ import annotations

import numpy as np
import torch

from .checks import as_float64_array, positive_int
from .seeding import derive_seed

__all__ = ["code_metric", "separation", "neighbours", "linear_probe", "tsne_map", "lerp", "slerp"]

def code_metric(kind: str) -> str:
    """``cosine`` for kinds whose codes lie on a sphere (the bottleneck's ``on_sphere``), ``euclidean``
    otherwise."""
    from .models import KINDS

    return "cosine" if KINDS[kind].on_sphere() else "euclidean"


def _np(x, what="codes"):
    return as_float64_array(x, what)


def separation(train_codes, train_labels, test_codes, test_labels, *, metric="euclidean", k: int = 10,
               seed: int = 0) -> dict:
    """How well classes separate in a code space: :func:`neighbours` (``knn``, ``silhouette``, with
    ``metric``) and :func:`linear_probe` (``probe``), in one dict."""
    return {**neighbours(train_codes, train_labels, test_codes, test_labels, metric=metric, k=k),
            "probe": linear_probe(train_codes, train_labels, test_codes, test_labels, seed=seed)}


def neighbours(train_codes, train_labels, test_codes, test_labels, *, metric="euclidean", k: int = 10) -> dict:
    """``knn``: accuracy on the test codes of a k-NN classifier fitted to the training codes;
    ``silhouette``: mean silhouette of the test codes under their labels (-1 to 1); both with
    ``metric`` (``euclidean`` or ``cosine``)."""
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"unknown metric {metric!r}; valid metrics: euclidean, cosine")
    xtr, xte, ytr, yte = _np(train_codes), _np(test_codes), _np(train_labels), _np(test_labels)
    if len(np.unique(yte)) < 2:
        raise ValueError("the test codes need at least 2 classes for a silhouette")
    k = positive_int(k, "k")
    knn = KNeighborsClassifier(k, metric=metric).fit(xtr, ytr).score(xte, yte)
    return {"knn": float(knn), "silhouette": float(silhouette_score(xte, yte, metric=metric))}


def linear_probe(train_codes, train_labels, test_codes, test_labels, *, seed: int = 0) -> float:
    """Accuracy on the test codes of a logistic regression fitted to the training codes, read as they
    are (no distance: the same for every metric)."""
    from sklearn.linear_model import LogisticRegression

    xtr, xte, ytr, yte = _np(train_codes), _np(test_codes), _np(train_labels), _np(test_labels)
    probe = LogisticRegression(max_iter=2000, random_state=derive_seed(seed, "probe") % 2**32)
    return float(probe.fit(xtr, ytr).score(xte, yte))


def tsne_map(codes, *, metric="euclidean", seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """A 2-d t-SNE map (van der Maaten and Hinton 2008) of ``codes`` ``(n, d)``, seeded; random
    initialisation, so that runs with other seeds show how much the map itself varies."""
    from sklearn.manifold import TSNE

    x = _np(codes)
    return TSNE(2, perplexity=min(perplexity, (len(x) - 1) / 3), metric=metric, init="random",
                random_state=derive_seed(seed, "tsne") % 2**32).fit_transform(x)


def lerp(a, b, steps: int):
    """``steps`` points on the straight segment from ``a`` to ``b`` (endpoints included)."""
    t = torch.linspace(0, 1, positive_int(steps, "steps", least=2), dtype=a.dtype, device=a.device)[:, None]
    return (1 - t) * a + t * b


def slerp(a, b, steps: int):
    """``steps`` points on the great circle from ``a`` to ``b`` (unit vectors; endpoints
    included): ``sin((1-t) w) / sin w * a + sin(t w) / sin w * b``, w the angle between them. Falls
    back to ``lerp`` when the angle is below 1e-6; antipodal endpoints have no unique circle."""
    a = a / a.norm()
    b = b / b.norm()
    w = torch.arccos((a @ b).clamp(-1, 1))
    if float(w) < 1e-6:
        return lerp(a, b, steps)
    if float(torch.pi - w) < 1e-6:
        raise ValueError("slerp between antipodal points is undefined (no unique great circle)")
    t = torch.linspace(0, 1, positive_int(steps, "steps", least=2), dtype=a.dtype, device=a.device)[:, None]
    return (torch.sin((1 - t) * w) * a + torch.sin(t * w) * b) / torch.sin(w)
