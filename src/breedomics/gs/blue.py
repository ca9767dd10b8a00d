"""Multi-environment trial (MET) preprocessing: BLUEs/BLUPs of genotypes.

Plot records are fitted with the linear mixed model::

    y = 1 mu + env + rep(env) [+ block(env:rep)] + G + GxE + e
    G ~ N(0, s2G I),  GxE ~ N(0, s2GE I),  e ~ N(0, s2e I)

with environments and replicates (and incomplete blocks) fixed. Variance
components are estimated by REML (Patterson & Thompson 1971) from Henderson's
mixed-model equations: GxE cells, then genotypes, are absorbed analytically
(both blocks are diagonal), so a trial with tens of thousands of plots and
genotypes costs O(N) per likelihood evaluation plus a small dense system for
the fixed effects (their design is stored sparse when large: SoyNAM's sets within
environments are 1,867 columns over 62,572 plots). ``s2e`` is profiled out and ``(log s2G/s2e,
log s2GE/s2e)`` maximised numerically; standard errors come from the observed
information (numerical Hessian of the restricted log-likelihood).

Outputs per trait and genotype:

* **BLUE** -- genotype fixed, GxE random (variances from the REML fit): the
  genotype's mean over the environments (sum-to-zero coding of environments
  and replicates), with its standard error; the usual input of a second,
  genomic stage (Piepho et al. 2012, *Biom J* 54:844).
* **BLUP** -- ``mu + g_hat`` from the random-genotype fit, with prediction
  error variance and reliability.
* **Heritability** on an entry-mean basis: Cullis, Smith & Coombes (2006,
  *JABES* 11:381) ``H2 = 1 - v_BLUP / (2 s2G)`` with ``v_BLUP`` the mean
  PEV of pairwise BLUP differences (valid for unbalanced data), and the
  standard ``s2G / (s2G + s2GE/e + s2e/(e r))`` with harmonic means of the
  numbers of environments and plots per genotype.
* **Outliers** -- internally studentised conditional residuals
  ``e_hat / (s_e sqrt(1 - q))`` (``q`` = leverage of the plot in the mixed
  model equations) tested with the Bonferroni-Holm procedure at level
  ``alpha`` (Bernal-Vasquez, Utz & Piepho 2016, *Theor Appl Genet*
  129:787) or against a fixed threshold. They are written to a table and
  only removed (with a refit) when asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as sl
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.stats import norm

from breedomics.core.linalg import single_thread
from breedomics.errors import UserError

__all__ = ["MetFit", "fit_met", "met_blues", "wide_tables"]


def _sum_to_zero(
    levels: np.ndarray, parent: np.ndarray | None = None
) -> tuple[sp.csc_matrix, list]:
    """Sparse sum-to-zero contrast columns of a factor, nested within ``parent`` if given.

    Sparse because nested factors have many levels (SoyNAM: 1,848 sets within 19
    environments over 62,572 plots, 0.9 GB as a dense design).
    """
    levels = np.asarray(levels).astype(str)
    n = levels.size
    nested = parent is not None
    parent = np.full(n, "") if parent is None else np.asarray(parent).astype(str)
    pcode, _ = pd.factorize(parent)
    rows, cols, vals, names = [], [], [], []
    k = 0
    order = np.argsort(pcode, kind="stable")
    bounds = np.flatnonzero(np.diff(pcode[order])) + 1
    for grp in np.split(order, bounds):
        if grp.size == 0:
            continue
        lv, code = np.unique(levels[grp], return_inverse=True)
        if lv.size < 2:
            continue
        last = lv.size - 1
        ordinary = code < last
        # a record at level l < last: +1 in column l; at the last level: -1 in all
        rows.append(grp[ordinary])
        cols.append(k + code[ordinary])
        vals.append(np.ones(int(ordinary.sum())))
        lastrec = grp[~ordinary]
        rows.append(np.repeat(lastrec, last))
        cols.append(np.tile(np.arange(k, k + last), lastrec.size))
        vals.append(np.full(lastrec.size * last, -1.0))
        p = parent[grp[0]]
        names += [f"{p}:{x}" if nested else str(x) for x in lv[:-1]]
        k += last
    if k == 0:
        return sp.csc_matrix((n, 0)), []
    m = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, k)
    )
    return m, names


@dataclass
class _Design:
    y: np.ndarray
    F: sp.csc_matrix  # fixed effects incl. intercept (first column), sparse
    fnames: list
    gi: np.ndarray  # genotype index per record
    ci: np.ndarray  # cell (genotype x environment) index per record
    cg: np.ndarray  # genotype of each cell
    genotypes: np.ndarray
    n_g: np.ndarray
    n_c: np.ndarray


def _stats(d: _Design, intercept: bool) -> dict:
    """Variance-independent sums of the design, computed once per design."""
    cache = d.__dict__.setdefault("_stats", {})
    if intercept not in cache:
        F = d.F if intercept else d.F[:, 1:]
        nc, ng, n = d.n_c.size, d.n_g.size, d.y.size
        rec_to_cell = sp.csr_matrix((np.ones(n), (d.ci, np.arange(n))), shape=(nc, n))
        Fsum_c = sp.csr_matrix(rec_to_cell @ F)
        if (n + nc) * F.shape[1] <= _DENSE_MAX:  # small trial: dense BLAS beats sparse overhead
            F, Fsum_c = F.toarray(), Fsum_c.toarray()
        cache[intercept] = dict(
            F=F,
            FF=_dense(F.T @ F),
            Fy=F.T @ d.y,
            yy=float(d.y @ d.y),
            Fsum_c=Fsum_c,
            ysum_c=np.bincount(d.ci, weights=d.y, minlength=nc),
            ysum_g=np.bincount(d.gi, weights=d.y, minlength=ng),
            cell_to_g=sp.csr_matrix((np.ones(nc), (d.cg, np.arange(nc))), shape=(ng, nc)),
        )
    return cache[intercept]


_DENSE_MAX = 4_000_000  # design elements (records + cells) x fixed effects kept dense


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def _scale_rows(w: np.ndarray, m):
    """``diag(w) m`` for a dense or sparse (CSR result) ``m``."""
    return sp.csr_matrix(sp.diags(w) @ m) if sp.issparse(m) else w[:, None] * m


def _independent_columns(S: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Columns of the PSD matrix ``S`` kept in order, skipping those linearly dependent on
    the earlier kept ones (residual variance below ``tol`` x their own)."""
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


