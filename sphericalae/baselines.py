"""Other code's behaviour, reproduced only to show how it differs from ours. Nothing here is used
for a result of the package; the correct counterparts are named in each docstring.
"""
from __future__ import annotations

import math

import torch

__all__ = ["kl_scipy_float32"]


def kl_scipy_float32(m: int, k):
    """The KL(vMF || uniform) recipe of the public S-VAE code (correct counterpart:
    :func:`sphericalae.bessel.vmf_kl_to_uniform`), kept only to show how it fails:
    Bessel functions from scipy on the CPU (exponentially scaled), cast to float32, then the
    textbook formula ``k A + log C_m(k) + log |S^(m-1)|``. At m = 512 it is NaN for every k below
    about 310 (``ive`` underflows to 0 in float32) and inaccurate a little above. Returns numpy."""
    import numpy as np
    import scipy.special

    kk = np.asarray(k.detach().cpu().numpy() if isinstance(k, torch.Tensor) else k, dtype=np.float64)
    v = m / 2 - 1
    iv = scipy.special.ive(v, kk).astype(np.float32)
    iv1 = scipy.special.ive(v + 1, kk).astype(np.float32)
    k32 = kk.astype(np.float32)
    log_area = np.float32(math.log(2) + (m / 2) * math.log(math.pi) - math.lgamma(m / 2))
    with np.errstate(all="ignore"):
        log_c = v * np.log(k32) - np.float32((m / 2) * math.log(2 * math.pi)) - (np.log(iv) + k32)
        return k32 * (iv1 / iv) + log_c + log_area
