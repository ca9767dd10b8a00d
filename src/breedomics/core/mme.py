"""REML of a linear mixed model with independent random effects, by Henderson's equations.

Model, with a grouping factor (e.g. genotypes) and optional cells nested within its
levels (e.g. genotype x environment)::

    y = X b + Z1 u + Z2 c + e
    u ~ N(0, s2u I_q1),  c ~ N(0, s2c I_q2),  e ~ N(0, s2e I_n)

``X`` holds the fixed effects (sparse or dense, intercept first), every record belongs
to one group and one cell, and every cell to one group (:class:`NestedDesign`).
Henderson's (1975) mixed-model equations, scaled by ``s2e``, with the variance ratios
``gu = s2e/s2u`` and ``gc = s2e/s2c``, are::

    [X'X    X'Z1          X'Z2         ] [b]   [X'y ]
    [Z1'X   Z1'Z1 + gu I  Z1'Z2        ] [u] = [Z1'y]
    [Z2'X   Z2'Z1         Z2'Z2 + gc I ] [c]   [Z2'y]

``Z2'Z2`` is diagonal (cell sizes) and, the cells being nested in the groups, the group
block stays diagonal once the cells are absorbed: both are absorbed analytically
(:class:`MME`), which leaves the Schur complement ``S`` of the fixed effects, a small
dense ``p x p`` system, and costs O(n) per evaluation (the design of the fixed effects is
kept sparse when large: :data:`DENSE_MAX`). With ``C`` the coefficient matrix above,

    log|V| + log|X'V^-1 X| = (n - p) log s2e + q1 log(s2u/s2e) + q2 log(s2c/s2e) + log|C|
    y'P y = (y'y - b'X'y - u'Z1'y - c'Z2'y) / s2e

so the restricted log-likelihood of Patterson & Thompson (1971)::

    l_R = -1/2 [(n - p) log 2 pi + log|V| + log|X'V^-1 X| + y'P y]

(without the constant ``-log|X'X|`` that :mod:`breedomics.core.reml` adds) needs only
``log|C| = sum log(cell pivots) + sum log(group pivots) + log|S|``. :func:`fit_reml`
profiles ``s2e = s2e y'P y / (n - p)`` out and maximises ``l_R`` over
``(log s2u/s2e, log s2c/s2e)`` in ``[-12, 8]`` from the best point of a coarse grid
(L-BFGS-B, then a Nelder-Mead polish); :func:`reml_standard_errors` inverts the observed
information (central-difference Hessian of :func:`restricted_loglik` in
``(s2u, [s2c,] s2e)``).

The solution also gives BLUEs of ``b``, BLUPs of ``u`` and ``c``, the diagonal of the
group block of ``C^-1`` (prediction-error variances ``s2e C^uu``, :meth:`MME.pev_group`;
with ``gu = 0`` the groups are fixed and these are sampling variances of their BLUEs),
fitted values and the leverage ``q_k = w_k' C^-1 w_k`` of each record (``w_k`` its row
of ``[X Z1 Z2]``), so that ``var(e_hat_k) = s2e (1 - q_k)`` (:meth:`MME.leverage`).

References
----------
Henderson CR (1975) Best linear unbiased estimation and prediction under a
selection model. *Biometrics* 31:423.
Patterson HD, Thompson R (1971) Recovery of inter-block information when block
sizes are unequal. *Biometrika* 58:545.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
from scipy.optimize import minimize

__all__ = [
    "DENSE_MAX",
    "NestedDesign",
    "independent_columns",
    "MME",
    "NestedREMLFit",
    "fit_reml",
    "restricted_loglik",
    "reml_standard_errors",
]

#: Largest ``(records + cells) x fixed effects`` kept as dense arrays: a small design is
#: faster with dense BLAS, a large one (SoyNAM: 62,572 plots x 1,867 effects) is kept sparse.
DENSE_MAX = 4_000_000


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def _scale_rows(w: np.ndarray, m):
    """``diag(w) m`` for a dense or sparse (CSR result) ``m``."""
    return sp.csr_matrix(sp.diags(w) @ m) if sp.issparse(m) else w[:, None] * m


def _quad_rows(v, m: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``v_i' M v_i`` for every row of the dense or sparse ``v``, in row chunks (the
    dense ``v M`` of SoyNAM's 62,572 plot records x 1,867 fixed effects is 0.9 GB)."""
    if not sp.issparse(v):
        return np.einsum("ij,ij->i", v @ m, v)  # one GEMM (a 3-operand einsum skips BLAS)
    v = sp.csr_matrix(v)
    out = np.empty(v.shape[0])
    for s in range(0, v.shape[0], chunk):
        vc = v[s : s + chunk]
        out[s : s + chunk] = np.asarray(vc.multiply(vc @ m).sum(axis=1)).ravel()
    return out


