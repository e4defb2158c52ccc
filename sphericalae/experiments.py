"""The trained models of the book's experiment chapters, and the scores the pages report.

* :func:`sphericalae.models.trained` trains a model once per configuration and training code and
  loads it from the cache afterwards: a page, a second page and the test pass that re-executes them
  all share one training run. :func:`trained_grid` does it for kinds x seeds.
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

import dataclasses
import os

import numpy as np
import torch

from .cache import cached
from .config import TrainConfig
from .features import digit_classifier, features
from .metrics import frechet_distance, mse, precision_recall, swd
from .models import ModelConfig, trained
from .seeding import derive_seed

__all__ = ["trained", "trained_grid", "reconstruction_scores", "sample_scores", "real_floor", "code_mixture",
           "reconstruction_study", "prior_study", "structure_study", "study_models", "code_radius", "convergence", "CONVERGED", "STUDY_KINDS",
           "CODE_METRICS"]

STUDY_KINDS = ("sae", "vae", "svae", "ps", "ae")
CODE_METRICS = ("cosine", "euclidean")
"""The distances every model's codes are scored with (structure study)."""
"""The five models of the digits experiments (the training, priors and latent-structure pages)."""


def _train_one(job):
    """Train (or find in the cache) one model of a grid, in a worker process with one thread."""
    torch.set_num_threads(1)
    model_config, train_config, root = job
    trained(model_config, train_config, root=root)


def _train_in_parallel(jobs, root, processes):
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_train_one, [(m, t, root) for m, t in jobs]))


def trained_grid(kinds, seeds, model_fields: dict, train_fields: dict, data=None, *, progress=True, root=None,
                 processes=None):
    """``{(kind, seed): (model, history)}`` for every kind and seed, same architecture, optimizer,
    epochs and data; a progress bar over the grid (each cached model is loaded, not retrained).
    ``processes``: models trained at once in worker processes of one thread each (default: one per
    core, at most 4; 1 trains in this process). Workers load the data themselves, so ``data`` must
    be what the train configs' dataset fields give (as the book's studies pass)."""
    from tqdm.auto import tqdm

    jobs = [(ModelConfig(kind=k, **model_fields), TrainConfig(seed=s, **train_fields)) for k in kinds for s in seeds]
    processes = min(4, os.cpu_count() or 1) if processes is None else processes
    if processes > 1 and len(jobs) > 1 and TrainConfig(**train_fields).device in ("cpu", "auto") \
            and not torch.cuda.is_available():
        _train_in_parallel(jobs, root, processes)
    out = {}
    for kind, seed in tqdm([(k, s) for k in kinds for s in seeds], desc="models", disable=not progress):
        out[kind, seed] = trained(ModelConfig(kind=kind, **model_fields), TrainConfig(seed=seed, **train_fields),
                                  data, root=root)
    return out


@torch.no_grad()
def reconstruction_scores(model, images, fd_net, *, swd_seed=0, batch_size=500) -> dict:
    """Held-out ``MSE`` (per pixel), ``SWD`` (x 1e3, progressive-GAN defaults) and ``FD-CNN`` of the
    model's reconstructions of ``images`` against the images themselves."""
    recon = torch.cat([model.reconstruct(b) for b in images.split(batch_size)])
    return {"MSE": mse(recon, images), "SWD": float(swd(recon, images, generator=swd_seed)),
            "FD-CNN": frechet_distance(features(fd_net, recon), features(fd_net, images))}


def sample_scores(samples, real_features, fd_net, *, k=3) -> dict:
    """``FD-CNN``, ``precision`` and ``recall`` (k-NN manifolds, Kynkaanniemi et al. 2019) of
    decoded ``samples`` against the features of real images."""
    fake = features(fd_net, samples)
    pr = precision_recall(real_features, fake, k=k)
    return {"FD-CNN": frechet_distance(real_features, fake), "precision": pr["precision"], "recall": pr["recall"]}


def real_floor(real_a, real_b, fd_net, *, swd_seed=0) -> dict:
    """The scores two disjoint real sets of the same size give: what 'as good as real' reads as.
    Also the floor of :func:`sample_scores` (precision and recall of real against real)."""
    fa, fb = features(fd_net, real_a), features(fd_net, real_b)
    pr = precision_recall(fa, fb)
    return {"MSE": mse(real_a, real_b), "SWD": float(swd(real_a, real_b, generator=swd_seed)),
            "FD-CNN": frechet_distance(fa, fb), "precision": pr["precision"], "recall": pr["recall"]}


