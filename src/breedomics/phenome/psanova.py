"""Mixed-model form of a 2-D tensor-product P-spline with the PS-ANOVA decomposition.

A 2-D P-spline of the plot coordinates (``r`` row, ``c`` column: numbers, e.g. row
numbers or metres) with cubic B-spline bases ``B_r``, ``B_c`` (equally spaced knots)
and second-order difference penalties ``D_r'D_r``, ``D_c'D_c`` is rewritten as a mixed
model (Lee & Durban 2011; Rodriguez-Alvarez et al. 2018, section 3): with the
eigendecomposition ``D'D = U_s diag(d) U_s'`` plus the null space ``U_n`` (spanned by
the constant and the linear trend), the coefficients split into

* fixed: ``1, r, c, r c``;
* random, each with its own variance (the PS-ANOVA terms):
  ``f(row) = B_r U_s,r`` (precision ``d_r``), ``f(col)``, ``f(row):col``
  (``B_r U_s,r`` times the linear ``c``), ``row:f(col)`` and ``f(row):f(col)``
  (``B_r U_s,r`` box ``B_c U_s,c``) whose precision
  ``d_r (x) 1 / s2_r + 1 (x) d_c / s2_c`` has two variances (anisotropic smoothing),
  which the SAP algorithm (:mod:`breedomics.core.spatial`) estimates separately.

References
----------
Lee D-J, Durban M (2011) P-spline ANOVA-type interaction models for spatio-temporal
smoothing. *Statistical Modelling* 11:49-69.
Rodriguez-Alvarez MX, Boer MP, van Eeuwijk FA, Eilers PHC (2018) Correcting for
spatial heterogeneity in plant breeding experiments with P-splines. *Spatial
Statistics* 23:52-71.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["Marginal", "SpatialDesign", "auto_segments", "spatial_design"]

#: B-spline degree and penalty order of the spatial surface (those of SpATS).
DEGREE, PENALTY_ORDER = 3, 2


def auto_segments(n_levels: int, cap: int = 20) -> int:
    """Default number of B-spline segments along a direction with ``n_levels`` distinct
    coordinates: one per two rows/columns, at least 3 and at most ``cap``."""
    return int(min(max(3, n_levels // 2), cap))


@dataclass
class Marginal:
    """The 1-D P-spline of one direction: knots, the penalty's eigenbasis and the
    linear null-space column."""

    knots: np.ndarray
    Us: np.ndarray  # coefficients -> random part (c x (c - 2))
    d: np.ndarray  # positive eigenvalues of D'D
    lin: np.ndarray  # coefficients -> linear trend (mean-zero over the coefficients)

    @classmethod
    def build(cls, x: np.ndarray, nseg: int) -> Marginal:
        lo, hi = float(np.min(x)), float(np.max(x))
        pad = 1e-6 * max(hi - lo, 1.0)
        lo, hi = lo - pad, hi + pad
        dx = (hi - lo) / nseg
        knots = lo + dx * np.arange(-DEGREE, nseg + DEGREE + 1)
        c = nseg + DEGREE
        D = np.diff(np.eye(c), PENALTY_ORDER, axis=0)
        val, vec = np.linalg.eigh(D.T @ D)
        keep = val > 1e-10 * val.max()
        idx = np.arange(c, dtype=float)
        lin = (idx - idx.mean()) / np.linalg.norm(idx - idx.mean())
        return cls(knots, vec[:, keep], val[keep], lin)

    def basis(self, x: np.ndarray) -> np.ndarray:
        """B-spline basis at ``x`` (dense, len(x) x c)."""
        lo, hi = self.knots[DEGREE], self.knots[-DEGREE - 1]
        xx = np.clip(np.asarray(x, dtype=float), lo, hi)
        return BSpline.design_matrix(xx, self.knots, DEGREE).toarray()


@dataclass
class SpatialDesign:
    """Fixed and random parts of the spatial surface at a set of coordinates.

    Attributes
    ----------
    X : numpy.ndarray
        Fixed columns ``r, c, r c`` (linear in the coordinates, mean-zero over the
        B-spline coefficients: without an intercept).
    Z : numpy.ndarray
        Random columns of the five smooth terms.
    precisions : numpy.ndarray
        (6, q) diagonal precisions: ``f(row)``, ``f(col)``, ``f(row):col``,
        ``row:f(col)``, ``f(row):f(col)|row``, ``f(row):f(col)|col``.
    names : list of str
    terms : list of str
        Term of each precision component (the two anisotropic components of
        ``f(row):f(col)`` share one term).
    """

    X: np.ndarray
    Z: np.ndarray
    precisions: np.ndarray
    names: list[str]
    terms: list[str]


NAMES = [
    "f(row)",
    "f(col)",
    "f(row):col",
    "row:f(col)",
    "f(row):f(col)|row",
    "f(row):f(col)|col",
]
TERMS = ["f(row)", "f(col)", "f(row):col", "row:f(col)", "f(row):f(col)", "f(row):f(col)"]


def _box(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise Kronecker product (the 'box product' of Eilers, Currie & Durban 2006)."""
    return (A[:, :, None] * B[:, None, :]).reshape(A.shape[0], -1)


def spatial_design(mr: Marginal, mc: Marginal, r: np.ndarray, c: np.ndarray) -> SpatialDesign:
    """PS-ANOVA fixed and random columns of the surface at coordinates ``(r, c)``.

    Parameters
    ----------
    mr, mc : Marginal
        Row and column P-splines (:meth:`Marginal.build`).
    r, c : numpy.ndarray
        Coordinates of the plots (or of any grid to predict the fitted trend on).
    """
    Br, Bc = mr.basis(r), mc.basis(c)
    xr, xc = Br @ mr.lin, Bc @ mc.lin
    Zr, Zc = Br @ mr.Us, Bc @ mc.Us
    X = np.column_stack([xr, xc, xr * xc])
    Z = np.hstack([Zr, Zc, Zr * xc[:, None], xr[:, None] * Zc, _box(Zr, Zc)])
    qr, qc = Zr.shape[1], Zc.shape[1]
    q = Z.shape[1]
    lam = np.zeros((6, q))
    lam[0, :qr] = mr.d
    lam[1, qr : qr + qc] = mc.d
    lam[2, qr + qc : 2 * qr + qc] = mr.d
    lam[3, 2 * qr + qc : 2 * qr + 2 * qc] = mc.d
    start = 2 * qr + 2 * qc
    lam[4, start:] = np.kron(mr.d, np.ones(qc))
    lam[5, start:] = np.kron(np.ones(qr), mc.d)
    return SpatialDesign(X, Z, lam, list(NAMES), list(TERMS))
