"""Sample-quality metrics: MSE, SWD, the Frechet distance and improved precision and recall.
Feature networks (FD-CNN, FID) are in :mod:`sphericalae.features`, tables with their real-against-real
floor in :mod:`sphericalae.tables`.

Images are ``(N, C, H, W)`` tensors in [0, 1] (numpy accepted); feature sets are ``(n, d)``. Every
function checks its inputs and raises ``ValueError`` naming what was wrong and what is accepted
(shapes, NaN/inf, values outside [0, 1], too few samples, bad parameters). Computations run on the
input's device; results are Python floats (float64 arithmetic where it matters).

Numbers in different feature spaces, or at different sample sizes, do not compare: every table states
its ``n`` and the value of two disjoint real sets of that size, split by :func:`sphericalae.tables.floor_split`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .checks import as_float_tensor, positive_int
from .seeding import resolve_generator

__all__ = ["mse", "swd", "SWDResult", "laplacian_pyramid", "frechet_distance", "precision_recall", "check_images"]


# ----------------------------------------------------------------------------------------- checks
def _tensor(x, name):
    return as_float_tensor(x, name, finite=True)[0]


def check_images(x, name, min_n=1):
    """``x`` as a float tensor of images (N, C, H, W) in [0, 1] with at least ``min_n`` images, else a
    ``ValueError`` naming ``name`` and what is wrong."""
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim != 4:
        raise ValueError(f"{name} must be images of shape (N, C, H, W), got shape {tuple(x.shape)}")
    x = _tensor(x, name)
    if x.shape[0] < min_n:
        raise ValueError(f"{name} holds {x.shape[0]} image(s); need at least {min_n}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name} must hold images in [0, 1], got values in [{lo:.3g}, {hi:.3g}] "
                         "(rescale [-1, 1] images with (x + 1) / 2, uint8 images with x / 255)")
    return x


def _feature_set(x, name, min_n):
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim != 2:
        raise ValueError(f"{name} must be a feature set of shape (n, d), got shape {tuple(x.shape)}")
    x = _tensor(x, name)
    if x.shape[0] < min_n:
        raise ValueError(f"{name} holds {x.shape[0]} sample(s); need at least {min_n}")
    return x


def _same(a, b, what, dims):
    if tuple(a.shape[dims]) != tuple(b.shape[dims]):
        raise ValueError(f"a and b must have the same {what}, got shapes {tuple(a.shape)} and {tuple(b.shape)}")


def _generator(generator):
    return resolve_generator(generator, allow_none=False)[0]


def _positive_int(value, name, minimum=1):
    return positive_int(value, name, least=minimum)


# ------------------------------------------------------------------------------------------- MSE
def mse(a, b) -> float:
    """Mean squared error between paired images (a reconstruction and its input), averaged over every
    pixel and channel of images in [0, 1]; float64. ``a`` and ``b`` must have the same shape."""
    a, b = check_images(a, "a"), check_images(b, "b")
    _same(a, b, "shape", slice(None))
    return float((a.double() - b.to(a.device).double()).square().mean())


# ------------------------------------------------------------------------------------------- SWD
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def _blur5(x):
    """Separable 5x5 binomial filter [1 4 6 4 1]/16 (Burt & Adelson 1983), mirror padding."""
    c = x.shape[1]
    k = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device) / 16
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def laplacian_pyramid(images, min_resolution: int = 16) -> list:
    """Laplacian pyramid, finest first: level i is ``G_i - up(G_(i+1))`` (a band-pass image) and the last
    level is the low-pass residual ``G_L``, where ``G_0`` are the images and ``G_(i+1)`` is ``G_i``
    blurred by the 5x5 binomial filter and subsampled by 2. Levels are added while the smaller side
    of the next one stays >= ``min_resolution``: 28 px digits give one level (28) at the default 16,
    three (28, 14, 7) at ``min_resolution=7``; 128 px faces give 128, 64, 32, 16."""
    levels = [images]
    while min((s + 1) // 2 for s in levels[-1].shape[-2:]) >= min_resolution:
        levels.append(_blur5(levels[-1])[:, :, ::2, ::2])
    out = []
    for fine, coarse in zip(levels[:-1], levels[1:]):
        up = fine.new_zeros(fine.shape)
        up[:, :, ::2, ::2] = coarse
        out.append(fine - 4 * _blur5(up))
    return out + [levels[-1]]


def _positions(n, per_image, size, patch, gen):
    """Random top-left corners (ys, xs), each (n, per_image, 1, 1), of patches in images of ``size``."""
    return tuple(torch.randint(0, s - patch + 1, (n, per_image, 1, 1), generator=gen) for s in size)


def _descriptors(level, ys, xs, patch):
    """The ``patch x patch`` neighbourhoods at corners (ys, xs) of every image: (N * per_image, C, patch^2)."""
    n, c, h, w = level.shape
    per_image = ys.shape[1]
    d = torch.arange(patch)
    idx = ((ys + d.view(-1, 1)) * w + xs + d).view(n, 1, -1).expand(n, c, -1).to(level.device)
    patches = level.flatten(2).gather(2, idx).view(n, c, per_image, patch * patch)
    return patches.transpose(1, 2).reshape(n * per_image, c, patch * patch)


def _normalise(desc):
    """Per channel: subtract the mean and divide by the standard deviation over all descriptors and
    pixels of the set, then flatten to (M, C * patch^2)."""
    mean = desc.mean(dim=(0, 2), keepdim=True)
    std = desc.std(dim=(0, 2), keepdim=True, unbiased=False).clamp_min(1e-12)
    return ((desc - mean) / std).flatten(1)


def _sort_rows(x):
    """Sort each row: numpy's sort on the CPU (the faster there, see benchmarks/bench_metrics.py),
    torch's elsewhere."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.contiguous().numpy(), axis=1))
    return x.sort(dim=1).values


