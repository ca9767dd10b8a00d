"""Molecular-trait QTL mapping at transcriptome scale: the tensorQTL/FastQTL modes.

Every mode tests a variant-phenotype pair by ordinary least squares with the
covariates, computed as the correlation of the covariate residuals of the
phenotype and of the mean-imputed dosage (:mod:`breedomics.core.residualise`;
Frisch-Waugh-Lovell): ``t = r sqrt(dof / (1 - r^2))`` with
``dof = n - 2 - (number of covariates)``, the two-sided p-value
``I_{1 - r^2}(dof/2, 1/2)``, slope ``r |R y| / |R g|`` and its standard error
``|slope| / |t|``. This is what Matrix eQTL, FastQTL and tensorQTL compute.

Modes
-----
``cis`` (:func:`map_cis`)
    Per feature the variants within ``window`` bp of the feature (``[start -
    window, end + window]``, 1-based; a phenotype BED's one-base interval is
    its TSS), the lead variant (largest ``r^2``), and ``nperm`` permutations
    of the phenotype (one set of permuted sample orders shared by every
    feature, as tensorQTL) giving the null distribution of the feature's
    maximum ``r^2``: the empirical ``pval_perm`` and the beta-approximated
    ``pval_beta`` of FastQTL (Ongen et al. 2016). The permutation minimum
    p-values are first computed with an effective number of degrees of
    freedom ``true_df`` chosen so that their beta distribution has first
    shape 1 (tensorQTL's ``df_cost``, root found by the secant method from
    ``dof``), then the two beta shapes are fitted by maximum likelihood; the
    lead's p-value at ``true_df`` (``pval_true_df``) is mapped through that
    beta CDF. Storey q-values across features (:mod:`breedomics.omics.qvalue`)
    and the per-feature nominal p-value threshold of GTEx (beta quantile at
    the largest significant ``pval_beta``, back to nominal p at ``dof``)
    follow.
``cis_nominal`` (:func:`map_cis_nominal`)
    Every cis pair, written per chromosome to one Parquet file.
``trans`` (:func:`map_trans`)
    Every variant against every feature; only pairs with ``p < pval_threshold``
    are kept (one Parquet file), optionally without the cis pairs.
``cis_independent`` (:func:`map_independent`)
    Independent cis signals of the features significant in ``cis`` by
    forward-backward stepwise regression (tensorQTL ``map_independent``): the
    forward pass adds the lead of the model conditioned on the signals found so
    far while its ``pval_beta`` stays at or below the largest ``pval_beta``
    significant at the FDR; the backward pass re-tests each signal conditioned
    on all the others and keeps it (with its rank) when it still passes.

Scale
-----
Features are processed in batches along each chromosome; the genotypes are read
once, chromosome by chromosome, in chunks of variants
(:func:`breedomics.core.genotypes.iter_dosage_chunks`), residualised as they come
and held only while a batch's windows need them, so memory is bounded by the
windows of one batch (plus the permutation work arrays: ``nperm x n`` and
``window variants x nperm`` floats), not by the genome. Single precision (as
tensorQTL) for the residual genotypes; the lead's statistics in double.

References
----------
Ongen H, Buil A, Brown AA, Dermitzakis ET, Delaneau O (2016) Fast and efficient QTL
mapper for thousands of molecular phenotypes. *Bioinformatics* 32:1479-1485.

Taylor-Weiner A et al. (2019) Scaling computational genomics to millions of
individuals with GPUs. *Genome Biol* 20:228.

Storey JD, Tibshirani R (2003) Statistical significance for genomewide studies.
*PNAS* 100:9440-9445.

GTEx Consortium (2020) The GTEx Consortium atlas of genetic regulatory effects
across human tissues. *Science* 369:1318-1330 (nominal thresholds, conditional
independent eQTL).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betainc, betaincinv, digamma, gammaln, polygamma

from breedomics.core import genotypes as gt
from breedomics.core.progress import Progress
from breedomics.core.residualise import (
    Residualiser,
    minor_allele_counts,
    residualise_dosage,
)
from breedomics.core.tables import rows_for
from breedomics.errors import UserError
from breedomics.omics.qvalue import pi0_storey, qvalues

__all__ = [
    "MapOptions",
    "Phenotypes",
    "read_phenotypes",
    "read_covariates",
    "match_samples",
    "MapData",
    "pval_from_r2",
    "beta_approx",
    "map_cis",
    "map_cis_nominal",
    "map_trans",
    "map_independent",
    "add_qvalues",
    "CIS_COLUMNS",
    "NOMINAL_COLUMNS",
    "TRANS_COLUMNS",
    "INDEPENDENT_COLUMNS",
]

#: Columns of a variant tested against a feature: the lead of a ``cis.tsv`` row, every
#: pair of the ``cis_nominal`` files (tensorQTL's names).
_PAIR_COLUMNS = [
    "variant_id",
    "tss_distance",
    "af",
    "ma_samples",
    "ma_count",
    "pval_nominal",
    "slope",
    "slope_se",
]
#: Columns of ``cis.tsv`` (tensorQTL's ``cis_qtl.txt.gz``).
CIS_COLUMNS = [
    "phenotype_id",
    "num_var",
    "beta_shape1",
    "beta_shape2",
    "true_df",
    "pval_true_df",
    *_PAIR_COLUMNS,
    "pval_perm",
    "pval_beta",
    "qval",
    "pval_nominal_threshold",
]
#: Columns of the ``cis_nominal`` Parquet files (tensorQTL's ``cis_qtl_pairs``).
NOMINAL_COLUMNS = ["phenotype_id", *_PAIR_COLUMNS]
#: Columns of ``trans.parquet``.
TRANS_COLUMNS = ["variant_id", "phenotype_id", "pval", "b", "b_se", "r2", "af"]
#: Columns of ``cis_independent.tsv``.
INDEPENDENT_COLUMNS = [c for c in CIS_COLUMNS if c not in ("qval", "pval_nominal_threshold")]
INDEPENDENT_COLUMNS += ["rank"]
#: Parquet type of every column the nominal and trans modes write.
_ARROW_TYPES = {
    "phenotype_id": "string",
    "variant_id": "string",
    "tss_distance": "int64",
    "af": "float32",
    "ma_samples": "int32",
    "ma_count": "int32",
    "pval_nominal": "float64",
    "slope": "float32",
    "slope_se": "float32",
    "pval": "float64",
    "b": "float32",
    "b_se": "float32",
    "r2": "float32",
}

Log = Callable[[str], None]


def _no_log(_msg: str) -> None:
    return None


@dataclass
class MapOptions:
    """Options of the mapping modes (see ``breedomics omics map --help``).

    Attributes
    ----------
    window : int
        Cis window, bp on each side of the feature.
    nperm : int
        Permutations of ``cis`` / ``cis_independent``.
    seed : int
        Seed of the permuted sample orders.
    batch_size : int
        Features per batch (``cis``, ``cis_nominal``).
    chunk_size : int
        Variants per genotype read.
    maf_threshold : float
        Variants with a minor-allele frequency at or below this are not tested
        (0: only those without residual variance are left out).
    fdr : float
        FDR of the q-value threshold (``pval_nominal_threshold``,
        ``cis_independent``).
    pval_threshold : float
        ``trans``: pairs with a p-value below this are written.
    exclude_cis : bool
        ``trans``: leave out the pairs within the cis window of a positioned
        feature.
    pcs : int
        Top principal components of the genotypes (VanRaden GRM of the mapped
        samples, variants with MAF > 0.01) added to the covariates: population
        structure, as the GWAS and tensorQTL's genotype PCs.
    """

    window: int = 1_000_000
    nperm: int = 10_000
    seed: int = 123456
    batch_size: int = 256
    chunk_size: int = 20_000
    maf_threshold: float = 0.0
    fdr: float = 0.05
    pval_threshold: float = 1e-5
    exclude_cis: bool = False
    pcs: int = 0


# --------------------------------------------------------------------------- inputs
@dataclass
class Phenotypes:
    """Features to map, complete (no missing values), on the mapped samples.

    Attributes
    ----------
    ids : numpy.ndarray
        Feature ids (``phenotype_id`` of the outputs).
    values : numpy.ndarray
        ``(n_samples, n_features)`` float64.
    samples : list of str
    chrom : numpy.ndarray
        Chromosome of each feature (``""``: no position).
    start, end : numpy.ndarray
        1-based first and last base (BED ``start + 1`` and ``end``); a one-base
        feature (a TSS) has ``start == end``. ``-1`` without position.
    """

    ids: np.ndarray
    values: np.ndarray
    samples: list[str]
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @property
    def positioned(self) -> np.ndarray:
        """Features with a position."""
        return self.chrom != ""

    def subset(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None):
        """A copy restricted to sample rows and/or feature columns (index arrays)."""
        r = slice(None) if rows is None else rows
        c = slice(None) if cols is None else cols
        samples = self.samples if rows is None else [self.samples[i] for i in rows]
        return Phenotypes(
            self.ids[c], self.values[r][:, c], samples, self.chrom[c], self.start[c], self.end[c]
        )


def _fast_table(path: str) -> pd.DataFrame | None:
    """A tab-separated numeric table read by pandas' C parser; None to fall back."""
    if path.endswith((".parquet", ".pq")):
        return None
    try:
        return pd.read_csv(path, sep="\t", na_values=["NA", "nan", "NaN", ""], low_memory=False)
    except Exception:  # noqa: BLE001 - the careful reader reports the problem
        return None


