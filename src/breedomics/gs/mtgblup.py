"""Multi-trait GBLUP with REML by average information.

Model for ``t`` traits (Henderson & Quaas 1976, *J Anim Sci* 43:1188)::

    Y = X B + G + E,   vec(G) ~ N(0, Vg (x) K),   vec(E) ~ N(0, Ve (x) I)

``Vg`` and ``Ve`` are ``t x t`` genetic and residual covariance matrices and
``K`` is VanRaden's GRM. On the samples with every trait observed, rotating
by the eigenvectors of ``K = U D U'`` makes the samples independent:
``U'Y`` has rows ``~ N(B'x_i, d_i Vg + Ve)`` (as in GEMMA's mvLMM, Zhou &
Stephens 2014, *Nat Methods* 11:407), so every REML quantity costs
O(n t^3). ``(vech Vg, vech Ve)`` are estimated by the core's
average-information REML (:func:`breedomics.core.aireml.fit_multitrait`;
Gilmour, Thompson & Cullis 1995, *Biometrics* 51:1440; Meyer 1997,
*Genet Sel Evol* 29:97 for the multivariate case), with step halving that
keeps both matrices positive definite and the likelihood increasing,
started from single-trait REML estimates and the phenotypic correlations.

Breeding values of all genotyped samples and traits are BLUPs given the
estimates and **all** observed records, including samples with some traits
missing (their records still inform the correlated traits),
``G_hat = K_{.,t} (P y) Vg`` arranged by trait (a dense solve on the
observed entries when records are missing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sl

from breedomics.core.aireml import fit_multitrait, vech_index
from breedomics.core.reml import delta_se, heritability
from breedomics.errors import UserError
from breedomics.gs.data import Genotypes
from breedomics.gs.models import Capabilities, GSModel

__all__ = ["MultiTraitGBLUP", "mt_reml"]


def mt_reml(
    K: np.ndarray, Y: np.ndarray, X: np.ndarray, max_iter: int = 100, tol: float = 1e-8
) -> dict:
    """Multi-trait REML on complete records (:func:`breedomics.core.aireml.fit_multitrait`)."""
    return fit_multitrait(K, Y, X, max_iter, tol)


class MultiTraitGBLUP(GSModel):
    """Multi-trait GBLUP (``mtgblup``).

    Attributes (after :meth:`fit`)
    ------------------------------
    Vg, Ve : numpy.ndarray
    beta : numpy.ndarray
        ``(q, t)`` fixed effects (GLS on all observed records).
    reml : dict
        Output of :func:`mt_reml`.
    """

    name = "MT-GBLUP"
    capabilities = Capabilities(multi_trait=True)

    def __init__(self, traits: list[str] | None = None):
        self.traits = traits

    def _fit(self, geno: Genotypes, train, Y, X, targets) -> None:
        """Fit on samples ``train`` with ``(n, t)`` phenotypes ``Y`` (NaN = missing)."""
        if Y.ndim != 2 or Y.shape[1] < 2:
            raise UserError("multi-trait GBLUP needs at least two traits (--traits a,b)")
        t = Y.shape[1]
        self.traits = self.traits or [f"trait{k + 1}" for k in range(t)]
        obs = np.isfinite(Y)
        complete = obs.all(axis=1)
        q = X.shape[1]
        if complete.sum() < max(10, 2 * q + 2):
            raise UserError(
                f"multi-trait GBLUP: only {int(complete.sum())} sample(s) have all of "
                f"{', '.join(self.traits)} recorded; REML needs at least {max(10, 2 * q + 2)}"
            )
        K = geno.grm()
        self.K = K
        cc = np.flatnonzero(complete)
        res = mt_reml(K[np.ix_(train[cc], train[cc])], Y[cc], X[cc])
        self.reml = res
        self.Vg, self.Ve = res["Vg"], res["Ve"]
        if complete.all():
            # the rotated REML fit already holds P y and the GLS fixed effects
            self._py, self.beta, self.se_beta = res["py"], res["B"], res["se_B"]
        else:
            self._py = self._py_dense(K[np.ix_(train, train)], Y, X, obs)

    def _py_dense(self, Ktt, Y, X, obs) -> np.ndarray:
        """``P y`` on the observed entries (trait-major), scattered back to (n, t)."""
        n, t = Y.shape
        Vfull = np.kron(self.Vg, Ktt) + np.kron(self.Ve, np.eye(n))
        o = obs.T.reshape(-1)  # trait-major order
        V = Vfull[np.ix_(o, o)]
        Xf = np.kron(np.eye(t), X)[o]
        y = Y.T.reshape(-1)[o]
        c = sl.cho_factor(V, lower=True)
        vx = sl.cho_solve(c, Xf)
        vy = sl.cho_solve(c, y)
        xvx = Xf.T @ vx
        b = np.linalg.solve(xvx, Xf.T @ vy)
        self.beta = b.reshape(t, X.shape[1]).T
        self.se_beta = np.sqrt(np.diag(np.linalg.inv(xvx))).reshape(t, X.shape[1]).T
        py = vy - vx @ b
        full = np.zeros(n * t)
        full[o] = py
        return full.reshape(t, n).T

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), t)`` GEBVs of samples ``idx``."""
        Kct = self.K[np.ix_(np.asarray(idx), self.train)]
        return (Kct @ self._py) @ self.Vg

    def varcomp_rows(self, trait: str | None = None) -> list[dict]:
        """Variance components, heritabilities and genetic correlations with SEs.

        Rows are labelled with the model's trait names (``trait`` is not used).
        """
        r = self.reml
        t = len(self.traits)
        m = r["mean_diag"]
        Vg, Ve, cov = r["Vg"], r["Ve"], r["cov"]
        pairs = vech_index(t)
        npar = len(pairs)

        def row(trait: str, component: str, estimate: float, se: float) -> dict:
            return dict(model=self.name, trait=trait, component=component, estimate=estimate, se=se)

        rows = []
        for a, b in pairs:
            lab = self.traits[a] if a == b else f"{self.traits[a]}:{self.traits[b]}"
            rows.append(row(lab, "Vg", Vg[a, b], r["se_Vg"][a, b]))
            rows.append(row(lab, "Ve", Ve[a, b], r["se_Ve"][a, b]))
        for a in range(t):
            ka = pairs.index((a, a))
            vg, ve = Vg[a, a], Ve[a, a]
            den = (vg * m + ve) ** 2
            grad = np.zeros(2 * npar)
            grad[ka] = m * ve / den
            grad[npar + ka] = -vg * m / den
            rows.append(row(self.traits[a], "h2", heritability(vg, ve, m), delta_se(grad, cov)))
        for a, b in pairs:
            if a == b:
                continue
            ka, kb, kab = pairs.index((a, a)), pairs.index((b, b)), pairs.index((a, b))
            rg = Vg[a, b] / np.sqrt(Vg[a, a] * Vg[b, b])
            grad = np.zeros(2 * npar)
            grad[kab] = 1 / np.sqrt(Vg[a, a] * Vg[b, b])
            grad[ka] = -0.5 * rg / Vg[a, a]
            grad[kb] = -0.5 * rg / Vg[b, b]
            rows.append(row(f"{self.traits[a]}:{self.traits[b]}", "r_g", rg, delta_se(grad, cov)))
        return rows

    def varcomp_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.varcomp_rows())
