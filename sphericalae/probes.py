"""Probes of the digit models the paper's other claims rest on, each cached on its own (so the other
studies of :mod:`sphericalae.experiments` stay valid when this module changes): one idea, how the
decoders and encoders behave away from the pictures the paper shows.

* :func:`radius_study`: every decoder fed Algorithm 1's normal draws scaled to radii around the
  scale it was trained at (:data:`RADII`, multiples of :func:`sphericalae.experiments.code_radius`),
  the same draws raw, and Algorithm 1's output at the raw draws' own mean norm; scored with FD-CNN,
  precision and recall, FD-CNN of binarised images (:func:`binarise`) and :func:`sharpness`.
* :func:`code_uniformity_study`: how far each model's held-out codes, as directions, are from
  uniform on their sphere: :func:`mean_resultant_length` and :func:`top_eigenvalue`, beside the
  same statistics of uniform directions of the same number and dimension (:func:`uniform_like`).
* :func:`sharpness_study`: :func:`sharpness` of each model's held-out reconstructions, as a share of
  the originals' (the paper's "blurriness", Section 5.2).

**Why binarised FD-CNN is the second check.** A larger code norm sharpens a sigmoid decoder's output:
scaling the input of a ReLU network without biases scales its logits by the same factor, and
``sigmoid(a * l)`` for ``a > 1`` has the same sign pattern as ``sigmoid(l)`` but crisper strokes;
with biases this holds approximately. FD-CNN rewards crisp strokes, so it cannot tell "a better
decoder" from "a crisper rendering of the same digits". Thresholding both the generated and the real
images at 0.5 removes what a positive scaling of the logits changes (``sigmoid(a * l) > 0.5`` iff
``l > 0``) and keeps the shapes: FD-CNN of binarised images is what is left of a difference once
sharpness is taken out. The same network is used (a second trained network would bring its own
taste); the binarised images are still digits the classifier reads.

**Sharpness** is the gradient energy of an image (the mean squared difference of neighbouring
pixels, the Tenengrad focus measure without its Sobel filter), averaged over a set. Squared, not
absolute: the mean absolute gradient of a stroke's edge is its height whatever its width (blurring
a step spreads the same total change over more pixels), while the squared gradient falls as the
edge widens, so a blurred image scores lower (a test checks it). Reported as a share of the real
images' value, so 1 is as sharp as the real digits.

Rows are plain dicts, one per model and seed (and radius), as in :mod:`sphericalae.experiments`.
"""
from __future__ import annotations

import torch

from .cache import cached
from .experiments import code_radius, sample_scores, study_models
from .features import digit_classifier, stored_features
from .metrics import frechet_distance
from .seeding import derive_seed
from .studies import DigitStudy

__all__ = ["RADII", "binarise", "sharpness", "mean_resultant_length", "top_eigenvalue", "uniform_like",
           "code_statistics", "radius_study", "code_uniformity_study", "sharpness_study", "PROBE_STUDIES",
           "UNIFORMITY_METRICS", "BINARISED"]

RADII = (0.5, 0.75, 0.9, 1.0, 1.1, 1.5, 2.0)
"""The radii of :func:`radius_study`, as multiples of each decoder's training scale."""

BINARISED = "binarised FD-CNN"
"""The name of the sharpness-insensitive check: FD-CNN of images thresholded at 0.5."""

UNIFORMITY_METRICS = ("mean resultant length", "top eigenvalue × p")
"""The two statistics of :func:`code_statistics`: the first moment of the directions and the
largest eigenvalue of their covariance times the dimension p of the sphere they lie on."""


def binarise(images) -> torch.Tensor:
    """``images`` thresholded at 0.5 (1 where above, else 0), as floats."""
    return (images > 0.5).to(images.dtype)


def sharpness(images) -> float:
    """The gradient energy of ``images`` ``(N, C, H, W)``: per pixel, the squared forward
    differences to the right and to the neighbour below, summed, averaged over pixels and images."""
    x = images.double()
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return float((dx.square() + dy.square()).mean())


def _directions(codes):
    """``codes`` ``(n, d)`` as unit vectors (float64), and the dimension p of the subspace they lie
    in: d - 1 when every code is centred (its entries sum to 0, as SAE's do), else d."""
    z = torch.as_tensor(codes).double()
    u = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    centred = bool((u.sum(dim=1).abs() < 1e-4).all())
    return u, z.shape[1] - 1 if centred else z.shape[1]


def mean_resultant_length(codes) -> float:
    """The length of the mean of ``codes`` as directions: about 1/sqrt(n) for n uniform directions
    (E[length²] = 1/n), 1 for codes that all point one way."""
    u, _ = _directions(codes)
    return float(u.mean(dim=0).norm())


def top_eigenvalue(codes) -> float:
    """The largest eigenvalue of the covariance of ``codes`` as directions, times the dimension p of
    the sphere they lie on (d - 1 for centred codes, else d): 1 for directions uniform on that sphere
    in the limit of many codes (their covariance is the identity over p on its subspace), about
    (1 + sqrt(p/n))² for n of them (Marchenko and Pastur), p when every code lies on one axis."""
    u, p = _directions(codes)
    c = torch.cov(u.T)
    return float(torch.linalg.eigvalsh(c)[-1]) * p


def code_statistics(codes) -> dict:
    """:data:`UNIFORMITY_METRICS` of ``codes``: ``{"mean resultant length", "top eigenvalue × p"}``."""
    return dict(zip(UNIFORMITY_METRICS, (mean_resultant_length(codes), top_eigenvalue(codes))))


