"""Genomic selection: from field trials to ranked breeding values.

Modules
-------
:mod:`~breedomics.gs.blue`
    Multi-environment trial BLUEs/BLUPs, variance components, entry-mean
    heritability and studentised-residual outliers.
:mod:`~breedomics.gs.gblup`
    GBLUP with REML (VanRaden 2008) and back-solved rrBLUP marker effects
    (Endelman 2011); :mod:`~breedomics.core.reml` holds the REML engine.
:mod:`~breedomics.gs.bayes`
    BayesB (Meuwissen et al. 2001) and BayesC(pi) (Habier et al. 2011)
    Gibbs samplers with convergence diagnostics.
:mod:`~breedomics.gs.rkhs`
    Gaussian-kernel RKHS regression (Gianola & van Kaam 2008).
:mod:`~breedomics.gs.mtgblup`
    Multi-trait GBLUP with AI-REML.
:mod:`~breedomics.gs.baseline`
    scikit-learn random forest / gradient boosting baselines.
:mod:`~breedomics.gs.cv`
    Repeated k-fold and leave-one-group-out cross-validation.
:mod:`~breedomics.gs.select`
    Selection index and top-N selection with a kinship cap.
:mod:`~breedomics.testing.simulate_gs`
    Simulated populations, traits and trials with known truth.
"""

from breedomics.gs.data import Genotypes, read_genotypes, read_phenotypes

__all__ = ["Genotypes", "read_genotypes", "read_phenotypes"]
