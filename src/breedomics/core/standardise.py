"""Dosage standardisation: allele frequencies, MAF filters, mean imputation, centring.

Every stage that turns ALT dosages ``x_ij`` (0/1/2, NaN missing; see
:mod:`breedomics.core.genotypes`) into the centred or standardised matrix of
a relationship matrix, a PCA, an LD correlation or an association test does it
here, with one set of rules:

* the allele frequency of a variant is ``p_j = mean_j / 2``, the mean dosage of
  the samples called at it (:func:`dosage_means`; sums in double precision);
* a missing call is mean-imputed: it is set to ``2 p_j``, i.e. to 0 after
  centring (:func:`impute_center`, :func:`centre`);
* centred dosages are ``z_ij = x_ij - 2 p_j`` (VanRaden 2008), and
  standardised ones ``w_ij = z_ij / sqrt(2 p_j (1 - p_j))`` (Patterson, Price
  & Reich 2006), :func:`standardise`;
* a variant is used when it has at least one call and its minor-allele
  frequency ``min(p, 1 - p)`` passes :func:`maf_mask`.

The stages differ in two details that change which variants are kept, so both
are explicit parameters, each caller passing what it always did: the MAF rule
(``MAF > min_maf``, census and GWAS, where ``min_maf = 0`` drops exactly the
monomorphic variants; or ``MAF >= min_maf``, genomic selection) and an extra
variance filter (genomic selection also drops a column whose imputed, centred
values do not vary, e.g. a variant where every sample is heterozygous).

The centred matrix is computed in double (``float64``) or single
(``float32``) precision: single halves the memory of large panels (the GWAS
and genomic-selection GRMs, :mod:`breedomics.core.grm`). The means are always
summed in double precision and rounded once to the working precision.

References
----------
VanRaden PM (2008) Efficient methods to compute genomic predictions.
*J Dairy Sci* 91:4414-4423 (centring on ``2p``, mean imputation).

Patterson N, Price AL, Reich D (2006) Population structure and eigenanalysis.
*PLoS Genet* 2:e190 (standardisation by ``sqrt(2p(1 - p))``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "Centred",
    "centre",
    "dosage_means",
    "impute_center",
    "maf_mask",
    "standardise",
]


def dosage_means(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean dosage of the called samples and number of calls, per variant.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, m)`` dosages, NaN for missing.

    Returns
    -------
    mean : numpy.ndarray
        ``float64 (m,)`` mean of the non-missing dosages (``2 p``), summed in
        double precision; 0 for a variant without calls.
    n_obs : numpy.ndarray
        ``(m,)`` number of non-missing calls.
    """
    d = np.asarray(dosage)
    miss = np.isnan(d)
    if miss.any():
        n_obs = d.shape[0] - miss.sum(axis=0)
        total = np.where(miss, 0.0, d).sum(axis=0, dtype=np.float64)
    else:
        n_obs = np.full(d.shape[1], d.shape[0])
        total = d.sum(axis=0, dtype=np.float64)
    return total / np.maximum(n_obs, 1), n_obs


def maf_mask(freq: np.ndarray, min_maf: float = 0.0, *, inclusive: bool = False) -> np.ndarray:
    """Variants whose minor-allele frequency passes ``min_maf``.

    Parameters
    ----------
    freq : numpy.ndarray
        Allele frequencies ``p`` (NaN never passes).
    min_maf : float, default 0
        Threshold on ``min(p, 1 - p)``.
    inclusive : bool, default False
        Keep ``MAF >= min_maf`` (genomic selection) instead of
        ``MAF > min_maf`` (census, GWAS; with 0 it drops exactly the
        monomorphic variants).

    Returns
    -------
    numpy.ndarray
        Boolean mask.
    """
    maf = np.minimum(freq, 1.0 - freq)
    return maf >= min_maf if inclusive else maf > min_maf


def impute_center(
    x: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-impute missing dosages and centre every variant (double precision, no filter).

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, m)`` dosages with NaN for missing.
    out : numpy.ndarray, optional
        Contiguous float64 or float32 work array with at least ``n x m`` elements
        to fill (reusing one array across chunks avoids the page faults of a
        fresh large allocation); ``z`` takes its precision.

    Returns
    -------
    z : numpy.ndarray
        Centred dosages (missing -> 0): ``float64``, or ``out``'s precision.
    mean : numpy.ndarray
        Per-variant mean dosage of the non-missing calls (``2 p``; 0 without
        calls), in float64 whatever the precision of ``z``.
    n_obs : numpy.ndarray
        Per-variant number of non-missing calls.
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
            total = z.sum(axis=0, dtype=np.float64)
            mean = np.where(n_obs > 0, total / np.maximum(n_obs, 1), 0.0)
        z -= mean.astype(z.dtype)
        z[miss] = 0.0
    else:
        n_obs = np.full(z.shape[1], n)
        mean = z.mean(axis=0, dtype=np.float64)
        z -= mean.astype(z.dtype)
    return z, mean, n_obs