def read_phenotypes(path: str, features: str | None = None) -> Phenotypes:
    """Read a phenotype BED or a samples x features table (with positions from ``features``).

    Parameters
    ----------
    path : str
        tensorQTL phenotype BED (``#chr start end phenotype_id`` + one column per
        sample), or a samples x features table (first column the sample id), e.g.
        ``phenotypes.tsv`` of ``omics prepare``.
    features : str, optional
        ``features.tsv`` of ``omics prepare`` (``feature_id, trait, chrom, start,
        end``; BED coordinates): the positions of a samples x features table, and
        the feature ids of its ``trait`` columns.

    Returns
    -------
    Phenotypes
        All samples of the file; missing values still NaN (see :func:`match_samples`).
    """
    from breedomics.omics.features import read_feature_table

    if not os.path.exists(path):
        raise UserError(f"phenotype table {path} does not exist")
    df = _fast_table(path)
    bed = df is not None and str(df.columns[0]).lstrip("#").lower() in ("chr", "chrom")
    ok = df is not None and df.shape[1] >= 2
    if ok:
        first = 4 if bed else 1
        ok = all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes.iloc[first:])
    if ok and bed:
        ids = df.iloc[:, 3].astype(str).str.strip().to_numpy()
        values = pd.DataFrame(
            df.iloc[:, 4:].to_numpy(np.float64).T, index=[str(c) for c in df.columns[4:]]
        )
        values.columns = ids
        pos = pd.DataFrame(
            {
                "chrom": df.iloc[:, 0].astype(str).str.strip().to_numpy(),
                "start": df.iloc[:, 1].to_numpy(np.int64),
                "end": df.iloc[:, 2].to_numpy(np.int64),
            },
            index=ids,
        )
    elif ok:
        values = df.set_index(df.columns[0]).astype(np.float64)
        values.index = values.index.astype(str).str.strip()
        pos = None
    else:
        table = read_feature_table(path)
        values, pos = table.values, table.positions
    ids = np.array([str(c) for c in values.columns], dtype=object)
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: duplicated feature ids")
    if features:
        ids, pos = _feature_positions(features, ids)
    n_feat = len(ids)
    chrom = np.full(n_feat, "", dtype=object)
    start = np.full(n_feat, -1, dtype=np.int64)
    end = np.full(n_feat, -1, dtype=np.int64)
    if pos is not None:
        p = pos.reindex(ids) if not features else pos
        have = p["chrom"].notna().to_numpy() & p["start"].notna().to_numpy()
        have &= p["chrom"].astype(str).str.len().to_numpy() > 0
        chrom[have] = p["chrom"].astype(str).to_numpy()[have]
        s = p["start"].to_numpy(np.float64)
        e = p["end"].to_numpy(np.float64)
        start[have] = s[have].astype(np.int64) + 1
        end[have] = e[have].astype(np.int64)
    return Phenotypes(ids, values.to_numpy(np.float64), list(values.index), chrom, start, end)


