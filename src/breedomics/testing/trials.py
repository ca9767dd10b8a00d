"""Building blocks of simulated field trials: RCBD layouts, environment, block, GxE and
plot effects, missing plots and planted outliers.

A multi-environment trial grows every genotype in ``n_rep`` complete blocks
(randomised complete block design, Fisher 1935) of each environment. A plot's value
is ``mean + environment + block(environment) + g + GxE + error`` with normal effects,
the linear mixed model that BLUE/BLUP stages fit to such trials (Smith, Cullis &
Thompson 2005). The entry-mean heritability of the balanced design is
``var_g / (var_g + var_ge / n_env + var_e / (n_env n_rep))`` (Piepho & Möhring 2007).

:func:`breedomics.testing.simulate_gs.simulate_met` and the panel trials of
``scripts/make_test_data.py`` are made from these functions.

References
----------
Fisher, R. A. (1935). *The Design of Experiments*. Oliver & Boyd.

Piepho, H.-P. & Möhring, J. (2007). Computing heritability and selection response from
unbalanced plant breeding trials. *Genetics* 177:1881-1888.

Smith, A. B., Cullis, B. R. & Thompson, R. (2005). The analysis of crop cultivar breeding
and evaluation trials: an overview of current mixed model approaches. *J Agric Sci*
143:449-462.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "rcbd_records",
    "plot_values",
    "entry_mean_h2",
    "drop_plots",
    "outlier_plots",
]


def rcbd_records(
    genotypes: np.ndarray,
    environments: np.ndarray,
    n_rep: int,
    rep_column: str = "rep",
    plot_digits: int = 6,
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Plot records of a complete trial: every genotype in every block of every environment.

    Parameters
    ----------
    genotypes, environments : numpy.ndarray
        Names of the genotypes and environments.
    n_rep : int
        Blocks (replicates) per environment.
    rep_column : str
        Name of the block column (its values are ``"1"`` .. ``str(n_rep)``).
    plot_digits : int
        Zero-padded width of the plot number in the ids ``P000000`` ...

    Returns
    -------
    records : pandas.DataFrame
        ``plot, genotype, environment, <rep_column>``, genotype-major order.
    index : tuple of numpy.ndarray
        Genotype, environment and block index of every record.
    """
    gi, ej, rk = np.meshgrid(
        np.arange(len(genotypes)), np.arange(len(environments)), np.arange(n_rep), indexing="ij"
    )
    gi, ej, rk = gi.ravel(), ej.ravel(), rk.ravel()
    rec = pd.DataFrame(
        {
            "plot": [f"P{k:0{plot_digits}d}" for k in range(gi.size)],
            "genotype": np.asarray(genotypes)[gi],
            "environment": np.asarray(environments)[ej],
            rep_column: (rk + 1).astype(str),
        }
    )
    return rec, (gi, ej, rk)


def plot_values(
    g: np.ndarray,
    index: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_env: int,
    n_rep: int,
    env_sd: float,
    rep_sd: float,
    var_ge: float,
    var_e: float,
    mean: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Plot values ``mean + env + block + g + GxE + error`` of a trial layout.

    Effects are drawn in this order: environments ``N(0, env_sd^2)``, blocks within
    environments ``N(0, rep_sd^2)``, genotype x environment ``N(0, var_ge)`` and plot
    errors ``N(0, var_e)``.

    Parameters
    ----------
    g : numpy.ndarray
        Genetic value of every genotype.
    index : tuple of numpy.ndarray
        Genotype, environment and block of every plot (from :func:`rcbd_records`).
    n_env, n_rep : int
        Environments and blocks per environment.
    env_sd, rep_sd : float
        Standard deviations of the environment and block effects.
    var_ge, var_e : float
        GxE and plot-error variances.
    mean : float
        Trial mean.
    rng : numpy.random.Generator

    Returns
    -------
    y : numpy.ndarray
        Plot values.
    effects : dict
        ``env`` (n_env,), ``rep`` (n_env, n_rep) and ``ge`` (n_geno, n_env).
    """
    gi, ej, rk = index
    env = rng.normal(0, env_sd, n_env)
    rep = rng.normal(0, rep_sd, (n_env, n_rep))
    ge = rng.normal(0, np.sqrt(var_ge), (len(g), n_env))
    y = mean + env[ej] + rep[ej, rk] + g[gi] + ge[gi, ej]
    y = y + rng.normal(0, np.sqrt(var_e), y.size)
    return y, {"env": env, "rep": rep, "ge": ge}


def entry_mean_h2(var_g: float, var_ge: float, var_e: float, n_env: int, n_rep: int) -> float:
    """Entry-mean heritability of a balanced trial (Piepho & Möhring 2007)."""
    return var_g / (var_g + var_ge / n_env + var_e / (n_env * n_rep))


def drop_plots(n_plots: int, p_missing: float, rng: np.random.Generator) -> np.ndarray:
    """Mask of the plots kept when each is lost with probability ``p_missing``."""
    return rng.random(n_plots) >= p_missing


def outlier_plots(
    n_plots: int, n_outliers: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Plots given a planted outlier shift and the shift's sign.

    Returns
    -------
    index : numpy.ndarray
        ``n_outliers`` distinct plot rows, in the order drawn.
    sign : numpy.ndarray
        -1.0 or +1.0 for each of them.
    """
    index = rng.choice(n_plots, n_outliers, replace=False)
    return index, rng.choice([-1.0, 1.0], n_outliers)
