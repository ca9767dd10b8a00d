"""Genomic relationship matrices (GRM) for the mixed models, built out of core.

The GRM is VanRaden's (2008, *J Dairy Sci* 91:4414) first method,

.. math:: K = \\frac{Z Z^\\top}{2 \\sum_j p_j (1 - p_j)}, \\qquad Z_{ij} = x_{ij} - 2 p_j,

with allele frequencies ``p`` estimated in the analysed samples and missing
genotypes mean-imputed (``Z = 0``). It is accumulated chunk by chunk of
SNPs (symmetric rank-k updates, single-precision products summed in double
precision), so only ``n x n`` matrices are ever held in memory. With
leave-one-chromosome-out (LOCO; Yang et al. 2014, *Nat Genet* 46:100) the
numerator and denominator of every chromosome are kept too, and the kinship
for testing chromosome ``c`` is ``(S - S_c) / (D - D_c)``.

:func:`eigh_psd` decomposes a kinship once and checks that it is positive
semi-definite. Eigenvalues within ``1e-6 x max|eigenvalue|`` of zero are set
to zero (as GEMMA does with its ``1e-10`` cut-off; Zhou & Stephens 2012,
*Nat Genet* 44:821; the wider band covers the rounding of the single-precision
GRM products, e.g. the zero eigenvalue of the centred GRM coming out as
-1e-6). If a clearly negative eigenvalue remains (a user-supplied or
pedigree-blended matrix, not a GRM from genotypes, which is PSD by
construction), a ridge ``r = |min eigenvalue| + 1e-6 x max|eigenvalue|`` is
added to the diagonal, i.e. every eigenvalue is shifted by ``r``, and a
warning gives ``r``; the model is then fitted with ``K + r I`` instead of
crashing deep inside LAPACK.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.linalg import blas, eigh
from threadpoolctl import threadpool_limits

from breedomics.core import genotypes as gt
from breedomics.errors import UserError

__all__ = [
    "GRM",
    "Eigen",
    "accumulate_grm",
    "eigh_psd",
    "impute_center",
    "split_by_chrom",
    "read_kinship",
    "top_pcs",
]

#: Relative tolerance below which eigenvalues count as zero.
EIG_TOL = 1e-6


def impute_center(
    x: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-impute missing dosages and centre each SNP.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, m)`` dosages with NaN for missing.
    out : numpy.ndarray, optional
        Contiguous float64 work array with at least ``n x m`` elements to fill
        (reusing one array across chunks avoids the page faults of a fresh
        large allocation).

    Returns
    -------
    z : numpy.ndarray
        ``float64`` centred dosages (missing -> 0).
    mean : numpy.ndarray
        Per-SNP mean dosage of the non-missing calls (``2 p``).
    n_obs : numpy.ndarray
        Per-SNP number of non-missing calls.
    """
    if out is not None and out.size >= x.size:
        z = out.reshape(-1)[: x.size].reshape(x.shape)  # contiguous view of the work array
        np.copyto(z, x)
    else:
        z = np.array(x, dtype=np.float64)  # the only copy
    n = z.shape[0]
    miss = np.isnan(z)
    if miss.any():
        z[miss] = 0.0
        n_obs = n - miss.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n_obs > 0, z.sum(axis=0) / np.maximum(n_obs, 1), 0.0)
        z -= mean
        z[miss] = 0.0
    else:
        n_obs = np.full(z.shape[1], n)
        mean = z.mean(axis=0)
        z -= mean
    return z, mean, n_obs