def _feature_positions(path: str, columns: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Feature ids and positions of the phenotype columns, from ``features.tsv``."""
    if not os.path.exists(path):
        raise UserError(f"feature table {path} does not exist (run `omics prepare`)")
    f = pd.read_csv(path, sep="\t", dtype={"chrom": str, "feature_id": str, "trait": str})
    key = "trait" if "trait" in f.columns else "feature_id"
    if key not in f.columns or not {"chrom", "start", "end"} <= set(f.columns):
        raise UserError(f"{path}: needs columns feature_id (or trait), chrom, start, end")
    f = f.drop_duplicates(key).set_index(key)
    f = rows_for(
        f,
        columns,
        lambda missing: (
            f"{path}: phenotype column {missing[0]!r} is not a feature of this "
            f"table ({len(missing)} such column(s))"
        ),
    )
    ids = f["feature_id"].astype(str).to_numpy(object) if "feature_id" in f else columns
    pos = pd.DataFrame(
        {"chrom": f["chrom"].fillna("").to_numpy(), "start": f["start"], "end": f["end"]}
    )
    pos.index = ids
    return np.asarray(ids, dtype=object), pos


def read_covariates(path: str | None) -> pd.DataFrame | None:
    """Covariates, samples x covariates (first column the sample id), numeric; None: none.

    ``covariates.tsv`` of ``omics prepare`` (hidden factors, known covariates). A
    file with the sample column only means no covariate.
    """
    if not path:
        return None
    from breedomics.core import tables

    df = tables.read_table(path, "covariate table", id_column=0)
    df = df.set_index(df.columns[0])
    df.index = df.index.astype(str).str.strip()
    if df.shape[1] == 0:
        return None
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        raw = df[col].astype(object).to_numpy()
        miss = tables.is_missing(raw)
        num = pd.to_numeric(pd.Series(np.where(miss, np.nan, raw)), errors="coerce")
        if (num.isna().to_numpy() & ~miss).any():
            raise UserError(
                f"{path}: covariate {col!r} has non-numeric values; code categories as 0/1 columns"
            )
        out[str(col)] = num.to_numpy(np.float64)
    return out


def match_samples(
    pheno: Phenotypes, geno_samples: list[str], cov: pd.DataFrame | None, log: Log = _no_log
) -> tuple[Phenotypes, np.ndarray | None]:
    """Samples with genotypes (and covariates, when given), in the phenotype order.

    Missing phenotype values are set to the feature's mean over these samples (tensorQTL
    needs complete phenotypes; the count is logged), and missing covariates drop the
    sample.

    Returns
    -------
    phenotypes : Phenotypes
    covariates : numpy.ndarray or None
        ``(n, k)`` rows in the same order.
    """
    geno = set(geno_samples)
    keep = [i for i, s in enumerate(pheno.samples) if s in geno]
    if cov is not None:
        ok = set(cov.index[cov.notna().all(axis=1)])
        keep = [i for i in keep if pheno.samples[i] in ok]
    dropped = len(pheno.samples) - len(keep)
    if dropped:
        log(f"{dropped} phenotyped sample(s) without genotypes or covariates left out")
    if len(keep) < 10:
        raise UserError(
            f"only {len(keep)} sample(s) have phenotypes, genotypes (and covariates); "
            "check that the sample ids match"
        )
    out = pheno.subset(rows=np.array(keep))
    miss = np.isnan(out.values)
    if miss.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing features
            col_mean = np.nanmean(out.values, axis=0)
        col_mean = np.where(np.isfinite(col_mean), col_mean, 0.0)
        out.values[miss] = np.take(col_mean, np.nonzero(miss)[1])
        log(f"{int(miss.sum())} missing phenotype value(s) set to the feature's mean")
    var = out.values.var(axis=0)
    flat = var <= 1e-12 * np.maximum(1.0, np.abs(out.values).max(axis=0) ** 2)
    if flat.any():
        log(f"{int(flat.sum())} feature(s) without variance left out")
        out = out.subset(cols=np.flatnonzero(~flat))
    c = None if cov is None else cov.loc[out.samples].to_numpy(np.float64)
    return out, c


# --------------------------------------------------------------------------- statistics
def pval_from_r2(r2: np.ndarray, dof: float | np.ndarray) -> np.ndarray:
    """Two-sided p-value of the t test of a correlation: ``I_{1-r^2}(dof/2, 1/2)``.

    Equal to ``2 T_dof(-|t|)`` with ``t^2 = dof r^2 / (1 - r^2)``.
    """
    r2 = np.clip(np.asarray(r2, dtype=np.float64), 0.0, 1.0)
    return betainc(0.5 * np.asarray(dof, dtype=np.float64), 0.5, 1.0 - r2)


def _r2_from_pval(p: float | np.ndarray, dof: float | np.ndarray) -> np.ndarray:
    """Inverse of :func:`pval_from_r2` in ``r^2``."""
    return 1.0 - betaincinv(0.5 * np.asarray(dof, dtype=np.float64), 0.5, p)


def _log_shape1(r2: np.ndarray, log_df: np.ndarray) -> np.ndarray:
    """log of the first beta shape (moments) of the permutation p's at ``df = exp(log_df)``.

    tensorQTL's ``beta_shape_1_from_dof``; its root in ``log df`` (shape 1 = 1) is the
    effective number of degrees of freedom.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        p = pval_from_r2(r2, np.exp(log_df)[:, None])
        m = p.mean(axis=1)
        v = p.var(axis=1)
        return np.log(m * (m * (1.0 - m) / v - 1.0))


def _true_df(r2: np.ndarray, dof: float, tol: float = 1e-4, maxiter: int = 50) -> np.ndarray:
    """Effective degrees of freedom of each row of ``r2`` (maximum r2 of each permutation).

    The root in ``x = log df`` of :func:`_log_shape1`, by the secant iteration of
    ``scipy.optimize.newton`` (no derivative, ``tol`` on ``x``) from ``log dof``,
    vectorised over rows, as tensorQTL's ``fit_beta_parameters``; rows where it fails
    minimise ``|shape1 - 1|`` by Nelder-Mead from ``dof``, as tensorQTL does then.
    """
    f = r2.shape[0]
    out = np.full(f, np.nan)
    x0 = np.full(f, np.log(float(dof)))
    p0 = x0
    p1 = x0 * (1 + 1e-4) + np.where(x0 >= 0, 1e-4, -1e-4)
    q0 = _log_shape1(r2, p0)
    q1 = _log_shape1(r2, p1)
    swap = np.abs(q1) < np.abs(q0)
    p0, p1 = np.where(swap, p1, p0), np.where(swap, p0, p1)
    q0, q1 = np.where(swap, q1, q0), np.where(swap, q0, q1)
    active = np.flatnonzero(np.isfinite(q0) & np.isfinite(q1))
    for _ in range(maxiter):
        if len(active) == 0:
            break
        a0, a1, b0, b1 = p0[active], p1[active], q0[active], q1[active]
        with np.errstate(invalid="ignore", divide="ignore"):
            big = np.abs(b1) > np.abs(b0)
            p = np.where(
                big, (-b0 / b1 * a1 + a0) / (1 - b0 / b1), (-b1 / b0 * a0 + a1) / (1 - b1 / b0)
            )
        same = b1 == b0
        p = np.where(same, (a1 + a0) / 2, p)
        done = same | (np.abs(p - a1) < tol)
        out[active[done]] = np.exp(p[done])
        keep = ~done & np.isfinite(p) & (np.abs(p) < 50)
        nxt = active[keep]
        p0[nxt], q0[nxt] = a1[keep], b1[keep]
        p1[nxt] = p[keep]
        if len(nxt):
            q1[nxt] = _log_shape1(r2[nxt], p1[nxt])
            nxt = nxt[np.isfinite(q1[nxt])]
        active = nxt
    for i in np.flatnonzero(~np.isfinite(out) | (out <= 0)):
        row = r2[i : i + 1]

        def cost(x, row=row):
            return abs(float(np.exp(_log_shape1(row, np.log(np.atleast_1d(x))))[0]) - 1.0)

        res = optimize.minimize(cost, float(dof), method="Nelder-Mead", tol=tol)
        out[i] = float(res.x[0])
    return out


