"""Per-group diversity: nucleotide diversity, Watterson's theta, Tajima's D,
observed/expected heterozygosity and private alleles, genome-wide and in windows.

Definitions follow scikit-allel (``allel.sequence_diversity``,
``allel.watterson_theta``, ``allel.tajima_d``, ``allel.heterozygosity_*``) so
that the numbers agree with it where the inputs match; the genotypes are
streamed in chunks and only per-window sums are kept.

With ``inbred=True`` each accession (an inbred line) counts as one haplotype:
its allele count is ``dosage / 2``, so a homozygous line contributes one copy,
as the lines' gametes do. Otherwise samples are diploid (two copies each).
"""

from __future__ import annotations

import os
from collections.abc import Collection

import numpy as np
import pandas as pd

from breedomics.census._common import Groups
from breedomics.core.genotypes import iter_dosage_chunks
from breedomics.errors import UserError

__all__ = [
    "allele_counts",
    "mean_pairwise_difference",
    "tajima_d_from_sums",
    "watterson_from_sums",
    "private_allele_counts",
    "diversity",
    "diversity_partial",
    "combine_diversity",
    "diversity_tables",
    "read_lengths",
    "plot_diversity",
]


# --------------------------------------------------------------------------- array functions
def allele_counts(
    dosage: np.ndarray, group_index: np.ndarray, n_groups: int, inbred: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ALT and total allele counts per SNP and group from a dosage chunk.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n_samples, m)`` ALT dosage with NaN for missing.
    group_index : numpy.ndarray
        ``(n_samples,)`` group of each sample, ``0 .. n_groups-1``.
    n_groups : int
        Number of groups.
    inbred : bool
        Count each sample as one haplotype (``dosage / 2``) instead of two.

    Returns
    -------
    ac, an, het, called : numpy.ndarray
        ``(m, n_groups)`` ALT count, allele number, heterozygous calls and
        called samples.
    """
    ind = np.zeros((dosage.shape[0], n_groups))
    ind[np.arange(dosage.shape[0]), group_index] = 1.0
    miss = np.isnan(dosage)
    d = np.where(miss, 0.0, dosage).astype(np.float64)
    called = (~miss).T.astype(np.float64) @ ind
    het = (d == 1).T.astype(np.float64) @ ind
    ac = d.T @ ind
    if inbred:
        return ac / 2.0, called, het, called
    return ac, 2.0 * called, het, called


def mean_pairwise_difference(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """Mean pairwise difference per biallelic site (Tajima 1983; Nei & Li 1979).

    ``2 k (n - k) / (n (n - 1))`` for ALT count ``k`` among ``n`` copies; 0
    where ``n < 2`` (as ``allel.mean_pairwise_difference(..., fill=0)``).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        mpd = 2.0 * ac * (an - ac) / (an * (an - 1.0))
    return np.where(an >= 2, mpd, 0.0)


def watterson_from_sums(s: float, n: float, n_bases: float) -> float:
    """Watterson's (1975) theta per base: ``S / a_n / L`` with ``a_n = sum_{i<n} 1/i``."""
    if n < 2:
        return float("nan")
    a1 = np.sum(1.0 / np.arange(1, int(round(n))))
    return float(s / a1 / n_bases)


def tajima_d_from_sums(mpd_sum: float, s: float, n: float, min_sites: int = 3) -> float:
    """Tajima's (1989) D from the summed pairwise difference, S and sample size.

    Returns NaN when fewer than ``min_sites`` sites segregate (as
    ``allel.tajima_d``).
    """
    if s < min_sites or n < 2:
        return float("nan")
    n = int(round(n))
    i = np.arange(1, n)
    a1, a2 = np.sum(1.0 / i), np.sum(1.0 / i**2)
    b1 = (n + 1) / (3 * (n - 1))
    b2 = 2 * (n**2 + n + 3) / (9 * n * (n - 1))
    c1 = b1 - 1 / a1
    c2 = b2 - (n + 2) / (a1 * n) + a2 / a1**2
    e1, e2 = c1 / a1, c2 / (a1**2 + a2)
    return float((mpd_sum - s / a1) / np.sqrt(e1 * s + e2 * s * (s - 1)))


