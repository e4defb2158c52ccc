"""The trained models of the book's experiment chapters, and the scores the pages report.

* :func:`sphericalae.models.trained` trains a model once per configuration and training code and
  loads it from the cache afterwards: a page, a second page and the test pass that re-executes them
  all share one training run. :func:`trained_grid` does it for kinds x seeds, in parallel.
* Every study takes its settings whole, a :class:`sphericalae.studies.DigitStudy`, and is cached
  under the fields it depends on (:meth:`~sphericalae.studies.Study.key`).
* :func:`reconstruction_scores`: held-out MSE, SWD and FD-CNN of a model's reconstructions (the
  paper's Table 2 metrics; FD-CNN stands in for FID, see :mod:`sphericalae.metrics`).
* :func:`sample_scores`: FD-CNN, precision and recall of decoded samples against real images.
* :func:`reconstruction_study` and :func:`prior_study`: the whole tables of the training and
  priors pages, computed once per setting and cached, so the verdict page reads the same numbers.
* :func:`code_mixture`: a Gaussian mixture fitted to a model's training codes, the sampler of a
  regularised (plain) autoencoder after Ghosh et al. (2020, RAE), the baseline the paper omits.

Every score comes with its floor: the same metric between two disjoint sets of real images of the
same size (:func:`real_floor`).
"""
from __future__ import annotations

import numpy as np
import torch

from .cache import cached, missing
from .config import TrainConfig
from .features import digit_classifier, stored_features
from .metrics import frechet_distance, mse, precision_recall, swd
from .models import ModelConfig, trained
from .parallel import map_processes
from .seeding import derive_seed
from .studies import DIGIT_KINDS, DigitStudy

__all__ = ["trained_grid", "compute_in_parallel", "DIGIT_STUDIES", "reconstruction_scores", "sample_scores", "real_floor",
           "code_mixture", "codes_digest", "reconstruction_study", "prior_study", "prior_cells", "structure_study", "tsne_study",
           "study_models", "code_radius", "CONVERGED", "STUDY_KINDS", "CODE_METRICS"]

STUDY_KINDS = DIGIT_KINDS
"""The five models of the digits experiments (the training, priors and latent-structure pages; a
study's ``kinds`` field may name fewer)."""

CODE_METRICS = ("cosine", "euclidean")
"""The distances every model's codes are scored with (structure study)."""


def _call(job):
    """Compute (or find in the cache) one result: ``job = (cached function, *arguments)``."""
    fn, *args = job
    fn(*args)


def compute_in_parallel(jobs, device="auto"):
    """Fill the cache for ``jobs``, tuples ``(fn, *arguments)`` of functions whose results are cached
    (:func:`sphericalae.models.trained`, a study of this module, ...), side by side in worker
    processes (:func:`sphericalae.parallel.map_processes`) when they compute on the CPU; on a GPU the
    caller computes them one after another. The caller then reads each result from the cache. Jobs
    whose results are stored already are left out (:func:`sphericalae.cache.missing`), so a study
    that is cached starts no process, and a job listed twice is computed once. The pool takes the
    jobs in the order given: list the longest first."""
    if device in ("cpu", "auto") and not torch.cuda.is_available():
        todo = []
        for job in jobs:
            if job not in todo and missing(*job):
                todo.append(job)
        map_processes(_call, todo)


def trained_grid(kinds, seeds, model_fields: dict, train_fields: dict, data=None, *, progress=True):
    """``{(kind, seed): (model, history)}`` for every kind and seed, same architecture, optimizer,
    epochs and data; a progress bar over the grid (each cached model is loaded, not retrained).
    Models not yet cached are trained at once in worker processes (:func:`compute_in_parallel`),
    which load the data themselves: ``data`` must be what the train configs' dataset fields give."""
    from tqdm.auto import tqdm

    jobs = [(ModelConfig(kind=k, **model_fields), TrainConfig(seed=s, **train_fields)) for k in kinds for s in seeds]
    compute_in_parallel([(trained, *job) for job in jobs], TrainConfig(**train_fields).device)
    return {(m.kind, t.seed): trained(m, t, data)
            for m, t in tqdm(jobs, desc="models", disable=not progress)}


@torch.no_grad()
def reconstruction_scores(model, images, fd_net, *, swd_seed=0, batch_size=500) -> dict:
    """Held-out ``MSE`` (per pixel), ``SWD`` (x 1e3, progressive-GAN defaults) and ``FD-CNN`` of the
    model's reconstructions of ``images`` against the images themselves."""
    recon = torch.cat([model.reconstruct(b) for b in images.split(batch_size)])
    return {"MSE": mse(recon, images), "SWD": float(swd(recon, images, generator=swd_seed)),
            "FD-CNN": frechet_distance(stored_features(fd_net, recon), stored_features(fd_net, images))}


