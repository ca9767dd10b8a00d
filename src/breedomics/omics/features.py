"""Molecular-trait tables (expression, metabolites) prepared for QTL mapping.

A dataset is one feature table, read by :func:`read_feature_table` in either of two
layouts (tab- or comma-separated text, plain or gzipped, read by
:func:`breedomics.core.tables.read_table`, or Parquet):

* samples x features (metabolites): first column the sample id, one column per feature;
* a tensorQTL-style phenotype BED (Taylor-Weiner et al. 2019, *Genome Biol* 20:228):
  ``#chr start end feature_id`` then one column per sample, one row per feature
  (0-based ``start``, 1-based ``end``; for genes usually the TSS, ``end - start = 1``).

:func:`prepare_dataset` matches the samples to the genotyped ones (every sample on
one side only is reported), removes features failing QC (missing rate, zero
variance, low expression; every removal with its reason), transforms each feature
(:func:`inverse_normal`, :func:`log2_transform`) and estimates hidden factors
(:func:`hidden_factors`: the top principal components of the transformed features,
as GTEx uses in place of PEER factors; Stegle et al. 2012), written as covariates
for ``breedomics gwas run``, together with the known covariates of the dataset
(:func:`read_known_covariates`; the factors are then computed from the features with
the known covariates regressed out, :func:`residualise`, so that they add what the
known ones do not explain). A table of raw read counts is filtered and normalised
first (:mod:`breedomics.omics.normalise`: GTEx filters, TMM or median-of-ratios).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.core.tables import NA_VALUES, read_table, rows_for, stop_at_first_cell
from breedomics.errors import UserError
from breedomics.gwas.naming import safe_name
from breedomics.omics.normalise import CountOptions, check_counts, prepare_counts

__all__ = [
    "DATASET_NAME",
    "FeatureTable",
    "QCOptions",
    "check_dataset_name",
    "read_feature_table",
    "qc_features",
    "inverse_normal",
    "log2_transform",
    "transform",
    "hidden_factors",
    "read_known_covariates",
    "residualise",
    "genetic_factors",
    "genotype_chromosomes",
    "check_feature_chromosomes",
    "prepare_dataset",
]

#: Dataset names become folder names: a letter, then letters, digits, ``_``, ``.``, ``-``.
DATASET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_BED_CHROM = ("#chr", "#chrom", "chr", "chrom", "#CHROM", "CHROM")


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a safe dataset name, else raise.

    Parameters
    ----------
    name : str
        Dataset name (``omics.datasets`` key): it becomes part of paths.

    Raises
    ------
    UserError
        Naming the dataset and the allowed pattern.
    """
    if not isinstance(name, str) or not DATASET_NAME.match(name):
        raise UserError(
            f"omics dataset name {name!r} is not a safe identifier (a letter, then up to 63 "
            "letters, digits, '_', '.', '-'); it becomes a folder name, rename it"
        )
    return name


@dataclass
class FeatureTable:
    """A feature table as read from its file.

    Attributes
    ----------
    values : pandas.DataFrame
        ``float64``, samples (index, file order) x features (columns, file order);
        NaN where missing.
    positions : pandas.DataFrame or None
        For a phenotype BED: ``chrom, start, end`` (BED coordinates) indexed by
        feature id; None for a samples x features table.
    path : str
        The file, for messages.
    """

    values: pd.DataFrame
    positions: pd.DataFrame | None
    path: str


def _read_text(path: str) -> pd.DataFrame:
    """The table as text cells, read by the core reader (TSV/CSV, gzip, BOM, CRLF)."""
    return read_table(path, "feature table")