class _MME:
    """Absorbed mixed-model equations for given variance ratios (scaled by s2e)."""

    def __init__(self, d: _Design, inv_g: float, inv_ge: float | None, intercept: bool = True):
        st = _stats(d, intercept)
        F = st["F"]
        ng, nc = d.n_g.size, d.n_c.size
        self.d, self.F, self.inv_g, self.inv_ge = d, F, inv_g, inv_ge
        nf = F.shape[1]
        Fsum_c, ysum_c = st["Fsum_c"], st["ysum_c"]
        self.Fsum_c, self.ysum_c = Fsum_c, ysum_c
        if inv_ge is None:  # no GxE term
            w = np.ones(nc)
            Dc = None
            ff = st["FF"]
            rf = st["Fy"]
            dg = d.n_g.astype(float) + inv_g
        else:
            Dc = d.n_c + inv_ge
            w = inv_ge / Dc
            ff = st["FF"] - _dense(Fsum_c.T @ _scale_rows(1.0 / Dc, Fsum_c))
            rf = st["Fy"] - Fsum_c.T @ (ysum_c / Dc)
            dg = np.bincount(d.cg, weights=d.n_c * w, minlength=ng) + inv_g
        B = st["cell_to_g"] @ _scale_rows(w, Fsum_c)
        rg = np.bincount(d.cg, weights=w * ysum_c, minlength=ng)
        bd = _scale_rows(1.0 / dg, B)
        S2 = ff - _dense(B.T @ bd)
        r2 = rf - bd.T @ rg
        # With fixed genotypes (BLUEs), a block nested in environments can be aliased with
        # a group of genotypes (e.g. a SoyNAM set grown with one family's lines in every
        # environment): such columns are dropped, as R's lm does with aliased terms.
        # Only then: with random genotypes (inv_g > 0) the block is positive definite for
        # the full-rank F that _design builds, and REML evaluates this many times.
        fy = st["Fy"]
        self.dropped: list[str] = []
        keep = _independent_columns(S2) if inv_g == 0 else np.arange(nf)
        if len(keep) < nf:
            names = d.fnames if intercept else d.fnames[1:]
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
            ge = (ysum_c - Fsum_c @ beta - d.n_c * g[d.cg]) / Dc
        self.beta, self.g, self.ge, self.dg, self.Dc, self.bd, self.w = beta, g, ge, dg, Dc, bd, w
        rhs_dot = beta @ fy + g @ st["ysum_g"]
        if Dc is not None:
            rhs_dot += ge @ ysum_c
        self.ypy = float(st["yy"] - rhs_dot)
        logdet = float(np.sum(np.log(dg))) + 2.0 * float(np.sum(np.log(np.diag(self.cS2[0]))))
        if Dc is not None:
            logdet += float(np.sum(np.log(Dc)))
        self.logdet_c = logdet
        self.nf = nf

    def loglik(self, s2e: float | None = None) -> tuple[float, float]:
        """Restricted log-likelihood (s2e profiled if None) and s2e."""
        d = self.d
        df = d.y.size - self.nf
        if s2e is None:
            s2e = self.ypy / df
        log_gamma = -d.n_g.size * np.log(self.inv_g) if np.isfinite(self.inv_g) else 0.0
        if self.inv_ge is not None:
            log_gamma += -d.n_c.size * np.log(self.inv_ge)
        ll = -0.5 * (df * np.log(2 * np.pi * s2e) + log_gamma + self.logdet_c + self.ypy / s2e)
        return float(ll), float(s2e)

    @property
    def S2inv(self) -> np.ndarray:
        """Inverse of the absorbed fixed-effect block (only PEVs and leverages need it:
        REML evaluations skip its O(p^3) solve, 1,867 columns on SoyNAM)."""
        if getattr(self, "_s2inv", None) is None:
            self._s2inv = sl.cho_solve(self.cS2, np.eye(self.nf), check_finite=False)
        return self._s2inv

    def pev_g(self) -> np.ndarray:
        """Diagonal of the genotype block of C^-1 (multiply by s2e for PEV)."""
        return 1.0 / self.dg + _quad_rows(self.bd, self.S2inv)

    def sum_cgg(self) -> float:
        """Sum of all elements of the genotype block of C^-1."""
        u = np.asarray(self.bd.sum(axis=0)).ravel()
        return float(np.sum(1.0 / self.dg) + u @ self.S2inv @ u)

    def leverage(self) -> np.ndarray:
        """``q_k = w_k' C^-1 w_k`` for each record (see module notes)."""
        d = self.d
        F = self.F
        if self.Dc is None:
            a = np.ones(d.y.size)
            h = F
            base = 0.0
        else:
            a = self.w[d.ci]
            h = F - _scale_rows(1.0 / self.Dc[d.ci], self.Fsum_c[d.ci])
            base = 1.0 / self.Dc[d.ci]
        v = _scale_rows(a, self.bd[d.gi]) - h
        return base + a**2 / self.dg[d.gi] + _quad_rows(v, self.S2inv)

    def fitted(self) -> np.ndarray:
        d = self.d
        return self.F @ self.beta + self.g[d.gi] + self.ge[d.ci]


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


