"""Genomic relationship matrices (GRM) and their positive semi-definite eigendecomposition.

The GRM is VanRaden's (2008) first method,

.. math:: G = \\frac{Z Z^\\top}{2 \\sum_j p_j (1 - p_j)}, \\qquad Z_{ij} = x_{ij} - 2 p_j,

with ALT-allele frequencies ``p`` estimated in the analysed samples, missing
genotypes mean-imputed (``Z = 0``) and variants without calls or below the MAF
threshold left out (:func:`breedomics.core.standardise.centre`). The
standardised variant (``method="standardized"``) divides every column by
``sqrt(2 p (1 - p))`` and the sum by the number of variants, ``K = W W' / m``
(Patterson, Price & Reich 2006): the matrix whose eigenvectors are the
principal components of EIGENSOFT and ``plink2 --pca``.

One implementation serves every stage. It is accumulated chunk by chunk of
variants with symmetric rank-k updates (BLAS ``syrk``) into a double-precision
sum, so only ``n x n`` matrices are held in memory: :func:`accumulate_grm`
streams a genotype file or chunks, :func:`vanraden_grm` takes an in-memory
dosage matrix and :func:`grm_from_centred` an already centred one (genomic
selection keeps ``Z`` for marker effects). The products are formed in the
precision of the centred dosages, a parameter: double (census) or single
(GWAS and genomic selection; relative error ~1e-7 of the entries, like
GCTA's single-precision GRM, and the error does not grow with the number of
chunks because every chunk's product is added to a double-precision sum).

With leave-one-chromosome-out (LOCO; Yang et al. 2014) the numerator and
denominator of every chromosome are kept too, and the kinship for testing
chromosome ``c`` is ``(S - S_c) / (D - D_c)`` (:meth:`GRM.matrix`).

:func:`eigh_psd` decomposes a kinship once and checks that it is positive
semi-definite. Eigenvalues within ``1e-6 x max|eigenvalue|`` of zero are set
to zero (as GEMMA does with its ``1e-10`` cut-off; Zhou & Stephens 2012; the
wider band covers the rounding of the single-precision GRM products, e.g. the
zero eigenvalue of the centred GRM coming out as -1e-6). If a clearly
negative eigenvalue remains (a user-supplied or pedigree-blended matrix, not
a GRM from genotypes, which is PSD by construction), a ridge
``r = |min eigenvalue| + 1e-6 x max|eigenvalue|`` is added to the diagonal,
i.e. every eigenvalue is shifted by ``r``, and a warning gives ``r``; the
model is then fitted with ``K + r I`` instead of crashing deep inside LAPACK.
The decomposition is reused for every trait, scan and principal component
(:func:`top_pcs`).

References
----------
VanRaden PM (2008) Efficient methods to compute genomic predictions.
*J Dairy Sci* 91:4414-4423.

Yang J, Lee SH, Goddard ME, Visscher PM (2011) GCTA: a tool for genome-wide
complex trait analysis. *Am J Hum Genet* 88:76-82.

Patterson N, Price AL, Reich D (2006) Population structure and eigenanalysis.
*PLoS Genet* 2:e190.

Yang J, Zaitlen NA, Goddard ME, Visscher PM, Price AL (2014) Advantages and
pitfalls in the application of mixed-model association methods.
*Nat Genet* 46:100-106.

Zhou X, Stephens M (2012) Genome-wide efficient mixed-model analysis for
association studies. *Nat Genet* 44:821-824.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import DTypeLike
from scipy.linalg import blas, eigh
from threadpoolctl import threadpool_limits

from breedomics.core import genotypes as gt
from breedomics.core.standardise import centre, standardise
from breedomics.core.workspace import WorkArrays
from breedomics.errors import UserError

__all__ = [
    "EIG_TOL",
    "GRM",
    "Eigen",
    "METHODS",
    "accumulate_grm",
    "add_crossproduct",
    "eigh_psd",
    "grm_from_centred",
    "top_pcs",
    "vanraden_grm",
    "vanraden_scale",
]

#: Relative tolerance below which eigenvalues count as zero.
EIG_TOL = 1e-6
#: GRM methods: VanRaden method 1, or the standardised matrix of PCA.
METHODS = ("vanraden", "standardized")


@dataclass
class GRM:
    """Accumulated relationship-matrix sums, optionally per chromosome (LOCO).

    Attributes
    ----------
    samples : list of str
        Row/column order.
    num : numpy.ndarray
        ``Z Z^T`` summed over all variants (``n x n``, float64).
    den : float
        ``2 sum p (1 - p)`` over all variants (VanRaden), or their number
        (standardised).
    n_snps : int
        Variants used.
    chrom_num, chrom_den, chrom_snps : dict
        Per-chromosome numerators, denominators and variant counts (LOCO only).
    n_skipped : int
        Variants left out (no call, or below the MAF threshold).
    """

    samples: list[str]
    num: np.ndarray
    den: float
    n_snps: int
    chrom_num: dict[str, np.ndarray] = field(default_factory=dict)
    chrom_den: dict[str, float] = field(default_factory=dict)
    chrom_snps: dict[str, int] = field(default_factory=dict)
    n_skipped: int = 0

    def matrix(self, leave_out: str | None = None) -> np.ndarray:
        """The relationship matrix, optionally leaving one chromosome out.

        Parameters
        ----------
        leave_out : str, optional
            Chromosome whose variants are excluded (LOCO); a chromosome
            without per-chromosome sums gives the genome-wide matrix.

        Returns
        -------
        numpy.ndarray
            ``n x n`` float64 matrix.
        """
        if leave_out is None or leave_out not in self.chrom_num:
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
        """Chromosomes with per-chromosome sums, in genome order."""
        return list(self.chrom_num)


def vanraden_scale(freq: np.ndarray) -> float:
    """VanRaden's denominator ``2 sum_j p_j (1 - p_j)``."""
    return float(2.0 * np.sum(freq * (1.0 - freq)))