def _numeric(arr: np.ndarray, path: str, where) -> np.ndarray:
    """Strings -> float64 (NA strings -> NaN); ``where(i, j)`` names a bad cell."""
    s = np.char.strip(arr.astype(str))
    miss = np.isin(s, list(NA_VALUES))
    flat = pd.to_numeric(pd.Series(np.where(miss, "nan", s).ravel()), errors="coerce")
    num = flat.to_numpy(dtype=np.float64).reshape(s.shape)
    bad = np.isnan(num) & ~miss
    stop_at_first_cell(
        bad,
        lambda i, j: (
            f"{path}: {where(i, j)} has the non-numeric value {str(s[i, j])!r} "
            f"({int(bad.sum())} such value(s)); write numbers, or NA for missing"
        ),
    )
    stop_at_first_cell(
        np.isinf(num), lambda i, j: f"{path}: {where(i, j)} is infinite; use a finite number or NA"
    )
    return num


def _unique(names: list[str], path: str, what: str, line_of) -> None:
    seen: dict[str, int] = {}
    for k, name in enumerate(names):
        if name == "":
            raise UserError(f"{path}: {line_of(k)} has an empty {what}")
        if name in seen:
            raise UserError(
                f"{path}: {what} {name!r} appears twice ({line_of(seen[name])} and "
                f"{line_of(k)}); keep one entry per {what}"
            )
        seen[name] = k


def read_feature_table(path: str | os.PathLike) -> FeatureTable:
    """Read a samples x features table or a tensorQTL-style phenotype BED.

    Parameters
    ----------
    path : str or path-like
        ``.tsv``/``.bed`` (optionally gzipped, detected from the content) or
        ``.parquet``. A header whose first column is ``#chr`` (or ``chr``,
        ``chrom``) followed by ``start`` and ``end`` marks a phenotype BED
        (4th column: feature id); otherwise the first column holds sample ids.

    Returns
    -------
    FeatureTable

    Raises
    ------
    UserError
        Missing file, duplicate sample or feature ids, non-numeric or infinite
        values, bad BED coordinates; the message names the file, line and
        feature.
    """
    path = str(path)
    if not os.path.exists(path):
        raise UserError(f"feature table {path} does not exist")
    if path.endswith((".parquet", ".pq")):
        try:
            df = pd.read_parquet(path).astype(str)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
            raise UserError(f"feature table {path} is not a readable Parquet file: {exc}") from exc
        df = df.replace({"nan": "NA", "None": "NA", "<NA>": "NA"})
    else:
        df = _read_text(path)
    cols = [str(c) for c in df.columns]
    if len(cols) < 2:
        raise UserError(f"{path}: needs a sample column and at least one feature (tab-separated)")
    is_bed = cols[0] in _BED_CHROM and cols[1:3] == ["start", "end"]
    if is_bed:
        if len(cols) < 5:
            raise UserError(f"{path}: a phenotype BED needs '#chr start end feature_id' + samples")
        ids = [s.strip() for s in df.iloc[:, 3].astype(str)]
        _unique(ids, path, "feature id", lambda k: f"line {k + 2}")
        samples = [c.strip() for c in cols[4:]]
        _unique(samples, path, "sample id", lambda k: f"column {k + 5} of the header")
        coords = _numeric(
            df.iloc[:, 1:3].to_numpy(),
            path,
            lambda i, j: f"line {i + 2} (feature {ids[i]!r}), column {('start', 'end')[j]}",
        )
        if np.isnan(coords).any() or (coords != np.round(coords)).any():
            i = int(np.argwhere(np.isnan(coords) | (coords != np.round(coords)))[0][0])
            raise UserError(f"{path}: line {i + 2} (feature {ids[i]!r}) needs integer start/end")
        if ((coords[:, 0] < 0) | (coords[:, 1] <= coords[:, 0])).any():
            i = int(np.flatnonzero((coords[:, 0] < 0) | (coords[:, 1] <= coords[:, 0]))[0])
            raise UserError(
                f"{path}: line {i + 2} (feature {ids[i]!r}) has start {int(coords[i, 0])} and "
                f"end {int(coords[i, 1])}; BED needs 0 <= start < end (TSS: start = TSS - 1)"
            )
        num = _numeric(
            df.iloc[:, 4:].to_numpy(),
            path,
            lambda i, j: f"line {i + 2}, feature {ids[i]!r}, sample {samples[j]!r}",
        )
        values = pd.DataFrame(num.T, index=samples, columns=ids)
        positions = pd.DataFrame(
            {
                "chrom": df.iloc[:, 0].astype(str).str.strip().to_numpy(),
                "start": coords[:, 0].astype(np.int64),
                "end": coords[:, 1].astype(np.int64),
            },
            index=pd.Index(ids, name="feature_id"),
        )
        return FeatureTable(values, positions, path)
    samples = [s.strip() for s in df.iloc[:, 0].astype(str)]
    _unique(samples, path, "sample id", lambda k: f"line {k + 2}")
    ids = [c.strip() for c in cols[1:]]
    _unique(ids, path, "feature id", lambda k: f"column {k + 2} of the header (line 1)")
    num = _numeric(
        df.iloc[:, 1:].to_numpy(),
        path,
        lambda i, j: f"line {i + 2}, sample {samples[i]!r}, feature {ids[j]!r}",
    )
    return FeatureTable(pd.DataFrame(num, index=samples, columns=ids), None, path)


