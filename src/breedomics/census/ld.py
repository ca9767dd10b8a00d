"""Linkage-disequilibrium decay per group.

LD between two SNPs is the squared Pearson correlation of their genotype
dosages over the samples of a group -- the composite LD estimator of Rogers &
Huff (2009, *Genetics* 182:839), identical to ``allel.rogers_huff_r`` on
complete data (missing calls are mean-imputed here). Pairs on the same
chromosome up to ``max_dist`` bp apart are computed block-wise with BLAS from
the streamed chunks (a rolling buffer carries the previous chunk's tail), and
their r^2 is averaged in distance bins.

The decay curve is summarised by fitting Hill & Weir's (1988, *Theor Popul
Biol* 33:54) expectation of r^2 under drift-recombination equilibrium,
``E[r^2] = (10 + C) / ((2 + C)(11 + C)) * (1 + (3 + C)(12 + 12C + C^2) / (n (2 + C)(11 + C)))``
with ``C = rho * d`` (Remington et al. 2001), by least squares on the bin
means; the half-decay distance is where the fitted curve falls to half its
value at distance 0. A model-free half-decay distance (first bin whose mean
r^2 is below half of the first bin's, linearly interpolated) is reported too.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import numpy as np
import pandas as pd

from breedomics.census._common import Groups
from breedomics.core.genotypes import iter_dosage_chunks
from breedomics.core.standardise import impute_center, maf_mask
from breedomics.errors import UserError

__all__ = [
    "hill_weir",
    "pair_r2_blocks",
    "ld_decay",
    "ld_partial",
    "combine_ld",
    "ld_tables",
    "plot_ld",
]


def hill_weir(d: np.ndarray, rho: float, n: float) -> np.ndarray:
    """Hill & Weir (1988) expected r^2 at distance ``d`` (bp) for ``C = rho d``."""
    c = rho * np.asarray(d, dtype=float)
    return ((10 + c) / ((2 + c) * (11 + c))) * (
        1 + ((3 + c) * (12 + 12 * c + c**2)) / (n * (2 + c) * (11 + c))
    )


def _unit_columns(x: np.ndarray, min_maf: float) -> tuple[np.ndarray, np.ndarray]:
    """Columns centred (core mean imputation) and scaled to unit norm; unusable SNPs zeroed.

    A SNP is usable with two or more calls, some variation and group MAF > ``min_maf``.
    """
    z, mean, nc = impute_center(x)
    ss = np.sqrt(np.sum(z * z, axis=0))
    ok = (nc >= 2) & (ss > 0) & maf_mask(mean / 2.0, min_maf)
    z[:, ok] /= ss[ok]
    z[:, ~ok] = 0.0
    return z, ok


def pair_r2_blocks(
    z: np.ndarray, ok: np.ndarray, pos: np.ndarray, first_new: int, max_dist: int, block: int = 512
):
    """Yield ``(distance, r2)`` arrays for SNP pairs ``j < i`` with ``i >= first_new``.

    ``z`` holds unit-norm centred genotype columns sorted by ``pos`` (one
    chromosome), so ``z_i . z_j`` is the correlation. Pairs at distance 0 (two
    records at one position: duplicates, or the split alleles of one site) are
    left out: they are not two loci, and the bins are ``(k*bin, (k+1)*bin]``.
    """
    m = z.shape[1]
    for s in range(first_new, m, block):
        e = min(s + block, m)
        lo = int(np.searchsorted(pos, pos[s] - max_dist, side="left"))
        r = z[:, lo:e].T @ z[:, s:e]  # (e-lo, e-s)
        jj, ii = np.meshgrid(np.arange(lo, e), np.arange(s, e), indexing="ij")
        d = pos[ii] - pos[jj]
        # d > 0: two records at one position are one locus, not a pair at a distance
        keep = (jj < ii) & (d > 0) & (d <= max_dist) & ok[ii] & ok[jj]
        yield d[keep], r[keep] ** 2


def ld_decay(
    geno: str | os.PathLike, groups: Groups, **settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LD decay curves and half-decay distances per group, over the whole genome.

    Parameters
    ----------
    geno : str or path-like
        Genotype file (sorted by chromosome and position).
    groups : Groups
        Samples and groups; groups with fewer than ``min_samples`` are skipped
        (listed in the summary with a note).
    **settings
        ``max_dist``, ``bin_size``, ``min_maf``, ``min_samples``,
        ``chunk_size``: see :func:`ld_partial`.

    Returns
    -------
    bins : pandas.DataFrame
        ``group, bin_start, bin_end, mid, n_pairs, mean_r2``.
    summary : pandas.DataFrame
        ``group, n_samples, n_pairs, r2_first_bin, rho_per_bp, r2_fit_0,
        half_decay_bp, half_decay_bp_empirical, note``.
    """
    return ld_tables(ld_partial(geno, groups, **settings), groups)


