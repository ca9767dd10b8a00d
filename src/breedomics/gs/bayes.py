"""BayesB and BayesC Gibbs samplers for whole-genome regression.

Model (Meuwissen, Hayes & Goddard 2001, *Genetics* 157:1819; Habier et al.
2011, *BMC Bioinformatics* 12:186)::

    y = X b + sum_j z_j beta_j + e,      e ~ N(0, s2e I)
    beta_j = delta_j alpha_j,            delta_j ~ Bernoulli(1 - pi)
    BayesC: alpha_j ~ N(0, s2b)          (one variance for all markers)
    BayesB: alpha_j ~ N(0, s2_j)         (one variance per marker)
    s2b, s2_j ~ nu S2 / chi2_nu,  s2e ~ nu_e S2e / chi2_nu_e,  pi ~ Beta(1, 1)

``pi`` is the prior share of markers with **zero** effect. It is sampled
when ``estimate_pi`` (BayesCpi, BayesDpi-style) and fixed otherwise. Scale
parameters follow Habier et al. (2011): ``S2`` makes the prior expectation of
the genetic variance ``(1 - pi) sum_j var(z_j) E[s2b]`` equal to
``h2_prior var(y)``. For BayesB the scale ``S2`` of the per-marker variances
is itself sampled by default (``estimate_scale``; Gamma(1.1, rate 0.1/S2_0)
prior with its mode at that value, as in BGLR, Perez & de los Campos 2014),
so that the degree of sparsity is learnt rather than fixed by ``S2_0``:
``S2 | s2_j ~ Gamma(1.1 + p nu / 2, 0.1 / S2_0 + nu/2 sum_j 1/s2_j)``. BayesB is run as a
Gibbs sampler (``delta_j`` sampled
with ``beta_j`` integrated out, then ``beta_j``, then ``s2_j`` given
``beta_j``), the formulation Habier et al. use instead of Meuwissen's
Metropolis-Hastings step.

Speed. The sampler is the plain single-site, residual-updating Gibbs sampler
(each ``beta_j`` drawn given all others): for marker ``j``,
``rhs_j = z_j' e + z_j' z_j beta_j``, the inclusion indicator is drawn with
``beta_j`` integrated out, then ``beta_j``, and the residual ``e`` is updated
only if the effect changed. The sweep over markers is a numba-compiled kernel
(:func:`breedomics.gs._gibbs.gibbs_sweep`; single-threaded, compiled once per
machine and cached on disk), O(n) per marker: the ``p`` dot products stream
the ``(p, n)`` float32 marker matrix once per iteration (summed in float32),
which bounds the speed for large ``n p``. The logistic draws of the inclusion tests and the
normal draws of the effects are pre-drawn per iteration with NumPy's
generator (one of each per marker), so a seeded run is reproducible. The
residual (float64) is recomputed from scratch every 100 iterations to stop
round-off drift.

Convergence diagnostics (:func:`geweke_z`, :func:`effective_sample_size`)
are computed on the post-burn-in traces of ``s2e``, the genetic variance,
the number of markers in the model and ``pi``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.core.linalg import single_thread
from breedomics.core.progress import Progress
from breedomics.gs.data import Genotypes
from breedomics.gs.models import Capabilities, GSModel

__all__ = [
    "BayesRegression",
    "BayesB",
    "BayesC",
    "geweke_z",
    "effective_sample_size",
    "McmcSettings",
]


@dataclass
class McmcSettings:
    """MCMC settings.

    Attributes
    ----------
    n_iter : int
        Total iterations (including burn-in).
    burn_in : int
    thin : int
        Keep every ``thin``-th post-burn-in iteration for posterior means.
    pi : float
        Prior (initial) share of markers with zero effect.
    estimate_pi : bool
    estimate_scale : bool
        BayesB: sample the scale of the per-marker variances (see module notes).
    h2_prior : float
        Prior guess of the heritability, used to set the prior scales.
    nu : float
        Degrees of freedom of the marker-variance priors (4 in Habier 2011).
    nu_e : float
        Degrees of freedom of the residual-variance prior.
    seed : int
    """

    n_iter: int = 6000
    burn_in: int = 1000
    thin: int = 5
    pi: float = 0.99
    estimate_pi: bool = True
    estimate_scale: bool = True
    h2_prior: float = 0.5
    nu: float = 4.0
    nu_e: float = 4.0
    seed: int = 1

    def check(self) -> None:
        from breedomics.errors import UserError

        if self.n_iter <= self.burn_in:
            raise UserError(
                f"MCMC: --iterations ({self.n_iter}) must exceed --burn-in ({self.burn_in})"
            )
        if self.thin < 1 or not (0.0 < self.pi < 1.0) or not (0.0 < self.h2_prior < 1.0):
            raise UserError("MCMC: need thin >= 1, 0 < pi < 1 and 0 < h2-prior < 1")


def _autocov_fft(x: np.ndarray) -> np.ndarray:
    n = x.size
    x = x - x.mean()
    f = np.fft.rfft(x, n=2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n] / n
    return ac


def _long_run_variance(x: np.ndarray) -> float:
    """Asymptotic variance of the mean times n, Geyer's initial positive sequence."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 4 or np.ptp(x) == 0:
        return float(np.var(x))
    ac = _autocov_fft(x)
    m = (n - 1) // 2
    pairs = ac[0 : 2 * m : 2] + ac[1 : 2 * m + 1 : 2]
    bad = np.flatnonzero(pairs <= 0)
    k = bad[0] if bad.size else pairs.size
    pairs = np.minimum.accumulate(pairs[:k]) if k else pairs[:0]
    return float(max(-ac[0] + 2.0 * pairs.sum(), ac[0] / n))