def _sliced_wasserstein(da, db, n_repeats, per_repeat, gen):
    """Mean over random unit directions of the 1-Wasserstein distance between the projected sets:
    with equal sizes, the mean absolute difference of the sorted projections."""
    dists = []
    for _ in range(n_repeats):
        dirs = torch.randn(da.shape[1], per_repeat, generator=gen, dtype=torch.float64)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(da)
        pa, pb = _sort_rows((da @ dirs).T), _sort_rows((db @ dirs).T)
        dists.append((pa - pb).abs().double().mean())
    return float(torch.stack(dists).mean())


@dataclass(frozen=True)
class SWDResult:
    """SWD per pyramid level (``{resolution: value}``, finest first) and their mean, all x 10^3."""
    per_level: dict
    mean: float

    def __float__(self):
        return self.mean


def swd(a, b, *, descriptors_per_image: int = 128, patch_size: int = 7, min_resolution: int = 16,
        n_repeats: int = 4, projections_per_repeat: int = 128, generator=0,
        chunk_size: int = 1024) -> SWDResult:
    """Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches, as in progressive
    GAN (Karras et al. 2018, "Progressive growing of GANs for improved quality, stability, and
    variation", section 5, and its released code).

    For each level of :func:`laplacian_pyramid` (down to ``min_resolution``): draw
    ``descriptors_per_image`` random ``patch_size x patch_size`` neighbourhoods per image; normalise
    each set's descriptors per channel by its own mean and standard deviation (so a global brightness
    or contrast change is invisible, by design of the source); then SWD = the mean over
    ``n_repeats * projections_per_repeat`` random unit directions theta of
    ``W1(<theta, A>, <theta, B>) = mean_i |sort(A theta)_i - sort(B theta)_i|`` (Rabin et al. 2011).
    The result is reported **x 10^3**, the unit of progressive GAN's code and tables; ``mean`` is the
    average over levels. Defaults are the source's: 128 descriptors per image, 7x7 patches, levels
    down to 16 px, 4 repeats of 128 directions (512). The source used 16384 images per set.

    For 28 px digits the default ``min_resolution=16`` keeps one level, the 28x28 images themselves
    (a single-scale patch SWD); ``min_resolution=7`` gives 28 and 14 (band-pass: strokes' edges and
    shapes) and 7 (the low-pass digit, where a 7x7 patch is the whole image).

    ``a`` and ``b`` need the same shape (an equal number of images; at least 2). Descriptor positions
    and directions come from ``generator`` (an int seed or a CPU ``torch.Generator``), drawn for
    ``a`` then ``b``: ``swd(x, x)`` is not 0 but the floor of the random descriptors (0 only when a
    patch covers a whole level), so compare with two disjoint real sets of the same size.
    ``chunk_size`` images are filtered at a time (memory only; the result does not depend on it).
    Descriptors take ``N * descriptors_per_image * C * patch_size^2`` floats per set and level.
    """
    a, b = check_images(a, "a", min_n=2), check_images(b, "b", min_n=2)
    _same(a, b, "shape (SWD pairs sorted projections: subsample the larger set)", slice(None))
    per_image = _positive_int(descriptors_per_image, "descriptors_per_image")
    patch = _positive_int(patch_size, "patch_size")
    min_res = _positive_int(min_resolution, "min_resolution", minimum=3)
    n_repeats = _positive_int(n_repeats, "n_repeats")
    per_repeat = _positive_int(projections_per_repeat, "projections_per_repeat")
    chunk = _positive_int(chunk_size, "chunk_size")
    if patch > min_res:
        raise ValueError(f"patch_size ({patch}) must be at most min_resolution ({min_res})")
    if min(a.shape[-2:]) < min_res:
        raise ValueError(f"images of size {tuple(a.shape[-2:])} are smaller than min_resolution={min_res}")
    gen = _generator(generator)
    dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    b = b.to(a.device)

    sizes = [tuple(lv.shape[-2:]) for lv in laplacian_pyramid(a[:1].to(dtype), min_res)]

    def level_descriptors(x):
        corners = [_positions(len(x), per_image, size, patch, gen) for size in sizes]
        parts = [[] for _ in sizes]
        for i, block in enumerate(x.to(dtype).split(chunk)):
            rows = slice(i * chunk, i * chunk + len(block))
            for part, lv, (ys, xs) in zip(parts, laplacian_pyramid(block, min_res), corners):
                part.append(_descriptors(lv, ys[rows], xs[rows], patch))
        return [_normalise(torch.cat(p)) for p in parts]

    da, db = level_descriptors(a), level_descriptors(b)
    resolutions = [size[0] for size in sizes]
    per_level = {r: 1e3 * _sliced_wasserstein(x, y, n_repeats, per_repeat, gen)
                 for r, x, y in zip(resolutions, da, db)}
    return SWDResult(per_level, float(np.mean(list(per_level.values()))))