def _center32(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-precision centred dosages of the polymorphic SNPs and their frequencies.

    Means are summed in double precision; missing calls become 0 (mean
    imputation). Monomorphic SNPs (or SNPs without calls) are dropped.
    """
    d = np.asarray(d, dtype=np.float32)
    miss = np.isnan(d)
    has_miss = bool(miss.any())
    if has_miss:
        n_obs = d.shape[0] - miss.sum(axis=0)
        total = np.where(miss, 0.0, d).sum(axis=0, dtype=np.float64)
    else:
        n_obs = np.full(d.shape[1], d.shape[0])
        total = d.sum(axis=0, dtype=np.float64)
    mean = total / np.maximum(n_obs, 1)
    p = mean / 2
    poly = (n_obs > 0) & (p > 0) & (p < 1)
    if not poly.all():
        d, p, mean = d[:, poly], p[poly], mean[poly]
        miss = miss[:, poly] if has_miss else miss
    z = d - mean.astype(np.float32)
    if has_miss:
        z[miss] = 0.0
    return z, p


def split_by_chrom(variants: pd.DataFrame, dosage: np.ndarray):
    """Split a chunk into runs of consecutive variants on the same chromosome.

    Yields
    ------
    chrom : str
    variants : pandas.DataFrame
    dosage : numpy.ndarray
    """
    chrom = variants["chrom"].astype(str).to_numpy()
    if len(chrom) == 0:
        return
    cuts = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    bounds = np.r_[0, cuts, len(chrom)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        yield chrom[a], variants.iloc[a:b], dosage[:, a:b]


@dataclass
class GRM:
    """Accumulated VanRaden GRM, optionally per chromosome (LOCO).

    Attributes
    ----------
    samples : list of str
        Row/column order.
    num : numpy.ndarray
        ``Z Z^T`` summed over all SNPs (``n x n``, float64).
    den : float
        ``2 sum p (1 - p)`` over all SNPs.
    n_snps : int
        Polymorphic SNPs used.
    chrom_num, chrom_den, chrom_snps : dict
        Per-chromosome numerators, denominators and SNP counts (LOCO only).
    """

    samples: list[str]
    num: np.ndarray
    den: float
    n_snps: int
    chrom_num: dict[str, np.ndarray] = field(default_factory=dict)
    chrom_den: dict[str, float] = field(default_factory=dict)
    chrom_snps: dict[str, int] = field(default_factory=dict)

    def matrix(self, leave_out: str | None = None) -> np.ndarray:
        """The kinship matrix, optionally leaving one chromosome out.

        Parameters
        ----------
        leave_out : str, optional
            Chromosome whose SNPs are excluded (LOCO).

        Returns
        -------
        numpy.ndarray
            ``n x n`` float64 kinship.
        """
        if leave_out is None:
            return self.num / self.den
        if leave_out not in self.chrom_num:
            return self.num / self.den
        den = self.den - self.chrom_den[leave_out]
        if den <= 0 or self.n_snps - self.chrom_snps[leave_out] < 1:
            raise UserError(
                f"LOCO kinship for chromosome {leave_out!r} has no SNP left (all polymorphic "
                "SNPs are on that chromosome); run without --loco"
            )
        return (self.num - self.chrom_num[leave_out]) / den

    @property
    def chromosomes(self) -> list[str]:
        return list(self.chrom_num)


def _syrk_update(acc: np.ndarray, z: np.ndarray) -> None:
    """acc (upper triangle) += z z^T: single-precision rank-k update, double accumulation.

    Each chunk's ``z z^T`` is formed by ``ssyrk`` (dosages centred in double,
    then rounded to single: relative error ~1e-7 of the entries' scale, like
    GCTA's single-precision GRM) and added to the double-precision sum, so
    the error does not grow with the number of chunks.
    """
    if z.shape[1] == 0:
        return
    z32 = np.asarray(z, dtype=np.float32)
    # z32.T is Fortran-ordered (k x n): trans=1 gives (z32.T)^T z32.T = z z^T, no copy
    acc += blas.ssyrk(1.0, z32.T, lower=0, trans=1)


def accumulate_grm(
    geno: str | os.PathLike | Iterable[tuple[pd.DataFrame, np.ndarray]],
    samples: Sequence[str],
    loco: bool = False,
    chunk_size: int = 10000,
    snp_ids: set[str] | None = None,
    max_chromosomes: int = 100,
) -> GRM:
    """Stream a genotype file and accumulate the VanRaden GRM.

    Parameters
    ----------
    geno : str, path-like or iterable
        VCF/BCF or PLINK 1 prefix, or an iterable of ``(variants, dosage)``
        chunks whose rows are already ``samples``.
    samples : sequence of str
        Samples (rows of the GRM), in this order.
    loco : bool
        Also keep per-chromosome sums for leave-one-chromosome-out kinships.
    chunk_size : int
        SNPs read per chunk.
    snp_ids : set of str, optional
        Only use these variant ids (e.g. an LD-pruned set).
    max_chromosomes : int
        With ``loco``, refuse more chromosomes than this (each needs an
        ``n x n`` matrix); drop unplaced scaffolds first.

    Returns
    -------
    GRM
    """
    n = len(samples)
    acc = np.zeros((n, n), order="F")
    den = 0.0
    n_snps = 0
    cnum: dict[str, np.ndarray] = {}
    cden: dict[str, float] = {}
    csnp: dict[str, int] = {}
    if isinstance(geno, str | os.PathLike):
        chunks = gt.iter_dosage_chunks(geno, chunk_size=chunk_size, samples=list(samples))
        label = str(geno)
    else:
        chunks, label = geno, "genotypes"
    for var, dos in chunks:
        if snp_ids is not None:
            keep = var["id"].isin(snp_ids).to_numpy()
            var, dos = var.loc[keep], dos[:, keep]
        for chrom, _v, d in split_by_chrom(var, dos) if loco else [(None, var, dos)]:
            z, p = _center32(d)
            dd = float(np.sum(2 * p * (1 - p)))
            if loco:
                if chrom not in cnum:
                    if len(cnum) >= max_chromosomes:
                        raise UserError(
                            f"{label}: more than {max_chromosomes} chromosomes/contigs for LOCO "
                            "kinship; restrict the genotypes to the assembled chromosomes "
                            "(e.g. `plink2 --chr`) or run without --loco"
                        )
                    cnum[chrom] = np.zeros((n, n), order="F")
                    cden[chrom] = 0.0
                    csnp[chrom] = 0
                _syrk_update(cnum[chrom], z)
                cden[chrom] += dd
                csnp[chrom] += z.shape[1]
            else:
                _syrk_update(acc, z)
            den += dd
            n_snps += z.shape[1]
    if n_snps == 0:
        raise UserError(f"{label}: no polymorphic SNP among the analysed samples to build a GRM")
    if loco:
        for c in cnum:
            acc += cnum[c]
    iu = np.triu_indices(n, 1)

    def _sym(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        a[(iu[1], iu[0])] = a[iu]
        return a

    return GRM(
        list(samples),
        _sym(acc),
        den,
        n_snps,
        {c: _sym(v) for c, v in cnum.items()},
        cden,
        csnp,
    )


def _eigh(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric eigendecomposition (LAPACK dsyevd).

    Up to a few thousand samples it runs on one BLAS thread: the
    tridiagonal reduction is memory-bound, gains little from threads and, on
    a busy machine, OpenBLAS threads spinning on each other's level-2 calls
    can make it 50 times slower.
    """
    if k.shape[0] <= 3000:
        with threadpool_limits(limits=1):
            return eigh(k, driver="evd", overwrite_a=False, check_finite=False)
    return eigh(k, driver="evd", overwrite_a=False, check_finite=False)


@dataclass
class Eigen:
    """Eigendecomposition ``K = U diag(s) U^T`` of a (possibly ridged) kinship.

    Attributes
    ----------
    s : numpy.ndarray
        Eigenvalues (ascending), clipped to >= 0 after the PSD check.
    U : numpy.ndarray
        Orthonormal eigenvectors (columns).
    ridge : float
        Ridge added to the diagonal (0 if none was needed).
    trace_mean : float
        ``trace(K) / n`` of the matrix actually fitted (for PVE).
    """

    s: np.ndarray
    U: np.ndarray
    ridge: float = 0.0
    trace_mean: float = 1.0


def eigh_psd(k: np.ndarray, context: str = "kinship") -> Eigen:
    """Eigendecompose a kinship matrix, checking it is positive semi-definite.

    Parameters
    ----------
    k : numpy.ndarray
        Symmetric ``n x n`` matrix.
    context : str
        Name used in warnings and errors.

    Returns
    -------
    Eigen

    Raises
    ------
    UserError
        If the matrix is not finite or not symmetric.

    Warns
    -----
    UserWarning
        If a ridge had to be added (see module documentation).
    """
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise UserError(f"{context}: kinship must be a square matrix, got shape {k.shape}")
    if not np.isfinite(k).all():
        raise UserError(f"{context}: kinship has non-finite entries")
    scale = max(np.abs(k).max(), 1e-300)
    if np.abs(k - k.T).max() > 1e-6 * scale:
        raise UserError(f"{context}: kinship is not symmetric")
    k = (k + k.T) / 2
    s, u = _eigh(k)
    tol = EIG_TOL * max(np.abs(s).max(), 1e-300)
    ridge = 0.0
    if s[0] < -tol:
        ridge = float(-s[0] + tol)
        warnings.warn(
            f"{context} is not positive semi-definite (smallest eigenvalue {s[0]:.3g}, "
            f"largest {s[-1]:.3g}); adding a ridge of {ridge:.3g} to its diagonal "
            "(K + rI) so the mixed model can be fitted",
            stacklevel=2,
        )
        s = s + ridge
    s = np.where(np.abs(s) < tol, 0.0, s)
    s = np.maximum(s, 0.0)
    return Eigen(s, u, ridge, float(np.trace(k) / k.shape[0] + ridge))


def top_pcs(e: Eigen, k: int) -> np.ndarray:
    """Top ``k`` principal components (eigenvectors scaled by sqrt eigenvalue).

    Parameters
    ----------
    e : Eigen
        Decomposition of the GRM of the analysed samples.
    k : int
        Number of PCs.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` PC scores, largest eigenvalue first.
    """
    if k <= 0:
        return np.zeros((e.U.shape[0], 0))
    if k >= e.U.shape[0]:
        raise UserError(f"--pcs {k} is not smaller than the number of samples ({e.U.shape[0]})")
    order = np.argsort(e.s)[::-1][:k]
    return e.U[:, order] * np.sqrt(e.s[order])


def read_kinship(path: str | os.PathLike, samples: Sequence[str], geno_samples: Sequence[str]):
    """Read a user-supplied kinship matrix and order it like ``samples``.

    Two layouts are accepted: a tab-separated table whose first column is
    ``sample`` and whose other column names are the same sample ids (rows and
    columns in any order), or a GEMMA-style bare ``n x n`` numeric matrix in
    genotype-file sample order.

    Parameters
    ----------
    path : str or path-like
        The matrix file.
    samples : sequence of str
        Analysed samples (output order).
    geno_samples : sequence of str
        All genotype samples (order of a bare matrix).

    Returns
    -------
    numpy.ndarray
        ``len(samples) x len(samples)`` kinship.
    """
    path = str(path)
    if not os.path.exists(path):
        raise UserError(f"kinship file {path} does not exist")
    with open(path) as fh:
        first = fh.readline().split()
    try:
        float(first[0])
        bare = True
    except (ValueError, IndexError):
        bare = False
    if bare:
        k = np.loadtxt(path, ndmin=2)
        if k.shape != (len(geno_samples), len(geno_samples)):
            raise UserError(
                f"{path}: a bare kinship matrix must be {len(geno_samples)} x "
                f"{len(geno_samples)} (genotype-file sample order), got {k.shape}"
            )
        pos = {s: i for i, s in enumerate(geno_samples)}
        idx = np.array([pos[s] for s in samples])
        return k[np.ix_(idx, idx)]
    df = pd.read_csv(path, sep="\t", index_col=0)
    df.index = df.index.astype(str)
    missing = [s for s in samples if s not in df.index or s not in df.columns]
    if missing:
        raise UserError(
            f"{path}: analysed sample {missing[0]!r} is not a row and column of the kinship "
            f"matrix ({len(missing)} missing); add it or drop it from the phenotypes"
        )
    return df.loc[list(samples), list(samples)].to_numpy(dtype=float)