def effective_sample_size(x: np.ndarray) -> float:
    """Effective sample size of a chain (Geyer 1992, initial monotone sequence)."""
    x = np.asarray(x, dtype=float)
    if x.size < 4 or np.ptp(x) == 0:
        return float(x.size)
    return float(x.size * np.var(x) / _long_run_variance(x))


def geweke_z(x: np.ndarray, first: float = 0.1, last: float = 0.5) -> float:
    """Geweke (1992) z-score: mean of the first 10% vs the last 50% of a chain.

    The variances of the two means use spectral (long-run) variance estimates,
    so autocorrelated chains are not flagged spuriously. ``|z| > 2`` suggests
    that the chain has not converged.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 8 or np.ptp(x) == 0:
        return 0.0
    a = x[: max(int(first * n), 2)]
    b = x[n - max(int(last * n), 2) :]
    va = _long_run_variance(a) / a.size
    vb = _long_run_variance(b) / b.size
    if va + vb <= 0:
        return 0.0
    return float((a.mean() - b.mean()) / math.sqrt(va + vb))


def _scaled_inv_chi2(rng: np.random.Generator, df, ss) -> np.ndarray | float:
    """Draw ``ss / chi2_df`` (``ss`` = nu S2 + sum of squares)."""
    return ss / rng.chisquare(df)


class BayesRegression(GSModel):
    """Gibbs sampler for BayesB (``method="BayesB"``) or BayesC(pi).

    Parameters
    ----------
    method : {"BayesB", "BayesC"}
    settings : McmcSettings, optional
    **kw
        Overrides of :class:`McmcSettings` fields.

    Attributes (after :meth:`fit`)
    ------------------------------
    effects : numpy.ndarray
        Posterior mean marker effects (per copy of the counted allele).
    pip : numpy.ndarray
        Posterior inclusion probabilities.
    beta, fixed : numpy.ndarray
        Posterior mean fixed effects.
    trace : pandas.DataFrame
        Post-burn-in traces (every iteration): ``s2e, var_g, n_in_model, pi`` and
        ``s2b`` (BayesC: common marker variance; BayesB: scale ``S2``).
    diagnostics : pandas.DataFrame
        Per traced quantity: posterior mean, sd, ESS, Geweke z.
    seconds, iter_per_second : float
    """

    capabilities = Capabilities(reliability=True, tracks_targets=True, marker_effects=True)

    def __init__(self, method: str = "BayesC", settings: McmcSettings | None = None, **kw):
        if method not in ("BayesB", "BayesC"):
            raise ValueError(f"unknown method {method!r}")
        self.method = method
        self.name = method
        s = settings or McmcSettings()
        for k, v in kw.items():
            if not hasattr(s, k):
                raise TypeError(f"unknown MCMC setting {k!r}")
            setattr(s, k, v)
        self.settings = s

    def _fit(self, geno: Genotypes, train, y, X, targets) -> None:
        """Run the chain on samples ``train`` (:meth:`GSModel.fit`).

        The genetic values of ``targets`` are accumulated over the saved
        samples, giving posterior standard deviations (reliabilities).
        """
        from breedomics.gs._gibbs import gibbs_sweep  # numba: imported on first fit

        s = self.settings
        s.check()
        rng = np.random.default_rng(s.seed)
        n = y.size
        Zt = np.ascontiguousarray(geno.Z[train].T)  # (p, n) float32
        p = Zt.shape[0]
        xx = np.einsum("ij,ij->i", Zt, Zt, dtype=np.float64)
        XtX_inv = np.linalg.inv(X.T @ X)
        L_fixed = np.linalg.cholesky(XtX_inv)

        vy = float(np.var(y))
        sum_var_z = float(xx.sum() / n)
        nu, nu_e = s.nu, s.nu_e
        pi = s.pi
        s2b_mean = s.h2_prior * vy / ((1.0 - pi) * sum_var_z)
        S2b = s2b_mean * (nu - 2.0) / nu
        S2b0 = S2b
        S2e = vy * (1.0 - s.h2_prior) * (nu_e - 2.0) / nu_e
        s2e = vy * (1.0 - s.h2_prior)
        bayesb = self.method == "BayesB"
        var = np.full(p, s2b_mean)  # per-marker (BayesB) or broadcast (BayesC)
        s2b = s2b_mean

        beta = np.zeros(p)
        bfix = XtX_inv @ (X.T @ y)
        e = y - X @ bfix
        track = targets
        Ztr = None if track is None else geno.Z[track]

        n_keep = 0
        sum_beta = np.zeros(p)
        sum_delta = np.zeros(p)
        sum_fixed = np.zeros(X.shape[1])
        sum_g = sum_g2 = None
        if track is not None:
            sum_g = np.zeros(track.size)
            sum_g2 = np.zeros(track.size)
        traces = []
        # progress about 100 times per chain at most (the line interval still applies)
        step = max(1, s.n_iter // 100)
        label = f"{self.method} MCMC ({n} samples, {p} markers)"
        progress = Progress(s.n_iter, label, "iterations")
        t0 = time.perf_counter()
        with single_thread():
            for it in range(s.n_iter):
                if it and it % step == 0:
                    progress.update(step)
                # fixed effects
                e += X @ bfix
                bfix = XtX_inv @ (X.T @ e) + math.sqrt(s2e) * (
                    L_fixed @ rng.standard_normal(X.shape[1])
                )
                e -= X @ bfix
                # markers
                logu = rng.random(p)
                np.log(logu / (1.0 - logu), out=logu)  # logistic draws: include iff logu < log-odds
                z = rng.standard_normal(p)
                lpi = math.log((1.0 - pi) / pi)
                if not bayesb:
                    var.fill(s2b)
                gibbs_sweep(Zt, xx, beta, var, e, s2e, lpi, logu, z)
                if (it + 1) % 100 == 0:
                    e = y - X @ bfix - (beta.astype(np.float32) @ Zt).astype(np.float64)
                # variances
                nz = beta != 0.0
                k = int(nz.sum())
                ssq = float(beta[nz] @ beta[nz])
                if bayesb:
                    var = _scaled_inv_chi2(rng, nu + nz, nu * S2b + beta**2)
                    if s.estimate_scale:
                        rate = 0.1 / S2b0 + 0.5 * nu * float(np.sum(1.0 / var))
                        S2b = float(rng.gamma(1.1 + 0.5 * p * nu, 1.0 / rate))
                else:
                    s2b = float(_scaled_inv_chi2(rng, nu + k, nu * S2b + ssq))
                s2e = float(_scaled_inv_chi2(rng, n + nu_e, nu_e * S2e + float(e @ e)))
                if s.estimate_pi:
                    pi = float(rng.beta(p - k + 1, k + 1))
                    pi = min(max(pi, 1e-6), 1 - 1e-6)
                if it >= s.burn_in:
                    g = y - X @ bfix - e
                    traces.append((s2e, float(np.var(g)), k, pi, S2b if bayesb else s2b))
                    if (it - s.burn_in) % s.thin == 0:
                        n_keep += 1
                        sum_beta += beta
                        sum_delta += nz
                        sum_fixed += bfix
                        if Ztr is not None:
                            gt = (Ztr @ beta.astype(np.float32)).astype(np.float64)
                            sum_g += gt
                            sum_g2 += gt * gt
        self.seconds = time.perf_counter() - t0
        progress.update(s.n_iter - progress.done)
        progress.close()
        self.iter_per_second = s.n_iter / self.seconds
        self.effects = sum_beta / n_keep
        self.pip = sum_delta / n_keep
        self.fixed = sum_fixed / n_keep
        self.beta = self.fixed
        self.n_saved = n_keep
        self.train = train
        self.track = track
        if track is not None:
            mean_g = sum_g / n_keep
            self.track_mean = mean_g
            self.track_sd = np.sqrt(np.maximum(sum_g2 / n_keep - mean_g**2, 0.0))
        tr = pd.DataFrame(traces, columns=["s2e", "var_g", "n_in_model", "pi", "s2b"])
        self.trace = tr
        rows = []
        for c in tr.columns:
            x = tr[c].to_numpy(dtype=float)
            if np.all(np.isnan(x)) or (c == "pi" and not s.estimate_pi):
                continue
            rows.append(
                dict(
                    quantity=c,
                    mean=float(np.mean(x)),
                    sd=float(np.std(x)),
                    ess=effective_sample_size(x),
                    geweke_z=geweke_z(x),
                )
            )
        self.diagnostics = pd.DataFrame(rows)
        self.sigma_e = float(tr["s2e"].mean())
        self.var_g = float(tr["var_g"].mean())

    # ------------------------------------------------------------------ outputs
    def predict(self, idx: np.ndarray) -> np.ndarray:
        """Posterior-mean genetic values ``Z beta`` of samples ``idx``."""
        Z = self.geno.Z[np.asarray(idx)]
        return (Z @ self.effects.astype(np.float32)).astype(np.float64)

    def reliability(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior variance of the genetic values and ``1 - PEV / var_g`` (tracked samples)."""
        idx = np.asarray(idx)
        if self.track is None:
            nan = np.full(idx.size, np.nan)
            return nan, nan
        pos = {int(i): k for k, i in enumerate(self.track)}
        k = np.array([pos.get(int(i), -1) for i in idx])
        pev = np.where(k >= 0, self.track_sd[np.maximum(k, 0)] ** 2, np.nan)
        return pev, np.clip(1.0 - pev / max(self.var_g, 1e-300), 0.0, 1.0)

    def marker_effects(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "marker": self.geno.markers,
                "freq": self.geno.freq,
                "effect": self.effects,
                "pip": self.pip,
            }
        )

    def varcomp_rows(self, trait: str) -> list[dict]:
        rows = []
        for _, d in self.diagnostics.iterrows():
            rows.append(
                dict(
                    model=self.name,
                    trait=trait,
                    component=d["quantity"],
                    estimate=d["mean"],
                    se=d["sd"],
                    ess=d["ess"],
                    geweke_z=d["geweke_z"],
                )
            )
        vg, ve = self.var_g, self.sigma_e
        rows.append(
            dict(model=self.name, trait=trait, component="h2", estimate=vg / (vg + ve), se=np.nan)
        )
        return rows


class BayesB(BayesRegression):
    """BayesB (Meuwissen et al. 2001) as a Gibbs sampler.

    ``pi`` is estimated by default (as in BayesDpi, Habier et al. 2011); pass
    ``estimate_pi=False`` for the original fixed-``pi`` BayesB.
    """

    def __init__(self, settings: McmcSettings | None = None, **kw):
        super().__init__("BayesB", settings, **kw)


class BayesC(BayesRegression):
    """BayesC (Habier et al. 2011); ``pi`` estimated (BayesCpi) unless ``estimate_pi=False``."""

    def __init__(self, settings: McmcSettings | None = None, **kw):
        super().__init__("BayesC", settings, **kw)
