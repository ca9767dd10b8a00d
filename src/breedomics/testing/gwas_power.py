"""Power and false discoveries of a GWAS against known (simulated) QTL.

A significant variant within ``window`` bp of a true QTL on the same
chromosome detects that QTL; every other significant variant is false, and
false variants closer than ``window`` to each other count as one false
locus. :func:`discovery_curve` walks down the ranked p-values so that models
can be compared at *equal* numbers of false discoveries, the comparison made
by Liu et al. (2016, *PLoS Genet* 12:e1005767) between FarmCPU and MLM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["discoveries", "discovery_curve", "power_at_fd"]


def _near_qtl(chrom: np.ndarray, pos: np.ndarray, qtl: pd.DataFrame, window: int) -> np.ndarray:
    """Index (into ``qtl``) of the nearest QTL within ``window``, else -1."""
    out = np.full(len(pos), -1, dtype=np.int64)
    qc = qtl["chrom"].astype(str).to_numpy()
    qp = qtl["pos"].to_numpy()
    for k in range(len(qtl)):
        hit = (chrom == qc[k]) & (np.abs(pos - qp[k]) <= window)
        better = hit & ((out < 0) | (np.abs(pos - qp[k]) < np.abs(pos - qp[np.maximum(out, 0)])))
        out[better] = k
    return out


def discoveries(
    sumstats: pd.DataFrame, qtl: pd.DataFrame, nlog10_threshold: float, window: int = 250_000
) -> dict:
    """True QTL found and false loci at one threshold.

    Parameters
    ----------
    sumstats : pandas.DataFrame
        ``chromosome, base_pair_location, neg_log_10_p_value``.
    qtl : pandas.DataFrame
        ``chrom, pos`` (and ``id``) of the true QTL of this trait.
    nlog10_threshold : float
        Significance threshold on ``-log10 p``.
    window : int
        Distance (bp) within which a hit counts for a QTL.

    Returns
    -------
    dict
        ``n_qtl, true_found, false_loci, power, false_variants``.
    """
    sig = sumstats[sumstats["neg_log_10_p_value"] >= nlog10_threshold]
    chrom = sig["chromosome"].astype(str).to_numpy()
    pos = sig["base_pair_location"].to_numpy()
    near = _near_qtl(chrom, pos, qtl, window)
    found = len(set(near[near >= 0].tolist()))
    fc, fp = chrom[near < 0], pos[near < 0]
    order = np.lexsort((fp, fc))
    fc, fp = fc[order], fp[order]
    loci = 0
    for i in range(len(fp)):
        if i == 0 or fc[i] != fc[i - 1] or fp[i] - fp[i - 1] > window:
            loci += 1
    return {
        "n_qtl": len(qtl),
        "true_found": found,
        "false_loci": loci,
        "power": found / len(qtl) if len(qtl) else np.nan,
        "false_variants": int((near < 0).sum()),
    }


def discovery_curve(
    sumstats: pd.DataFrame, qtl: pd.DataFrame, window: int = 250_000, min_nlog10: float = 2.0
) -> pd.DataFrame:
    """True QTL found and false loci as the threshold is lowered.

    Returns
    -------
    pandas.DataFrame
        One row per variant with ``-log10 p >= min_nlog10`` in decreasing
        order: ``nlog10p, true_found, false_loci`` when the threshold is that
        variant's ``-log10 p``.
    """
    s = sumstats[sumstats["neg_log_10_p_value"] >= min_nlog10].sort_values(
        "neg_log_10_p_value", ascending=False
    )
    chrom = s["chromosome"].astype(str).to_numpy()
    pos = s["base_pair_location"].to_numpy()
    near = _near_qtl(chrom, pos, qtl, window)
    found: set[int] = set()
    false_pos: dict[str, list[int]] = {}
    n_false = 0
    rows = []
    for c, p, k, nl in zip(chrom, pos, near, s["neg_log_10_p_value"].to_numpy(), strict=True):
        if k >= 0:
            found.add(int(k))
        else:
            lst = false_pos.setdefault(c, [])
            if not any(abs(p - q) <= window for q in lst):
                n_false += 1
            lst.append(int(p))
        rows.append((nl, len(found), n_false))
    return pd.DataFrame(rows, columns=["nlog10p", "true_found", "false_loci"])


def power_at_fd(curve: pd.DataFrame, max_false: int) -> int:
    """Most true QTL found by any threshold with at most ``max_false`` false loci."""
    ok = curve[curve["false_loci"] <= max_false]
    return int(ok["true_found"].max()) if len(ok) else 0
