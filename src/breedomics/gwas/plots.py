"""Manhattan and QQ plots (matplotlib, Agg backend).

Millions of points are thinned before drawing: every variant with
``-log10 p >= 2`` is drawn, weaker ones are drawn one in ``k`` (a
deterministic stride) so that at most ``max_points`` points are plotted; the
QQ plot thins the same way along the sorted p-values, keeping its shape and
tail exact. The QQ plot shows the 95 % pointwise band of uniform order
statistics (``Beta(i, m - i + 1)``) and the inflation factor.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

__all__ = ["manhattan", "qq"]


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, ax, title: str, path: str | os.PathLike) -> str:
    """Title, open frame, tight layout; write ``path`` and close the figure."""
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def _thin_mask(nl: np.ndarray, max_points: int, keep_above: float = 2.0) -> np.ndarray:
    keep = nl >= keep_above
    rest = np.flatnonzero(~keep)
    budget = max(max_points - int(keep.sum()), 1)
    if len(rest) > budget:
        stride = int(np.ceil(len(rest) / budget))
        keep[rest[::stride]] = True
    else:
        keep[rest] = True
    return keep


def manhattan(
    sumstats: pd.DataFrame,
    path: str | os.PathLike,
    title: str = "",
    thresholds: dict[str, float] | None = None,
    max_points: int = 200_000,
) -> str:
    """Draw a Manhattan plot.

    Parameters
    ----------
    sumstats : pandas.DataFrame
        ``chromosome, base_pair_location, neg_log_10_p_value`` in genome order.
    path : str or path-like
        Output PNG.
    title : str
        Plot title.
    thresholds : dict, optional
        Label -> p-value threshold, drawn as horizontal lines.
    max_points : int
        Upper bound on drawn points (see module doc).

    Returns
    -------
    str
        ``path``.
    """
    plt = _mpl()
    cat = (
        pd.Categorical(sumstats["chromosome"].astype(str))
        if not isinstance(sumstats["chromosome"].dtype, pd.CategoricalDtype)
        else sumstats["chromosome"].array
    )
    codes = np.asarray(cat.codes)
    pos = sumstats["base_pair_location"].to_numpy().astype(np.float64)
    nl = sumstats["neg_log_10_p_value"].to_numpy().astype(np.float64)
    ok = np.isfinite(nl)
    codes, pos, nl = codes[ok], pos[ok], nl[ok]
    # chromosomes in order of first appearance (genome order of the file)
    first = pd.unique(codes)
    names = [str(cat.categories[c]) for c in first]
    x = np.empty_like(pos)
    ticks, offset = [], 0.0
    shade = np.zeros(len(pos), dtype=bool)
    for k, c in enumerate(first):
        on = codes == c
        p = pos[on]
        lo, hi = (p.min(), p.max()) if len(p) else (0.0, 1.0)
        x[on] = offset + (p - lo)
        ticks.append(offset + (hi - lo) / 2)
        shade[on] = k % 2 == 1
        offset += (hi - lo) + max((hi - lo) * 0.02, 1.0)
    colours = np.where(shade, "#7fa7d1", "#1f4e79")
    order = names
    keep = _thin_mask(nl, max_points)
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=110)
    ax.scatter(x[keep], nl[keep], s=4, c=colours[keep], linewidths=0, rasterized=True)
    for (label, thr), ls in zip((thresholds or {}).items(), ["-", "--", ":", "-."], strict=False):
        if thr and thr > 0:
            ax.axhline(-np.log10(thr), color="#c0392b", lw=0.8, ls=ls, label=f"{label} ({thr:.2g})")
    if thresholds:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_xticks(ticks)
    ax.set_xticklabels(order, fontsize=7, rotation=90 if len(order) > 25 else 0)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}\,p$")
    ax.set_xlim(-offset * 0.005, offset * 1.005)
    ax.set_ylim(0, max(float(nl.max(initial=1.0)) * 1.08, 3.0))
    return _save(plt, fig, ax, title, path)


def qq(
    nlog10p: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    lam: float | None = None,
    max_points: int = 100_000,
) -> str:
    """Draw a QQ plot of ``-log10 p`` against the uniform expectation.

    Parameters
    ----------
    nlog10p : numpy.ndarray
        Observed ``-log10 p``.
    path : str or path-like
        Output PNG.
    title : str
        Plot title.
    lam : float, optional
        Genomic inflation factor to print.
    max_points : int
        Upper bound on drawn points.

    Returns
    -------
    str
        ``path``.
    """
    from scipy import stats

    plt = _mpl()
    obs = np.sort(np.asarray(nlog10p, dtype=np.float64)[np.isfinite(nlog10p)])[::-1]
    m = len(obs)
    i = np.arange(1, m + 1)
    exp = -np.log10(i / (m + 1))
    keep = _thin_mask(obs, max_points)
    lo = -np.log10(stats.beta.ppf(0.975, i[keep], m - i[keep] + 1))
    hi = -np.log10(stats.beta.ppf(0.025, i[keep], m - i[keep] + 1))
    fig, ax = plt.subplots(figsize=(4.8, 4.8), dpi=110)
    ax.fill_between(exp[keep], lo, hi, color="#d5dbe5", lw=0, label="95% band")
    top = float(exp.max(initial=1.0))
    ax.plot([0, top], [0, top], color="#7f8c8d", lw=0.8)
    ax.scatter(exp[keep], obs[keep], s=5, color="#1f4e79", linewidths=0, rasterized=True)
    ax.set_xlabel(r"expected $-\log_{10}\,p$")
    ax.set_ylabel(r"observed $-\log_{10}\,p$")
    if lam is not None and np.isfinite(lam):
        ax.text(0.05, 0.92, rf"$\lambda_{{GC}}$ = {lam:.3f}", transform=ax.transAxes)
    return _save(plt, fig, ax, title, path)
