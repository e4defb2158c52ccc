"""sphericalae: the reproducible companion to *Latent Variables on Spheres for Sampling and Spherical
Inference* (Spherical Auto-Encoder, SAE).

Conventions, used everywhere in this package and the book:

* m is the ambient dimension; a latent code is a vector z in R^m, and a set of n codes is a tensor
  of shape (n, m): batch first, feature axis last.
* S^(m-1) is the unit sphere in R^m. After ``centerize`` codes lie in the hyperplane sum_j z_j = 0,
  so ``spherize(centerize(z))`` lives on S^(m-2) inside R^m.
* Functions keep the input's device and dtype; every sampler takes a ``generator`` (or a seed).

The front door re-exports Algorithm 1 and its parts from :mod:`sphericalae.ops`.
"""
from .ops import PRIORS, centerize, robust_sample, sample_prior, spherize

__version__ = "0.1.0"
__all__ = ["centerize", "spherize", "sample_prior", "robust_sample", "PRIORS", "__version__"]