@dataclass
class MetFit:
    """Result of :func:`fit_met` for one trait.

    Attributes
    ----------
    genotypes : pandas.DataFrame
        Per genotype: ``blue, se_blue, blup, pev, reliability, n_plots, n_env``.
    varcomp : pandas.DataFrame
        ``component, estimate, se`` for ``s2G, s2GE, s2e`` and the
        heritabilities ``H2_cullis``, ``H2_standard``.
    residuals : pandas.DataFrame
        Per record: identifiers, observed, fitted, residual, studentised
        residual, Holm-adjusted p-value and ``outlier`` flag (+ ``dropped``).
    loglik : float
    """

    trait: str
    genotypes: pd.DataFrame
    varcomp: pd.DataFrame
    residuals: pd.DataFrame
    loglik: float


def _design(rec: pd.DataFrame, trait: str, gcol: str, ecol: str, rcol, bcol) -> _Design:
    y = rec[trait].to_numpy(dtype=float)
    env = rec[ecol].astype(str).to_numpy()
    cols = [sp.csc_matrix(np.ones((len(rec), 1)))]
    names = ["mu"]
    E, en = _sum_to_zero(env)
    cols.append(E)
    names += [f"env[{x}]" for x in en]
    parent = env  # replicates within environments, blocks within environment:replicate
    for col, label in ((rcol, "rep"), (bcol, "block")):
        if not col:
            continue
        lev = rec[col].astype(str).to_numpy()
        M, mn = _sum_to_zero(lev, parent)
        cols.append(M)
        names += [f"{label}[{x}]" for x in mn]
        parent = np.char.add(np.char.add(parent, ":"), lev)
    F = sp.hstack(cols, format="csc")
    # columns in order, skipping those dependent on earlier ones (the intercept stays first)
    keep = _independent_columns((F.T @ F).toarray())
    F = F[:, keep]
    names = [names[i] for i in keep]
    geno = rec[gcol].astype(str).to_numpy()
    genotypes, gi = np.unique(geno, return_inverse=True)
    cell_key = pd.MultiIndex.from_arrays([gi, env])
    ci, cells = pd.factorize(cell_key)
    cg = np.asarray(cells.get_level_values(0), dtype=np.int64)
    return _Design(
        y=y,
        F=F,
        fnames=names,
        gi=gi.astype(np.int64),
        ci=np.asarray(ci, dtype=np.int64),
        cg=cg,
        genotypes=genotypes,
        n_g=np.bincount(gi),
        n_c=np.bincount(ci),
    )


