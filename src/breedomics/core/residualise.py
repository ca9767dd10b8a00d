"""Covariate residualisation of phenotypes and dosages (least-squares projection).

The association tests of molecular-trait QTL mappers (Matrix eQTL, Shabalin 2012;
FastQTL, Ongen et al. 2016; tensorQTL, Taylor-Weiner et al. 2019) regress the
intercept and the covariates out of the phenotypes *and* of the genotypes once, and
then test every variant-phenotype pair by the correlation of the residuals: for the
model ``y = b g + C a + e`` the least-squares ``b``, its t statistic and p-value
follow from ``r = <R g, R y> / (|R g| |R y|)`` with ``R = I - Q Q^T`` the projection on
the orthogonal complement of ``[1, C]`` (``Q`` an orthonormal basis of it) and
``n - rank([1, C]) - 1`` residual degrees of freedom (Frisch-Waugh-Lovell).

:class:`Residualiser` holds ``Q`` and applies ``R``; :func:`mean_impute` sets missing
dosages to the variant's mean (the convention of :mod:`breedomics.core.standardise`);
:func:`residualise_dosage` turns a chunk of dosages into the unit-norm residual rows a
correlation scan multiplies with phenotypes, with their norms (for the slopes).

References
----------
Shabalin AA (2012) Matrix eQTL: ultra fast eQTL analysis via large matrix
operations. *Bioinformatics* 28:1353-1358.

Ongen H et al. (2016) Fast and efficient QTL mapper for thousands of molecular
phenotypes. *Bioinformatics* 32:1479-1485.

Taylor-Weiner A et al. (2019) Scaling computational genomics to millions of
individuals with GPUs. *Genome Biol* 20:228.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Residualiser",
    "ResidualDosage",
    "mean_impute",
    "minor_allele_counts",
    "residualise_dosage",
]


class Residualiser:
    """Projection ``R = I - Q Q^T`` on the complement of ``[1, covariates]``.

    Parameters
    ----------
    covariates : numpy.ndarray or None
        ``(n, k)`` covariates without missing values (None or ``k = 0``: intercept
        only). Collinear columns are dropped (pivoted QR, tolerance ``1e-8`` of the
        largest diagonal of R).
    n : int, optional
        Number of samples when ``covariates`` is None.

    Attributes
    ----------
    q : numpy.ndarray
        ``(n, rank)`` float64 orthonormal basis of ``[1, covariates]``.
    rank : int
        Its number of columns.
    dof : int
        Residual degrees of freedom of a single-variant test,
        ``n - rank - 1``.
    """

    def __init__(self, covariates: np.ndarray | None = None, n: int | None = None):
        if covariates is None:
            if n is None:
                raise ValueError("give covariates or n")
            c = np.ones((n, 1))
        else:
            cov = np.asarray(covariates, dtype=np.float64)
            if cov.ndim == 1:
                cov = cov[:, None]
            if not np.all(np.isfinite(cov)):
                raise ValueError("covariates must not have missing values")
            c = np.column_stack([np.ones(cov.shape[0]), cov])
        self.q = _orthonormal(c)
        self._q32 = self.q.astype(np.float32)
        self.n = self.q.shape[0]
        self.rank = self.q.shape[1]
        self.dof = self.n - self.rank - 1

    def extend(self, extra: np.ndarray) -> Residualiser:
        """A residualiser for ``[1, covariates, extra]`` (e.g. conditioning variants)."""
        e = np.asarray(extra, dtype=np.float64)
        if e.ndim == 1:
            e = e[:, None]
        e = e - self.q @ (self.q.T @ e)
        out = Residualiser.__new__(Residualiser)
        add = _orthonormal(e, scale=np.sqrt(self.n)) if e.shape[1] else e
        out.q = np.column_stack([self.q, add])
        out._q32 = out.q.astype(np.float32)
        out.n, out.rank = self.n, out.q.shape[1]
        out.dof = out.n - out.rank - 1
        return out

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``R x`` for ``x`` of shape ``(n,)`` or ``(n, m)``, in ``x``'s float precision."""
        x = np.asarray(x)
        q = self._q32 if x.dtype == np.float32 else self.q
        return x - q @ (q.T @ x)

    def transform_rows(self, x: np.ndarray) -> np.ndarray:
        """``(R x^T)^T`` for row-major ``x`` of shape ``(m, n)`` (one row per variable)."""
        x = np.asarray(x)
        q = self._q32 if x.dtype == np.float32 else self.q
        return x - (x @ q) @ q.T

    def projected_sumsq(self, x: np.ndarray) -> np.ndarray:
        """``|Q^T x_j|^2`` of each row ``x_j`` of ``x`` ``(m, n)`` (float64)."""
        x = np.asarray(x)
        q = self._q32 if x.dtype == np.float32 else self.q
        p = (q.T @ x.T).astype(np.float64)  # (k, m): OpenBLAS is 10x faster this way round
        return np.einsum("ij,ij->j", p, p)