def ld_partial(
    geno: str | os.PathLike, groups: Groups, max_dist: int = 500_000, bin_size: int = 10_000,
    min_maf: float = 0.05, min_samples: int = 10, chroms: Collection[str] | None = None,
    chunk_size: int = 5000,
) -> dict:  # fmt: skip
    """Per-group sums of r^2 and pair counts in distance bins (see :func:`ld_decay`).

    Only pairs on the same chromosome are used, so partials of disjoint
    chromosome sets (``chroms``: one shard of the per-chromosome scatter) add
    up to the genome-wide result (:func:`combine_ld`).

    Parameters
    ----------
    geno : str or path-like
        Genotype file (sorted by chromosome and position).
    groups : Groups
        Samples and groups.
    max_dist : int
        Largest pair distance (bp).
    bin_size : int
        Distance-bin width (bp); bins are ``(k*bin_size, (k+1)*bin_size]``.
    min_maf : float
        SNPs with group MAF <= ``min_maf`` are not used in that group.
    min_samples : int
        Minimum group size.
    chroms : collection of str, optional
        Only pairs within these chromosomes (default: all of them).
    chunk_size : int
        SNPs per chunk; a rolling buffer keeps the previous chunk's last ``max_dist`` bp.

    Returns
    -------
    dict
        ``groups``, ``n_samples``, ``active`` (groups with enough samples),
        the settings, ``sums`` and ``cnts`` (``(n_groups, n_bins)``).
    """
    if max_dist < bin_size or bin_size < 1:
        raise UserError("need 1 <= bin_size <= max_dist for LD decay")
    gidx = groups.index
    members = [np.flatnonzero(gidx == g) for g in range(len(groups.names))]
    active = [g for g, mem in enumerate(members) if len(mem) >= min_samples]
    nb = int(np.ceil(max_dist / bin_size))
    sums = np.zeros((len(groups.names), nb))
    cnts = np.zeros((len(groups.names), nb), dtype=np.int64)
    buf_pos: np.ndarray | None = None
    buf_dos: np.ndarray | None = None
    buf_chrom = None
    seen: set = set()
    for variants, dos in iter_dosage_chunks(
        geno, chunk_size, groups.samples, chroms, progress="census ld-decay"
    ):
        chrom = variants["chrom"].to_numpy()
        pos = variants["pos"].to_numpy()
        for c in pd.unique(chrom):
            sel = chrom == c
            cpos, cdos = pos[sel], dos[:, sel]
            if c != buf_chrom:
                if c in seen:
                    raise UserError(f"{geno}: chromosome {c} is not contiguous; sort the file")
                seen.add(c)
                buf_pos, buf_dos, buf_chrom = cpos[:0], cdos[:, :0], c
            if np.any(np.diff(cpos) < 0) or (len(buf_pos) and cpos[0] < buf_pos[-1]):
                raise UserError(f"{geno}: positions on chromosome {c} are not sorted")
            allpos = np.concatenate([buf_pos, cpos])
            alldos = np.concatenate([buf_dos, cdos], axis=1)
            first_new = len(buf_pos)
            for g in active:
                z, ok = _unit_columns(alldos[members[g]], min_maf)  # float64 copy made there
                for d, r2 in pair_r2_blocks(z, ok, allpos, first_new, max_dist):
                    b = np.minimum((d - 1) // bin_size, nb - 1)
                    sums[g] += np.bincount(b, weights=r2, minlength=nb)
                    cnts[g] += np.bincount(b, minlength=nb)
            keep = allpos > allpos[-1] - max_dist
            buf_pos, buf_dos = allpos[keep], alldos[:, keep]
    return {
        "groups": list(groups.names),
        "n_samples": np.array([len(m) for m in members], dtype=np.int64),
        "active": np.array(active, dtype=np.int64),
        "max_dist": int(max_dist), "bin_size": int(bin_size), "min_maf": float(min_maf),
        "min_samples": int(min_samples), "sums": sums, "cnts": cnts,
    }  # fmt: skip


def combine_ld(parts: list[dict]) -> dict:
    """Add up LD partials of disjoint chromosome sets (see :func:`ld_partial`)."""
    first = parts[0]
    keys = ("groups", "max_dist", "bin_size", "min_maf", "min_samples")
    for p in parts[1:]:
        if any(p[k] != first[k] for k in keys):
            raise UserError("partial LD results disagree on groups or settings")
    return {
        **first,
        "sums": np.sum([p["sums"] for p in parts], axis=0),
        "cnts": np.sum([p["cnts"] for p in parts], axis=0),
    }


def ld_tables(part: dict, groups: Groups) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bin means and decay summaries from (combined) LD sums; see :func:`ld_decay`."""
    if list(part["groups"]) != list(groups.names):
        raise UserError(
            f"partial results are for groups {part['groups']}, the sheet has {groups.names}"
        )
    bin_size, min_samples = part["bin_size"], part["min_samples"]
    sums, cnts = part["sums"], part["cnts"]
    active = set(int(g) for g in part["active"])
    nb = sums.shape[1]
    rows, summ = [], []
    mids = (np.arange(nb) + 0.5) * bin_size
    for g, name in enumerate(groups.names):
        n = int(part["n_samples"][g])
        if g not in active:
            summ.append({"group": name, "n_samples": n, "n_pairs": 0,
                         "note": f"skipped: fewer than {min_samples} samples"})  # fmt: skip
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums[g] / cnts[g]
        for k in range(nb):
            rows.append(
                {"group": name, "bin_start": k * bin_size, "bin_end": (k + 1) * bin_size,
                 "mid": mids[k], "n_pairs": int(cnts[g, k]), "mean_r2": mean[k]}
            )  # fmt: skip
        summ.append({"group": name, "n_samples": n, **_summarise(mids, mean, cnts[g], n)})
    return pd.DataFrame(rows), pd.DataFrame(summ)


def _summarise(mids: np.ndarray, mean: np.ndarray, cnt: np.ndarray, n: int) -> dict:
    from scipy.optimize import minimize_scalar

    ok = cnt > 0
    out = {"n_pairs": int(cnt.sum()), "note": ""}
    if ok.sum() < 3:
        out["note"] = "too few SNP pairs for a decay curve"
        return out
    x, y, w = mids[ok], mean[ok], cnt[ok]

    def loss(logrho):
        return float(np.sum(w * (y - hill_weir(x, 10**logrho, n)) ** 2))

    res = minimize_scalar(loss, bounds=(-9, 0), method="bounded")
    rho = 10**res.x
    r0 = float(hill_weir(0.0, rho, n))
    grid = np.linspace(0, x.max() * 20, 200001)
    curve = hill_weir(grid, rho, n)
    below = np.flatnonzero(curve <= r0 / 2)
    half = float(grid[below[0]]) if len(below) else np.nan
    # model-free: interpolate where bin means cross half the first bin's mean
    first = y[0]
    cross = np.flatnonzero(y <= first / 2)
    if len(cross) and cross[0] > 0:
        k = cross[0]
        emp = float(x[k - 1] + (first / 2 - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1]))
    else:
        emp = np.nan
    notes = []
    if np.isnan(half):
        notes.append("fitted curve does not halve within 20x max_dist")
    if np.isnan(emp):
        notes.append("mean r2 does not halve within max_dist")
    out.update(
        {"r2_first_bin": float(first), "rho_per_bp": rho, "r2_fit_0": r0,
         "half_decay_bp": half, "half_decay_bp_empirical": emp, "note": "; ".join(notes)}
    )  # fmt: skip
    return out


def plot_ld(bins: pd.DataFrame, summary: pd.DataFrame, path: str | os.PathLike) -> str:
    """Mean r^2 by distance per group with the fitted Hill-Weir curves."""
    from breedomics.census._common import figure, save_figure

    fig, ax = figure(figsize=(8, 5))
    s = summary.set_index("group")
    for name, b in bins.groupby("group", sort=False):
        line = ax.plot(b["mid"] / 1e3, b["mean_r2"], ".", ms=4, label=str(name))[0]
        rho = s.loc[name, "rho_per_bp"] if "rho_per_bp" in s else np.nan
        if np.isfinite(rho):
            x = np.linspace(0, b["bin_end"].max(), 400)
            ax.plot(x / 1e3, hill_weir(x, rho, s.loc[name, "n_samples"]), color=line.get_color())
    ax.set_xlabel("distance (kb)")
    ax.set_ylabel("mean r$^2$")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