def _fit_reml(d: _Design, gxe: bool) -> tuple[float, float | None, float, float]:
    """REML of (s2G, s2GE, s2e); returns (s2G, s2GE or None, s2e, loglik)."""

    def negll(x):
        inv_g = np.exp(-x[0])
        inv_ge = np.exp(-x[1]) if gxe else None
        try:
            return -_MME(d, inv_g, inv_ge).loglik()[0]
        except (np.linalg.LinAlgError, sl.LinAlgError, FloatingPointError):
            return np.inf

    # starting points from a coarse grid of variance ratios
    grid = np.log([0.05, 0.3, 1.0, 3.0])
    starts = [(a, b) for a in grid for b in grid] if gxe else [(a, 0.0) for a in grid]
    vals = [negll(np.array(s)) for s in starts]
    x0 = np.array(starts[int(np.argmin(vals))])
    bounds = [(-12.0, 8.0), (-12.0, 8.0)] if gxe else [(-12.0, 8.0)]
    res = minimize(
        negll,
        x0[: len(bounds)],
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-12, "gtol": 1e-7},
    )
    # polish: finite-difference gradients leave L-BFGS-B short of the optimum
    res2 = minimize(
        negll, res.x, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 400}
    )
    x = res2.x if res2.fun <= res.fun else res.x
    x = np.clip(x, [b[0] for b in bounds], [b[1] for b in bounds])
    inv_g = np.exp(-x[0])
    inv_ge = np.exp(-x[1]) if gxe else None
    mme = _MME(d, inv_g, inv_ge)
    ll, s2e = mme.loglik()
    return s2e / inv_g, (s2e / inv_ge if gxe else None), s2e, ll


def _full_loglik(d: _Design, theta: np.ndarray, gxe: bool) -> float:
    s2g, s2ge, s2e = theta[0], (theta[1] if gxe else None), theta[-1]
    mme = _MME(d, s2e / s2g, (s2e / s2ge) if gxe else None)
    return mme.loglik(s2e)[0]