def code_mixture(codes, n_components: int = 10, seed: int = 0):
    """A Gaussian mixture (full covariances) fitted to ``codes`` ``(n, d)``; returns ``sample(n,
    generator_seed) -> (n, d)`` float32 codes. The RAE sampler (Ghosh et al. 2020, ex-post density
    estimation) for a plain autoencoder."""
    from sklearn.mixture import GaussianMixture

    x = np.asarray(codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else codes, dtype=np.float64)
    gmm = GaussianMixture(n_components, covariance_type="full", random_state=derive_seed(seed, "gmm") % 2**32,
                          reg_covar=1e-5).fit(x)

    def sample(n, sample_seed=0):
        rng = np.random.default_rng(derive_seed(sample_seed, "gmm-sample"))
        comp = rng.choice(n_components, size=n, p=gmm.weights_)
        chol = np.linalg.cholesky(gmm.covariances_)
        eps = rng.standard_normal((n, x.shape[1]))
        z = gmm.means_[comp] + np.einsum("nij,nj->ni", chol[comp], eps)
        return torch.from_numpy(z.astype(np.float32))

    return sample


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


def convergence(history, key="heldout_recon", share=0.2) -> float:
    """Relative change of ``history``'s ``key`` over its last ``share`` of epochs (at least one):
    ``|value(start) - value(end)| / |value(end)|``. The book counts a model as converged when this is
    below :data:`CONVERGED` (1%)."""
    values = [h[key] for h in history]
    back = max(1, int(round(len(values) * share)))
    if len(values) <= back:
        return float("inf")
    return abs(values[-1 - back] - values[-1]) / abs(values[-1])


CONVERGED = 0.01
"""The convergence criterion: held-out loss changed by less than 1% over the last fifth of training."""


def _study_key(dataset, latent_dim, epochs, seeds, batch_size, device):
    return {"dataset": dataset, "latent_dim": latent_dim, "epochs": epochs, "seeds": seeds,
            "batch_size": batch_size, "device": device}


def study_models(dataset, latent_dim, epochs, seeds, batch_size, device, data=None, progress=True):
    """The five digit models x seeds of the experiment pages (same architecture, optimizer, epochs
    and data): ``{(kind, seed): (model, history)}``."""
    from .data import load

    data = data or load(dataset)
    fields = dict(dataset=dataset, epochs=epochs, batch_size=batch_size, device=device)
    return trained_grid(STUDY_KINDS, range(seeds), {"latent_dim": latent_dim}, fields, data, progress=progress)


def reconstruction_study(dataset="mnist-5k", latent_dim=10, epochs=30, seeds=5, batch_size=64, device="auto"):
    """The training page's table (cached): ``{"scores": [{model, seed, MSE, SWD, FD-CNN}], "floor":
    real-vs-real scores, "accuracy": FD-CNN network's held-out accuracy, "n": held-out size}``."""
    def compute():
        from .data import load

        data = load(dataset)
        models = study_models(dataset, latent_dim, epochs, seeds, batch_size, device, data, progress=False)
        heldout = data[1].tensors[0]
        fd_net, accuracy = digit_classifier(dataset, device="cpu")
        rows = [{"model": kind, "seed": s, **reconstruction_scores(models[kind, s][0], heldout, fd_net)}
                for kind in STUDY_KINDS for s in range(seeds)]
        floor = real_floor(heldout, data[0].tensors[0][:len(heldout)], fd_net)
        return {"scores": rows, "floor": floor, "accuracy": accuracy, "n": len(heldout)}

    return cached("reconstruction-study", _study_key(dataset, latent_dim, epochs, seeds, batch_size, device), compute,
                  sources=(__name__,))