# ------------------------------------------------------------------------------- Frechet distance
def _eigh(c, values_only=False):
    """Symmetric eigendecomposition; small CPU problems run on one thread (LAPACK's thread barriers
    only cost there; benchmarks/bench_metrics.py measures it)."""
    fn = torch.linalg.eigvalsh if values_only else torch.linalg.eigh
    if c.device.type != "cpu" or c.shape[0] > 512 or torch.get_num_threads() == 1:
        return fn(c)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(c)
    finally:
        torch.set_num_threads(threads)


def _psd_sqrt(c):
    w, v = _eigh(c)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(features_a, features_b) -> float:
    """Frechet (2-Wasserstein) distance between Gaussians fitted to two feature sets (Heusel et al.
    2017, "GANs trained by a two time-scale update rule converge to a local Nash equilibrium";
    Dowson & Landau 1982):

    ``FD = |mu_a - mu_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^(1/2))``

    with sample means and unbiased covariances in float64. The trace of the matrix square root is
    computed in its symmetric form, ``tr((C_a C_b)^(1/2)) = sum_i sqrt(lambda_i(C_a^(1/2) C_b C_a^(1/2)))``
    (C_a C_b is similar to that symmetric PSD matrix), with eigenvalues clipped at 0: no complex
    parts, stable for singular covariances (n <= d, dead features). Rounding below 0 is returned as 0.
    Sets need at least 2 samples each and the same d; the estimate is biased upward at small n
    (compare with the real-against-real floor at the same n).

    The features are first divided by a power of two near their spread (exact), and the result
    multiplied back: features of any finite magnitude (1e-200, 1e200) give the same value as unit
    ones, scaled. A distance beyond float64's range, or a failed eigendecomposition, raises
    ``ValueError``.
    """
    fa = _feature_set(features_a, "features_a", 2).double()
    fb = _feature_set(features_b, "features_b", 2).double().to(fa.device)
    _same(fa, fb, "feature dimension d", slice(1, 2))
    e = _spread_exponent(torch.cat([fa, fb]))
    try:
        fd = _frechet_unit(_times_pow2(fa, -e), _times_pow2(fb, -e))
    except RuntimeError as err:          # torch.linalg.LinAlgError: eigh did not converge
        raise ValueError(f"frechet_distance: the covariance eigendecomposition failed "
                         f"({str(err).splitlines()[0]}); check the features for degenerate values") from None
    fd = _times_pow2(_times_pow2(fd, e), e)         # inf (not an error) beyond float64
    if not math.isfinite(fd):
        raise ValueError(f"frechet_distance: the distance of these features (spread about 2^{e}) "
                         "exceeds float64's range; rescale the features")
    return fd


def _times_pow2(x, e: int):
    """``x * 2**e`` in two exact steps, so that neither factor over- or underflows."""
    half = e // 2
    return x * 2.0 ** half * 2.0 ** (e - half)