def uniform_like(codes, seed) -> torch.Tensor:
    """Directions uniform on the sphere ``codes`` lie on, as many as ``codes`` (stream ``(seed,
    "uniform-codes")``): normal draws through Algorithm 1 (centred, then spherized) when ``codes``
    are centred, else spherized only."""
    from .ops import PIPELINES, sample_prior

    _, p = _directions(codes)
    n, d = codes.shape
    z = sample_prior("normal", n, d, derive_seed(seed, "uniform-codes")).double()
    return PIPELINES["centerize+spherize" if p < d else "spherize"](z)


def _data(study):
    from .data import load

    data = load(study.dataset)
    return study_models(study, data, progress=False), data


@torch.no_grad()
def _radius_cells(model, z, scale):
    """``[(cell, radius multiple, images)]`` of one decoder: Algorithm 1's output of normal draws
    ``z`` at each of :data:`RADII` times ``scale``, the draws raw, and Algorithm 1's output at the raw
    draws' mean norm."""
    from .ops import PIPELINES

    unit = PIPELINES["centerize+spherize"](z)
    raw = float(z.norm(dim=1).mean()) / scale
    return ([("Alg. 1", r, model.decode(unit * (r * scale))) for r in RADII]
            + [("raw", raw, model.decode(z)), ("Alg. 1 at raw norm", raw, model.decode(unit * (raw * scale)))])


def radius_study(study: DigitStudy = DigitStudy()):
    """The priors page's radius sweep (cached): for each kind of ``study.kinds`` and seed s, the
    normal draws of stream ``(s, "normal")`` (those of :func:`sphericalae.experiments.prior_study`) decoded through
    Algorithm 1 at each radius of :data:`RADII` times the decoder's training scale (cell
    ``"Alg. 1"``), raw (``"raw"``, radius: the draws' mean norm over the training scale) and
    through Algorithm 1 at that norm (``"Alg. 1 at raw norm"``). Returns ``{"scores": [{model, seed,
    cell, radius, FD-CNN, precision, recall, binarised FD-CNN, sharpness}], "floor": {FD-CNN,
    binarised FD-CNN} of two real sets, "real_sharpness": the held-out digits', "n": n_samples}``;
    ``sharpness`` is a share of the held-out digits'."""
    n = study.n_samples

    def compute():
        from .ops import sample_prior

        models, data = _data(study)
        train_x, heldout = data[0].tensors[0], data[1].tensors[0][:n]
        fd_net, _ = digit_classifier(study.dataset, device="cpu")
        real, real_bin = stored_features(fd_net, heldout), stored_features(fd_net, binarise(heldout))
        real_sharp = sharpness(heldout)
        rows = []
        for s in range(study.seeds):
            z = sample_prior("normal", n, study.latent_dim, derive_seed(s, "normal"))
            for kind in study.kinds:
                model = models[kind, s][0]
                for cell, r, images in _radius_cells(model, z, code_radius(model, train_x)):
                    rows.append({"model": kind, "seed": s, "cell": cell, "radius": r,
                                 **sample_scores(images, real, fd_net),
                                 BINARISED: frechet_distance(real_bin, stored_features(fd_net, binarise(images))),
                                 "sharpness": sharpness(images) / real_sharp})
        other = train_x[:n]
        floor = {"FD-CNN": frechet_distance(real, stored_features(fd_net, other)),
                 BINARISED: frechet_distance(real_bin, stored_features(fd_net, binarise(other)))}
        return {"scores": rows, "floor": floor, "real_sharpness": real_sharp, "n": n}

    return cached("radius-study", study.key("n_samples"), compute, sources=(radius_study,))


def code_uniformity_study(study: DigitStudy = DigitStudy()):
    """The latent page's test of Fig. 13's "globally uniform" codes (cached): for each model and seed,
    :func:`code_statistics` of the codes of the held-out digits as directions, and of as many
    directions uniform on the same sphere (:func:`uniform_like`, stream (seed, "uniform-codes"); model
    ``"uniform"``, one set per model whose codes it stands beside, field ``beside``). Returns
    ``{"scores": [{model, seed, p, mean resultant length, top eigenvalue × p}], "n": held-out
    size}``; the uniform rows also name the model they stand beside (field ``beside``)."""
    def compute():
        models, data = _data(study)
        heldout = data[1].tensors[0]
        rows = []
        with torch.no_grad():
            for kind in study.kinds:
                for s in range(study.seeds):
                    codes = models[kind, s][0].encode(heldout)
                    p = _directions(codes)[1]
                    rows.append({"model": kind, "seed": s, "p": p, **code_statistics(codes)})
                    rows.append({"model": "uniform", "beside": kind, "seed": s, "p": p,
                                 **code_statistics(uniform_like(codes, s))})
        return {"scores": rows, "n": len(heldout)}

    return cached("code-uniformity-study", study.key(), compute, sources=(code_uniformity_study,))


def sharpness_study(study: DigitStudy = DigitStudy()):
    """The training page's blurriness measure (cached): :func:`sharpness` of each model's
    reconstructions of the held-out digits, as a share of the held-out digits' own. Returns
    ``{"scores": [{model, seed, sharpness}], "real": the held-out digits' sharpness, "n": their
    number}``."""
    def compute():
        models, data = _data(study)
        heldout = data[1].tensors[0]
        real = sharpness(heldout)
        with torch.no_grad():
            rows = [{"model": kind, "seed": s, "sharpness": sharpness(models[kind, s][0].reconstruct(heldout)) / real}
                    for kind in study.kinds for s in range(study.seeds)]
        return {"scores": rows, "real": real, "n": len(heldout)}

    return cached("sharpness-study", study.key(), compute, sources=(sharpness_study,))


PROBE_STUDIES = (radius_study, code_uniformity_study, sharpness_study)
"""Every study of this module (each takes a :class:`~sphericalae.studies.DigitStudy`, each cached)."""