def sample_scores(samples, real_features, fd_net, *, k=3) -> dict:
    """``FD-CNN``, ``precision`` and ``recall`` (k-NN manifolds, Kynkaanniemi et al. 2019) of
    decoded ``samples`` against the features of real images."""
    fake = stored_features(fd_net, samples)
    pr = precision_recall(real_features, fake, k=k)
    return {"FD-CNN": frechet_distance(real_features, fake), "precision": pr["precision"], "recall": pr["recall"]}


def real_floor(real_a, real_b, fd_net, *, swd_seed=0) -> dict:
    """The scores two disjoint real sets of the same size give: what 'as good as real' reads as.
    Also the floor of :func:`sample_scores` (precision and recall of real against real)."""
    fa, fb = stored_features(fd_net, real_a), stored_features(fd_net, real_b)
    pr = precision_recall(fa, fb)
    return {"MSE": mse(real_a, real_b), "SWD": float(swd(real_a, real_b, generator=swd_seed)),
            "FD-CNN": frechet_distance(fa, fb), "precision": pr["precision"], "recall": pr["recall"]}


def code_mixture(codes, n_components: int = 10, seed: int = 0):
    """A Gaussian mixture (full covariances) fitted to ``codes`` ``(n, d)``; returns ``sample(n,
    generator_seed) -> (n, d)`` float32 codes. The RAE sampler (Ghosh et al. 2020, ex-post density
    estimation) for a plain autoencoder. The fit is cached by the codes' values (:func:`codes_digest`):
    a mixture is a function of the codes, so an edit elsewhere in the package does not refit it."""
    x = np.asarray(codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else codes, dtype=np.float64)
    key = {"codes": codes_digest(torch.from_numpy(x)), "shape": list(x.shape), "components": n_components,
           "seed": seed}
    fit = cached("code-mixture", key, lambda: _fit_mixture(x, n_components, seed), sources=(_fit_mixture,))
    weights, means = fit["weights"].numpy(), fit["means"].numpy()
    chol = np.linalg.cholesky(fit["covariances"].numpy())

    def sample(n, sample_seed=0):
        rng = np.random.default_rng(derive_seed(sample_seed, "gmm-sample"))
        comp = rng.choice(n_components, size=n, p=weights)
        eps = rng.standard_normal((n, x.shape[1]))
        z = means[comp] + np.einsum("nij,nj->ni", chol[comp], eps)
        return torch.from_numpy(z.astype(np.float32))

    return sample


def _fit_mixture(x, n_components, seed) -> dict:
    """scikit-learn's full-covariance Gaussian mixture of the rows of ``x`` (float64), as tensors."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components, covariance_type="full", random_state=derive_seed(seed, "gmm") % 2**32,
                          reg_covar=1e-5).fit(x)
    return {k: torch.from_numpy(np.ascontiguousarray(getattr(gmm, f"{k}_"))) for k in ("weights", "means", "covariances")}


def codes_digest(codes) -> str:
    """sha256 of ``codes`` rounded to 1e-4 (so that the last bits a thread count changes do not
    matter): the cache key of a result that is a function of a model's codes alone."""
    import hashlib

    return hashlib.sha256(codes.double().mul(1e4).round().numpy().tobytes()).hexdigest()


@torch.no_grad()
def code_radius(model, images) -> float:
    """The norm at which ``model``'s decoder reads codes: 1 for codes on a sphere (sae, svae, ps),
    sqrt(d) for the VAE (its prior's N(0, I) draws, and its posterior means, lie near that norm),
    the mean norm of the codes of ``images`` for a plain AE (it has no prior)."""
    if model.sphere_dim is not None:
        return 1.0
    if model.kind == "vae":
        return float(model.config.latent_dim) ** 0.5
    return float(model.encode(images).norm(dim=1).mean())


CONVERGED = 0.01
"""The book's convergence criterion: a model is converged when its held-out loss's least-squares
trend over the last fifth of its epochs changes it by less than 1% (:func:`sphericalae.train.convergence`,
after at least :data:`sphericalae.train.MIN_EPOCHS` epochs). The studies train every kind for the
same number of epochs and report this criterion at the end; a study with ``converge`` set uses it
as a stop rule instead."""