def prior_study(dataset="mnist-5k", latent_dim=10, epochs=30, seeds=5, batch_size=64, device="auto",
                n_samples=500, gmm_components=10):
    """The priors page's table (cached): every model decodes the same draws of the paper's four
    priors, raw (``vanilla``) and through Algorithm 1 (``centerize+spherize``), and its own prior;
    ``ae+gmm`` is the plain AE sampled from a mixture fitted to its training codes. Each decoder
    reads Algorithm 1's output at the scale it was trained at (:func:`code_radius`). Returns
    ``{"scores": [{model, seed, cell, FD-CNN, precision, recall}], "floor": ..., "n": n_samples}``;
    a cell is ``"own prior"`` or ``"PRIOR / PIPELINE"``. Draws of seed s come from stream (s, prior)."""
    def compute():
        from .data import load
        from .ops import PIPELINES, sample_prior
        from .paper import PRIORS

        data = load(dataset)
        models = study_models(dataset, latent_dim, epochs, seeds, batch_size, device, data, progress=False)
        train_x, heldout = data[0].tensors[0], data[1].tensors[0]
        fd_net, _ = digit_classifier(dataset, device="cpu")
        real_feats = features(fd_net, heldout[:n_samples])
        rows = []
        with torch.no_grad():
            for s in range(seeds):
                draws = {p: sample_prior(p, n_samples, latent_dim, derive_seed(s, p)) for p in PRIORS}
                for kind in (*STUDY_KINDS, "ae+gmm"):
                    model = models["ae" if kind == "ae+gmm" else kind, s][0]
                    cells = {}
                    if kind == "ae+gmm":
                        sampler = code_mixture(model.encode(train_x), gmm_components, seed=s)
                        cells["own prior"] = model.decode(sampler(n_samples, s))
                    else:
                        radius = code_radius(model, train_x)
                        cells["own prior"] = model.decode_prior(None, n_samples, generator=derive_seed(s, "own"))
                        for p in PRIORS:
                            cells[f"{p} / vanilla"] = model.decode(draws[p])
                            cells[f"{p} / centerize+spherize"] = model.decode(PIPELINES["centerize+spherize"](draws[p])
                                                                              * radius)
                    for cell, images in cells.items():
                        rows.append({"model": kind, "seed": s, "cell": cell,
                                     **sample_scores(images, real_feats, fd_net)})
        floor = real_floor(heldout[:n_samples], train_x[:n_samples], fd_net)
        return {"scores": rows, "floor": floor, "n": n_samples}

    key = {**_study_key(dataset, latent_dim, epochs, seeds, batch_size, device), "n_samples": n_samples,
           "gmm_components": gmm_components}
    return cached("prior-study", key, compute, sources=(__name__,))


def structure_study(dataset="mnist-5k", latent_dim=10, epochs=30, seeds=5, batch_size=64, device="auto",
                    tsne_runs=2, k=10):
    """The latent-structure page's numbers (cached). Codes: each model's deterministic codes of the
    training digits (fit) and of the held-out digits (scored), :func:`sphericalae.structure.separation`
    with each distance of :data:`CODE_METRICS` for every model (one distance for every model, so
    models compare like for like), for every seed; the t-SNE maps use each model's own geometry. t-SNE: ``tsne_runs`` maps of the held-out codes
    of seed 0, scored on the map (k-NN fitted on one half of the map, scored on the other;
    silhouette of the whole map). Returns ``{"scores": [{model, seed, space, run, knn, silhouette,
    probe}], "maps": {kind: (n, 2) tensor of run 0}, "labels": held-out labels, "n": ...}``."""
    def compute():
        from .data import load
        from .structure import code_metric, separation, tsne_map

        data = load(dataset)
        models = study_models(dataset, latent_dim, epochs, seeds, batch_size, device, data, progress=False)
        (xtr, ytr), (xte, yte) = data[0].tensors, data[1].tensors
        rows, maps = [], {}
        half = len(xte) // 2
        with torch.no_grad():
            for kind in STUDY_KINDS:
                metric = code_metric(kind)
                for s in range(seeds):
                    model = models[kind, s][0]
                    ctr, cte = model.encode(xtr), model.encode(xte)
                    for m in CODE_METRICS:
                        rows.append({"model": kind, "seed": s, "space": "codes", "run": 0, "metric": m,
                                     **separation(ctr, ytr, cte, yte, metric=m, k=k, seed=s)})
                    if s:
                        continue
                    for r in range(tsne_runs):
                        m = tsne_map(cte, metric=metric, seed=r)
                        sep = separation(m[:half], yte[:half], m[half:], yte[half:], k=k, seed=r)
                        rows.append({"model": kind, "seed": 0, "space": "t-SNE", "run": r, "metric": "euclidean",
                                     **sep})
                        if r == 0:
                            maps[kind] = torch.from_numpy(m)
        return {"scores": rows, "maps": maps, "labels": yte, "n": len(xte)}

    key = {**_study_key(dataset, latent_dim, epochs, seeds, batch_size, device), "tsne_runs": tsne_runs, "k": k}
    return cached("structure-study", key, compute, sources=(__name__,))
