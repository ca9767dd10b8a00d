"""Genomic selection: from field trials to ranked breeding values.

Modules
-------
:mod:`~breedomics.gs.blue`
    Multi-environment trial BLUEs/BLUPs, variance components, entry-mean
    heritability and studentised-residual outliers.
:mod:`~breedomics.gs.inputs`
    Genotypes, phenotypes and covariates read (by :mod:`breedomics.core.phenotypes`,
    as GWAS reads them) and matched.
:mod:`~breedomics.gs.models`
    The model protocol (:class:`~breedomics.gs.models.GSModel` and its declared
    capabilities) and the registry of model names.
:mod:`~breedomics.gs.gblup`
    GBLUP with REML (VanRaden 2008) and back-solved rrBLUP marker effects
    (Endelman 2011); the REML is :mod:`breedomics.core.reml`.
:mod:`~breedomics.gs.bayes`
    BayesB (Meuwissen et al. 2001) and BayesC(pi) (Habier et al. 2011)
    Gibbs samplers with convergence diagnostics.
:mod:`~breedomics.gs.rkhs`
    Gaussian-kernel RKHS regression (Gianola & van Kaam 2008).
:mod:`~breedomics.gs.mtgblup`
    Multi-trait GBLUP (AI-REML of :mod:`breedomics.core.aireml`).
:mod:`~breedomics.gs.mkgblup`
    GBLUP plus other kernels (e.g. transcriptome), AI-REML.
:mod:`~breedomics.gs.baseline`
    scikit-learn random forest / gradient boosting baselines.
:mod:`~breedomics.gs.predict`
    ``fit_predict``, the one fitting step of cross-validation and prediction;
    GEBVs of every genotyped sample.
:mod:`~breedomics.gs.cv`
    Repeated k-fold and leave-one-group-out cross-validation.
:mod:`~breedomics.gs.select`
    Selection index and top-N selection with a kinship cap.
"""

from breedomics.gs.data import Genotypes, read_genotypes
from breedomics.gs.inputs import read_phenotypes

__all__ = ["Genotypes", "read_genotypes", "read_phenotypes"]