def study_models(study: DigitStudy = DigitStudy(), data=None, progress=True):
    """The five digit models x seeds of ``study`` (same architecture, optimizer, data and budget:
    ``study.epochs`` epochs each, or the stop rule at ``study.converge`` with that cap):
    ``{(kind, seed): (model, history)}``."""
    from .data import load

    data = data or load(study.dataset)
    fields = dict(dataset=study.dataset, epochs=study.epochs, batch_size=study.batch_size, device=study.device,
                  converge=study.converge)
    return trained_grid(study.kinds, range(study.seeds), {"latent_dim": study.latent_dim}, fields, data,
                        progress=progress)


def _models_and_data(study):
    from .data import load

    data = load(study.dataset)
    return study_models(study, data, progress=False), data


def reconstruction_study(study: DigitStudy = DigitStudy()):
    """The training page's table (cached): ``{"scores": [{model, seed, MSE, SWD, FD-CNN}], "floor":
    real-vs-real scores, "accuracy": FD-CNN network's held-out accuracy, "n": held-out size}``."""
    def compute():
        models, data = _models_and_data(study)
        heldout = data[1].tensors[0]
        fd_net, accuracy = digit_classifier(study.dataset, device="cpu")
        rows = [{"model": kind, "seed": s, **reconstruction_scores(models[kind, s][0], heldout, fd_net)}
                for kind in study.kinds for s in range(study.seeds)]
        floor = real_floor(heldout, data[0].tensors[0][:len(heldout)], fd_net)
        return {"scores": rows, "floor": floor, "accuracy": accuracy, "n": len(heldout)}

    return cached("reconstruction-study", study.key(), compute, sources=(reconstruction_study,))


@torch.no_grad()
def prior_cells(model, draws, train_x, seed, n, *, mixture=False, gmm_components=10) -> dict:
    """The images one model decodes in each cell of :func:`prior_study`, ``{cell: (n, C, H, W)}``:
    ``"own prior"`` (stream (seed, "own")), and for each prior of ``draws`` (``{prior: (n, d)}``)
    ``"PRIOR / vanilla"`` (raw) and ``"PRIOR / centerize+spherize"`` (Algorithm 1 at the decoder's
    training scale, :func:`code_radius`). ``mixture``: only ``"own prior"``, drawn from a mixture
    fitted to the model's codes of ``train_x`` (the AE + mixture sampler)."""
    from .ops import PIPELINES

    if mixture:
        sampler = code_mixture(model.encode(train_x), gmm_components, seed=seed)
        return {"own prior": model.decode(sampler(n, seed))}
    radius = code_radius(model, train_x)
    cells = {"own prior": model.decode_prior(None, n, generator=derive_seed(seed, "own"))}
    for p, z in draws.items():
        cells[f"{p} / vanilla"] = model.decode(z[:n])
        cells[f"{p} / centerize+spherize"] = model.decode(PIPELINES["centerize+spherize"](z[:n]) * radius)
    return cells


def prior_study(study: DigitStudy = DigitStudy()):
    """The priors page's table (cached): every model decodes the same draws of the paper's four
    priors, raw (``vanilla``) and through Algorithm 1 (``centerize+spherize``), and its own prior;
    ``ae+gmm`` is the plain AE sampled from a mixture fitted to its training codes. Each decoder
    reads Algorithm 1's output at the scale it was trained at (:func:`code_radius`). Returns
    ``{"scores": [{model, seed, cell, FD-CNN, precision, recall}], "floor": ..., "n": n_samples}``;
    a cell is ``"own prior"`` or ``"PRIOR / PIPELINE"``. Draws of seed s come from stream (s, prior)."""
    n_samples = study.n_samples

    def compute():
        from .ops import sample_prior
        from .paper import PRIORS

        models, data = _models_and_data(study)
        train_x, heldout = data[0].tensors[0], data[1].tensors[0]
        fd_net, _ = digit_classifier(study.dataset, device="cpu")
        real_feats = stored_features(fd_net, heldout[:n_samples])
        rows = []
        with torch.no_grad():
            for s in range(study.seeds):
                draws = {p: sample_prior(p, n_samples, study.latent_dim, derive_seed(s, p)) for p in PRIORS}
                for kind in (*study.kinds, *(["ae+gmm"] if "ae" in study.kinds else [])):
                    model = models["ae" if kind == "ae+gmm" else kind, s][0]
                    cells = prior_cells(model, draws, train_x, s, n_samples, mixture=kind == "ae+gmm",
                                        gmm_components=study.gmm_components)
                    for cell, images in cells.items():
                        rows.append({"model": kind, "seed": s, "cell": cell,
                                     **sample_scores(images, real_feats, fd_net)})
        floor = real_floor(heldout[:n_samples], train_x[:n_samples], fd_net)
        return {"scores": rows, "floor": floor, "n": n_samples}

    return cached("prior-study", study.key("n_samples", "gmm_components"), compute, sources=(prior_study,))