@dataclass
class QCOptions:
    """Per-feature QC thresholds (see ``breedomics omics prepare --help``).

    Attributes
    ----------
    max_missing : float
        Largest fraction of missing values among the analysed samples.
    min_expression : float or None
        A value above this counts as expressed (GTEx: TPM > 0.1); None: no check.
    min_expressed_fraction : float
        Smallest fraction of analysed samples that must be expressed (GTEx: 0.2).
    min_observed : int
        Fewest observed values a feature needs.
    """

    max_missing: float = 0.2
    min_expression: float | None = None
    min_expressed_fraction: float = 0.2
    min_observed: int = 10


def qc_features(values: pd.DataFrame, opts: QCOptions) -> pd.DataFrame:
    """Per-feature QC of the analysed samples' values.

    Parameters
    ----------
    values : pandas.DataFrame
        Samples x features (raw values, NaN missing).
    opts : QCOptions

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``n_observed, fraction_missing, mean, variance,
        fraction_expressed, status`` (``kept``/``removed``) and ``reason``
        (all failed checks, ``;``-separated; empty when kept).
    """
    x = values.to_numpy(dtype=np.float64)
    n = x.shape[0]
    obs = np.isfinite(x)
    n_obs = obs.sum(axis=0)
    frac_miss = 1 - n_obs / max(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_obs > 0, np.nansum(x, axis=0) / np.maximum(n_obs, 1), np.nan)
        dev = np.where(obs, x - mean, 0.0)
        var = np.where(n_obs > 1, (dev**2).sum(axis=0) / np.maximum(n_obs - 1, 1), np.nan)
    rng = np.where(n_obs > 0, np.nanmax(np.where(obs, x, -np.inf), axis=0), np.nan) - np.where(
        n_obs > 0, np.nanmin(np.where(obs, x, np.inf), axis=0), np.nan
    )
    reasons = [[] for _ in range(x.shape[1])]
    for j in np.flatnonzero(frac_miss > opts.max_missing):
        reasons[j].append(f"missing in {frac_miss[j]:.3g} of samples (> {opts.max_missing:g})")
    for j in np.flatnonzero(n_obs < opts.min_observed):
        reasons[j].append(f"only {n_obs[j]} observed value(s) (< {opts.min_observed})")
    for j in np.flatnonzero((n_obs > 0) & ~(rng > 0)):
        reasons[j].append("zero variance")
    expressed = np.full(x.shape[1], np.nan)
    if opts.min_expression is not None:
        expressed = (np.where(obs, x, -np.inf) > opts.min_expression).sum(axis=0) / max(n, 1)
        for j in np.flatnonzero(expressed < opts.min_expressed_fraction):
            reasons[j].append(
                f"low expression: {expressed[j]:.3g} of samples above {opts.min_expression:g} "
                f"(< {opts.min_expressed_fraction:g})"
            )
    return pd.DataFrame(
        {
            "n_observed": n_obs,
            "fraction_missing": frac_miss,
            "mean": mean,
            "variance": var,
            "fraction_expressed": expressed,
            "status": ["removed" if r else "kept" for r in reasons],
            "reason": ["; ".join(r) for r in reasons],
        },
        index=values.columns,
    )


