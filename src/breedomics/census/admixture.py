"""Ancestry proportions: the ADMIXTURE likelihood fitted by accelerated EM.

Model (Pritchard, Stephens & Donnelly 2000; Tang et al. 2005 "FRAPPE";
Alexander, Novembre & Lange 2009 "ADMIXTURE"): genotype ``g_ij`` (ALT copies
out of ``c``) is binomial with success probability
``pi_ij = sum_k q_ik p_jk``, where ``Q`` (``n x K``, rows on the simplex) are
ancestry proportions and ``P`` (``m x K``) ancestral ALT frequencies. The
likelihood is maximised with the EM algorithm of Tang et al. (2005),
accelerated with SQUAREM (Varadhan & Roland 2008, *Scand J Stat* 35:335) and a
monotonicity safeguard; the number of ancestral populations K is chosen by
``v``-fold cross-validation on held-out genotypes (Alexander & Lange 2011,
*BMC Bioinformatics* 12:246), scored by binomial deviance.

Diploid samples have ``c = 2``; inbred lines (``inbred=True``) are one
haplotype each: ``c = 1`` and ``g = dosage / 2``. The SNPs are thinned evenly
to at most ``max_snps`` (prune for LD beforehand for best results); the
thinned ``n x max_snps`` matrix is the only genotype data held in memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from breedomics.core.genotypes import iter_dosage_chunks, n_variants
from breedomics.core.progress import Progress
from breedomics.core.standardise import dosage_means, maf_mask
from breedomics.errors import UserError

__all__ = [
    "AdmixtureFit",
    "fit_admixture",
    "cv_error",
    "load_thinned",
    "admixture",
    "plot_admixture",
]

_EPS = 1e-6


@dataclass
class AdmixtureFit:
    """Result of one ADMIXTURE-model fit."""

    q: np.ndarray  # (n, K)
    p: np.ndarray  # (m, K)
    loglik: float
    n_iter: int
    converged: bool


def _prep(g: np.ndarray, c: int):
    obs = ~np.isnan(g)
    gz = np.where(obs, g, 0.0).astype(np.float32)
    hz = np.where(obs, c - gz, 0.0).astype(np.float32)
    return obs, gz, hz, obs.sum(axis=1)


def _pi(q, p) -> np.ndarray:
    """``Q P'`` in float32, clipped to ``[eps, 1 - eps]`` in place."""
    pi = q.astype(np.float32) @ p.T.astype(np.float32)
    return np.clip(pi, _EPS, 1 - _EPS, out=pi)


def _loglik(q, p, obs, gz, hz) -> float:
    pi = _pi(q, p)
    ll = float(np.sum(gz * np.log(pi), dtype=np.float64))
    np.log1p(np.negative(pi, out=pi), out=pi)
    return ll + float(np.sum(hz * pi, dtype=np.float64))


def _em_step(q, p, obs, gz, hz, c, ncalled):
    """One EM update of (Q, P) (Tang et al. 2005) with few passes over the n x m data.

    With ``a = g / pi`` and ``b = (c - g) / (1 - pi)`` (0 where missing), the
    updates are ``Q' ~ Q * (a P + b (1 - P))`` and ``P' = P a'Q / (P a'Q +
    (1 - P) b'Q)``, using ``a P + b (1 - P) = (a - b) P + b 1``. The n x m
    arrays are float32 (half the memory traffic); Q and P stay float64.
    """
    pi = _pi(q, p)
    a = np.divide(gz, pi)
    np.subtract(np.float32(1.0), pi, out=pi)
    b = np.divide(hz, pi, out=pi)
    q32 = q.astype(np.float32)
    aq = (a.T @ q32).astype(np.float64)
    bq = (b.T @ q32).astype(np.float64)
    bsum = b.sum(axis=1, dtype=np.float64)
    np.subtract(a, b, out=a)
    qn = q * ((a @ p.astype(np.float32)).astype(np.float64) + bsum[:, None])
    qn /= (c * ncalled)[:, None]
    pa = p * aq
    pb = (1.0 - p) * bq
    pn = pa / np.maximum(pa + pb, 1e-300)
    return _project(qn, pn)