MAP_DIGITS = 5000
"""Digits on a t-SNE map at most (the paper's Figure 14: 500 per class)."""


def _map_digits(n, limit=MAP_DIGITS):
    """Indices of the digits a t-SNE map shows: all ``n``, or ``limit`` drawn at random (stream
    ``(0, "map")``), sorted."""
    if n <= limit:
        return torch.arange(n)
    from .seeding import torch_generator

    return torch.randperm(n, generator=torch_generator(0, "map"))[:limit].sort().values


def structure_study(study: DigitStudy = DigitStudy()):
    """The latent-structure page's numbers (cached): each model's deterministic codes of the training
    digits (fit) and of the held-out digits (scored), :func:`sphericalae.structure.separation` with
    each distance of :data:`CODE_METRICS` for every model (one distance for every model, so models
    compare like for like), for every seed. Returns ``{"scores": [{model, seed, space, run, metric,
    knn, silhouette, probe}], "labels": held-out labels, "n": held-out size}`` (``study.k`` neighbours)."""
    def compute():
        from .structure import linear_probe, neighbours

        models, data = _models_and_data(study)
        (xtr, ytr), (xte, yte) = data[0].tensors, data[1].tensors
        rows = []
        with torch.no_grad():
            for kind in study.kinds:
                for s in range(study.seeds):
                    model = models[kind, s][0]
                    ctr, cte = model.encode(xtr), model.encode(xte)
                    probe = linear_probe(ctr, ytr, cte, yte, seed=s)       # one per model: it reads no distance
                    rows += [{"model": kind, "seed": s, "space": "codes", "run": 0, "metric": m,
                              **neighbours(ctr, ytr, cte, yte, metric=m, k=study.k), "probe": probe}
                             for m in CODE_METRICS]
        return {"scores": rows, "labels": yte, "n": len(xte)}

    return cached("structure-study", study.key("k"), compute, sources=(structure_study,))


def _map_of(codes, metric, seed):
    """:func:`sphericalae.structure.tsne_map` of ``codes``, cached by their values
    (:func:`codes_digest`): a map is a function of the codes, so an edit elsewhere in the package
    does not recompute it."""
    from .structure import tsne_map

    key = {"codes": codes_digest(codes), "shape": list(codes.shape), "metric": metric, "seed": seed}
    return cached("tsne-map", key, lambda: torch.from_numpy(tsne_map(codes, metric=metric, seed=seed)),
                  sources=(tsne_map,)).numpy()


def tsne_study(study: DigitStudy = DigitStudy()):
    """The paper's Figure 14 (cached): ``study.tsne_runs`` t-SNE maps, in each model's own geometry, of the
    seed-0 codes of every digit (training and held-out; for ``mnist-5k`` the 500 per class of the
    paper; ``study.map_digits`` of them drawn at random from a larger set), each scored on the map (k-NN
    fitted on the training digits' points, scored on the held-out ones; silhouette of the held-out
    points). Returns ``{"scores": [{model, run, knn, silhouette, probe}], "maps": {kind: (N, 2)
    tensor of run 0}, "labels": (N,) labels of the mapped digits}``."""
    def compute():
        from .structure import code_metric, separation

        models, data = _models_and_data(study)
        (xtr, ytr), (xte, yte) = data[0].tensors, data[1].tensors
        pick = _map_digits(len(xtr) + len(xte), study.map_digits)
        labels, held = torch.cat([ytr, yte])[pick], pick >= len(xtr)
        rows, maps = [], {}
        for kind in study.kinds:
            with torch.no_grad():
                codes = models[kind, 0][0].encode(torch.cat([xtr, xte])[pick])
            for r in range(study.tsne_runs):
                m = _map_of(codes, code_metric(kind), r)
                rows.append({"model": kind, "run": r,
                             **separation(m[~held], labels[~held], m[held], labels[held], k=study.k, seed=r)})
                maps.setdefault(kind, torch.from_numpy(m))
        return {"scores": rows, "maps": maps, "labels": labels}

    return cached("tsne-study", study.key("tsne_runs", "k", "map_digits"), compute, sources=(tsne_study,))


DIGIT_STUDIES = (reconstruction_study, prior_study, structure_study, tsne_study)
"""Every study of a :class:`~sphericalae.studies.DigitStudy`'s models (the training, priors and
latent pages), each cached on its own."""