def _spread_exponent(x) -> int:
    """``e`` with ``max |x - mean(x)|`` in [2^(e-1), 2^e) (of ``max |x|`` if constant; 0 if all
    zero): dividing by ``2^e`` is exact and brings the centred values to at most 1 in magnitude."""
    top = float(x.abs().max())
    if top == 0:
        return 0
    e_top = math.frexp(top)[1]
    unit = _times_pow2(x, -e_top)
    spread = float((unit - unit.mean(0)).abs().max())
    return e_top + math.frexp(spread)[1] if spread > 0 else e_top


def _frechet_unit(fa, fb) -> float:
    """The Frechet distance of float64 feature sets of moderate magnitude (see frechet_distance)."""
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    ca = (fa - mu_a).T @ (fa - mu_a) / (fa.shape[0] - 1)
    cb = (fb - mu_b).T @ (fb - mu_b) / (fb.shape[0] - 1)
    sa = _psd_sqrt(ca)
    m = sa @ cb @ sa
    tr_sqrt = _eigh((m + m.T) / 2, values_only=True).clamp_min(0).sqrt().sum()
    fd = (mu_a - mu_b).square().sum() + ca.trace() + cb.trace() - 2 * tr_sqrt
    return max(float(fd), 0.0)


# ---------------------------------------------------------------------- improved precision/recall
def _standardise_pooled(real, fake):
    """Both sets centred on their pooled mean and divided by the pooled spread (max |x - mean|), in
    float64. Precision and recall depend only on which distances are smaller, which a common shift
    and scale do not change; after this the distances neither overflow (features near 1e200) nor
    underflow (near 1e-200), and the rounding tolerance of :func:`_sq_dists` is relative to the
    spread, not to the offset."""
    pooled = torch.cat([real, fake])
    top = float(pooled.abs().max())
    if top == 0:
        return real, fake
    e = math.frexp(top)[1]                            # exact: brings every value to at most 1
    mean = _times_pow2(pooled, -e).mean(0)
    spread = float((_times_pow2(pooled, -e) - mean).abs().max())
    if spread == 0:                                   # every point the same: distances all 0
        return real * 0, fake * 0
    return (_times_pow2(real, -e) - mean) / spread, (_times_pow2(fake, -e) - mean) / spread


def _sq_dists(x, y):
    xn, yn = x.square().sum(1), y.square().sum(1)
    d2 = (xn[:, None] + yn[None, :] - 2 * x @ y.T).clamp_min(0)
    return d2, 1e-10 * (xn[:, None] + yn[None, :])          # distances, rounding tolerance


def _knn_radii(x, k, batch):
    """Squared distance from each point to its k-th nearest neighbour in its own set (self excluded)."""
    return torch.cat([_sq_dists(blk, x)[0].kthvalue(k + 1, dim=1).values for blk in x.split(batch)])


def _coverage(query, ref, radii, batch):
    """Share of query points inside at least one ball B(ref_j, radius_j)."""
    hits = []
    for blk in query.split(batch):
        d2, tol = _sq_dists(blk, ref)
        hits.append((d2 <= radii[None, :] + tol).any(1))
    return float(torch.cat(hits).double().mean())


def precision_recall(real_features, fake_features, k: int = 3, *, batch_size: int = 1024) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019, "Improved precision and recall metric
    for assessing generative models", section 2): each set's manifold is the union of balls around its
    points with radius the distance to the k-th nearest neighbour within the set (k=3, the source's
    default). **Precision** = share of fake samples inside the real manifold (are samples realistic?),
    **recall** = share of real samples inside the fake manifold (is the data covered?). Blurry but
    covering samples: low precision, high recall; sharp but collapsed: high precision, low recall.

    Euclidean distances in float64, computed ``batch_size`` rows at a time (10k x 10k fits in memory),
    after centring and scaling the pooled features: the result does not change when both sets are
    shifted by one vector or scaled by one positive factor (features of magnitude 1e-200 or 1e200,
    or offset by 1e6, give the values of unit features).
    Identical sets give 1.0 and 1.0; two real sets of the same size give the floor (below 1).
    Returns ``{"precision", "recall", "k", "n_real", "n_fake"}``. Each set needs at least k + 1 samples.
    """
    k = _positive_int(k, "k")
    batch = _positive_int(batch_size, "batch_size")
    real = _feature_set(real_features, "real_features", k + 1).double()
    fake = _feature_set(fake_features, "fake_features", k + 1).double().to(real.device)
    _same(real, fake, "feature dimension d", slice(1, 2))
    real, fake = _standardise_pooled(real, fake)
    precision = _coverage(fake, real, _knn_radii(real, k, batch), batch)
    recall = _coverage(real, fake, _knn_radii(fake, k, batch), batch)
    return {"precision": precision, "recall": recall, "k": k,
            "n_real": real.shape[0], "n_fake": fake.shape[0]}