def _project(q, p):
    q = np.clip(q, _EPS, None)
    q /= q.sum(axis=1, keepdims=True)
    return q, np.clip(p, _EPS, 1 - _EPS)


def _als_init(f: np.ndarray, obs: np.ndarray, k: int, rng, n_iter: int = 25):
    """Alternating least squares for F ~ Q P' with simplex / box projection."""
    fm = np.where(obs, f, 0.0)
    mean = fm.sum(axis=0) / obs.sum(axis=0).clip(1)
    fm = np.where(obs, f, mean)
    n, m = fm.shape
    q = rng.dirichlet(np.ones(k), size=n)
    ridge = 1e-6 * np.eye(k)
    p = np.clip(np.linalg.solve(q.T @ q + ridge, q.T @ fm).T, _EPS, 1 - _EPS)
    for _ in range(n_iter):
        q = np.linalg.solve(p.T @ p + ridge, p.T @ fm.T).T
        q, _ = _project(q, p)
        p = np.clip(np.linalg.solve(q.T @ q + ridge, q.T @ fm).T, _EPS, 1 - _EPS)
    return q, p


def fit_admixture(
    g: np.ndarray,
    k: int,
    c: int = 2,
    max_iter: int = 1000,
    tol: float = 1e-7,
    seed: int = 1,
    n_starts: int = 2,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> AdmixtureFit:
    """Fit Q and P by SQUAREM-accelerated EM.

    Parameters
    ----------
    g : numpy.ndarray
        ``(n, m)`` ALT copies in ``[0, c]``, NaN for missing (or masked).
    k : int
        Number of ancestral populations.
    c : int
        Allele copies per sample (2 diploid, 1 inbred/haploid).
    max_iter : int
        Maximum SQUAREM cycles.
    tol : float
        Stop when a cycle improves the log-likelihood by less than
        ``tol * |loglik|``.
    seed : int
        Seed of the random starts.
    n_starts : int
        Random starts; each is refined by alternating least squares (Cabreros &
        Storey 2019, "ALStructure"; Frichot et al. 2014, sNMF) and 5 EM steps,
        and the best continues.
    init : tuple of numpy.ndarray, optional
        Starting ``(Q, P)`` instead of random starts (used by the
        cross-validation fits, which start from the full-data estimates).

    Returns
    -------
    AdmixtureFit
    """
    n, m = g.shape
    if k < 1:
        raise UserError(f"K must be >= 1, got {k}")
    if k > n:
        raise UserError(f"K = {k} exceeds the number of samples ({n}); choose K <= {n}")
    obs, gz, hz, ncalled = _prep(g, c)
    if (ncalled == 0).any():
        bad = int(np.flatnonzero(ncalled == 0)[0])
        raise UserError(f"sample #{bad + 1} has no genotype call on the SNPs used for ancestry")
    with threadpool_limits(1):  # skinny (inner dimension K) products: threads only add overhead
        return _fit(g, k, c, obs, gz, hz, ncalled, max_iter, tol, seed, n_starts, init)


def _fit(g, k, c, obs, gz, hz, ncalled, max_iter, tol, seed, n_starts, init) -> AdmixtureFit:
    rng = np.random.default_rng(seed)
    best = None
    if init is not None:
        q0, p0 = init
        if q0.shape != (g.shape[0], k) or p0.shape != (g.shape[1], k):
            raise UserError(f"initial Q/P shapes {q0.shape}/{p0.shape} do not fit the data")
        q, p = _project(np.array(q0, dtype=np.float64), np.array(p0, dtype=np.float64))
        best = (q, p, _loglik(q, p, obs, gz, hz))
    for _ in range(max(1, n_starts) if init is None else 0):
        q, p = _als_init(gz / c, obs, k, rng)
        for _ in range(5):
            q, p = _em_step(q, p, obs, gz, hz, c, ncalled)
        ll = _loglik(q, p, obs, gz, hz)
        if best is None or ll > best[2]:
            best = (q, p, ll)
    q, p, ll = best  # type: ignore[misc]
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        q1, p1 = _em_step(q, p, obs, gz, hz, c, ncalled)
        q2, p2 = _em_step(q1, p1, obs, gz, hz, c, ncalled)
        rq, rp = q1 - q, p1 - p
        vq, vp = q2 - q1 - rq, p2 - p1 - rp
        rn = math.sqrt(np.sum(rq**2) + np.sum(rp**2))
        vn = math.sqrt(np.sum(vq**2) + np.sum(vp**2))
        alpha = min(-rn / vn if vn > 0 else -1.0, -1.0)
        qx, px = _project(q - 2 * alpha * rq + alpha**2 * vq, p - 2 * alpha * rp + alpha**2 * vp)
        qn, pn = _em_step(qx, px, obs, gz, hz, c, ncalled)
        lln = _loglik(qn, pn, obs, gz, hz)
        if lln < ll:  # safeguard: fall back to the plain EM steps (monotone)
            qn, pn = q2, p2
            lln = _loglik(qn, pn, obs, gz, hz)
        delta = lln - ll
        q, p, ll = qn, pn, lln
        if delta < tol * abs(ll):
            converged = True
            break
    return AdmixtureFit(q, p, ll, n_iter, converged)


def cv_error(
    g: np.ndarray,
    k: int,
    c: int = 2,
    folds: int = 5,
    seed: int = 1,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress | None = None,
    **kw,
) -> float:
    """Cross-validation error of K (Alexander & Lange 2011).

    Observed genotypes are split at random into ``folds`` parts; each part is
    masked in turn, the model fitted to the rest and the masked genotypes
    predicted by ``c * pi_ij``. Returns the mean binomial deviance per masked
    genotype.

    With ``init`` (the full-data ``(Q, P)``), every fold's fit starts from it
    and climbs to the masked data's optimum in a few iterations; without it,
    each fold is fitted from random starts. ``progress`` counts one unit per fold fitted.
    """
    rng = np.random.default_rng(seed + 7919 * k)
    obs = np.flatnonzero(~np.isnan(g).ravel())
    fold = rng.integers(0, folds, len(obs))
    dev = 0.0
    for f in range(folds):
        idx = obs[fold == f]
        gm = g.copy().ravel()
        gm[idx] = np.nan
        fit = fit_admixture(gm.reshape(g.shape), k, c, seed=seed + f, init=init, **kw)
        if progress is not None:
            progress.update(1)
        i, j = np.unravel_index(idx, g.shape)
        pi = np.clip(np.einsum("ik,ik->i", fit.q[i], fit.p[j]), _EPS, 1 - _EPS)
        y = g[i, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = np.where(y > 0, y * np.log(y / (c * pi)), 0.0)
            t2 = np.where(c - y > 0, (c - y) * np.log((c - y) / (c * (1 - pi))), 0.0)
        dev += 2.0 * np.sum(t1 + t2)
    return dev / len(obs)


def load_thinned(
    geno: str | os.PathLike, samples: Sequence[str], *, max_snps: int = 20000,
    min_maf: float = 0.01, inbred: bool = False, chunk_size: int = 10000,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Evenly thinned genotypes for the ancestry model.

    Returns the ``(n, m)`` float64 matrix of ALT copies (``c`` = 1 if inbred,
    else 2, NaN missing) of SNPs with MAF > ``min_maf`` and ``c``.
    """
    total = n_variants(geno)
    step = max(1, math.ceil(total / max_snps))
    parts = []
    for variants, dos in iter_dosage_chunks(
        geno, chunk_size, samples, progress="census admixture (SNP sample)"
    ):
        take = (variants.index.to_numpy() % step) == 0
        d = dos[:, take].astype(np.float64)
        mean, n_obs = dosage_means(d)
        parts.append(d[:, (n_obs > 0) & maf_mask(mean / 2.0, min_maf)])
    g = np.concatenate(parts, axis=1) if parts else np.zeros((len(samples), 0))
    if g.shape[1] < 10:
        raise UserError(
            f"{geno}: only {g.shape[1]} SNPs with MAF > {min_maf} among the analysed samples; "
            "ancestry estimation needs polymorphic SNPs"
        )
    c = 1 if inbred else 2
    return (g / 2.0 if inbred else g), c


def admixture(
    geno: str | os.PathLike,
    samples: Sequence[str],
    k_min: int = 2,
    k_max: int = 6,
    inbred: bool = False,
    folds: int = 5,
    max_snps: int = 20000,
    seed: int = 1,
    max_iter: int = 1000,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, AdmixtureFit]]:
    """Fit K = k_min..k_max and choose K by cross-validation.

    Returns
    -------
    q_table : pandas.DataFrame
        ``sample, K, best, Q1..QKmax`` (long over K; ``best`` marks the chosen K).
    cv : pandas.DataFrame
        ``K, loglik, cv_error, n_iter, converged, chosen``.
    fits : dict
        The fits by K.
    """
    n = len(samples)
    if k_min < 1 or k_max < k_min:
        raise UserError(f"need 1 <= k_min <= k_max, got {k_min}..{k_max}")
    if k_max >= n:
        raise UserError(
            f"Kmax = {k_max} is not smaller than the number of samples ({n}); lower Kmax"
        )
    g, c = load_thinned(geno, samples, max_snps=max_snps, inbred=inbred)
    rows, fits = [], {}
    n_fits = (k_max - k_min + 1) * (1 + (folds if folds > 1 else 0))
    label = f"census admixture (K = {k_min}..{k_max}, {folds}-fold CV)"
    prog = Progress(n_fits, label, "fits")
    for k in range(k_min, k_max + 1):
        fit = fit_admixture(g, k, c, seed=seed, max_iter=max_iter)
        prog.update(1)
        err = np.nan
        if folds > 1:
            init = (fit.q, fit.p)
            err = cv_error(g, k, c, folds, seed, init, progress=prog, max_iter=max_iter)
        fits[k] = fit
        rows.append(
            {"K": k, "loglik": fit.loglik, "cv_error": err, "n_iter": fit.n_iter,
             "converged": fit.converged, "n_snps": g.shape[1]}
        )  # fmt: skip
    prog.close()
    cv = pd.DataFrame(rows)
    best_k = int(cv.loc[cv["cv_error"].idxmin(), "K"]) if folds > 1 else k_max
    cv["chosen"] = cv["K"] == best_k
    qrows = []
    for k, fit in fits.items():
        df = pd.DataFrame(fit.q, columns=[f"Q{i + 1}" for i in range(k)])
        df.insert(0, "best", k == best_k)
        df.insert(0, "K", k)
        df.insert(0, "sample", list(samples))
        qrows.append(df)
    return pd.concat(qrows, ignore_index=True), cv, fits


def plot_admixture(
    q_table: pd.DataFrame, cv: pd.DataFrame, labels: np.ndarray, path: str | os.PathLike
) -> str:
    """Stacked bar plots of Q for every K (samples sorted by group) and the CV curve."""
    from breedomics.census._common import figure, save_figure

    ks = sorted(cv["K"])
    fig, axes = figure(nrows=len(ks) + 1, figsize=(12, 1.4 * (len(ks) + 1)))
    lab = np.asarray(labels, dtype=str)
    first = q_table[q_table["K"] == ks[-1]]
    major = first[[f"Q{i + 1}" for i in range(ks[-1])]].to_numpy().argmax(axis=1)
    order = np.lexsort((major, lab))
    for ax, k in zip(axes[:-1], ks, strict=True):
        q = q_table[q_table["K"] == k][[f"Q{i + 1}" for i in range(k)]].to_numpy()[order]
        bottom = np.zeros(len(q))
        for j in range(k):
            ax.bar(np.arange(len(q)), q[:, j], bottom=bottom, width=1.0, linewidth=0)
            bottom += q[:, j]
        ax.set_xlim(-0.5, len(q) - 0.5)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"K={k}")
        ax.set_xticks([])
    axes[-1].plot(cv["K"], cv["cv_error"], marker="o")
    axes[-1].set_xlabel("K")
    axes[-1].set_ylabel("CV error")
    return save_figure(fig, path)