def add_crossproduct(acc: np.ndarray, z: np.ndarray) -> None:
    """``acc += z z^T`` on the upper triangle: a rank-k update in the precision of ``z``.

    ``z``'s product is formed by BLAS ``ssyrk`` (float32) or ``dsyrk``
    (otherwise, in float64) and added to the double-precision ``acc``
    (``n x n``, best Fortran-ordered); the lower triangle is left alone.
    """
    if z.shape[1] == 0:
        return
    if z.dtype == np.float32:
        # z.T is Fortran-ordered (k x n): trans=1 gives (z.T)^T z.T = z z^T, no copy
        acc += blas.ssyrk(1.0, z.T, lower=0, trans=1)
    else:
        acc += blas.dsyrk(1.0, np.asarray(z, dtype=np.float64).T, lower=0, trans=1)


def _symmetric(acc: np.ndarray) -> np.ndarray:
    """C-ordered copy of ``acc`` with its upper triangle mirrored to the lower one."""
    a = np.ascontiguousarray(acc)
    iu = np.triu_indices(a.shape[0], 1)
    a[(iu[1], iu[0])] = a[iu]
    return a


class _Sums:
    """Running GRM sums: one accumulator, or one per chromosome (LOCO)."""

    def __init__(self, n, method, min_maf, dtype, loco, max_chromosomes, label):
        if method not in METHODS:
            raise UserError(f"unknown GRM method {method!r}; use 'vanraden' or 'standardized'")
        self.n, self.method, self.min_maf, self.dtype = n, method, min_maf, np.dtype(dtype)
        self.loco, self.max_chromosomes, self.label = loco, max_chromosomes, label
        self.acc = np.zeros((n, n), order="F")
        self.den, self.n_snps, self.skipped = 0.0, 0, 0
        self.cnum: dict[str, np.ndarray] = {}
        self.cden: dict[str, float] = {}
        self.csnp: dict[str, int] = {}
        self._work = WorkArrays()  # the centred chunk

    def add(self, dosage: np.ndarray, chrom: str | None = None) -> None:
        out = self._work.get("z", (dosage.size,), self.dtype)
        c = centre(dosage, self.min_maf, dtype=self.dtype, out=out)
        z = c.z
        self.skipped += dosage.shape[1] - z.shape[1]
        if self.method == "standardized":
            dd = float(z.shape[1])
            standardise(z, c.freq)
        else:
            dd = vanraden_scale(c.freq)
        if chrom is None:
            add_crossproduct(self.acc, z)
        else:
            if chrom not in self.cnum:
                if len(self.cnum) >= self.max_chromosomes:
                    raise UserError(
                        f"{self.label}: more than {self.max_chromosomes} chromosomes/contigs for "
                        "LOCO kinship; restrict the genotypes to the assembled chromosomes "
                        "(e.g. `plink2 --chr`) or run without --loco"
                    )
                self.cnum[chrom] = np.zeros((self.n, self.n), order="F")
                self.cden[chrom] = 0.0
                self.csnp[chrom] = 0
            add_crossproduct(self.cnum[chrom], z)
            self.cden[chrom] += dd
            self.csnp[chrom] += z.shape[1]
        self.den += dd
        self.n_snps += z.shape[1]

    def result(self, samples: Sequence[str]) -> GRM:
        if self.n_snps == 0:
            raise UserError(
                f"{self.label}: no polymorphic SNP with calls among the {self.n} analysed "
                f"samples ({self.skipped} SNPs skipped as monomorphic or all-missing); "
                "cannot build a GRM"
            )
        for c in self.cnum:
            self.acc += self.cnum[c]
        return GRM(
            list(samples),
            _symmetric(self.acc),
            self.den,
            self.n_snps,
            {c: _symmetric(v) for c, v in self.cnum.items()},
            self.cden,
            self.csnp,
            self.skipped,
        )