def _orthonormal(c: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Orthonormal basis of the column space of ``c`` (pivoted QR, collinear columns out)."""
    from scipy.linalg import qr

    if c.shape[1] == 0:
        return np.zeros((c.shape[0], 0))
    q, r, _piv = qr(c, mode="economic", pivoting=True)
    d = np.abs(np.diag(r))
    ref = d.max() if scale is None else max(d.max(), scale)
    keep = d > 1e-8 * ref if ref > 0 else np.zeros(len(d), dtype=bool)
    return np.ascontiguousarray(q[:, keep])


def mean_impute(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Set missing dosages to their variant's mean, in place.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, m)`` float dosages, NaN for missing (overwritten).

    Returns
    -------
    mean : numpy.ndarray
        ``float64 (m,)`` mean of the called dosages (``2 p``; 0 without calls).
    n_obs : numpy.ndarray
        ``(m,)`` calls per variant.
    """
    miss = np.isnan(dosage)
    n = dosage.shape[0]
    if not miss.any():
        return dosage.mean(axis=0, dtype=np.float64), np.full(dosage.shape[1], n)
    n_obs = n - miss.sum(axis=0)
    total = np.where(miss, 0.0, dosage).sum(axis=0, dtype=np.float64)
    mean = np.where(n_obs > 0, total / np.maximum(n_obs, 1), 0.0)
    rows, cols = np.nonzero(miss)
    dosage[rows, cols] = mean[cols].astype(dosage.dtype)
    return mean, n_obs


class ResidualDosage(NamedTuple):
    """Residualised dosages of a chunk (output of :func:`residualise_dosage`).

    Attributes
    ----------
    g : numpy.ndarray
        ``(m, n)`` float32, C-contiguous: row ``j`` is ``R x_j / |R x_j|`` (zeros for a
        variant without residual variance).
    norm : numpy.ndarray
        ``float64 (m,)`` ``|R x_j|`` (0: no residual variance, not testable).
    mean : numpy.ndarray
        ``float64 (m,)`` mean dosage ``2 p`` of the called samples.
    """

    g: np.ndarray
    norm: np.ndarray
    mean: np.ndarray


def residualise_dosage(dosage: np.ndarray, res: Residualiser) -> ResidualDosage:
    """Mean-impute, residualise on the covariates and scale each variant to unit norm.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, m)`` dosages of one chunk, NaN for missing (left unchanged).
    res : Residualiser
        The covariates (intercept included) to regress out.

    Returns
    -------
    ResidualDosage
        Variant-major unit-norm residuals in single precision (as tensorQTL), their
        norms and the variant means.
    """
    x = np.array(np.asarray(dosage, dtype=np.float32).T, order="C")  # (m, n) copy
    mean, _n_obs = mean_impute(x.T)
    g = res.transform_rows(x)
    norm = np.sqrt(np.einsum("ij,ij->i", g, g, dtype=np.float64))
    # a variant whose residual is rounding noise is not testable (monomorphic, or
    # collinear with the covariates)
    scale = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    ok = norm > 1e-5 * np.maximum(scale, 1e-30)
    norm = np.where(ok, norm, 0.0)
    inv = np.where(ok, 1.0 / np.where(ok, norm, 1.0), 0.0).astype(np.float32)
    g *= inv[:, None]
    return ResidualDosage(np.ascontiguousarray(g, dtype=np.float32), norm, mean)


def minor_allele_counts(dosage: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, ...]:
    """Allele frequency and minor-allele sample and copy counts (tensorQTL's definitions).

    On mean-imputed dosages ``x`` (missing -> ``mean``): ``af = sum x / 2n``; with
    ``af <= 0.5`` the minor-allele samples are those with ``x > 0.5`` and the copies
    ``sum x[x > 0.5]``, otherwise the samples with ``x < 1.5`` and ``2n - sum x[x > 0.5]``.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, m)`` dosages, NaN for missing.
    mean : numpy.ndarray
        ``(m,)`` mean dosages of the called samples (:func:`mean_impute`).

    Returns
    -------
    af, ma_samples, ma_count : numpy.ndarray
        ``float64``, ``int64``, ``int64`` arrays of length ``m``.
    """
    x = np.asarray(dosage)
    miss = np.isnan(x)
    if miss.any():
        x = np.where(miss, mean.astype(x.dtype)[None, :], x)
    n2 = 2 * x.shape[0]
    af = x.sum(axis=0, dtype=np.float64) / n2
    high = x > 0.5
    a = high.sum(axis=0)
    b = (x < 1.5).sum(axis=0)
    c = np.where(high, x, 0).sum(axis=0, dtype=np.float64).astype(np.int64)
    low = af <= 0.5
    return af, np.where(low, a, b).astype(np.int64), np.where(low, c, n2 - c).astype(np.int64)