def _beta_mle(p: np.ndarray, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood beta shapes of each row of ``p`` (Newton from the moments)."""
    p = np.clip(p, 1e-300, 1 - 1e-16)
    m = p.mean(axis=1)
    v = p.var(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = m * (m * (1 - m) / v - 1)
        b = a * (1 / m - 1)
    good = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    a = np.where(good, a, 1.0)
    b = np.where(good, b, 1.0)
    s1 = np.log(p).mean(axis=1)
    s2 = np.log1p(-p).mean(axis=1)

    def loglik(a, b):
        return (a - 1) * s1 + (b - 1) * s2 - (gammaln(a) + gammaln(b) - gammaln(a + b))

    ll = loglik(a, b)
    for _ in range(iters):
        dg, tg = digamma(a + b), polygamma(1, a + b)
        g1 = s1 - digamma(a) + dg
        g2 = s2 - digamma(b) + dg
        h11 = tg - polygamma(1, a)
        h22 = tg - polygamma(1, b)
        det = h11 * h22 - tg * tg
        da = -(h22 * g1 - tg * g2) / det
        db = -(h11 * g2 - tg * g1) / det
        step = np.ones_like(a)
        for _half in range(60):
            na, nb = a + step * da, b + step * db
            ok = (na > 0) & (nb > 0)
            with np.errstate(invalid="ignore"):
                ok &= loglik(np.where(ok, na, 1.0), np.where(ok, nb, 1.0)) >= ll - 1e-12
            if ok.all():
                break
            step = np.where(ok, step, step / 2)
        na, nb = a + step * da, b + step * db
        ok = (na > 0) & (nb > 0) & np.isfinite(na) & np.isfinite(nb)
        na, nb = np.where(ok, na, a), np.where(ok, nb, b)
        change = np.maximum(np.abs(na - a) / a, np.abs(nb - b) / b)
        a, b = na, nb
        ll = loglik(a, b)
        if np.all(change < 1e-10):
            break
    return a, b


def beta_approx(r2_perm: np.ndarray, r2_nominal: np.ndarray, dof: float) -> dict[str, np.ndarray]:
    """FastQTL's beta approximation of the permutation p-value, vectorised over features.

    Parameters
    ----------
    r2_perm : numpy.ndarray
        ``(n_features, nperm)`` maximum ``r^2`` of each permutation.
    r2_nominal : numpy.ndarray
        ``(n_features,)`` ``r^2`` of each feature's lead.
    dof : float
        Residual degrees of freedom of the nominal test.

    Returns
    -------
    dict
        ``beta_shape1, beta_shape2, true_df, pval_true_df, pval_beta`` arrays.
    """
    r2_perm = np.clip(np.asarray(r2_perm, dtype=np.float64), 0.0, 1.0 - 1e-15)
    true_df = _true_df(r2_perm, dof)
    p_perm = pval_from_r2(r2_perm, true_df[:, None])
    a, b = _beta_mle(p_perm)
    p_true = pval_from_r2(r2_nominal, true_df)
    return {
        "beta_shape1": a,
        "beta_shape2": b,
        "true_df": true_df,
        "pval_true_df": p_true,
        "pval_beta": betainc(a, b, p_true),
    }


def add_qvalues(cis: pd.DataFrame, fdr: float, dof: float, log: Log = _no_log) -> pd.DataFrame:
    """Storey q-values of ``pval_beta`` and GTEx's per-feature nominal p threshold.

    The threshold on ``pval_beta`` is the mean of the largest significant and the
    smallest non-significant value (tensorQTL's ``calculate_qvalues``); each feature's
    nominal threshold is its beta quantile there, a p at ``true_df``, turned into the
    nominal p at the test's ``dof`` through the same ``r^2``.
    """
    out = cis.copy()
    p = out["pval_beta"].to_numpy(np.float64)
    if len(p) == 0:
        out["qval"] = []
        out["pval_nominal_threshold"] = []
        return out
    pi0 = pi0_storey(p)
    out["qval"] = qvalues(p, pi0)
    sig = out["qval"].to_numpy() <= fdr
    log(f"pi0 {pi0:.3f}; {int(sig.sum())} of {len(p)} features with a cis-QTL at FDR {fdr}")
    thr = np.full(len(p), np.nan)
    if sig.any():
        lb = float(np.nanmax(p[sig]))
        above = p[~sig & np.isfinite(p)]
        pthr = (lb + float(above.min())) / 2 if len(above) else lb
        a = out["beta_shape1"].to_numpy(np.float64)
        b = out["beta_shape2"].to_numpy(np.float64)
        p_true = betaincinv(a, b, pthr)
        r2 = _r2_from_pval(p_true, out["true_df"].to_numpy(np.float64))
        thr = pval_from_r2(r2, dof)
    out["pval_nominal_threshold"] = thr
    return out


# --------------------------------------------------------------------------- genotype stream
class _Buffer:
    """Residualised variants of one chromosome held while some feature's window needs them."""

    def __init__(self, n: int):
        self.n = n
        self.pos = np.zeros(0, dtype=np.int64)
        self.ids = np.zeros(0, dtype=object)
        self.g = np.zeros((0, n), dtype=np.float32)
        self.norm = np.zeros(0)
        self.af = np.zeros(0)
        self.ma_samples = np.zeros(0, dtype=np.int64)
        self.ma_count = np.zeros(0, dtype=np.int64)
        self.mean = np.zeros(0)

    _FIELDS = ("pos", "ids", "g", "norm", "af", "ma_samples", "ma_count", "mean")

    def append(self, parts: dict) -> None:
        for k in self._FIELDS:
            setattr(self, k, np.concatenate([getattr(self, k), parts[k]]))

    def drop_before(self, pos: int) -> None:
        cut = int(np.searchsorted(self.pos, pos, side="left"))
        if cut:
            for k in self._FIELDS:
                setattr(self, k, getattr(self, k)[cut:])

    def clear(self) -> None:
        self.drop_before(np.iinfo(np.int64).max)


def _prepared_chunk(variants: pd.DataFrame, dosage: np.ndarray, res: Residualiser, maf: float):
    """A chunk's testable variants, residualised (buffer fields)."""
    r = residualise_dosage(dosage, res)
    af, ma_samples, ma_count = minor_allele_counts(dosage, r.mean)
    keep = r.norm > 0
    if maf > 0:
        keep &= np.minimum(af, 1 - af) > maf
    if not keep.all():
        sel = np.flatnonzero(keep)
        return {
            "chrom": variants["chrom"].astype(str).to_numpy(object)[sel],
            "pos": variants["pos"].to_numpy(np.int64)[sel],
            "ids": variants["id"].astype(str).to_numpy(object)[sel],
            "g": r.g[sel],
            "norm": r.norm[sel],
            "af": af[sel],
            "ma_samples": ma_samples[sel],
            "ma_count": ma_count[sel],
            "mean": r.mean[sel],
        }
    return {
        "chrom": variants["chrom"].astype(str).to_numpy(object),
        "pos": variants["pos"].to_numpy(np.int64),
        "ids": variants["id"].astype(str).to_numpy(object),
        "g": r.g,
        "norm": r.norm,
        "af": af,
        "ma_samples": ma_samples,
        "ma_count": ma_count,
        "mean": r.mean,
    }


class _Chromosome:
    """The features of one chromosome, in position order, and the next batch to map."""

    def __init__(self, ph: Phenotypes, chrom: str, opts: MapOptions):
        idx = np.flatnonzero(ph.chrom == chrom)
        self.idx = idx[np.lexsort((ph.end[idx], ph.start[idx]))]
        self.lo = ph.start[self.idx] - opts.window
        self.hi = ph.end[self.idx] + opts.window
        self.size = opts.batch_size
        self.next = 0

    def first_needed(self) -> int | None:
        """Leftmost position a remaining window needs (None: all mapped)."""
        return int(self.lo[self.next :].min()) if self.next < len(self.idx) else None

    def batches(self, buf: _Buffer, last_pos: float):
        """Batches whose windows end before ``last_pos`` (``inf``: every remaining one)."""
        while self.next < len(self.idx):
            a, b = self.next, min(self.next + self.size, len(self.idx))
            if self.hi[a:b].max() >= last_pos:
                return
            lo = np.searchsorted(buf.pos, self.lo[a:b], side="left")
            hi = np.searchsorted(buf.pos, self.hi[a:b], side="right")
            yield self.idx[a:b], lo, hi, buf
            self.next = b
            first = self.first_needed()
            if first is not None:
                buf.drop_before(first)


def _cis_batches(
    geno: str,
    samples: list[str],
    ph: Phenotypes,
    res: Residualiser,
    opts: MapOptions,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, _Buffer]]:
    """Batches of positioned features with the residualised variants of their windows.

    Yields ``(features, lo, hi, buffer)``: feature column indices (sorted by position
    on one chromosome), and for each the slice ``[lo, hi)`` of the buffer's variants in
    its window. The genotypes of the features' chromosomes are read once, in chunks;
    a variant is kept only while a remaining window of its chromosome needs it.
    """
    wanted = sorted(set(ph.chrom[ph.positioned]))
    buf = _Buffer(len(samples))
    cur: _Chromosome | None = None
    cur_name = None
    for variants, dosage in gt.iter_dosage_chunks(
        geno, opts.chunk_size, samples=samples, chromosomes=wanted
    ):
        for chrom, v, d in gt.split_by_chrom(variants, dosage):
            if chrom != cur_name:
                if cur is not None:
                    yield from cur.batches(buf, np.inf)
                cur, cur_name = _Chromosome(ph, chrom, opts), chrom
                buf.clear()
            first = cur.first_needed()
            if first is None:
                continue
            sel = v["pos"].to_numpy(np.int64) >= first  # left of every remaining window
            if not sel.any():
                continue
            if not sel.all():
                v, d = v[sel], d[:, sel]
            buf.append(_prepared_chunk(v, d, res, opts.maf_threshold))
            if len(buf.pos):
                yield from cur.batches(buf, float(buf.pos[-1]))
    if cur is not None:
        yield from cur.batches(buf, np.inf)


def _permutations(n: int, nperm: int, seed: int) -> np.ndarray:
    """``(nperm, n)`` int32 permuted sample orders, shared by every feature."""
    rng = np.random.default_rng(seed)
    base = np.tile(np.arange(n, dtype=np.int32), (nperm, 1))
    return rng.permuted(base, axis=1)


def _prepare_y(ph: Phenotypes, cols: np.ndarray, res: Residualiser):
    """Centred phenotypes, residual norms and unit residuals of some features."""
    y = ph.values[:, cols]
    yc = y - y.mean(axis=0)
    yr = res.transform(yc)
    ynorm = np.sqrt((yr * yr).sum(axis=0))
    return yc, ynorm, yr / ynorm


def _perm_r2(gw: np.ndarray, yc: np.ndarray, perms: np.ndarray, res: Residualiser) -> np.ndarray:
    """Maximum ``r^2`` over the window's variants of each permuted phenotype.

    ``gw``: ``(V, n)`` unit residual rows (residualised on ``res``); ``yc`` the centred
    phenotype. The permuted phenotype is residualised after permutation (tensorQTL):
    ``r = <g, P y> / |R P y|`` since ``g`` is already a residual.
    """
    yp = np.take(yc.astype(np.float32), perms)  # (nperm, n)
    c = gw @ yp.T  # (V, nperm)
    num2 = np.maximum(np.square(c.max(axis=0)), np.square(c.min(axis=0))).astype(np.float64)
    den = float(yc @ yc) - res.projected_sumsq(yp)
    return np.minimum(num2 / den, 1.0)


def _perm_groups(lo: np.ndarray, hi: np.ndarray, nperm: int) -> list[np.ndarray]:
    """Features of a batch whose permutations share one matrix product.

    Neighbouring features' windows nearly coincide: one product of the union of their
    windows with all their permuted phenotypes (``b * nperm`` columns) runs closer to
    the BLAS peak than ``b`` thin ones, and costs little extra when the union is at most
    a quarter larger than the windows. Groups hold up to ``8192 // nperm`` features.
    """
    size = max(1, 8192 // max(nperm, 1))
    groups, cur = [], []
    for j in range(len(lo)):
        if hi[j] <= lo[j]:
            continue
        if cur:
            a, b = min(lo[cur].min(), lo[j]), max(hi[cur].max(), hi[j])
            widths = np.append(hi[cur] - lo[cur], hi[j] - lo[j])
            if len(cur) < size and (b - a) <= 1.25 * widths.mean():
                cur.append(j)
                continue
            groups.append(np.array(cur))
        cur = [j]
    if cur:
        groups.append(np.array(cur))
    return groups


def _perm_r2_group(
    g: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    yc: np.ndarray,
    perms: np.ndarray,
    res: Residualiser,
) -> np.ndarray:
    """:func:`_perm_r2` of several features at once: ``(b, nperm)``.

    ``g`` holds the buffer's unit residual rows, feature ``j`` its window ``[lo_j,
    hi_j)`` and centred phenotype ``yc[:, j]``.
    """
    b, nperm = yc.shape[1], len(perms)
    if b == 1:
        return _perm_r2(g[lo[0] : hi[0]], yc[:, 0], perms, res)[None, :]
    ua, ub = int(lo.min()), int(hi.max())
    y32 = yc.astype(np.float32)
    yp = np.empty((b * nperm, yc.shape[0]), dtype=np.float32)
    for j in range(b):
        np.take(y32[:, j], perms, out=yp[j * nperm : (j + 1) * nperm])
    c = g[ua:ub] @ yp.T  # (U, b * nperm)
    den = np.sum(yc * yc, axis=0)[:, None] - res.projected_sumsq(yp).reshape(b, nperm)
    out = np.empty((b, nperm))
    for j in range(b):
        blk = c[lo[j] - ua : hi[j] - ua, j * nperm : (j + 1) * nperm]
        num2 = np.maximum(np.square(blk.max(axis=0)), np.square(blk.min(axis=0)))
        out[j] = np.minimum(num2.astype(np.float64) / den[j], 1.0)
    return out


def _lead_stats(
    gw: np.ndarray, norm: np.ndarray, yhat: np.ndarray, ynorm: float, dof: int
) -> tuple[int, dict]:
    """Lead variant (largest ``r^2``) of a window and its nominal statistics."""
    r = gw @ yhat.astype(np.float32)
    lead = int(np.argmax(r * r))
    rl = float(gw[lead].astype(np.float64) @ yhat)
    return lead, _pair_stats(np.array([rl]), norm[lead : lead + 1], ynorm, dof, one=True)


def _pair_stats(r: np.ndarray, gnorm: np.ndarray, ynorm, dof: int, one: bool = False) -> dict:
    r = np.asarray(r, dtype=np.float64)
    r2 = np.minimum(r * r, 1.0)
    slope = r * ynorm / gnorm
    se = np.sqrt((1.0 - r2) / dof) * ynorm / gnorm
    out = {"r2": r2, "pval_nominal": pval_from_r2(r2, dof), "slope": slope, "slope_se": se}
    return {k: float(v[0]) for k, v in out.items()} if one else out


# --------------------------------------------------------------------------- cis
def _pair_fields(buf: _Buffer, k: int, ph: Phenotypes, f: int, st: dict) -> dict:
    """The :data:`_PAIR_COLUMNS` of buffered variant ``k`` tested against feature ``f``
    (``st``: its nominal statistics), as the cis and independent modes write them."""
    return {
        "variant_id": buf.ids[k],
        "tss_distance": int(buf.pos[k] - ph.start[f]),
        "af": buf.af[k],
        "ma_samples": int(buf.ma_samples[k]),
        "ma_count": int(buf.ma_count[k]),
        "pval_nominal": st["pval_nominal"],
        "slope": st["slope"],
        "slope_se": st["slope_se"],
    }


def _genotype_pcs(geno: str, samples: list[str], k: int, log: Log) -> np.ndarray:
    """Top ``k`` principal components of the genotypes of ``samples`` (core GRM)."""
    from breedomics.core.grm import accumulate_grm, eigh_psd, top_pcs

    kin = accumulate_grm(geno, samples, min_maf=0.01, chunk_size=20_000).matrix()
    pcs = top_pcs(eigh_psd(kin, "kinship for PCs"), k)
    log(f"{k} genotype PC(s) added to the covariates")
    return pcs


@dataclass(frozen=True)
class MapData:
    """What every mapping mode reads: genotypes, features and covariates, given together.

    Attributes
    ----------
    geno : str
        PLINK prefix or VCF/BCF.
    pheno : Phenotypes
        From :func:`read_phenotypes` (features without a position are not mapped in cis).
    cov : pandas.DataFrame or None
        From :func:`read_covariates`.
    """

    geno: str
    pheno: Phenotypes
    cov: pd.DataFrame | None = None

    def setup(self, log: Log, pcs: int = 0) -> tuple[Phenotypes, Residualiser]:
        """Features on the samples with genotypes and the covariate residualiser (plus
        ``pcs`` genotype PCs), checked to leave at least 3 degrees of freedom."""
        ph, c = match_samples(self.pheno, gt.read_samples(self.geno), self.cov, log)
        if pcs > 0:
            p = _genotype_pcs(self.geno, ph.samples, pcs, log)
            c = p if c is None else np.column_stack([c, p])
        res = Residualiser(c, n=len(ph.samples))
        if res.dof < 3:
            raise UserError(
                f"{len(ph.samples)} samples and {res.rank - 1} covariate(s) leave {res.dof} "
                "degrees of freedom; use fewer covariates"
            )
        return ph, res


def map_cis(data: MapData, opts: MapOptions, log: Log = _no_log) -> pd.DataFrame:
    """Permutation cis mapping: one lead per feature with ``pval_perm``, ``pval_beta``, q.

    Parameters
    ----------
    data : MapData
        Genotypes, features and covariates.
    opts : MapOptions
    log : callable

    Returns
    -------
    pandas.DataFrame
        :data:`CIS_COLUMNS`, one row per feature with at least one cis variant, in
        genomic order; ``attrs['dof']`` holds the test's degrees of freedom.
    """
    ph, res = data.setup(log, opts.pcs)
    return _map_cis(data.geno, ph, res, opts, log)


def _map_cis(geno, ph: Phenotypes, res: Residualiser, opts: MapOptions, log: Log):
    if opts.nperm < 10:
        raise UserError(f"--nperm must be at least 10, got {opts.nperm}")
    n_pos = int(ph.positioned.sum())
    if n_pos < len(ph.ids):
        log(f"{len(ph.ids) - n_pos} feature(s) without a position: not mapped in cis")
    dof = res.dof
    log(
        f"cis mapping: {n_pos} features, {len(ph.samples)} samples, {res.rank - 1} "
        f"covariate(s) (dof {dof}), window {opts.window} bp, {opts.nperm} permutations"
    )
    perms = _permutations(len(ph.samples), opts.nperm, opts.seed)
    rows: list[dict] = []
    r2_nom: list[float] = []
    no_var = seen = 0
    prog = Progress(n_pos, "omics map cis", "features")
    for cols, lo, hi, buf in _cis_batches(geno, ph.samples, ph, res, opts):
        yc, ynorm, yhat = _prepare_y(ph, cols, res)
        r2perm: dict[int, np.ndarray] = {}
        for grp in _perm_groups(lo, hi, opts.nperm):
            r2g = _perm_r2_group(buf.g, lo[grp], hi[grp], yc[:, grp], perms, res)
            r2perm.update(zip(grp.tolist(), r2g, strict=True))
        batch_r2, batch_rows = [], []
        for j, f in enumerate(cols):
            a, b = int(lo[j]), int(hi[j])
            if b <= a:
                no_var += 1
                continue
            gw = buf.g[a:b]
            lead, st = _lead_stats(gw, buf.norm[a:b], yhat[:, j], ynorm[j], dof)
            r2p = r2perm[j]
            k = a + lead
            batch_r2.append(r2p)
            r2_nom.append(st["r2"])
            batch_rows.append(
                {
                    "phenotype_id": ph.ids[f],
                    "num_var": b - a,
                    **_pair_fields(buf, k, ph, f, st),
                    "pval_perm": (np.sum(r2p >= st["r2"]) + 1) / (opts.nperm + 1),
                }
            )
        if batch_rows:
            ba = beta_approx(np.vstack(batch_r2), np.array(r2_nom[-len(batch_rows) :]), dof)
            for i, row in enumerate(batch_rows):
                row.update({k: float(v[i]) for k, v in ba.items()})
            rows.extend(batch_rows)
        prog.update(len(cols))
        seen += len(cols)
    prog.close()
    if no_var or seen < n_pos:
        log(
            f"{no_var + n_pos - seen} feature(s) without a variant in the cis window (or on "
            "a chromosome without genotypes): not mapped"
        )
    cols = [c for c in CIS_COLUMNS if c not in ("qval", "pval_nominal_threshold")]
    out = add_qvalues(pd.DataFrame(rows, columns=cols), opts.fdr, dof, log)[CIS_COLUMNS]
    out.attrs["dof"] = dof
    return out


def _arrow_schema(columns: list[str]):
    """Parquet schema of ``columns``, typed by :data:`_ARROW_TYPES` so that a column has
    the same type in every file the nominal and trans modes write."""
    import pyarrow as pa

    return pa.schema([(c, pa.type_for_alias(_ARROW_TYPES[c])) for c in columns])


def map_cis_nominal(data: MapData, opts: MapOptions, out_dir: str, log: Log = _no_log) -> list[str]:
    """Every cis pair, written to ``<out_dir>/<chrom>.parquet`` (one per chromosome).

    Returns the files written (a chromosome without any pair gets no file).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ph, res = data.setup(log, opts.pcs)
    dof = res.dof
    log(
        f"cis nominal: {int(ph.positioned.sum())} features, {len(ph.samples)} samples, "
        f"dof {dof}, window {opts.window} bp"
    )
    writers: dict[str, pq.ParquetWriter] = {}
    files: list[str] = []
    schema = _arrow_schema(NOMINAL_COLUMNS)
    n_pairs = 0
    prog = Progress(int(ph.positioned.sum()), "omics map cis_nominal", "features")
    try:
        for cols, lo, hi, buf in _cis_batches(data.geno, ph.samples, ph, res, opts):
            chrom = str(ph.chrom[cols[0]])
            prog.update(len(cols))
            if (hi <= lo).all():
                continue
            _yc, ynorm, yhat = _prepare_y(ph, cols, res)
            ua, ub = int(lo.min()), int(hi.max())
            r = buf.g[ua:ub] @ yhat.astype(np.float32)  # (U, B)
            parts = []
            for j, f in enumerate(cols):
                a, b = int(lo[j]), int(hi[j])
                if b <= a:
                    continue
                st = _pair_stats(r[a - ua : b - ua, j], buf.norm[a:b], ynorm[j], dof)
                parts.append(
                    {
                        "phenotype_id": np.full(b - a, ph.ids[f], dtype=object),
                        "variant_id": buf.ids[a:b],
                        "tss_distance": buf.pos[a:b] - ph.start[f],
                        "af": buf.af[a:b].astype(np.float32),
                        "ma_samples": buf.ma_samples[a:b].astype(np.int32),
                        "ma_count": buf.ma_count[a:b].astype(np.int32),
                        "pval_nominal": st["pval_nominal"],
                        "slope": st["slope"].astype(np.float32),
                        "slope_se": st["slope_se"].astype(np.float32),
                    }
                )
            if not parts:
                continue
            table = pa.table(
                {k: np.concatenate([p[k] for p in parts]) for k in NOMINAL_COLUMNS}, schema=schema
            )
            if chrom not in writers:
                path = os.path.join(out_dir, f"{chrom}.parquet")
                writers[chrom] = pq.ParquetWriter(path, schema)
                files.append(path)
            writers[chrom].write_table(table)
            n_pairs += table.num_rows
    finally:
        for w in writers.values():
            w.close()
        prog.close()
    log(f"{n_pairs} cis pairs written to {len(files)} file(s)")
    return files


# --------------------------------------------------------------------------- trans
def map_trans(data: MapData, opts: MapOptions, out_path: str, log: Log = _no_log) -> int:
    """Every variant against every feature; pairs with ``p < opts.pval_threshold`` to Parquet.

    Returns the number of pairs written to ``out_path`` (:data:`TRANS_COLUMNS`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ph, res = data.setup(log, opts.pcs)
    dof = res.dof
    n_f = len(ph.ids)
    _yc, ynorm, yhat = _prepare_y(ph, np.arange(n_f), res)
    y32 = np.ascontiguousarray(yhat, dtype=np.float32)
    r2_thr = float(_r2_from_pval(opts.pval_threshold, dof))
    r_thr = np.float32(np.sqrt(r2_thr) * (1 - 1e-5))  # single-precision margin
    log(
        f"trans mapping: {n_f} features, {len(ph.samples)} samples, dof {dof}, p < "
        f"{opts.pval_threshold:g} (r2 > {r2_thr:.4g})"
        + (f", cis pairs (window {opts.window} bp) left out" if opts.exclude_cis else "")
    )
    schema = _arrow_schema(TRANS_COLUMNS)
    block = max(1, int(2.5e7 // max(opts.chunk_size, 1)))  # features per product
    y_blocks = [np.ascontiguousarray(y32[:, f0 : f0 + block]) for f0 in range(0, n_f, block)]
    total = 0
    writer = pq.ParquetWriter(out_path, schema)
    try:
        for variants, dosage in gt.iter_dosage_chunks(
            data.geno, opts.chunk_size, samples=ph.samples, progress="omics map trans"
        ):
            p = _prepared_chunk(variants, dosage, res, opts.maf_threshold)
            if len(p["pos"]) == 0:
                continue
            chrom = p["chrom"]
            vi_all, fi_all, r_all = [], [], []
            for f0, yb in zip(range(0, n_f, block), y_blocks, strict=True):
                r = p["g"] @ yb
                vi, fi = np.nonzero(np.abs(r) >= r_thr)
                if len(vi):
                    r_all.append(r[vi, fi])
                    vi_all.append(vi)
                    fi_all.append(fi + f0)
            if not vi_all:
                continue
            vi = np.concatenate(vi_all)
            fi = np.concatenate(fi_all)
            # the hits' r in double precision, a block of pairs at a time
            rr = np.concatenate(
                [
                    np.einsum(
                        "ij,ji->i",
                        p["g"][vi[k : k + 4096]].astype(np.float64),
                        yhat[:, fi[k : k + 4096]],
                    )
                    for k in range(0, len(vi), 4096)
                ]
            )
            st = _pair_stats(rr, p["norm"][vi], ynorm[fi], dof)
            keep = st["pval_nominal"] < opts.pval_threshold
            if opts.exclude_cis:
                pos = p["pos"][vi]
                cis = (
                    (ph.chrom[fi] == chrom[vi])
                    & (pos >= ph.start[fi] - opts.window)
                    & (pos <= ph.end[fi] + opts.window)
                )
                keep &= ~cis
            if not keep.any():
                continue
            vi, fi = vi[keep], fi[keep]
            table = pa.table(
                {
                    "variant_id": p["ids"][vi],
                    "phenotype_id": ph.ids[fi],
                    "pval": st["pval_nominal"][keep],
                    "b": st["slope"][keep].astype(np.float32),
                    "b_se": st["slope_se"][keep].astype(np.float32),
                    "r2": st["r2"][keep].astype(np.float32),
                    "af": p["af"][vi].astype(np.float32),
                },
                schema=schema,
            )
            writer.write_table(table)
            total += table.num_rows
    finally:
        writer.close()
    log(f"{total} trans pair(s) with p < {opts.pval_threshold:g} written to {out_path}")
    return total


# --------------------------------------------------------------------------- independent
def _conditional_lead(
    gw: np.ndarray,
    norm: np.ndarray,
    yc: np.ndarray,
    res: Residualiser,
    perms: np.ndarray,
    given: list[int],
) -> dict:
    """Lead, nominal and permutation statistics of a window conditioned on variants.

    ``gw`` holds unit residuals on the base covariates; conditioning on the variants
    ``given`` (rows of ``gw``) extends the residualiser with their residuals.
    """
    if given:
        extra = (gw[given].astype(np.float64) * norm[given][:, None]).T  # (n, e) residuals
        rc = res.extend(extra)
        e = rc.q[:, res.rank :].astype(np.float32)  # new orthonormal directions
        g2 = gw - (gw @ e) @ e.T
        gn = np.sqrt(np.einsum("ij,ij->i", g2, g2, dtype=np.float64))
        ok = gn > 1e-3
        inv = np.where(ok, 1.0 / np.where(ok, gn, 1.0), 0.0).astype(np.float32)
        g2 = np.ascontiguousarray(g2 * inv[:, None])
        norm2 = norm * gn
    else:
        rc, g2, norm2, ok = res, gw, norm, np.ones(len(gw), dtype=bool)
    yr = rc.transform(yc)
    ynorm = float(np.sqrt(yr @ yr))
    yhat = yr / ynorm
    r = g2 @ yhat.astype(np.float32)
    r2v = np.where(ok, r * r, -1.0)
    lead = int(np.argmax(r2v))
    rl = float(g2[lead].astype(np.float64) @ yhat)
    st = _pair_stats(np.array([rl]), norm2[lead : lead + 1], ynorm, rc.dof, one=True)
    r2p = _perm_r2(g2[ok], yc, perms, rc)
    ba = beta_approx(r2p[None, :], np.array([st["r2"]]), rc.dof)
    st.update({k: float(v[0]) for k, v in ba.items()})
    st["pval_perm"] = (np.sum(r2p >= st["r2"]) + 1) / (len(perms) + 1)
    st["lead"] = lead
    return st


def map_independent(
    data: MapData, cis: pd.DataFrame, opts: MapOptions, log: Log = _no_log
) -> pd.DataFrame:
    """Independent cis signals of the features with ``qval <= opts.fdr`` in ``cis``.

    Forward-backward stepwise regression (tensorQTL ``map_independent``; GTEx 2020):
    the significance threshold is the largest ``pval_beta`` among the significant
    features. Returns :data:`INDEPENDENT_COLUMNS`, one row per signal with its ``rank``.
    """
    sig = cis[cis["qval"] <= opts.fdr]
    if sig.empty:
        log(f"no feature with a cis-QTL at FDR {opts.fdr}: no independent signals to map")
        return pd.DataFrame(columns=INDEPENDENT_COLUMNS)
    threshold = float(sig["pval_beta"].max())
    ph, res = data.setup(log, opts.pcs)
    keep = np.flatnonzero(np.isin(ph.ids, sig["phenotype_id"].to_numpy()))
    ph = ph.subset(cols=keep)
    log(
        f"independent cis signals of {len(keep)} feature(s) (pval_beta <= {threshold:.4g}), "
        f"{opts.nperm} permutations"
    )
    perms = _permutations(len(ph.samples), opts.nperm, opts.seed)
    rows = []
    prog = Progress(len(keep), "omics map cis_independent", "features")
    for cols, lo, hi, buf in _cis_batches(data.geno, ph.samples, ph, res, opts):
        yc_all, _yn, _yh = _prepare_y(ph, cols, res)
        for j, f in enumerate(cols):
            a, b = int(lo[j]), int(hi[j])
            if b <= a:
                continue
            gw, norm, yc = buf.g[a:b], buf.norm[a:b], yc_all[:, j]
            first = _conditional_lead(gw, norm, yc, res, perms, [])
            found = [first["lead"]]
            while len(found) < b - a:  # forward
                st = _conditional_lead(gw, norm, yc, res, perms, found)
                if st["pval_beta"] > threshold or st["lead"] in found:
                    break
                found.append(st["lead"])
            final = []
            if len(found) == 1:
                final.append((1, first))
            else:  # backward
                for k in range(len(found)):
                    others = found[:k] + found[k + 1 :]
                    st = _conditional_lead(gw, norm, yc, res, perms, others)
                    if st["pval_beta"] <= threshold:
                        final.append((k + 1, st))
            for rank, st in final:
                v = a + st["lead"]
                rows.append(
                    {
                        "phenotype_id": ph.ids[f],
                        "num_var": b - a,
                        "beta_shape1": st["beta_shape1"],
                        "beta_shape2": st["beta_shape2"],
                        "true_df": st["true_df"],
                        "pval_true_df": st["pval_true_df"],
                        **_pair_fields(buf, v, ph, f, st),
                        "pval_perm": st["pval_perm"],
                        "pval_beta": st["pval_beta"],
                        "rank": rank,
                    }
                )
        prog.update(len(cols))
    prog.close()
    out = pd.DataFrame(rows, columns=INDEPENDENT_COLUMNS)
    n_multi = int((out.groupby("phenotype_id").size() > 1).sum()) if len(out) else 0
    log(f"{len(out)} independent signal(s); {n_multi} feature(s) with more than one")
    return out
