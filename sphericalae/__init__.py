"""sphericalae: the reproducible companion to *Latent Variables on Spheres for Sampling and Spherical
Inference* (Spherical Auto-Encoder, SAE).

Conventions, stated here once for this package, the book, the tests and the benchmarks (one name
per quantity; the README and the module docstrings point here):

* ``dim``: the ambient dimension, written m in formulas: a latent code is a vector z in R^m.
  (Functions of Bessel and vMF mathematics, :mod:`sphericalae.bessel`, take it as ``m``.)
* ``n``: a number of points; a set of n codes is a tensor of shape (n, m): batch first, feature
  axis last. Functions work on the last axis and broadcast over the others.
* ``concentration``: the vMF / Power Spherical concentration, written kappa (``k`` in the formulas
  of :mod:`sphericalae.bessel`).
* ``latent_dim``: the size d of the vector a decoder reads (:class:`~sphericalae.models.ModelConfig`).
* ``width``: the relative width of a shell of the ball (Theorem 1's epsilon,
  :func:`sphericalae.theory.volume_fraction`); a parameter named ``eps`` is a numerical floor (as
  in :func:`~sphericalae.ops.spherize`).
* S^(m-1) is the unit sphere in R^m; ``spherize`` maps R^m minus the origin onto it. After
  ``centerize`` codes lie in the hyperplane sum_j z_j = 0, so ``spherize(centerize(z))`` (Algorithm 1)
  lives on S^(m-2), the unit sphere of that (m-1)-dimensional hyperplane.
* Functions accept torch tensors and numpy arrays and keep the input's type (numpy in, numpy out),
  device and floating dtype; integer and boolean inputs are promoted to torch's default float dtype.

Seeds, one recipe (:mod:`sphericalae.seeding`): a random stream is named by a user seed and a key,
``(seed, *key)``, turned into a ``numpy.random.SeedSequence``; the training loop, the data split,
the functions of :mod:`sphericalae.theory` and :mod:`sphericalae.stats` that take a ``seed``, and
the pages derive every stream this way (``torch_generator(seed, "order", epoch)``). Samplers
take a ``generator``: a ``torch.Generator``, or an int, which means ``torch.Generator().manual_seed(int)``.

Registries (dicts that feed choices, help and errors; adding an entry is all it takes):
:data:`sphericalae.ops.PRIORS`, :data:`sphericalae.ops.PIPELINES`, :data:`sphericalae.models.KINDS`,
:data:`sphericalae.models.ARCHS`, :data:`sphericalae.models.RECON_LOSSES`,
:data:`sphericalae.data.DATASETS`. The paper's four priors (Table 1) are a fact of the paper:
:data:`sphericalae.paper.PRIORS`.

Settings: ``SPHERICALAE_DATA`` (downloaded datasets; default ``~/.cache/sphericalae/data``).

The front door re-exports Algorithm 1 and its parts from :mod:`sphericalae.ops`.
"""
from .ops import PIPELINES, PRIORS, centerize, robust_sample, sample_prior, spherize

__version__ = "0.2.0"
__all__ = ["centerize", "spherize", "sample_prior", "robust_sample", "PRIORS", "PIPELINES", "__version__"]
