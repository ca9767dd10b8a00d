"""Building blocks of simulated quantitative traits: variance shares and heritability.

A simulated trait is ``y = mean + g + e``: the genetic value ``g`` (QTL dosages times
their effects, Fisher's additive model) is scaled so that it, or each of its parts (large
QTL, polygenic background, a stratification shift), explains a chosen share of the
variance, and the residual ``e`` is drawn with the variance that gives the target
heritability ``h2 = var(g) / (var(g) + var(e))`` (Falconer & Mackay 1996, ch. 8). The
simulators of :mod:`breedomics.testing` and the test-data scripts use these functions
so that "scale to a share" and "residual for a heritability" are written once.

References
----------
Falconer, D. S. & Mackay, T. F. C. (1996). *Introduction to Quantitative Genetics*,
4th ed. Longman.

Fisher, R. A. (1918). The correlation between relatives on the supposition of Mendelian
inheritance. *Trans R Soc Edinb* 52:399-433.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "variance_scale",
    "scaled_to_share",
    "signed_effect",
    "residual_variance",
    "additive_phenotype",
]


def variance_scale(x: np.ndarray, share: float) -> float:
    """Factor that gives ``x`` the variance ``share``: ``sqrt(share / var(x))``.

    Parameters
    ----------
    x : numpy.ndarray
        Values (a genetic value, a background, a group shift); ``var(x) > 0``.
    share : float
        Target variance (a share of a unit phenotypic variance).
    """
    return np.sqrt(share / x.var())


def scaled_to_share(x: np.ndarray, share: float) -> np.ndarray:
    """``x`` centred and scaled to variance ``share`` (zero when ``x`` is constant).

    Computed as ``(x - mean) * sqrt(share) / sd``; :func:`variance_scale` divides the
    share by the variance first, which rounds differently in the last bit: each
    simulator keeps the form its committed data were made with.
    """
    x = x - x.mean()
    sd = x.std()
    return x * np.sqrt(share) / sd if sd > 0 else x


def signed_effect(x: np.ndarray, share: float, rng: np.random.Generator) -> float:
    """Effect of a centred QTL dosage ``x`` that explains the variance ``share``.

    The sign is drawn (+1 or -1 with equal probability); the size is
    :func:`variance_scale`, so ``var(effect * x) = share``.
    """
    return rng.choice([-1.0, 1.0]) * variance_scale(x, share)


def residual_variance(var_g: float, h2: float) -> float:
    """Residual variance that gives heritability ``h2`` to a genetic variance ``var_g``:
    ``var_g (1 - h2) / h2``."""
    return var_g * (1 - h2) / h2


def additive_phenotype(
    g: np.ndarray, h2: float, rng: np.random.Generator, mean: float = 0.0
) -> np.ndarray:
    """Phenotypes ``mean + g + e`` with ``e ~ N(0, residual_variance(var(g), h2))``.

    Parameters
    ----------
    g : numpy.ndarray
        True genetic values.
    h2 : float
        Target heritability in (0, 1].
    rng : numpy.random.Generator
        Draws the residuals (one normal per value).
    mean : float
        Trait mean.
    """
    var_e = residual_variance(g.var(), h2)
    return mean + g + rng.normal(0, np.sqrt(var_e), len(g))
