"""LD clumping of significant variants into lead variants and QTL intervals.

The greedy procedure of PLINK's ``--clump`` (Purcell et al. 2007, *Am J Hum
Genet* 81:559): variants with ``p <= p1`` become index (lead) variants in
order of increasing p; each claims every not-yet-clumped variant within
``kb`` kilobases with ``p <= p2`` and ``r^2 >= r2`` with it (squared
correlation of allele dosages in the analysed samples, missing calls
mean-imputed). A variant claimed by a lead cannot lead a clump itself.

The QTL interval of a lead is the span of its clump (lead included).
Overlapping intervals of different leads on one chromosome are merged into
one QTL region (``qtl`` column), so that a breeder sees one region per locus
even when several independent-looking signals sit inside it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from breedomics.gwas.results import RESULT_FIELDS

__all__ = ["clump", "candidate_ids", "LEAD_COLUMNS"]

LEAD_COLUMNS = [
    "qtl",
    "lead_variant",
    *RESULT_FIELDS,
    "n_clumped",
    "interval_start",
    "interval_end",
    "clumped_variants",
]


def candidate_ids(sumstats: pd.DataFrame, nl_p1: float, nl_p2: float, kb: float) -> pd.DataFrame:
    """Variants that can enter a clump: ``p <= p2`` and within ``kb`` of a ``p <= p1`` one.

    Parameters
    ----------
    sumstats : pandas.DataFrame
        ``variant_id, chromosome, base_pair_location, neg_log_10_p_value`` ...
    nl_p1, nl_p2 : float
        ``-log10`` of the index and secondary thresholds.
    kb : float
        Window half-width in kilobases.

    Returns
    -------
    pandas.DataFrame
        The candidate rows, sorted by chromosome and position.
    """
    s = sumstats[sumstats["neg_log_10_p_value"] >= min(nl_p1, nl_p2)]
    idx = s[s["neg_log_10_p_value"] >= nl_p1]
    if len(idx) == 0:
        return s.iloc[:0]
    keep = np.zeros(len(s), dtype=bool)
    win = kb * 1000
    chrom = s["chromosome"].astype(str).to_numpy()
    pos = s["base_pair_location"].to_numpy()
    for c, grp in idx.groupby(idx["chromosome"].astype(str)):
        on = chrom == c
        ip = np.sort(grp["base_pair_location"].to_numpy())
        j = np.searchsorted(ip, pos[on])
        left = np.abs(pos[on] - ip[np.clip(j - 1, 0, len(ip) - 1)])
        right = np.abs(ip[np.clip(j, 0, len(ip) - 1)] - pos[on])
        keep[np.flatnonzero(on)] = np.minimum(left, right) <= win
    s = s[keep & (s["neg_log_10_p_value"].to_numpy() >= nl_p2)]
    return s


def clump(
    sumstats: pd.DataFrame,
    fetch: Callable[[list[str]], np.ndarray],
    p1: float,
    p2: float = 0.01,
    r2: float = 0.1,
    kb: float = 250.0,
) -> pd.DataFrame:
    """Clump significant variants into leads with QTL intervals.

    Parameters
    ----------
    sumstats : pandas.DataFrame
        Summary statistics of one trait (GWAS-SSF columns, see
        :mod:`breedomics.gwas.results`).
    fetch : callable
        Variant ids -> ``(n, k)`` dosages of the trait's samples (NaN missing).
    p1 : float
        Index-variant threshold (usually the genome-wide threshold).
    p2 : float
        Secondary threshold for clumped variants.
    r2 : float
        Minimum r^2 with the lead.
    kb : float
        Window half-width (kb).

    Returns
    -------
    pandas.DataFrame
        One row per lead, columns :data:`LEAD_COLUMNS`, ordered by
        chromosome and position; empty if nothing reaches ``p1``.
    """
    nl1, nl2 = -np.log10(p1), -np.log10(max(p2, p1))
    cand = candidate_ids(sumstats, nl1, nl2, kb).reset_index(drop=True)
    if len(cand) == 0:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    x = np.asarray(fetch(cand["variant_id"].tolist()), dtype=np.float64)
    mean = np.nanmean(x, axis=0)
    z = np.where(np.isnan(x), 0.0, x - mean)
    norm = np.sqrt((z * z).sum(axis=0))
    norm[norm == 0] = np.inf
    z /= norm
    chrom = cand["chromosome"].astype(str).to_numpy()
    pos = cand["base_pair_location"].to_numpy()
    nl = cand["neg_log_10_p_value"].to_numpy()
    order = np.argsort(-nl, kind="stable")
    clumped = np.zeros(len(cand), dtype=bool)
    win = kb * 1000
    rows = []
    for i in order:
        if nl[i] < nl1:
            break
        if clumped[i]:
            continue
        clumped[i] = True
        near = np.flatnonzero((chrom == chrom[i]) & (np.abs(pos - pos[i]) <= win) & ~clumped)
        members = np.array([], dtype=np.int64)
        if len(near):
            r = z[:, near].T @ z[:, i]
            members = near[r * r >= r2]
            clumped[members] = True
        span = np.r_[pos[i], pos[members]]
        lead = cand.iloc[i]
        rows.append(
            {
                "lead_variant": lead["variant_id"],
                "chromosome": chrom[i],
                "base_pair_location": int(pos[i]),
                "effect_allele": lead.get("effect_allele", ""),
                "other_allele": lead.get("other_allele", ""),
                "effect_allele_frequency": lead.get("effect_allele_frequency", np.nan),
                "beta": lead.get("beta", np.nan),
                "standard_error": lead.get("standard_error", np.nan),
                "p_value": lead.get("p_value", ""),
                "neg_log_10_p_value": nl[i],
                "n_clumped": len(members),
                "interval_start": int(span.min()),
                "interval_end": int(span.max()),
                "clumped_variants": ",".join(cand["variant_id"].iloc[members].tolist()),
            }
        )
    leads = pd.DataFrame(rows)
    rank = {c: i for i, c in enumerate(dict.fromkeys(sumstats["chromosome"].astype(str)))}
    leads["_rank"] = leads["chromosome"].map(rank)
    leads = leads.sort_values(["_rank", "base_pair_location"], kind="stable")
    # merge overlapping intervals into QTL regions
    qtl, k = [], 0
    last_c, last_end = None, -1
    for c, s, e in leads[["chromosome", "interval_start", "interval_end"]].itertuples(index=False):
        if c != last_c or s > last_end:
            k += 1
            last_c, last_end = c, e
        else:
            last_end = max(last_end, e)
        qtl.append(f"QTL{k}")
    leads.insert(0, "qtl", qtl)
    return leads[LEAD_COLUMNS].reset_index(drop=True)