class Centred(NamedTuple):
    """Centred dosages of the kept variants (output of :func:`centre`).

    Attributes
    ----------
    z : numpy.ndarray
        ``(n, m_kept)`` C-contiguous centred dosages, missing -> 0, in the
        working precision.
    mean : numpy.ndarray
        ``float64 (m_kept,)`` mean dosages ``2 p`` (z was centred on this
        value rounded to the working precision).
    n_obs : numpy.ndarray
        ``(m_kept,)`` number of calls.
    keep : numpy.ndarray
        ``(m,)`` boolean mask of the kept variants among the input columns.
    """

    z: np.ndarray
    mean: np.ndarray
    n_obs: np.ndarray
    keep: np.ndarray

    @property
    def freq(self) -> np.ndarray:
        """Allele frequencies ``p = mean / 2`` of the kept variants (float64)."""
        return self.mean / 2.0


def centre(
    dosage: np.ndarray,
    min_maf: float = 0.0,
    *,
    inclusive: bool = False,
    min_variance: float | None = None,
    dtype: DTypeLike = np.float64,
    out: np.ndarray | None = None,
) -> Centred:
    """Centre the polymorphic variants of a dosage block on ``2 p``; missing -> 0.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, m)`` dosages, NaN for missing.
    min_maf : float, default 0
        MAF threshold (:func:`maf_mask`); variants without calls are always
        dropped.
    inclusive : bool, default False
        ``MAF >= min_maf`` (genomic selection) instead of ``MAF > min_maf``
        (census, GWAS).
    min_variance : float, optional
        Also drop variants whose centred, imputed column has a mean square
        ``<= min_variance`` (genomic selection: ``1e-12``, which drops
        columns with one dosage in every sample, such as all-heterozygous
        ones, that the MAF rule keeps).
    dtype : {numpy.float64, numpy.float32}
        Working precision: the mean is rounded to it once and subtracted in
        it. The MAF rule reads the frequency of that rounded mean (the
        frequency ``z`` is centred on).
    out : numpy.ndarray, optional
        Work array of ``dtype`` to hold ``z`` (as a view) when it has room: one array
        reused across the chunks of a stream spares each chunk the page faults of a
        fresh large allocation (the GRM pass keeps none of its ``z``).

    Returns
    -------
    Centred
    """
    dtype = np.dtype(dtype)
    d = np.asarray(dosage)
    mean, n_obs = dosage_means(d)
    centre_on = mean.astype(dtype)
    keep = (n_obs > 0) & maf_mask(centre_on.astype(np.float64) / 2.0, min_maf, inclusive=inclusive)
    if not keep.all():
        d, mean, n_obs, centre_on = d[:, keep], mean[keep], n_obs[keep], centre_on[keep]
    if out is not None and out.dtype == dtype and out.size >= d.size:
        z = np.subtract(d, centre_on, out=out.reshape(-1)[: d.size].reshape(d.shape), dtype=dtype)
    else:
        z = d.astype(dtype, copy=False) - centre_on
    miss = np.isnan(z)
    if miss.any():
        z[miss] = 0.0
    if min_variance is not None:
        var = (z.astype(np.float64) ** 2).mean(axis=0) if z.shape[0] else np.zeros(z.shape[1])
        varies = var > min_variance
        if not varies.all():
            keep[keep] = varies
            z, mean, n_obs = z[:, varies], mean[varies], n_obs[varies]
    return Centred(np.ascontiguousarray(z), mean, n_obs, keep)


def standardise(z: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Scale centred dosages to unit expected variance, in place.

    ``w_ij = z_ij / sqrt(2 p_j (1 - p_j))``, the standardisation of
    Patterson, Price & Reich (2006) behind EIGENSOFT and ``plink2 --pca``.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, m)`` centred dosages of polymorphic variants (overwritten).
    freq : numpy.ndarray
        ``(m,)`` allele frequencies, strictly between 0 and 1.

    Returns
    -------
    numpy.ndarray
        ``z``, scaled.
    """
    z /= np.sqrt(2.0 * freq * (1.0 - freq))
    return z