def independent_columns(S: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Columns kept in order, skipping those linearly dependent on the earlier kept ones.

    Parameters
    ----------
    S : numpy.ndarray
        ``(k, k)`` positive semi-definite matrix, e.g. the cross-product ``X'X`` of a
        design or an absorbed block of the mixed-model equations.
    tol : float
        A column is dependent when its residual variance given the kept columns is at
        most ``tol`` times its own (a column of zeros is always dropped).

    Returns
    -------
    numpy.ndarray
        Indices (``int64``, increasing) of the kept columns: the first column is kept
        unless null, so an intercept placed first stays.
    """
    k = S.shape[0]
    keep: list[int] = []
    L = np.zeros((k, k))
    for j in range(k):
        sjj = S[j, j]
        if keep:
            lk = L[: len(keep), : len(keep)]
            v = sl.solve_triangular(lk, S[keep, j], lower=True, check_finite=False)
            res = sjj - v @ v
        else:
            v, res = np.zeros(0), sjj
        if sjj > 0 and res > tol * sjj:
            m = len(keep)
            L[m, :m] = v
            L[m, m] = np.sqrt(res)
            keep.append(j)
    return np.asarray(keep, dtype=np.int64)


@dataclass
class NestedDesign:
    """Records, fixed effects, groups and the cells nested in them.

    Attributes
    ----------
    y : numpy.ndarray
        ``(n,)`` observations.
    X : scipy.sparse.csc_matrix
        ``(n, p)`` full-rank fixed-effect design, intercept first.
    x_names : list of str
        Names of the columns of ``X``.
    group : numpy.ndarray
        ``(n,)`` ``int64`` group (level of ``u``) of each record, ``0..q1-1``.
    cell : numpy.ndarray
        ``(n,)`` ``int64`` cell (level of ``c``) of each record, ``0..q2-1``.
    cell_group : numpy.ndarray
        ``(q2,)`` group of each cell.
    n_group, n_cell : numpy.ndarray
        Records per group and per cell.
    """

    y: np.ndarray
    X: sp.csc_matrix
    x_names: list[str]
    group: np.ndarray
    cell: np.ndarray
    cell_group: np.ndarray
    n_group: np.ndarray
    n_cell: np.ndarray
    _sums: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_codes(
        cls,
        y: np.ndarray,
        X,
        group: np.ndarray,
        cell: np.ndarray | None = None,
        x_names: Sequence[str] | None = None,
    ) -> NestedDesign:
        """Design from integer codes of the groups and cells of the records.

        Parameters
        ----------
        y : numpy.ndarray
            ``(n,)`` observations.
        X : array or sparse matrix
            ``(n, p)`` full-rank fixed effects, intercept first.
        group : numpy.ndarray
            Group of each record, codes ``0..q1-1`` all present.
        cell : numpy.ndarray, optional
            Cell of each record, codes ``0..q2-1`` all present, each cell within one
            group. Default: one cell per group (for models without cell effects).
        x_names : sequence of str, optional
            Column names (default ``x0, x1...``).
        """
        group = np.asarray(group, dtype=np.int64)
        cell = group if cell is None else np.asarray(cell, dtype=np.int64)
        n_cell = np.bincount(cell)
        if np.any(n_cell == 0) or np.any(np.bincount(group) == 0):
            raise ValueError("group and cell codes must be 0..q-1, every code present")
        first = np.unique(cell, return_index=True)[1]
        cell_group = group[first]
        if np.any(cell_group[cell] != group):
            raise ValueError("a cell holds records of several groups: cells must be nested")
        X = sp.csc_matrix(X)
        names = list(x_names) if x_names is not None else [f"x{j}" for j in range(X.shape[1])]
        y = np.asarray(y, dtype=float)
        return cls(y, X, names, group, cell, cell_group, np.bincount(group), n_cell)

    def sums(self, intercept: bool = True) -> dict:
        """Cross-products and per-cell/per-group sums that do not depend on the variances.

        Computed once per design and ``intercept`` (``False`` leaves out the first
        column of ``X``). ``X`` and its cell sums are dense arrays when
        ``(records + cells) x columns`` is at most :data:`DENSE_MAX`, sparse otherwise.
        """
        if intercept not in self._sums:
            F = self.X if intercept else self.X[:, 1:]
            nc, ng, n = self.n_cell.size, self.n_group.size, self.y.size
            rec_to_cell = sp.csr_matrix((np.ones(n), (self.cell, np.arange(n))), shape=(nc, n))
            Fsum_c = sp.csr_matrix(rec_to_cell @ F)
            if (n + nc) * F.shape[1] <= DENSE_MAX:  # small: dense BLAS beats sparse overhead
                F, Fsum_c = F.toarray(), Fsum_c.toarray()
            self._sums[intercept] = dict(
                F=F,
                FF=_dense(F.T @ F),
                Fy=F.T @ self.y,
                yy=float(self.y @ self.y),
                Fsum_c=Fsum_c,
                ysum_c=np.bincount(self.cell, weights=self.y, minlength=nc),
                ysum_g=np.bincount(self.group, weights=self.y, minlength=ng),
                cell_to_g=sp.csr_matrix(
                    (np.ones(nc), (self.cell_group, np.arange(nc))), shape=(ng, nc)
                ),
            )
        return self._sums[intercept]


class MME:
    """Henderson's mixed-model equations solved for given variance ratios.

    Cells, then groups, are absorbed analytically; the fixed effects are solved from the
    Cholesky factor of their Schur complement ``S`` (see the module notes).

    Parameters
    ----------
    design : NestedDesign
    inv_group : float
        ``s2e / s2u``; ``0`` makes the groups fixed (their BLUEs, ``intercept=False``).
    inv_cell : float or None
        ``s2e / s2c``; ``None`` fits no cell effects.
    intercept : bool
        ``False`` leaves out the first column of ``X`` (with fixed groups).

    Attributes
    ----------
    beta, u_group, u_cell : numpy.ndarray
        Solutions for ``b`` (kept columns), ``u`` and ``c`` (zeros without cell effects).
    dropped : list of str
        With fixed groups, the columns of ``X`` aliased with groups (dependent on the
        earlier ones in ``S``), left out as R's ``lm`` leaves out aliased terms.
    ypy : float
        ``s2e y'P y = y'y - b'X'y - u'Z1'y - c'Z2'y``.
    logdet_c : float
        ``log|C|``.
    n_fixed : int
        Number of fixed effects solved for.
    """

    def __init__(
        self,
        design: NestedDesign,
        inv_group: float,
        inv_cell: float | None,
        intercept: bool = True,
    ):
        d = design
        st = d.sums(intercept)
        F = st["F"]
        ng, nc = d.n_group.size, d.n_cell.size
        self.design, self.F, self.inv_group, self.inv_cell = d, F, inv_group, inv_cell
        nf = F.shape[1]
        Fsum_c, ysum_c = st["Fsum_c"], st["ysum_c"]
        self.Fsum_c, self.ysum_c = Fsum_c, ysum_c
        if inv_cell is None:  # no cell effects
            w = np.ones(nc)
            Dc = None
            ff = st["FF"]
            rf = st["Fy"]
            dg = d.n_group.astype(float) + inv_group
        else:
            Dc = d.n_cell + inv_cell
            w = inv_cell / Dc
            ff = st["FF"] - _dense(Fsum_c.T @ _scale_rows(1.0 / Dc, Fsum_c))
            rf = st["Fy"] - Fsum_c.T @ (ysum_c / Dc)
            dg = np.bincount(d.cell_group, weights=d.n_cell * w, minlength=ng) + inv_group
        B = st["cell_to_g"] @ _scale_rows(w, Fsum_c)
        rg = np.bincount(d.cell_group, weights=w * ysum_c, minlength=ng)
        bd = _scale_rows(1.0 / dg, B)
        S2 = ff - _dense(B.T @ bd)
        r2 = rf - bd.T @ rg
        # With fixed groups, a fixed effect can be aliased with a set of groups (e.g. a
        # SoyNAM set grown with one family's lines in every environment): such columns
        # are dropped. Only then: with random groups (inv_group > 0) S is positive
        # definite for a full-rank X, and REML evaluates this many times.
        fy = st["Fy"]
        self.dropped: list[str] = []
        keep = independent_columns(S2) if inv_group == 0 else np.arange(nf)
        if len(keep) < nf:
            names = d.x_names if intercept else d.x_names[1:]
            self.dropped = [names[j] for j in sorted(set(range(nf)) - set(keep.tolist()))]
            F, Fsum_c, B, bd = F[:, keep], Fsum_c[:, keep], B[:, keep], bd[:, keep]
            S2, r2, nf, fy = S2[np.ix_(keep, keep)], r2[keep], len(keep), fy[keep]
            self.F, self.Fsum_c = F, Fsum_c
        self.cS2 = sl.cho_factor(S2, lower=True, check_finite=False)
        beta = sl.cho_solve(self.cS2, r2, check_finite=False)
        g = (rg - B @ beta) / dg
        if Dc is None:
            ge = np.zeros(nc)
        else:
            ge = (ysum_c - Fsum_c @ beta - d.n_cell * g[d.cell_group]) / Dc
        self.beta, self.u_group, self.u_cell = beta, g, ge
        self.dg, self.Dc, self.bd, self.w = dg, Dc, bd, w
        rhs_dot = beta @ fy + g @ st["ysum_g"]
        if Dc is not None:
            rhs_dot += ge @ ysum_c
        self.ypy = float(st["yy"] - rhs_dot)
        logdet = float(np.sum(np.log(dg))) + 2.0 * float(np.sum(np.log(np.diag(self.cS2[0]))))
        if Dc is not None:
            logdet += float(np.sum(np.log(Dc)))
        self.logdet_c = logdet
        self.n_fixed = nf
        self._s2inv: np.ndarray | None = None

    def loglik(self, s2e: float | None = None) -> tuple[float, float]:
        """Restricted log-likelihood at ``s2e`` (profiled out when ``None``), and ``s2e``."""
        d = self.design
        df = d.y.size - self.n_fixed
        if s2e is None:
            s2e = self.ypy / df
        if np.isfinite(self.inv_group):
            log_gamma = -d.n_group.size * np.log(self.inv_group)
        else:
            log_gamma = 0.0
        if self.inv_cell is not None:
            log_gamma += -d.n_cell.size * np.log(self.inv_cell)
        ll = -0.5 * (df * np.log(2 * np.pi * s2e) + log_gamma + self.logdet_c + self.ypy / s2e)
        return float(ll), float(s2e)

    @property
    def S2inv(self) -> np.ndarray:
        """Inverse of the absorbed fixed-effect block ``S`` (only PEVs and leverages need
        it: REML evaluations skip its O(p^3) solve, 1,867 columns on SoyNAM)."""
        if self._s2inv is None:
            self._s2inv = sl.cho_solve(self.cS2, np.eye(self.n_fixed), check_finite=False)
        return self._s2inv

    def pev_group(self) -> np.ndarray:
        """Diagonal of the group block of ``C^-1`` (times ``s2e``: PEVs of ``u``)."""
        return 1.0 / self.dg + _quad_rows(self.bd, self.S2inv)

    def sum_c_group(self) -> float:
        """Sum of all elements of the group block of ``C^-1``."""
        u = np.asarray(self.bd.sum(axis=0)).ravel()
        return float(np.sum(1.0 / self.dg) + u @ self.S2inv @ u)

    def leverage(self) -> np.ndarray:
        """``q_k = w_k' C^-1 w_k`` of each record (``w_k`` its row of ``[X Z1 Z2]``)."""
        d = self.design
        F = self.F
        if self.Dc is None:
            a = np.ones(d.y.size)
            h = F
            base = 0.0
        else:
            a = self.w[d.cell]
            h = F - _scale_rows(1.0 / self.Dc[d.cell], self.Fsum_c[d.cell])
            base = 1.0 / self.Dc[d.cell]
        v = _scale_rows(a, self.bd[d.group]) - h
        return base + a**2 / self.dg[d.group] + _quad_rows(v, self.S2inv)

    def fitted(self) -> np.ndarray:
        """``X b + Z1 u + Z2 c``."""
        d = self.design
        return self.F @ self.beta + self.u_group[d.group] + self.u_cell[d.cell]


@dataclass(frozen=True)
class NestedREMLFit:
    """REML estimates of :func:`fit_reml`.

    Attributes
    ----------
    s2_group : float
        ``s2u``.
    s2_cell : float or None
        ``s2c`` (``None`` without cell effects).
    s2e : float
        Residual variance.
    loglik : float
        Restricted log-likelihood at the estimates.
    """

    s2_group: float
    s2_cell: float | None
    s2e: float
    loglik: float

    @property
    def theta(self) -> np.ndarray:
        """``(s2u, [s2c,] s2e)``, the parameters of :func:`restricted_loglik`."""
        if self.s2_cell is None:
            return np.array([self.s2_group, self.s2e])
        return np.array([self.s2_group, self.s2_cell, self.s2e])

    def mme(self, design: NestedDesign) -> MME:
        """The mixed-model equations at the estimates (random groups)."""
        inv_cell = None if self.s2_cell is None else self.s2e / self.s2_cell
        return MME(design, self.s2e / self.s2_group, inv_cell)


def fit_reml(design: NestedDesign, cell_effects: bool = True) -> NestedREMLFit:
    """REML estimates of ``(s2u, s2c, s2e)`` (Patterson & Thompson 1971).

    ``s2e`` is profiled out; ``(log s2u/s2e, log s2c/s2e)``, bounded to ``[-12, 8]``,
    are started from the best point of a grid of ratios ``0.05, 0.3, 1, 3`` and
    maximised by L-BFGS-B, then polished by Nelder-Mead (finite-difference gradients
    leave L-BFGS-B short of the optimum).

    Parameters
    ----------
    design : NestedDesign
    cell_effects : bool
        Fit the cell effects ``c`` (otherwise ``y = X b + Z1 u + e``).

    Returns
    -------
    NestedREMLFit
    """

    def negll(x):
        inv_g = np.exp(-x[0])
        inv_ge = np.exp(-x[1]) if cell_effects else None
        try:
            return -MME(design, inv_g, inv_ge).loglik()[0]
        except (np.linalg.LinAlgError, sl.LinAlgError, FloatingPointError):
            return np.inf

    grid = np.log([0.05, 0.3, 1.0, 3.0])
    starts = [(a, b) for a in grid for b in grid] if cell_effects else [(a, 0.0) for a in grid]
    vals = [negll(np.array(s)) for s in starts]
    x0 = np.array(starts[int(np.argmin(vals))])
    bounds = [(-12.0, 8.0), (-12.0, 8.0)] if cell_effects else [(-12.0, 8.0)]
    res = minimize(
        negll,
        x0[: len(bounds)],
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-12, "gtol": 1e-7},
    )
    res2 = minimize(
        negll, res.x, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 400}
    )
    x = res2.x if res2.fun <= res.fun else res.x
    x = np.clip(x, [b[0] for b in bounds], [b[1] for b in bounds])
    inv_g = np.exp(-x[0])
    inv_ge = np.exp(-x[1]) if cell_effects else None
    ll, s2e = MME(design, inv_g, inv_ge).loglik()
    return NestedREMLFit(s2e / inv_g, (s2e / inv_ge if cell_effects else None), s2e, ll)


