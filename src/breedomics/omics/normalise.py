"""Expression from raw read counts: GTEx filters, TMM or median-of-ratios normalisation.

With ``--normalise tmm|deseq`` (config ``omics.datasets.<name>.normalise``) a feature
table holds raw read counts per gene and sample (whole numbers >= 0, no missing value;
:func:`check_counts`). :func:`prepare_counts` then follows the GTEx eQTL pipeline
(GTEx Consortium 2020, *Science* 369:1318; ``eqtl_prepare_expression.py``):

1. the GTEx expression filters (:func:`gtex_filters`): a gene is kept if its TPM is
   ``>= min_tpm`` (0.1) in at least ``min_fraction`` (20 %) of the samples **and** it has
   ``>= min_reads`` (6) reads in at least that fraction. TPM needs gene lengths
   (:func:`read_gene_lengths`); without them the expression filter is applied to
   counts per million (CPM) instead, with the same threshold;
2. normalisation of the kept genes' counts across samples: TMM (:func:`tmm_factors`,
   Robinson & Oshlack 2010, edgeR's ``calcNormFactors`` defaults), giving CPM with
   effective library sizes, or median-of-ratios (:func:`deseq_size_factors`, Anders &
   Huber 2010, DESeq2's ``estimateSizeFactors``), giving counts divided by size factors;
3. the per-gene transform of :mod:`breedomics.omics.features` (``inverse_normal`` by
   default, :func:`breedomics.omics.features.inverse_normal`) done by the caller.

References
----------
Anders, S. & Huber, W. (2010). Differential expression analysis for sequence count
data. *Genome Biol* 11:R106.

GTEx Consortium (2020). The GTEx Consortium atlas of genetic regulatory effects across
human tissues. *Science* 369:1318-1330.

Robinson, M. D. & Oshlack, A. (2010). A scaling normalization method for differential
expression analysis of RNA-seq data. *Genome Biol* 11:R25.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.core.tables import read_table
from breedomics.errors import UserError

__all__ = [
    "NORMALISATIONS",
    "CountOptions",
    "check_counts",
    "read_gene_lengths",
    "tpm",
    "cpm",
    "gtex_filters",
    "tmm_factors",
    "deseq_size_factors",
    "normalise_counts",
    "prepare_counts",
]

#: ``--normalise`` choices: ``none`` (the table is not counts), ``tmm``, ``deseq``.
NORMALISATIONS = ("none", "tmm", "deseq")


@dataclass
class CountOptions:
    """How a count table is filtered and normalised (``omics prepare --normalise``).

    Attributes
    ----------
    method : str
        ``tmm`` or ``deseq``.
    gene_lengths : str or None
        TSV of ``feature_id, length`` (bp) for TPM; None: the expression filter is on CPM.
    min_tpm : float
        Expression threshold (TPM, or CPM without lengths; GTEx 0.1).
    min_reads : float
        Read-count threshold (GTEx 6).
    min_fraction : float
        Fraction of samples that must reach each threshold (GTEx 0.2).
    """

    method: str = "tmm"
    gene_lengths: str | None = None
    min_tpm: float = 0.1
    min_reads: float = 6.0
    min_fraction: float = 0.2


def check_counts(values: pd.DataFrame, path: str, bed: bool) -> None:
    """Raise unless every value is a whole number >= 0 (raw read counts).

    Parameters
    ----------
    values : pandas.DataFrame
        Samples x features, file order (as :func:`breedomics.omics.features.read_feature_table`).
    path : str
        The file, for messages.
    bed : bool
        The file is a phenotype BED (one line per feature) rather than samples x features.

    Raises
    ------
    UserError
        Naming the file, line, sample and feature of the first missing, negative or
        fractional value, and the fix.
    """
    x = values.to_numpy(dtype=np.float64)
    checks = (
        (~np.isfinite(x), "is missing", "counts have no missing value: write 0 reads"),
        (np.isfinite(x) & (x < 0), "is negative", "read counts are >= 0"),
        (
            np.isfinite(x) & (x != np.round(x)),
            "is not a whole number",
            "give raw read counts (e.g. featureCounts, htseq-count, RSEM expected counts "
            "rounded), not TPM/FPKM",
        ),
    )
    for bad, what, why in checks:
        if bad.any():
            i, j = np.argwhere(bad)[0]
            line = j + 2 if bed else i + 2
            raise UserError(
                f"{path}: line {line}, sample {values.index[i]!r}, feature "
                f"{values.columns[j]!r}: the count {x[i, j]:g} {what} ({int(bad.sum())} such "
                f"value(s)); with normalise tmm/deseq the table must hold raw read counts "
                f"({why}), or set normalise: none for an already normalised table"
            )


def read_gene_lengths(path: str | os.PathLike, features: pd.Index) -> np.ndarray:
    """Gene lengths (bp) of ``features`` from a ``feature_id, length`` table.

    Parameters
    ----------
    path : str or path-like
        TSV/CSV with a header; first column the feature id, second the length in bp
        (e.g. the summed exon length of the collapsed gene model, as GTEx uses).
    features : pandas.Index
        The features needing a length.

    Returns
    -------
    numpy.ndarray
        ``float64`` lengths in ``features`` order.

    Raises
    ------
    UserError
        Missing file, non-positive or non-numeric length (naming the line), a feature
        without a length.
    """
    path = str(path)
    if not os.path.exists(path):
        raise UserError(f"gene-length table {path} does not exist")
    df = read_table(path, "gene-length table")
    if df.shape[1] < 2:
        raise UserError(f"{path}: needs two columns, feature_id and length (bp)")
    ids = df.iloc[:, 0].astype(str).str.strip()
    length = pd.to_numeric(df.iloc[:, 1].astype(str).str.strip(), errors="coerce")
    bad = ~(length > 0) | ~np.isfinite(length)
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(
            f"{path}: line {k + 2} (feature {ids.iloc[k]!r}) has length "
            f"{df.iloc[k, 1]!r}; lengths are positive numbers of bp"
        )
    if ids.duplicated().any():
        k = int(np.flatnonzero(ids.duplicated().to_numpy())[0])
        raise UserError(f"{path}: line {k + 2}: feature {ids.iloc[k]!r} appears twice")
    lengths = pd.Series(length.to_numpy(dtype=np.float64), index=ids.to_numpy())
    missing = features.difference(lengths.index)
    if len(missing):
        raise UserError(
            f"{path}: {len(missing)} feature(s) of the count table have no length, e.g. "
            f"{list(missing[:3])}; add them (or drop gene_lengths: the expression filter "
            "is then on CPM)"
        )
    return lengths.reindex(features).to_numpy()


def cpm(counts: np.ndarray, lib_size: np.ndarray | None = None) -> np.ndarray:
    """Counts per million: ``1e6 * count / library size`` (column sums by default).

    Parameters
    ----------
    counts : numpy.ndarray
        ``(genes, samples)``.
    lib_size : numpy.ndarray, optional
        ``(samples,)`` (effective) library sizes, e.g. ``colSums * TMM factor`` as
        edgeR's ``cpm``.
    """
    c = np.asarray(counts, dtype=np.float64)
    lib = c.sum(axis=0) if lib_size is None else np.asarray(lib_size, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / lib * 1e6


def tpm(counts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Transcripts per million (Wagner, Kin & Lynch 2012): ``rate / sum(rate) * 1e6``.

    ``rate = count / length`` per gene and sample.
    """
    rate = np.asarray(counts, dtype=np.float64) / np.asarray(lengths, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return rate / rate.sum(axis=0) * 1e6


def gtex_filters(
    counts: np.ndarray, opts: CountOptions, lengths: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """The GTEx eQTL expression filters on a ``(genes, samples)`` count matrix.

    A gene is kept if ``TPM >= min_tpm`` in at least ``min_fraction`` of the samples
    and ``count >= min_reads`` in at least ``min_fraction`` of them (GTEx Consortium
    2020, methods "eQTL mapping"); TPM from ``lengths`` (:func:`tpm`), or CPM of the
    raw library sizes when ``lengths`` is None.

    Returns
    -------
    keep : numpy.ndarray
        ``(genes,)`` bool.
    reasons : list of str
        Per gene, why it is removed (empty when kept).
    """
    c = np.asarray(counts, dtype=np.float64)
    n = c.shape[1]
    unit = "TPM" if lengths is not None else "CPM"
    expr = tpm(c, lengths) if lengths is not None else cpm(c)
    f_expr = (expr >= opts.min_tpm).sum(axis=1) / max(n, 1)
    f_reads = (c >= opts.min_reads).sum(axis=1) / max(n, 1)
    ok_expr = f_expr >= opts.min_fraction - 1e-12
    ok_reads = f_reads >= opts.min_fraction - 1e-12
    reasons = []
    for g in range(c.shape[0]):
        r = []
        if not ok_expr[g]:
            r.append(
                f"low expression: {unit} >= {opts.min_tpm:g} in {f_expr[g]:.3g} of samples "
                f"(< {opts.min_fraction:g})"
            )
        if not ok_reads[g]:
            r.append(
                f"few reads: >= {opts.min_reads:g} reads in {f_reads[g]:.3g} of samples "
                f"(< {opts.min_fraction:g})"
            )
        reasons.append("; ".join(r))
    return ok_expr & ok_reads, reasons


def _upper_quartile(counts: np.ndarray, lib: np.ndarray) -> np.ndarray:
    """75 % quantile (R type 7) of each sample's ``count / library size``."""
    return np.quantile(counts / lib, 0.75, axis=0)


def _tmm_one(
    obs: np.ndarray,
    ref: np.ndarray,
    n_obs: float,
    n_ref: float,
    logratio_trim: float,
    sum_trim: float,
    weighted: bool,
) -> float:
    """edgeR ``.calcFactorTMM``: weighted trimmed mean of M values of ``obs`` vs ``ref``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log2((obs / n_obs) / (ref / n_ref))
        abs_e = (np.log2(obs / n_obs) + np.log2(ref / n_ref)) / 2
        v = (n_obs - obs) / n_obs / obs + (n_ref - ref) / n_ref / ref
    fin = np.isfinite(log_r) & np.isfinite(abs_e)
    log_r, abs_e, v = log_r[fin], abs_e[fin], v[fin]
    if log_r.size == 0 or np.max(np.abs(log_r)) < 1e-6:
        return 1.0
    n = log_r.size
    lo_l = np.floor(n * logratio_trim) + 1
    hi_l = n + 1 - lo_l
    lo_s = np.floor(n * sum_trim) + 1
    hi_s = n + 1 - lo_s
    # average ranks, as scipy.stats.rankdata
    rl, rs = pd.Series(log_r).rank().to_numpy(), pd.Series(abs_e).rank().to_numpy()
    keep = (rl >= lo_l) & (rl <= hi_l) & (rs >= lo_s) & (rs <= hi_s)
    if not keep.any():
        return 1.0
    if weighted:
        f = np.sum(log_r[keep] / v[keep]) / np.sum(1 / v[keep])
    else:
        f = np.mean(log_r[keep])
    return float(2.0**f) if np.isfinite(f) else 1.0


def tmm_factors(
    counts: np.ndarray,
    logratio_trim: float = 0.3,
    sum_trim: float = 0.05,
    weighted: bool = True,
    ref_column: int | None = None,
) -> np.ndarray:
    """TMM normalisation factors (Robinson & Oshlack 2010), as edgeR ``calcNormFactors``.

    The reference sample is the one whose upper quartile of ``count / library size``
    is closest to the mean upper quartile (or, when the median upper quartile is 0,
    the one with the largest sum of square-root counts). For every sample, genes with
    a zero count in it or in the reference are dropped; of the log-ratios
    ``M = log2((obs/N_obs) / (ref/N_ref))`` the ``logratio_trim`` top and bottom
    fractions and of the average log-expressions ``A`` the ``sum_trim`` top and bottom
    fractions are trimmed, and the factor is ``2^`` the mean of the remaining ``M``
    weighted by the inverse asymptotic variances
    ``(N_obs - obs)/(N_obs obs) + (N_ref - ref)/(N_ref ref)``. The factors are scaled
    to a geometric mean of 1. The effective library size is ``colSums * factor``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(genes, samples)`` raw counts.
    logratio_trim, sum_trim : float
        edgeR defaults 0.3 and 0.05.
    weighted : bool
        Precision weights (edgeR ``doWeighting = TRUE``).
    ref_column : int, optional
        Reference sample (default chosen by upper quartile as above).

    Returns
    -------
    numpy.ndarray
        ``(samples,)`` factors.

    Raises
    ------
    UserError
        A sample with no read.
    """
    c = np.asarray(counts, dtype=np.float64)
    lib = c.sum(axis=0)
    if (lib <= 0).any():
        raise UserError(
            f"{int((lib <= 0).sum())} sample(s) have no read in the kept genes; "
            "remove them from the count table"
        )
    c = c[c.sum(axis=1) > 0]
    if ref_column is None:
        f75 = _upper_quartile(c, lib)
        if np.median(f75) < 1e-20:
            ref_column = int(np.argmax(np.sqrt(c).sum(axis=0)))
        else:
            ref_column = int(np.argmin(np.abs(f75 - f75.mean())))
    ref = c[:, ref_column]
    f = np.array(
        [
            _tmm_one(c[:, i], ref, lib[i], lib[ref_column], logratio_trim, sum_trim, weighted)
            for i in range(c.shape[1])
        ]
    )
    return f / np.exp(np.mean(np.log(f)))


def deseq_size_factors(counts: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors (Anders & Huber 2010), as DESeq2 ``estimateSizeFactors``.

    ``s_j = median_g (k_gj / (prod_j' k_gj')^(1/m))`` over the genes with no zero count
    (finite geometric mean) and ``k_gj > 0``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(genes, samples)`` raw counts.

    Returns
    -------
    numpy.ndarray
        ``(samples,)`` size factors; normalised counts are ``counts / s``.

    Raises
    ------
    UserError
        Every gene has a zero in some sample (no geometric mean is defined).
    """
    c = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logc = np.log(c)
    log_geo = logc.mean(axis=1)
    use = np.isfinite(log_geo)
    if not use.any():
        raise UserError(
            "every gene has a zero count in some sample: median-of-ratios size factors are "
            "undefined; use normalise: tmm"
        )
    return np.exp(np.median(logc[use] - log_geo[use, None], axis=0))


def normalise_counts(counts: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised expression of a ``(genes, samples)`` count matrix.

    Parameters
    ----------
    counts : numpy.ndarray
    method : str
        ``tmm``: CPM with effective library sizes ``colSums * TMM factor`` (edgeR
        ``cpm``, as GTEx); ``deseq``: counts divided by the median-of-ratios size factors.

    Returns
    -------
    values : numpy.ndarray
        ``(genes, samples)`` normalised expression.
    factors : numpy.ndarray
        ``(samples,)`` the TMM factors or the size factors.
    """
    c = np.asarray(counts, dtype=np.float64)
    if method == "tmm":
        f = tmm_factors(c)
        return cpm(c, c.sum(axis=0) * f), f
    if method == "deseq":
        s = deseq_size_factors(c)
        return c / s, s
    raise UserError(f"unknown normalisation {method!r} ({', '.join(NORMALISATIONS[1:])})")


def prepare_counts(
    values: pd.DataFrame, opts: CountOptions, path: str = "count table"
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """GTEx filters then normalisation of the analysed samples' counts.

    Parameters
    ----------
    values : pandas.DataFrame
        Samples x genes raw counts (already checked by :func:`check_counts`).
    opts : CountOptions
    path : str
        For messages.

    Returns
    -------
    normalised : pandas.DataFrame
        Samples x kept genes, normalised expression (:func:`normalise_counts`).
    reasons : pandas.Series
        Per gene (every column of ``values``): why the GTEx filters removed it, or ``""``.
    factors : pandas.Series
        Per sample: the TMM factor or size factor.

    Raises
    ------
    UserError
        No gene passes the filters.
    """
    counts = values.to_numpy(dtype=np.float64).T
    lengths = read_gene_lengths(opts.gene_lengths, values.columns) if opts.gene_lengths else None
    keep, reasons = gtex_filters(counts, opts, lengths)
    if not keep.any():
        raise UserError(
            f"{path}: no gene passes the GTEx expression filters in the {values.shape[0]} "
            f"analysed samples (e.g. {values.columns[0]!r}: {reasons[0]}); lower min_tpm / "
            "min_reads / min_expressed_fraction"
        )
    norm, f = normalise_counts(counts[keep], opts.method)
    normalised = pd.DataFrame(norm.T, index=values.index, columns=values.columns[keep])
    return normalised, pd.Series(reasons, index=values.columns), pd.Series(f, index=values.index)
