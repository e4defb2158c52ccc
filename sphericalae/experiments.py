"""The trained models of the book's experiment chapters, and the scores the pages report.

* :func:`trained` trains a model once per (ModelConfig, TrainConfig, package source) and returns it
  from :func:`sphericalae.cache.cached` afterwards: a page, a second page and the test pass that
  re-executes them all share one training run. :func:`trained_grid` does it for kinds x seeds.
* :func:`reconstruction_scores`: held-out MSE, SWD and FD-CNN of a model's reconstructions (the
  paper's Table 2 metrics; FD-CNN stands in for FID, see :mod:`sphericalae.metrics`).
* :func:`sample_scores`: FD-CNN, precision and recall of decoded samples against real images.
* :func:`code_mixture`: a Gaussian mixture fitted to a model's training codes, the sampler of a
  regularised (plain) autoencoder after Ghosh et al. (2020, RAE), the baseline the paper omits.

Every score comes with its floor: the same metric between two disjoint sets of real images of the
same size (:func:`real_floor`).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .cache import cached
from .config import ModelConfig, TrainConfig
from .metrics import features, frechet_distance, mse, precision_recall, swd
from .models import build
from .seeding import derive_seed

__all__ = ["trained", "trained_grid", "reconstruction_scores", "sample_scores", "real_floor", "code_mixture"]


def trained(model_config: ModelConfig, train_config: TrainConfig, data=None, *, progress=False, root=None):
    """``(model, history)``: ``model_config`` trained with ``train_config`` (eval mode, on the CPU),
    trained at most once per configuration and package source. ``data``: the ``(train, heldout)``
    pair matching ``train_config``'s dataset fields (loaded when None)."""
    def compute():
        from .data import load_for
        from .train import fit

        model = build(model_config, seed=train_config.seed)
        history = fit(model, data or load_for(train_config), train_config, progress=progress,
                      log=lambda *a: None)
        return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "history": history}

    key = {"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config)}
    stored = cached("autoencoder", key, compute, root)
    model = build(model_config)
    model.load_state_dict(stored["state_dict"])
    return model.eval(), stored["history"]


def trained_grid(kinds, seeds, model_fields: dict, train_fields: dict, data=None, *, progress=True, root=None):
    """``{(kind, seed): (model, history)}`` for every kind and seed, same architecture, optimizer,
    epochs and data; a progress bar over the grid (each cached model is loaded, not retrained)."""
    from tqdm.auto import tqdm

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
