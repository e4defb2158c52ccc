"""Numbers reported in the paper (and the baselines it cites), kept in one place so that every page
sets our measurements beside the same reference values. Each constant names its source.
"""

# Section 5.1, Table 1: the four priors the paper feeds its generator (it gives no parameters; ours
# are in sphericalae.ops.PRIORS). A fact of the paper, kept apart from the prior registry, so that
# adding a prior to the registry changes no page.
PRIORS = ("normal", "uniform", "poisson", "chi2")

# Table 1: FID of StyleGAN (trained on FFHQ with normal z, dz = 512) fed with other priors.
# Columns: which steps of Algorithm 1 are applied to the sample (names as in sphericalae.stats).
TABLE1_FID = {
    "normal": {"vanilla": 6.20, "spherize": 6.16, "centerize": 6.27, "centerize+spherize": 6.12},
    "uniform": {"vanilla": 33.93, "spherize": 6.16, "centerize": 33.86, "centerize+spherize": 6.16},
    "poisson": {"vanilla": 23.70, "spherize": 26.85, "centerize": 18.15, "centerize+spherize": 6.19},
    "chi2": {"vanilla": 25.26, "spherize": 27.07, "centerize": 11.34, "centerize+spherize": 6.16},
}

# Section 2.1: in R^512 an annulus of 0.9% of the radius holds 99% of the ball's volume.
VOLUME_R512 = {"dim": 512, "annulus_width": 0.009, "mass": 0.99}

# Section 2.2, Lemma 1: pairwise distance of uniform points on the unit sphere in R^512.
LEMMA1_R512 = {"dim": 512, "mean": 1.4139, "sd": 0.0313, "sd_over_mean": 0.0221}

# Table 2: FFHQ 128x128 reconstruction, dz = 512.
TABLE2 = {"VAE": {"FID": 134.22, "SWD": 77.68, "MSE": 0.091},
          "SAE": {"FID": 91.02, "SWD": 56.58, "MSE": 0.063}}