def inverse_normal(values: pd.DataFrame | np.ndarray, c: float = 3.0 / 8.0) -> np.ndarray:
    """Rank-based inverse normal transformation of every column (ties averaged).

    ``y = Phi^-1((r - c) / (n - 2c + 1))`` with ``r`` the rank of a value among the
    ``n`` observed values of its column (tied values get their average rank) and
    ``c = 3/8`` (Blom's offset; Beasley, Erickson & Allison 2009, *Behav Genet*
    39:580); missing values stay missing. This is the transformation tensorQTL and
    GTEx apply to expression before mapping.

    Parameters
    ----------
    values : pandas.DataFrame or numpy.ndarray
        Samples x features, NaN missing.
    c : float
        Rank offset (3/8 Blom, 1/2 rankit, 0 van der Waerden).

    Returns
    -------
    numpy.ndarray
        Same shape, ``float64``.
    """
    from scipy.special import ndtri

    df = pd.DataFrame(np.asarray(values, dtype=np.float64))
    ranks = df.rank(method="average", na_option="keep").to_numpy()
    n = np.isfinite(df.to_numpy()).sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ndtri((ranks - c) / (n - 2 * c + 1))


def log2_transform(
    values: pd.DataFrame, pseudocount: float = 1.0, path: str = "feature table"
) -> np.ndarray:
    """``log2(x + pseudocount)`` of every value.

    Parameters
    ----------
    values : pandas.DataFrame
        Samples x features, NaN missing.
    pseudocount : float
        Added before the logarithm (counts, TPM with zeros).
    path : str
        For messages.

    Raises
    ------
    UserError
        A value ``<= -pseudocount`` (its logarithm is undefined), naming the
        feature and sample.
    """
    x = values.to_numpy(dtype=np.float64)
    stop_at_first_cell(
        np.isfinite(x) & (x + pseudocount <= 0),
        lambda i, j: (
            f"{path}: feature {values.columns[j]!r} has the value {x[i, j]:g} for sample "
            f"{values.index[i]!r}, which log2 with pseudocount {pseudocount:g} cannot take; "
            "use transform inverse_normal or none, or a larger pseudocount"
        ),
    )
    return np.log2(x + pseudocount)


def transform(
    values: pd.DataFrame, method: str, pseudocount: float = 1.0, path: str = "feature table"
) -> pd.DataFrame:
    """Apply ``inverse_normal`` (default), ``log2`` or ``none`` to every feature."""
    if method == "inverse_normal":
        x = inverse_normal(values)
    elif method == "log2":
        x = log2_transform(values, pseudocount, path)
    elif method == "none":
        x = values.to_numpy(dtype=np.float64)
    else:
        raise UserError(f"unknown transform {method!r} (inverse_normal, log2, none)")
    return pd.DataFrame(x, index=values.index, columns=values.columns)