def restricted_loglik(design: NestedDesign, theta: np.ndarray, cell_effects: bool) -> float:
    """Restricted log-likelihood at ``theta = (s2u, [s2c,] s2e)`` (``s2c`` with cells)."""
    s2g, s2ge, s2e = theta[0], (theta[1] if cell_effects else None), theta[-1]
    mme = MME(design, s2e / s2g, (s2e / s2ge) if cell_effects else None)
    return mme.loglik(s2e)[0]


def reml_standard_errors(design: NestedDesign, theta: np.ndarray, cell_effects: bool) -> np.ndarray:
    """Standard errors of ``theta = (s2u, [s2c,] s2e)`` from the observed information.

    The Hessian of :func:`restricted_loglik` is taken by central differences (steps
    ``1e-4 |theta|``) and inverted; a variance with a non-positive diagonal, or a
    singular Hessian, gives ``NaN``.
    """
    k = theta.size
    h = 1e-4 * np.maximum(np.abs(theta), 1e-6)
    H = np.zeros((k, k))

    def ll(t: np.ndarray) -> float:
        return restricted_loglik(design, t, cell_effects)

    f0 = ll(theta)
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = h[i]
            ej[j] = h[j]
            if i == j:
                H[i, i] = (ll(theta + ei) - 2 * f0 + ll(theta - ei)) / h[i] ** 2
            else:
                fpp = ll(theta + ei + ej)
                fpm = ll(theta + ei - ej)
                fmp = ll(theta - ei + ej)
                fmm = ll(theta - ei - ej)
                H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h[i] * h[j])
    try:
        cov = np.linalg.inv(-H)
        return np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