def accumulate_grm(
    geno: str | os.PathLike | Iterable[tuple[pd.DataFrame, np.ndarray]],
    samples: Sequence[str],
    *,
    method: str = "vanraden",
    min_maf: float = 0.0,
    loco: bool = False,
    dtype: DTypeLike = np.float32,
    chunk_size: int = 10000,
    snp_ids: set[str] | None = None,
    max_chromosomes: int = 100,
    progress: str | None = None,
) -> GRM:
    """Stream genotypes into a GRM (memory ``O(n^2 + n x chunk_size)``).

    Parameters
    ----------
    geno : str, path-like or iterable
        VCF/BCF or PLINK 1 prefix, or an iterable of ``(variants, dosage)``
        chunks whose rows are already ``samples``.
    samples : sequence of str
        Samples (rows of the GRM), in this order.
    method : {"vanraden", "standardized"}
        VanRaden method 1, or the standardised matrix of PCA.
    min_maf : float, default 0
        Leave out variants with ``MAF <= min_maf`` (0: only monomorphic ones).
    loco : bool, default False
        Also keep per-chromosome sums for leave-one-chromosome-out kinships.
    dtype : {numpy.float32, numpy.float64}
        Precision of the centred dosages and of each chunk's product (the sum
        is always double): single for GWAS, double for the census.
    chunk_size : int, default 10000
        Variants read per chunk (paths only).
    snp_ids : set of str, optional
        Only use these variant ids (e.g. an LD-pruned set).
    max_chromosomes : int, default 100
        With ``loco``, refuse more chromosomes than this (each needs an
        ``n x n`` matrix); drop unplaced scaffolds first.
    progress : str, optional
        Label of progress lines counting the variants read (paths only; see
        :func:`breedomics.core.genotypes.iter_dosage_chunks`).

    Returns
    -------
    GRM

    Raises
    ------
    UserError
        If no variant is polymorphic among the samples, the method is
        unknown, or LOCO would need too many matrices.
    """
    if isinstance(geno, str | os.PathLike):
        chunks = gt.iter_dosage_chunks(
            geno, chunk_size=chunk_size, samples=list(samples), progress=progress
        )
        label = str(geno)
    else:
        chunks, label = geno, "genotypes"
    sums = _Sums(len(samples), method, min_maf, dtype, loco, max_chromosomes, label)
    for var, dos in chunks:
        if snp_ids is not None:
            keep = var["id"].isin(snp_ids).to_numpy()
            var, dos = var.loc[keep], dos[:, keep]
        if loco:
            for chrom, _v, d in gt.split_by_chrom(var, dos):
                sums.add(d, chrom)
        else:
            sums.add(dos)
    return sums.result(samples)


def vanraden_grm(
    dosage: np.ndarray,
    *,
    method: str = "vanraden",
    min_maf: float = 0.0,
    dtype: DTypeLike = np.float64,
    block: int = 10000,
) -> np.ndarray:
    """The GRM of an in-memory ``(n, m)`` dosage matrix (NaN missing).

    The same computation as :func:`accumulate_grm`, over blocks of ``block``
    columns; parameters as there.

    Returns
    -------
    numpy.ndarray
        ``n x n`` float64 GRM.
    """
    d = np.asarray(dosage)
    sums = _Sums(d.shape[0], method, min_maf, dtype, False, 0, "dosage matrix")
    for s in range(0, d.shape[1], block):
        sums.add(d[:, s : s + block])
    return sums.result([str(i) for i in range(d.shape[0])]).matrix()


def grm_from_centred(z: np.ndarray, scale: float, block: int = 20000) -> np.ndarray:
    """``z z' / scale`` of an already centred ``(n, m)`` matrix, over blocks of columns.

    Genomic selection keeps its centred marker matrix (for marker effects)
    and builds ``G`` from it; the products are in ``z``'s precision, summed in
    double (:func:`add_crossproduct`).

    Parameters
    ----------
    z : numpy.ndarray
        Centred dosages (missing -> 0).
    scale : float
        Denominator, ``2 sum p (1 - p)`` for VanRaden's G
        (:func:`vanraden_scale`).
    block : int, default 20000
        Columns per rank-k update.

    Returns
    -------
    numpy.ndarray
        ``n x n`` float64 matrix.
    """
    n, m = z.shape
    acc = np.zeros((n, n), order="F")
    for s in range(0, m, block):
        add_crossproduct(acc, z[:, s : s + block])
    g = _symmetric(acc)
    g /= scale
    return g


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
        If the matrix is not square, not finite or not symmetric.

    Warns
    -----
    UserWarning
        If a ridge had to be added (see the module documentation).
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
