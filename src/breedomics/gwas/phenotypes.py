"""Phenotype and covariate loading, validation and sample matching for GWAS.

Tables have a ``sample`` id column (``config/phenotypes.tsv``: one column per
trait; ``config/covariates.tsv``: one column per covariate) and are read by
the core's phenotype reader (:mod:`breedomics.core.phenotypes`: CSV or TSV,
gzipped, BOM, CRLF, padded ids, ``NA``/``-``/``.``/empty missing), as genomic
selection reads them. Every problem is reported as a
:class:`~breedomics.errors.UserError` that names the file, trait/covariate and
sample at fault and says how to fix it:

* a non-numeric or infinite trait value, a duplicated sample row;
* a trait with no observed value, a constant trait, or fewer observed values
  than the model has parameters;
* samples present in the phenotype or covariate table but not in the
  genotypes (unless ``allow_unmatched``: they are then listed in the sample
  report, never dropped silently);
* covariates (with the intercept and principal components) that are
  collinear, named together with the columns they are a combination of;
  this is checked for all samples and again within the samples observed for
  each trait (a covariate can become constant within a trait's subset).

Non-numeric covariate columns are categorical and dummy-coded against their
first level (``column=level``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breedomics.core import phenotypes
from breedomics.core.tables import NA_VALUES
from breedomics.errors import UserError

__all__ = [
    "NA_VALUES",
    "GwasData",
    "read_phenotypes",
    "read_covariates",
    "check_collinear",
    "prepare",
    "add_pcs",
]


def read_phenotypes(path: str | os.PathLike, traits: list[str] | None = None) -> pd.DataFrame:
    """Read and check a phenotype table (:func:`breedomics.core.phenotypes.read_traits`).

    Parameters
    ----------
    path : str or path-like
        CSV/TSV (plain or gzipped) with a ``sample`` id column and one column
        per trait (missing: :data:`~breedomics.core.tables.NA_VALUES`).
    traits : list of str, optional
        Traits to keep (default: all columns).

    Returns
    -------
    pandas.DataFrame
        ``float64`` traits indexed by sample, NaN for missing.

    Raises
    ------
    UserError
        Non-numeric or infinite values, duplicated samples, unknown traits.
    """
    return phenotypes.read_traits(path, traits, what="phenotype")[0]


def read_covariates(path: str | os.PathLike) -> pd.DataFrame:
    """Read a covariate table, dummy-coding categorical columns.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV with a ``sample`` id column, as for :func:`read_phenotypes`
        (:func:`breedomics.core.phenotypes.read_covariates`).

    Returns
    -------
    pandas.DataFrame
        ``float64`` covariates indexed by sample (NaN where missing). A column
        with any non-numeric value is categorical: it becomes one 0/1 column
        per level except the first (sorted), named ``column=level``
        (:func:`breedomics.core.phenotypes.dummy_columns`).
    """
    df = phenotypes.read_covariates(path)
    parts = [
        df[[c]].astype(float)
        if pd.api.types.is_numeric_dtype(df[c])
        else phenotypes.dummy_columns(df[c], path)
        for c in df.columns
    ]
    return pd.concat(parts, axis=1)


def check_collinear(x: np.ndarray, names: list[str], context: str, tol: float = 1e-5) -> None:
    """Raise if a column of a design matrix is a linear combination of earlier ones.

    Columns are added one at a time (modified Gram-Schmidt with
    re-orthogonalisation); a column whose residual norm is below ``tol``
    times its norm (or that is all zero) is collinear with the columns that
    reconstruct it, which are named in the error. The default ``1e-5``
    (``R^2 > 1 - 1e-10`` with the earlier columns) still catches exact
    combinations written to a text file with six decimals.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, p)`` design matrix.
    names : list of str
        Column names.
    context : str
        Where the matrix comes from (file, trait), for the message.
    tol : float
        Relative residual-norm tolerance.

    Raises
    ------
    UserError
        Naming the collinear column and its partners.
    """
    n, p = x.shape
    if p > n:
        raise UserError(
            f"{context}: {p} covariate columns (with intercept and PCs) for only {n} samples; "
            "use fewer covariates or PCs"
        )
    q = np.zeros((n, 0))
    for j in range(p):
        v = np.asarray(x[:, j], dtype=float)
        norm = np.linalg.norm(v)
        r = v - q @ (q.T @ v)
        r = r - q @ (q.T @ r)
        if norm == 0 or np.linalg.norm(r) <= tol * max(norm, 1.0):
            if j == 0 or norm == 0:
                partners = "it is zero for every sample"
            else:
                coef, *_ = np.linalg.lstsq(x[:, :j], v, rcond=None)
                big = np.abs(coef) > 1e-6 * np.abs(coef).max()
                partners = "it is a linear combination of " + ", ".join(
                    f"{names[k]!r}" for k in np.flatnonzero(big)
                )
            raise UserError(
                f"{context}: covariate {names[j]!r} is collinear with the other covariates "
                f"({partners}); remove it (or one of its partners) from the covariate table "
                "or use fewer PCs"
            )
        q = np.column_stack([q, r / np.linalg.norm(r)])


@dataclass
class GwasData:
    """Phenotypes and covariates matched to the genotyped samples.

    Attributes
    ----------
    samples : list of str
        Analysed samples (genotyped and phenotyped), in genotype-file order.
    traits : pandas.DataFrame
        ``(n, T)`` trait values (NaN where missing), index = ``samples``.
    covariates : pandas.DataFrame
        ``(n, c)`` fixed-effect design including the ``intercept`` column,
        without missing values, index = ``samples``. PCs are appended later.
    report : pandas.DataFrame
        One row per sample seen anywhere: ``sample, in_genotypes,
        in_phenotypes, in_covariates, analysed, reason``.
    """

    samples: list[str]
    traits: pd.DataFrame
    covariates: pd.DataFrame
    report: pd.DataFrame = field(default_factory=pd.DataFrame)

    def masks(self) -> dict[str, np.ndarray]:
        """Boolean mask of observed samples per trait."""
        return {t: np.isfinite(self.traits[t].to_numpy()) for t in self.traits.columns}


def _list(names, k: int = 5) -> str:
    names = list(names)
    s = ", ".join(repr(x) for x in names[:k])
    return s + (f" and {len(names) - k} more" if len(names) > k else "")


def prepare(
    geno_samples: list[str],
    pheno: pd.DataFrame,
    covar: pd.DataFrame | None = None,
    pheno_path: str = "phenotypes",
    covar_path: str = "covariates",
    allow_unmatched: bool = False,
) -> GwasData:
    """Match phenotypes and covariates to genotyped samples and validate them.

    Parameters
    ----------
    geno_samples : list of str
        Samples of the genotype file, in file order.
    pheno : pandas.DataFrame
        From :func:`read_phenotypes`.
    covar : pandas.DataFrame, optional
        From :func:`read_covariates`.
    pheno_path, covar_path : str
        File names used in messages.
    allow_unmatched : bool
        If False (default), phenotyped or covariate samples absent from the
        genotypes, and phenotyped samples without covariates, are an error.
        If True they are excluded, listed in ``report`` and a warning is given.

    Returns
    -------
    GwasData

    Raises
    ------
    UserError
        Mismatched ids (unless allowed), no overlap, bad traits, collinear
        covariates.
    """
    phenotypes.check_near_matches(list(pheno.index), geno_samples, pheno_path, "the genotypes")
    if covar is not None:
        phenotypes.check_near_matches(list(covar.index), geno_samples, covar_path, "the genotypes")
    geno_set = set(geno_samples)
    ph_set = set(pheno.index)
    cv_set = set(covar.index) if covar is not None else None
    not_geno = [s for s in pheno.index if s not in geno_set]
    reasons: dict[str, str] = {}
    if not_geno:
        msg = (
            f"{len(not_geno)} sample(s) of {pheno_path} are not in the genotypes: {_list(not_geno)}"
        )
        if not allow_unmatched:
            raise UserError(
                msg + "; fix the names (they must equal the VCF/.fam sample ids), remove them, "
                "or pass --allow-unmatched to analyse only samples present in both (they are "
                "then listed in samples.tsv)"
            )
        warnings.warn(msg + "; they are excluded (see samples.tsv)", stacklevel=2)
        for s in not_geno:
            reasons[s] = "phenotyped but not genotyped"
    if covar is not None:
        cv_not_geno = [s for s in covar.index if s not in geno_set and s not in ph_set]
        no_cov = [s for s in pheno.index if s in geno_set and s not in cv_set]
        if no_cov:
            msg = f"{len(no_cov)} phenotyped sample(s) have no row in {covar_path}: {_list(no_cov)}"
            if not allow_unmatched:
                raise UserError(
                    msg + "; add their covariates (NA is not allowed for covariates), or pass "
                    "--allow-unmatched to exclude them"
                )
            warnings.warn(msg + "; they are excluded (see samples.tsv)", stacklevel=2)
            for s in no_cov:
                reasons[s] = "no covariate row"
        if cv_not_geno:
            warnings.warn(
                f"{len(cv_not_geno)} sample(s) of {covar_path} are neither genotyped nor "
                f"phenotyped and are ignored: {_list(cv_not_geno)}",
                stacklevel=2,
            )
    samples = [s for s in geno_samples if s in ph_set and (cv_set is None or s in cv_set)]
    if covar is not None and samples:
        cv = covar.loc[samples]
        bad = cv.isna().any(axis=1)
        if bad.any():
            bad_s = list(cv.index[bad])
            col = cv.columns[cv.loc[bad_s[0]].isna().to_numpy()][0]
            msg = (
                f"{covar_path}: {len(bad_s)} sample(s) have a missing covariate value, e.g. "
                f"{bad_s[0]!r} for {col!r}"
            )
            if not allow_unmatched:
                raise UserError(
                    msg + "; fill them in or pass --allow-unmatched to exclude those samples"
                )
            warnings.warn(msg + "; they are excluded (see samples.tsv)", stacklevel=2)
            for s in bad_s:
                reasons[s] = "missing covariate value"
            samples = [s for s in samples if s not in set(bad_s)]
    if not samples:
        raise UserError(
            f"no sample is in both the genotypes and {pheno_path}"
            + (f" (with covariates in {covar_path})" if covar is not None else "")
            + f"; genotype ids look like {_list(geno_samples, 3)}, phenotype ids like "
            f"{_list(pheno.index, 3)}"
        )
    not_ph = [s for s in geno_samples if s not in ph_set]
    for s in not_ph:
        reasons[s] = "genotyped but not phenotyped"
    if not_ph:
        warnings.warn(
            f"{len(not_ph)} genotyped sample(s) have no row in {pheno_path} and are not "
            f"analysed: {_list(not_ph)} (see samples.tsv)",
            stacklevel=2,
        )
    traits = pheno.loc[samples].astype(float)
    design = pd.DataFrame({"intercept": np.ones(len(samples))}, index=samples)
    if covar is not None:
        design = pd.concat([design, covar.loc[samples].astype(float)], axis=1)
    check_collinear(design.to_numpy(), list(design.columns), f"{covar_path}")
    for t in traits.columns:
        y = traits[t].to_numpy()
        phenotypes.check_trait(y, t, pheno_path, n_fixed=design.shape[1])
        obs = np.isfinite(y)
        check_collinear(
            design.to_numpy()[obs],
            list(design.columns),
            f"{covar_path} within the {int(obs.sum())} samples observed for trait {t!r}",
        )
    seen = list(geno_samples) + list(pheno.index)
    if covar is not None:
        seen += list(covar.index)
    all_ids = list(dict.fromkeys(seen))
    analysed = set(samples)
    report = pd.DataFrame(
        {
            "sample": all_ids,
            "in_genotypes": [s in geno_set for s in all_ids],
            "in_phenotypes": [s in ph_set for s in all_ids],
            "in_covariates": [(s in cv_set) if cv_set is not None else np.nan for s in all_ids],
            "analysed": [s in analysed for s in all_ids],
            "reason": ["" if s in analysed else reasons.get(s, "covariates only") for s in all_ids],
        }
    )
    return GwasData(samples, traits, design, report)


def add_pcs(data: GwasData, pcs: np.ndarray, context: str = "principal components") -> GwasData:
    """Append principal components to the covariates and re-check collinearity.

    Parameters
    ----------
    data : GwasData
        Matched data.
    pcs : numpy.ndarray
        ``(n, k)`` PC scores of ``data.samples``.
    context : str
        For messages.

    Returns
    -------
    GwasData
        A copy with columns ``PC1..PCk`` added to ``covariates``.
    """
    k = pcs.shape[1]
    cov = data.covariates.copy()
    for i in range(k):
        cov[f"PC{i + 1}"] = pcs[:, i]
    check_collinear(cov.to_numpy(), list(cov.columns), context)
    for t in data.traits.columns:
        obs = np.isfinite(data.traits[t].to_numpy())
        check_collinear(
            cov.to_numpy()[obs],
            list(cov.columns),
            f"{context} within the {int(obs.sum())} samples observed for trait {t!r}",
        )
    return GwasData(data.samples, data.traits, cov, data.report)