def hidden_factors(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` principal components of a samples x features matrix.

    Each feature is centred and scaled to unit variance over its observed values;
    missing values are then set to 0 (mean imputation, for the PCA only) and the
    sample scores of the top ``k`` right-singular directions are returned, scaled
    to unit variance. These capture batch effects and other broad hidden
    confounders of molecular traits; GTEx (GTEx Consortium 2020, *Science*
    369:1318) uses such PCs (or PEER factors; Stegle et al. 2012, *Nat Protoc*
    7:500) as covariates, raising cis-eQTL discovery.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n, m)`` transformed features, NaN missing.
    k : int
        Number of factors (``0 <= k < min(n, m)``).

    Returns
    -------
    factors : numpy.ndarray
        ``(n, k)``; signs fixed so the largest absolute feature loading is positive.
    explained : numpy.ndarray
        ``(k,)`` share of the (standardised) feature variance of each factor.
    """
    x = np.asarray(values, dtype=np.float64)
    n, m = x.shape
    if k <= 0:
        return np.zeros((n, 0)), np.zeros(0)
    if k >= min(n, m):
        raise UserError(
            f"{k} hidden factors need more than {k} samples and features (have {n} samples, "
            f"{m} features); use fewer factors"
        )
    obs = np.isfinite(x)
    cnt = np.maximum(obs.sum(axis=0), 1)
    mu = np.where(obs, x, 0.0).sum(axis=0) / cnt
    z = np.where(obs, x - mu, 0.0)
    sd = np.sqrt((z**2).sum(axis=0) / cnt)
    z = z / np.where(sd > 0, sd, 1.0)
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    u, s, vt = u[:, :k], s, vt[:k]
    big = np.argmax(np.abs(vt), axis=1)
    sign = np.sign(vt[np.arange(k), big])
    sign[sign == 0] = 1.0
    factors = u * sign * np.sqrt(n)
    factors -= factors.mean(axis=0)
    factors /= factors.std(axis=0)
    explained = s[:k] ** 2 / (s**2).sum()
    return factors, explained


def read_known_covariates(path: str | os.PathLike, samples: list[str]) -> pd.DataFrame:
    """Known covariates (sex, batch, RIN, ...) of the analysed samples.

    Parameters
    ----------
    path : str or path-like
        TSV/CSV with a ``sample`` id column and one column per covariate, read by
        :func:`breedomics.gwas.phenotypes.read_covariates`: a column with any
        non-numeric value is categorical and becomes one 0/1 column per level but the
        first (``column=level``).
    samples : list of str
        The analysed samples: each needs a row without missing values.

    Returns
    -------
    pandas.DataFrame
        ``float64``, ``samples`` x covariates.

    Raises
    ------
    UserError
        Samples without a row, missing values, a constant column; the message names
        the file and the fix.
    """
    from breedomics.gwas.phenotypes import read_covariates

    path = str(path)
    cov = read_covariates(path)
    cov = rows_for(
        cov,
        samples,
        lambda missing: (
            f"covariate table {path}: {len(missing)} analysed sample(s) have no "
            f"row, e.g. {missing[:3]}; add a row for each (sample ids as in the feature table) "
            "or remove those samples from the feature table"
        ),
    )
    na = cov.isna().to_numpy()
    stop_at_first_cell(
        na,
        lambda i, j: (
            f"covariate table {path}: sample {samples[i]!r} has no value of "
            f"{cov.columns[j]!r} ({int(na.sum())} missing value(s)); fill them in or drop "
            "the column"
        ),
    )
    const = [c for c in cov.columns if np.ptp(cov[c].to_numpy()) == 0]
    if const:
        raise UserError(
            f"covariate table {path}: column {const[0]!r} is constant over the analysed "
            "samples (collinear with the intercept); drop it"
        )
    cov.index.name = "sample"
    return cov


def residualise(values: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    """Residuals of every column of ``values`` on an intercept and ``covariates``.

    Ordinary least squares per feature on its observed values (missing values stay
    missing): the linear model of the covariates that the QTL scan fits alongside
    the genotype, applied here before the hidden factors are estimated.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n, m)`` samples x features, NaN missing.
    covariates : numpy.ndarray
        ``(n, c)`` known covariates (no missing value).

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` residuals.
    """
    y = np.asarray(values, dtype=np.float64)
    x = np.column_stack([np.ones(y.shape[0]), np.asarray(covariates, dtype=np.float64)])
    obs = np.isfinite(y)
    out = np.full_like(y, np.nan)
    full = obs.all(axis=0)
    if full.any():
        beta = np.linalg.lstsq(x, y[:, full], rcond=None)[0]
        out[:, full] = y[:, full] - x @ beta
    for j in np.flatnonzero(~full):
        o = obs[:, j]
        beta = np.linalg.lstsq(x[o], y[o, j], rcond=None)[0]
        out[o, j] = y[o, j] - x[o] @ beta
    return out


def genetic_factors(
    factors: np.ndarray,
    names: list[str],
    geno_path: str,
    samples: list[str],
    alpha: float = 0.05,
    maf: float = 0.01,
) -> pd.DataFrame:
    """Scan every hidden factor against the genotypes (GLM of ``breedomics gwas``).

    A factor that is itself genetically determined -- typically a trans hotspot, a
    variant regulating many features at once -- would remove the very trans
    effects it carries if used as a covariate (Fusi, Stegle & Lawrence 2012, *PLoS
    Comput Biol* 8:e1002330). Each factor is tested against every variant with the
    least-squares model of the GWAS engine (:func:`breedomics.gwas.scan.lead_variants`);
    a factor whose best variant passes Bonferroni at ``alpha`` over variants and
    factors is flagged genetic.

    Parameters
    ----------
    factors : numpy.ndarray
        ``(n, k)`` factor scores of ``samples``.
    names : list of str
        Factor names.
    geno_path : str
        PLINK prefix or VCF/BCF.
    samples : list of str
        Rows of ``factors`` (all genotyped).
    alpha : float
        Family-wise error rate over variants and factors.
    maf : float
        Variants with a lower minor-allele frequency are not tested.

    Returns
    -------
    pandas.DataFrame
        Per factor: ``lead_variant``, ``neg_log_10_p_value``, ``n_variants_tested``,
        ``genetic`` (bool).
    """
    from breedomics.gwas.scan import GenotypeSource, ScanConfig, lead_variants

    n, k = factors.shape
    if k == 0:
        return pd.DataFrame(
            columns=["factor", "lead_variant", "neg_log_10_p_value", "n_variants_tested", "genetic"]
        )
    src = GenotypeSource(geno_path, samples)
    cfg = ScanConfig(model="glm", maf=maf)
    leads = lead_variants(src, names, factors, np.ones((n, 1)), cfg, context="factors")
    m = max(int(leads["n_variants_tested"].iloc[0]), 1)
    nl_thr = -np.log10(alpha / (m * k))
    return pd.DataFrame(
        {
            "factor": names,
            "lead_variant": leads["lead_variant"].to_numpy(),
            "neg_log_10_p_value": leads["neg_log_10_p_value"].to_numpy(),
            "n_variants_tested": m,
            "genetic": (leads["neg_log_10_p_value"] >= nl_thr).to_numpy(),
        }
    )


def genotype_chromosomes(path: str) -> set[str]:
    """Chromosome names of a genotype file (PLINK ``.bim``, or the VCF/BCF header contigs)."""
    from breedomics.core import genotypes as gt

    if gt.genotype_format(path) == "plink":
        return set(gt.read_variants(path)["chrom"].astype(str))
    import pysam

    with pysam.VariantFile(str(path)) as vcf:
        return set(vcf.header.contigs)


def check_feature_chromosomes(
    positions: pd.DataFrame, geno_chroms: set[str], path: str, geno_path: str
) -> list[str]:
    """Feature chromosomes against the genotypes': an error when none is shared.

    Returns
    -------
    list of str
        Features on a chromosome the genotypes lack (they have no cis variants).

    Raises
    ------
    UserError
        When no feature chromosome is a genotyped one (e.g. ``chr1`` vs ``1``).
    """
    chrom = positions["chrom"].astype(str)
    missing = ~chrom.isin(geno_chroms)
    if missing.all():
        raise UserError(
            f"{path}: no feature chromosome is a chromosome of the genotypes {geno_path} "
            f"(features on {sorted(set(chrom))[:3]}, genotypes on {sorted(geno_chroms)[:3]}); "
            "rename the chromosomes of one of them (e.g. 'chr1' vs '1')"
        )
    return list(positions.index[missing.to_numpy()])


@dataclass
class Prepared:
    """What :func:`prepare_dataset` produced (all indexed as written)."""

    phenotypes: pd.DataFrame
    covariates: pd.DataFrame
    features: pd.DataFrame
    samples: pd.DataFrame
    factors: pd.DataFrame


def prepare_dataset(
    table: FeatureTable,
    geno_samples: list[str],
    qc: QCOptions,
    method: str = "inverse_normal",
    n_factors: int = 5,
    pseudocount: float = 1.0,
    geno_path: str = "genotypes",
    geno_scan: bool = False,
    factor_alpha: float = 0.05,
    counts: CountOptions | None = None,
    covariates: str | None = None,
) -> Prepared:
    """Match, QC, transform and factor one feature table.

    Parameters
    ----------
    table : FeatureTable
        From :func:`read_feature_table`.
    geno_samples : list of str
        Genotyped samples (genotype-file order, which the outputs follow).
    qc : QCOptions
        Feature QC thresholds, applied to the analysed samples.
    method : str
        ``inverse_normal``, ``log2`` or ``none``.
    n_factors : int
        Hidden factors (top PCs of the transformed, kept features).
    pseudocount : float
        For ``log2``.
    geno_path : str
        The genotypes (messages; read when ``geno_scan``).
    geno_scan : bool
        Test every hidden factor against the genotypes (:func:`genetic_factors`)
        and leave the genetic ones out of the covariates.
    factor_alpha : float
        Family-wise error rate of that test.
    counts : CountOptions, optional
        The table holds raw read counts: checked (:func:`~breedomics.omics.normalise.check_counts`),
        GTEx-filtered and TMM/median-of-ratios normalised
        (:func:`~breedomics.omics.normalise.prepare_counts`) before ``method``; the QC
        columns then describe the raw counts and ``qc.min_expression`` must be None.
    covariates : str, optional
        Known covariates (:func:`read_known_covariates`): written to the covariates
        before the hidden factors, which are computed from the features with them
        regressed out (:func:`residualise`).

    Returns
    -------
    Prepared
        ``phenotypes`` (analysed samples x kept features, columns named by
        ``trait``), ``covariates`` (known covariates, then ``HF1..HFk``),
        ``features`` (every feature: id, trait column, position, QC columns, status,
        reason), ``samples`` (every sample seen: in features/genotypes, analysed,
        reason; ``norm_factor`` with ``counts``) and
        ``factors`` (variance explained per factor).

    Raises
    ------
    UserError
        No sample in both tables, no feature left after QC, two feature ids
        mapping to the same trait name, too many factors.
    """
    vals = table.values
    fset, gset = set(vals.index), set(geno_samples)
    analysed = [s for s in geno_samples if s in fset]
    if not analysed:
        raise UserError(
            f"no sample of {table.path} is in the genotypes ({geno_path}): feature-table ids "
            f"look like {list(vals.index[:3])}, genotype ids like {geno_samples[:3]}; the "
            "sample ids must be the same"
        )
    all_ids = list(dict.fromkeys(list(geno_samples) + list(vals.index)))
    reason = {
        s: ("" if s in fset and s in gset else "not genotyped" if s in fset else "no feature data")
        for s in all_ids
    }
    samples = pd.DataFrame(
        {
            "sample": all_ids,
            "in_features": [s in fset for s in all_ids],
            "in_genotypes": [s in gset for s in all_ids],
            "analysed": [reason[s] == "" for s in all_ids],
            "reason": [reason[s] for s in all_ids],
        }
    )
    sub = vals.loc[analysed]
    gtex_reasons = None
    if counts is not None:
        if qc.min_expression is not None:
            raise UserError(
                f"{table.path}: min_expression applies to already normalised tables; with "
                "normalise tmm/deseq the GTEx filters use min_tpm and min_reads instead"
            )
        check_counts(vals, table.path, table.positions is not None)
        normalised, gtex_reasons, norm_factors = prepare_counts(sub, counts, table.path)
        samples["norm_factor"] = samples["sample"].map(norm_factors)
    report = qc_features(sub, qc)
    if gtex_reasons is not None:
        report["reason"] = [
            "; ".join(r for r in pair if r)
            for pair in zip(report["reason"], gtex_reasons.reindex(report.index), strict=True)
        ]
        report["status"] = np.where(report["reason"] == "", "kept", "removed")
        sub = normalised
    traits = [safe_name(f) for f in vals.columns]
    clash: dict[str, str] = {}
    for f, t in zip(vals.columns, traits, strict=True):
        if t in clash:
            raise UserError(
                f"{table.path}: feature ids {clash[t]!r} and {f!r} both map to the file name "
                f"{t!r} (characters other than letters, digits, '.', '_', '-' are replaced); "
                "rename one"
            )
        clash[t] = f
    report.insert(0, "trait", traits)
    if table.positions is not None:
        report = report.join(table.positions)
    else:
        report["chrom"], report["start"], report["end"] = "", np.nan, np.nan
    report.index.name = "feature_id"
    kept = report.index[report["status"] == "kept"]
    if len(kept) == 0:
        first = report.iloc[0]
        raise UserError(
            f"{table.path}: no feature passes QC in the {len(analysed)} genotyped samples "
            f"(e.g. {report.index[0]!r}: {first['reason']}); see the QC options"
        )
    tx = transform(sub[kept], method, pseudocount, table.path)
    known = None
    n_known = 0
    if covariates:
        from breedomics.gwas.phenotypes import check_collinear

        known = read_known_covariates(covariates, analysed)
        n_known = known.shape[1]
        check_collinear(
            np.column_stack([np.ones(len(analysed)), known.to_numpy()]),
            ["intercept", *known.columns],
            f"covariate table {covariates}",
        )
    if n_factors > 0 and n_factors >= min(len(kept), len(analysed) - 1 - n_known):
        raise UserError(
            f"{table.path}: {n_factors} hidden factors need more features and samples "
            f"({len(kept)} features kept, {len(analysed)} samples, {n_known} known "
            "covariates); lower the number of factors"
        )
    fx = tx.to_numpy() if known is None else residualise(tx.to_numpy(), known.to_numpy())
    f, explained = hidden_factors(fx, n_factors)
    names = [f"HF{i + 1}" for i in range(n_factors)]
    factors = pd.DataFrame(
        {
            "factor": names,
            "variance_explained": explained,
            "cumulative": np.cumsum(explained),
        }
    )
    use = np.ones(n_factors, dtype=bool)
    if geno_scan and n_factors:
        gen = genetic_factors(f, names, geno_path, analysed, alpha=factor_alpha)
        factors = factors.merge(gen, on="factor")
        use = ~gen["genetic"].to_numpy(bool)
        factors["used"] = use
        factors["note"] = np.where(
            use, "", "associated with a variant (a trans regulator?): not a covariate"
        )
    cov = pd.DataFrame(
        f[:, use], index=analysed, columns=[n for n, u in zip(names, use, strict=True) if u]
    )
    if known is not None:
        cov = pd.concat([known.set_axis(analysed), cov], axis=1)
    cov.index.name = "sample"
    pheno = tx.copy()
    pheno.columns = report.loc[kept, "trait"].to_list()
    pheno.index.name = "sample"
    cols = [
        "trait",
        "chrom",
        "start",
        "end",
        "n_observed",
        "fraction_missing",
        "mean",
        "variance",
        "fraction_expressed",
        "status",
        "reason",
    ]
    return Prepared(pheno, cov, report[cols].reset_index(), samples, factors)