def _hessian_se(d: _Design, theta: np.ndarray, gxe: bool) -> np.ndarray:
    """SEs from the inverse observed information (central-difference Hessian)."""
    k = theta.size
    h = 1e-4 * np.maximum(np.abs(theta), 1e-6)
    H = np.zeros((k, k))
    f0 = _full_loglik(d, theta, gxe)
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = h[i]
            ej[j] = h[j]
            if i == j:
                fp = _full_loglik(d, theta + ei, gxe)
                fm = _full_loglik(d, theta - ei, gxe)
                H[i, i] = (fp - 2 * f0 + fm) / h[i] ** 2
            else:
                fpp = _full_loglik(d, theta + ei + ej, gxe)
                fpm = _full_loglik(d, theta + ei - ej, gxe)
                fmp = _full_loglik(d, theta - ei + ej, gxe)
                fmm = _full_loglik(d, theta - ei - ej, gxe)
                H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h[i] * h[j])
    try:
        cov = np.linalg.inv(-H)
        return np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values."""
    m = p.size
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def fit_met(*args, **kw) -> MetFit:
    """Fit the MET mixed model to one trait (see :func:`_fit_met` for parameters)."""
    with single_thread():  # small dense algebra: BLAS threads only add contention
        return _fit_met(*args, **kw)


def _fit_met(
    records: pd.DataFrame,
    trait: str,
    genotype: str = "genotype",
    environment: str = "environment",
    rep: str | None = None,
    block: str | None = None,
    gxe: bool | None = None,
    alpha: float = 0.05,
    threshold: float | None = None,
    drop_outliers: bool = False,
    id_column: str | None = None,
) -> MetFit:
    """Fit the MET mixed model to one trait; BLUEs, BLUPs, H2 and outliers.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per plot.
    trait : str
        Column to analyse (missing values are skipped).
    genotype, environment, rep, block : str
        Column names (``rep``/``block`` optional, fixed within environment).
    gxe : bool, optional
        Fit the GxE term. Default: when at least 5% of genotype x environment
        cells have more than one plot (GxE is separable from the residual only
        through replicated cells); otherwise GxE is part of the residual.
    alpha : float
        Family-wise level of the Bonferroni-Holm outlier test.
    threshold : float, optional
        Flag ``|studentised residual| > threshold`` instead of Holm.
    drop_outliers : bool
        Refit once without the flagged plots (they stay in the table).
    id_column : str, optional
        Plot identifier column copied to the residual table.
    """
    for c in (genotype, environment, trait, rep, block):
        if c is not None and c not in records.columns:
            raise UserError(
                f"column {c!r} is not in the trial records (columns: "
                f"{', '.join(map(str, records.columns[:12]))})"
            )
    rec = records[records[trait].notna()].copy()
    if not pd.api.types.is_numeric_dtype(rec[trait]):
        raise UserError(f"trait {trait!r} is not numeric in the trial records")
    if rec.empty:
        raise UserError(f"trait {trait!r} has no records")
    for c in (genotype, environment) + ((rep,) if rep else ()) + ((block,) if block else ()):
        if rec[c].isna().any():
            raise UserError(
                f"column {c!r} is missing on {int(rec[c].isna().sum())} record(s) "
                f"with a {trait!r} value; fill or drop them"
            )
    y = rec[trait].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        raise UserError(f"trait {trait!r} is constant ({y[0]:g}) in all records; drop it")
    n_geno = rec[genotype].nunique()
    if n_geno < 3:
        raise UserError(f"trait {trait!r}: only {n_geno} genotype(s) recorded; need at least 3")
    cell_n = rec.groupby([genotype, environment]).size()
    if gxe is None:
        # GxE is only separable from the residual through replicated cells; with a
        # handful of them (e.g. unreplicated trials with a few repeated lines) its
        # REML estimate is unstable, so it is fitted when >= 5% of cells are replicated
        gxe = bool(rec[environment].nunique() > 1 and (cell_n > 1).mean() >= 0.05)
    elif gxe and not (cell_n > 1).any():
        raise UserError(
            f"trait {trait!r}: every genotype has one plot per environment, so GxE "
            "cannot be separated from the residual; run without --gxe (or add replicates)"
        )
    dropped = np.zeros(len(rec), dtype=bool)
    for _attempt in range(2 if drop_outliers else 1):
        use = ~dropped
        d = _design(rec[use], trait, genotype, environment, rep, block)
        s2g, s2ge, s2e, ll = _fit_reml(d, gxe)
        mme = _MME(d, s2e / s2g, (s2e / s2ge) if gxe else None)
        q = np.clip(mme.leverage(), 0.0, 1.0 - 1e-12)
        resid = d.y - mme.fitted()
        stud = resid / np.sqrt(s2e * (1.0 - q))
        pval = 2.0 * norm.sf(np.abs(stud))
        padj = _holm(pval)
        flag = np.abs(stud) > threshold if threshold is not None else padj < alpha
        if _attempt == 0:
            res_tab = rec[[c for c in (id_column, genotype, environment, rep, block) if c]].copy()
            res_tab["trait"] = trait
            res_tab["observed"] = rec[trait].to_numpy(float)
            for col in ("fitted", "residual", "studentised", "p_holm"):
                res_tab[col] = np.nan
            res_tab["outlier"] = False
            idx_use = np.flatnonzero(use)
            res_tab.iloc[idx_use, res_tab.columns.get_loc("fitted")] = d.y - resid
            res_tab.iloc[idx_use, res_tab.columns.get_loc("residual")] = resid
            res_tab.iloc[idx_use, res_tab.columns.get_loc("studentised")] = stud
            res_tab.iloc[idx_use, res_tab.columns.get_loc("p_holm")] = padj
            res_tab.iloc[idx_use, res_tab.columns.get_loc("outlier")] = flag
            if drop_outliers:
                dropped = res_tab["outlier"].to_numpy(bool)
                if not dropped.any():
                    break
    res_tab["dropped"] = dropped

    theta = np.array([s2g, s2ge, s2e]) if gxe else np.array([s2g, s2e])
    se = _hessian_se(d, theta, gxe)
    # BLUPs (random genotypes)
    pev = s2e * mme.pev_g()
    mu = mme.beta[0]
    blup = mu + mme.g
    rel = np.clip(1.0 - pev / s2g, 0.0, 1.0)
    n = d.n_g.size
    v_blup = s2e * (2 * n * np.sum(mme.pev_g()) - 2 * mme.sum_cgg()) / (n * (n - 1))
    h2_cullis = 1.0 - v_blup / (2.0 * s2g)
    n_env_g = np.bincount(d.cg, minlength=n)
    e_h = 1.0 / np.mean(1.0 / n_env_g)
    er_h = 1.0 / np.mean(1.0 / d.n_g)
    h2_std = s2g / (s2g + (s2ge or 0.0) / e_h + s2e / er_h)
    # BLUEs (fixed genotypes, GxE random with the REML variance)
    blue_mme = _MME(d, 0.0, (s2e / s2ge) if gxe else None, intercept=False)
    if blue_mme.dropped:
        warnings.warn(
            f"trait {trait!r}: {len(blue_mme.dropped)} fixed effect(s) aliased with groups of "
            f"genotypes left out of the BLUE model ({', '.join(blue_mme.dropped[:3])}"
            f"{', ...' if len(blue_mme.dropped) > 3 else ''}); BLUEs of genotypes in "
            "different groups then include the group's block effect; include the plots of "
            "check varieties grown in every block so that block effects are estimable",
            stacklevel=2,
        )
    blue = blue_mme.g
    se_blue = np.sqrt(s2e * blue_mme.pev_g())
    gen = pd.DataFrame(
        {
            "genotype": d.genotypes,
            "trait": trait,
            "blue": blue,
            "se_blue": se_blue,
            "blup": blup,
            "pev": pev,
            "reliability": rel,
            "n_plots": d.n_g,
            "n_env": n_env_g,
        }
    )
    comps = [("s2G", s2g, se[0])]
    if gxe:
        comps.append(("s2GE", s2ge, se[1]))
    comps.append(("s2e", s2e, se[-1]))
    comps += [
        ("H2_cullis", h2_cullis, np.nan),
        ("H2_standard", h2_std, np.nan),
        ("loglik_reml", ll, np.nan),
    ]
    vc = pd.DataFrame(comps, columns=["component", "estimate", "se"])
    vc.insert(0, "trait", trait)
    return MetFit(trait, gen, vc, res_tab.reset_index(drop=True), ll)


def met_blues(
    records: pd.DataFrame,
    traits: Sequence[str],
    environments: Sequence[str] | None = None,
    **kw,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run :func:`fit_met` for several traits.

    Parameters
    ----------
    records : pandas.DataFrame
    traits : sequence of str
    environments : sequence of str, optional
        Restrict to these environment levels; an unknown level is a
        :class:`UserError`.
    **kw
        Passed to :func:`fit_met` (``genotype``, ``environment``, ``rep``...).

    Returns
    -------
    genotypes, varcomp, residuals : pandas.DataFrame
        Long tables over traits.
    """
    ecol = kw.get("environment", "environment")
    if ecol not in records.columns:
        raise UserError(f"environment column {ecol!r} is not in the trial records")
    if environments:
        known = set(records[ecol].astype(str))
        unknown = [e for e in environments if e not in known]
        if unknown:
            raise UserError(
                f"unknown environment level(s) {', '.join(unknown)}; the records have "
                f"{', '.join(sorted(known)[:20])}"
            )
        records = records[records[ecol].astype(str).isin(set(environments))]
    gens, vcs, res = [], [], []
    for t in traits:
        f = fit_met(records, t, **kw)
        gens.append(f.genotypes)
        vcs.append(f.varcomp)
        res.append(f.residuals)
    return (
        pd.concat(gens, ignore_index=True),
        pd.concat(vcs, ignore_index=True),
        pd.concat(res, ignore_index=True),
    )


def wide_tables(
    genotypes: pd.DataFrame, traits: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """BLUEs and BLUPs as one row per genotype (``sample_id``) and one column per trait.

    ``genotypes`` is the long table of :func:`met_blues`; the BLUE table is the
    phenotype table of the genomic stage (``gs cv``/``gs predict``).
    """
    out = []
    for value in ("blue", "blup"):
        wide = genotypes.pivot(index="genotype", columns="trait", values=value)[list(traits)]
        wide.index.name = "sample_id"
        out.append(wide.reset_index())
    return out[0], out[1]