def private_allele_counts(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """Alleles (REF or ALT) seen in exactly one group, counted per group.

    Parameters
    ----------
    ac, an : numpy.ndarray
        ``(m, n_groups)`` ALT counts and allele numbers.

    Returns
    -------
    numpy.ndarray
        ``(n_groups,)`` number of private alleles (Slatkin 1985; Kalinowski
        2004 without rarefaction).
    """
    out = np.zeros(ac.shape[1], dtype=np.int64)
    for present in (ac > 0, (an - ac) > 0):
        only = present.sum(axis=1) == 1
        out += (present & only[:, None]).sum(axis=0)
    return out


# --------------------------------------------------------------------------- streaming
_SUMS = ("mpd", "seg", "ho_sum", "he_sum", "h_n", "private")


def diversity_partial(
    geno: str | os.PathLike, groups: Groups, *, inbred: bool = False, window: int = 100_000,
    chroms: Collection[str] | None = None, chunk_size: int = 10000,
) -> dict:  # fmt: skip
    """Additive per-group sums behind :func:`diversity`, for some or all chromosomes.

    Parameters
    ----------
    geno, groups, inbred, window, chunk_size
        As in :func:`diversity`.
    chroms : collection of str, optional
        Only these chromosomes (one shard of the per-chromosome scatter).

    Returns
    -------
    dict
        ``groups`` (names), ``window``, ``n_snps``, ``n_all_missing``; per group
        (arrays of length n_groups) the summed per-site mean pairwise difference
        ``mpd``, segregating sites ``seg``, largest allele number ``nmax``, sums
        of per-site Ho/He and their count ``h_n``, private alleles ``private``;
        ``spans`` (``chrom, first, last`` SNP position) and ``windows``
        (``chrom, win, n_snps, mpd<g>, seg<g>, n<g>`` sums per window). Partials
        of disjoint chromosome sets are combined by :func:`combine_diversity`.
    """
    gidx = groups.index
    ng = len(groups.names)
    acc = {k: np.zeros(ng) for k in _SUMS}
    acc["private"] = np.zeros(ng, dtype=np.int64)
    nmax = np.zeros(ng)
    spans: dict[str, tuple[int, int]] = {}
    wins: list[pd.DataFrame] = []
    n_snps = n_all_missing = 0
    for variants, dos in iter_dosage_chunks(
        geno, chunk_size, groups.samples, chroms, progress="census diversity"
    ):
        ac, an, het, called = allele_counts(dos, gidx, ng, inbred)
        allmiss = an.sum(axis=1) == 0
        n_all_missing += int(allmiss.sum())
        keep = ~allmiss
        if not keep.any():
            continue
        ac, an, het, called = ac[keep], an[keep], het[keep], called[keep]
        v = variants[keep]
        n_snps += int(keep.sum())
        mpd = mean_pairwise_difference(ac, an)
        seg = ((ac > 0) & (ac < an)).astype(np.float64)
        acc["mpd"] += mpd.sum(axis=0)
        acc["seg"] += seg.sum(axis=0)
        nmax = np.maximum(nmax, an.max(axis=0))
        ok = called > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            p = ac / an
            ho = het / called
        he = 1.0 - p**2 - (1.0 - p) ** 2
        acc["ho_sum"] += np.where(ok, ho, 0).sum(axis=0)
        acc["he_sum"] += np.where(an > 0, he, 0).sum(axis=0)
        acc["h_n"] += ok.sum(axis=0)
        if ng > 1:
            acc["private"] += private_allele_counts(ac, an)
        pos = v["pos"].to_numpy()
        chrom = v["chrom"].to_numpy()
        for c in pd.unique(chrom):
            sel = chrom == c
            lo, hi = int(pos[sel].min()), int(pos[sel].max())
            old = spans.get(c, (lo, hi))
            spans[c] = (min(old[0], lo), max(old[1], hi))
        wdf = pd.DataFrame({"chrom": chrom, "win": (pos - 1) // window})
        for g in range(ng):
            wdf[f"mpd{g}"] = mpd[:, g]
            wdf[f"seg{g}"] = seg[:, g]
            wdf[f"n{g}"] = an[:, g]
        wins.append(_window_sums(wdf, ng, count=True))
    cols = ["chrom", "win", "n_snps"] + [f"{k}{g}" for g in range(ng) for k in ("mpd", "seg", "n")]
    windows = _window_sums(pd.concat(wins), ng) if wins else pd.DataFrame(columns=cols)
    return {
        "groups": list(groups.names),
        "window": int(window),
        "n_snps": n_snps,
        "n_all_missing": n_all_missing,
        **acc,
        "nmax": nmax,
        "spans": pd.DataFrame(
            {
                "chrom": list(spans),
                "first": [lo for lo, _ in spans.values()],
                "last": [hi for _, hi in spans.values()],
            }
        ),
        "windows": windows[cols].astype({"win": np.int64, "n_snps": np.int64}),
    }


def _window_sums(wdf: pd.DataFrame, ng: int, count: bool = False) -> pd.DataFrame:
    """Sum ``mpd``/``seg`` and take the max of ``n`` per (chrom, window), first-seen order."""
    agg = {f"mpd{g}": "sum" for g in range(ng)}
    agg.update({f"seg{g}": "sum" for g in range(ng)})
    agg.update({f"n{g}": "max" for g in range(ng)})
    if count:
        grouped = wdf.groupby(["chrom", "win"], sort=False)
        out = grouped.agg(agg)
        out["n_snps"] = grouped.size()
    else:
        agg["n_snps"] = "sum"
        out = wdf.groupby(["chrom", "win"], sort=False).agg(agg)
    return out.reset_index()


def combine_diversity(parts: list[dict], chrom_order: list[str] | None = None) -> dict:
    """Add up partials of disjoint chromosome sets (see :func:`diversity_partial`).

    ``chrom_order`` (genome order) sorts the windows; by default the order of
    ``parts``.
    """
    first = parts[0]
    for p in parts[1:]:
        if p["groups"] != first["groups"] or p["window"] != first["window"]:
            raise UserError("partial diversity results disagree on groups or window size")
    spans = pd.concat([p["spans"] for p in parts], ignore_index=True)
    dup = spans["chrom"][spans["chrom"].duplicated()]
    if len(dup):
        raise UserError(f"chromosome {dup.iloc[0]} is in two partial results; gather each once")
    out = {
        "groups": first["groups"],
        "window": first["window"],
        "n_snps": sum(int(p["n_snps"]) for p in parts),
        "n_all_missing": sum(int(p["n_all_missing"]) for p in parts),
        "nmax": np.max([p["nmax"] for p in parts], axis=0),
        "spans": spans,
    }
    for k in _SUMS:
        out[k] = np.sum([p[k] for p in parts], axis=0)
    windows = pd.concat([p["windows"] for p in parts], ignore_index=True)
    if chrom_order is not None:
        rank = {c: i for i, c in enumerate(chrom_order)}
        windows = windows.sort_values("chrom", key=lambda c: c.map(rank), kind="stable")
        out["spans"] = spans.sort_values("chrom", key=lambda c: c.map(rank), kind="stable")
    out["windows"] = windows.reset_index(drop=True)
    return out


def diversity(
    geno: str | os.PathLike,
    groups: Groups,
    inbred: bool = False,
    window: int = 100_000,
    lengths: dict[str, int] | None = None,
    chunk_size: int = 10000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group diversity statistics, genome-wide and in windows.

    Parameters
    ----------
    geno : str or path-like
        Genotype file (VCF/BCF or PLINK prefix).
    groups : Groups
        Samples and their groups (:func:`breedomics.census._common.load_groups`).
    inbred : bool
        Count each accession as one haplotype (inbred lines).
    window : int
        Window size in bp; windows are ``[k*window + 1, (k+1)*window]`` on each
        chromosome (non-overlapping), the last one ending at the chromosome end.
    lengths : dict, optional
        Accessible length per chromosome (bp) used as the denominator of the
        per-base statistics; by default the span from the first to the last SNP
        of each chromosome (scikit-allel's default). Windows always use their
        own span.
    chunk_size : int
        SNPs per streamed chunk.

    Returns
    -------
    genome, windows : pandas.DataFrame
        See :func:`diversity_tables`.
    """
    part = diversity_partial(geno, groups, inbred=inbred, window=window, chunk_size=chunk_size)
    if part["n_snps"] == 0:
        raise UserError(
            f"{geno}: no SNP has a genotype call among the {len(groups.samples)} analysed "
            "samples; check the sample sheet and the genotype file"
        )
    return diversity_tables(part, groups, lengths)


def diversity_tables(
    part: dict, groups: Groups, lengths: dict[str, int] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Genome-wide and windowed statistics from (combined) sums.

    Parameters
    ----------
    part : dict
        Output of :func:`diversity_partial` over the whole genome, or of
        :func:`combine_diversity` over all shards.
    groups : Groups
        The analysed samples and groups.
    lengths : dict, optional
        Accessible length per chromosome (see :func:`diversity`).

    Returns
    -------
    genome : pandas.DataFrame
        One row per group: ``group, n_samples, n_snps, n_segregating, pi,
        theta_w, tajima_d, ho, he, private_alleles, sequence_length, note``.
        ``pi`` is nucleotide diversity (Nei & Li 1979; Tajima 1983): the sum
        of per-site mean pairwise differences over the total sequence length;
        ``theta_w`` Watterson's (1975) estimator, ``tajima_d`` Tajima's (1989)
        D, ``ho``/``he`` the mean observed and expected (``1 - sum p^2``, Nei
        1973) heterozygosity over SNPs called in the group,
        ``private_alleles`` the count of alleles found only in that group
        (only with two or more groups).
    windows : pandas.DataFrame
        ``group, chrom, start, stop, n_snps, n_segregating, pi, theta_w,
        tajima_d``; D is NA where fewer than 3 sites segregate.

    Notes
    -----
    SNPs with no call among the analysed samples are skipped and counted in
    ``note``. Statistics that are undefined (Tajima's D with < 3 segregating
    sites, private alleles with a single group) are written as NA with the
    reason in ``note``.
    """
    if list(part["groups"]) != list(groups.names):
        raise UserError(
            f"partial results are for groups {part['groups']}, the sheet has {groups.names}"
        )
    if part["n_snps"] == 0:
        raise UserError(
            f"no SNP has a genotype call among the {len(groups.samples)} analysed samples; "
            "check the sample sheet and the genotype file"
        )
    window = int(part["window"])
    ng = len(groups.names)
    spans = {c: (int(lo), int(hi)) for c, lo, hi in part["spans"].itertuples(index=False)}
    if lengths is None:
        seq_len = float(sum(hi - lo + 1 for lo, hi in spans.values()))
    else:
        missing = [c for c in spans if c not in lengths]
        if missing:
            raise UserError(f"no length given for chromosome(s) {', '.join(map(str, missing))}")
        seq_len = float(sum(lengths[c] for c in spans))

    mpd, seg, nmax = part["mpd"], part["seg"], part["nmax"]
    ho_sum, he_sum, h_n, private = part["ho_sum"], part["he_sum"], part["h_n"], part["private"]
    rows = []
    n_per = np.bincount(groups.index, minlength=ng)
    for g, name in enumerate(groups.names):
        notes = []
        if part["n_all_missing"]:
            notes.append(f"{part['n_all_missing']} all-missing SNPs skipped")
        d = tajima_d_from_sums(mpd[g], seg[g], nmax[g])
        if np.isnan(d):
            notes.append("tajima_d undefined: fewer than 3 segregating sites or n < 2")
        if ng < 2:
            notes.append("private alleles need two or more groups")
        theta = watterson_from_sums(seg[g], nmax[g], seq_len)
        if np.isnan(theta):
            notes.append("theta_w undefined: fewer than 2 allele copies")
        rows.append(
            {
                "group": name,
                "n_samples": int(n_per[g]),
                "n_snps": int(part["n_snps"]),
                "n_segregating": int(seg[g]),
                "pi": mpd[g] / seq_len,
                "theta_w": theta,
                "tajima_d": d,
                "ho": ho_sum[g] / h_n[g] if h_n[g] else np.nan,
                "he": he_sum[g] / h_n[g] if h_n[g] else np.nan,
                "private_alleles": int(private[g]) if ng > 1 else np.nan,
                "sequence_length": seq_len,
                "note": "; ".join(notes),
            }
        )
    genome = pd.DataFrame(rows)

    wrows = []
    for r in part["windows"].itertuples(index=False):
        start = int(r.win) * window + 1
        stop = min(start + window - 1, spans[r.chrom][1])
        nb = stop - start + 1
        for g, name in enumerate(groups.names):
            s, m, n = getattr(r, f"seg{g}"), getattr(r, f"mpd{g}"), getattr(r, f"n{g}")
            wrows.append(
                {
                    "group": name,
                    "chrom": r.chrom,
                    "start": start,
                    "stop": stop,
                    "n_snps": int(r.n_snps),
                    "n_segregating": int(s),
                    "pi": m / nb,
                    "theta_w": watterson_from_sums(s, n, nb),
                    "tajima_d": tajima_d_from_sums(m, s, n),
                }
            )
    windows = pd.DataFrame(wrows)
    return genome, windows


def read_lengths(path: str | os.PathLike) -> dict[str, int]:
    """Chromosome lengths from a TSV or ``.fai`` (``chrom``, ``length`` first; header optional)."""
    try:
        df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], dtype={0: str})
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read chromosome lengths {path}: {exc}") from exc
    if df[1].dtype.kind not in "iu":
        df = df.iloc[1:]  # a header line
    return {str(k): int(v) for k, v in zip(df[0], df[1], strict=True)}


def plot_diversity(genome: pd.DataFrame, windows: pd.DataFrame, path: str | os.PathLike) -> str:
    """Bar chart of pi/theta per group and Tajima's D along the genome."""
    from breedomics.census._common import figure, save_figure

    fig, (ax1, ax2) = figure(nrows=2, figsize=(9, 6))
    x = np.arange(len(genome))
    ax1.bar(x - 0.2, genome["pi"], 0.4, label="pi")
    ax1.bar(x + 0.2, genome["theta_w"], 0.4, label="Watterson theta")
    ax1.set_xticks(x, genome["group"], rotation=45, ha="right")
    ax1.set_ylabel("per bp")
    ax1.legend()
    for name, w in windows.groupby("group", sort=False):
        ax2.plot(np.arange(len(w)), w["tajima_d"], lw=0.6, label=str(name))
    ax2.axhline(0, color="grey", lw=0.5)
    ax2.set_xlabel("window (genome order)")
    ax2.set_ylabel("Tajima's D")
    if windows["group"].nunique() <= 10:
        ax2.legend(fontsize=7, ncol=5)
    return save_figure(fig, path)
