"""Runs of homozygosity and genomic inbreeding F_ROH.

A consecutive-SNP run detector (the "consecutive runs" method of Marras et
al. 2015, *Anim Genet* 46:110, with PLINK-like length/SNP thresholds,
Purcell et al. 2007) scans the streamed genotypes once, keeping a small state
per sample: a run grows over homozygous calls, tolerates up to ``max_het``
heterozygous and ``max_missing`` missing calls, and is broken by a gap larger
than ``max_gap`` between consecutive SNPs or a chromosome change. Runs of at
least ``min_length`` bp and ``min_snps`` SNPs are kept.
``F_ROH = sum(ROH length) / L`` with ``L`` the genome length covered by SNPs
(McQuillan et al. 2008, *Am J Hum Genet* 83:359).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from breedomics.core.genotypes import iter_dosage_chunks
from breedomics.errors import UserError

__all__ = [
    "runs_of_homozygosity",
    "roh_partial",
    "combine_roh",
    "roh_tables",
    "plot_roh",
]


class _RunState:
    def __init__(self, n: int, min_length: int, min_snps: int, max_het: int, max_missing: int):
        self.n = n
        self.min_length, self.min_snps = min_length, min_snps
        self.max_het, self.max_missing = max_het, max_missing
        self.active = np.zeros(n, dtype=bool)
        self.start = np.zeros(n, dtype=np.int64)
        self.last = np.zeros(n, dtype=np.int64)
        self.nsnp = np.zeros(n, dtype=np.int64)
        self.nhet = np.zeros(n, dtype=np.int64)
        self.nmiss = np.zeros(n, dtype=np.int64)
        self.nsnp_last = np.zeros(n, dtype=np.int64)  # counts up to the last homozygous call
        self.nhet_last = np.zeros(n, dtype=np.int64)
        self.out: list[tuple[np.ndarray, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.chrom = ""

    def close(self, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask & self.active)
        if len(idx):
            length = self.last[idx] - self.start[idx] + 1
            good = (length >= self.min_length) & (self.nsnp_last[idx] >= self.min_snps)
            k = idx[good]
            if len(k):
                self.out.append(
                    (k, self.chrom, self.start[k].copy(), self.last[k].copy(),
                     self.nsnp_last[k].copy(), self.nhet_last[k].copy())
                )  # fmt: skip
        self.active[mask] = False

    def step(self, pos: int, g: np.ndarray) -> None:
        hom = (g == 0) | (g == 2)
        het = g == 1
        miss = np.isnan(g)
        new = hom & ~self.active
        self.start[new] = pos
        self.nsnp[new] = 0
        self.nhet[new] = 0
        self.nmiss[new] = 0
        self.active |= new
        grow = hom & self.active
        self.nsnp[grow] += 1
        self.last[grow] = pos
        self.nsnp_last[grow] = self.nsnp[grow]
        self.nhet_last[grow] = self.nhet[grow]
        h = het & self.active
        self.nhet[h] += 1
        self.nsnp[h] += 1
        m = miss & self.active
        self.nmiss[m] += 1
        self.close((self.nhet > self.max_het) | (self.nmiss > self.max_missing))


def runs_of_homozygosity(
    geno: str | os.PathLike, samples: Sequence[str], **settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detect ROH over the whole genome and compute F_ROH per sample.

    Parameters
    ----------
    geno, samples
        Genotype file and the samples to scan, as in :func:`roh_partial`.
    **settings
        ``min_length``, ``min_snps``, ``max_het``, ``max_missing``,
        ``max_gap``, ``chunk_size``: see :func:`roh_partial`.

    Returns
    -------
    per_sample, segments : pandas.DataFrame
        See :func:`roh_tables`.
    """
    return roh_tables(roh_partial(geno, samples, **settings), samples)


def roh_partial(
    geno: str | os.PathLike, samples: Sequence[str], min_length: int = 1_000_000,
    min_snps: int = 50, max_het: int = 1, max_missing: int = 5, max_gap: int = 1_000_000,
    chroms: Collection[str] | None = None, chunk_size: int = 10000,
) -> dict:  # fmt: skip
    """ROH segments and chromosome spans for some or all chromosomes.

    Runs never cross a chromosome boundary, so partials of disjoint chromosome
    sets (``chroms``: one shard of the per-chromosome scatter) combine into
    the genome-wide result (:func:`combine_roh`).

    Parameters
    ----------
    geno : str or path-like
        Genotype file (hard calls; dosages are rounded).
    samples : sequence of str
        Samples to scan.
    min_length : int
        Minimum run length (bp).
    min_snps : int
        Minimum SNPs in a run.
    max_het, max_missing : int
        Heterozygous / missing calls tolerated inside a run.
    max_gap : int
        A gap between consecutive SNPs larger than this ends every run.
    chroms : collection of str, optional
        Only these chromosomes: one shard of the per-chromosome scatter (default: all).
    chunk_size : int
        SNPs per streamed chunk (open runs carry over from one chunk to the next).

    Returns
    -------
    dict
        ``samples``, ``segments`` (``sample_idx, chrom, start, end, n_snps,
        n_het``) and ``spans`` (``chrom, first, last`` SNP position).
    """
    n = len(samples)
    st = _RunState(n, min_length, min_snps, max_het, max_missing)
    spans: dict[str, list[int]] = {}
    prev_pos = None
    everything = np.ones(n, dtype=bool)
    for variants, dos in iter_dosage_chunks(
        geno, chunk_size, samples, chroms, progress="census roh"
    ):
        dos = np.rint(dos)
        chroms_ = variants["chrom"].to_numpy()
        positions = variants["pos"].to_numpy()
        for j in range(len(positions)):
            c, pos = chroms_[j], int(positions[j])
            if c != st.chrom:
                st.close(everything)
                st.chrom = c
                prev_pos = None
                if c in spans:
                    raise UserError(
                        f"{geno}: chromosome {c} appears in two separate blocks; sort the file "
                        "by chromosome and position"
                    )
                spans[c] = [pos, pos]
            elif prev_pos is not None and pos - prev_pos > max_gap:
                st.close(everything)
            spans[c][1] = pos
            prev_pos = pos
            st.step(pos, dos[:, j])
    st.close(everything)
    cols = ["sample_idx", "chrom", "start", "end", "n_snps", "n_het"]
    if st.out:
        seg = pd.DataFrame(
            {
                "sample_idx": np.concatenate([o[0] for o in st.out]),
                "chrom": np.concatenate([[o[1]] * len(o[0]) for o in st.out]).astype(object),
                "start": np.concatenate([o[2] for o in st.out]),
                "end": np.concatenate([o[3] for o in st.out]),
                "n_snps": np.concatenate([o[4] for o in st.out]),
                "n_het": np.concatenate([o[5] for o in st.out]),
            }
        )
    else:
        seg = pd.DataFrame({c: np.zeros(0, dtype=object if c == "chrom" else np.int64)
                            for c in cols})  # fmt: skip
    return {
        "samples": list(samples),
        "segments": seg[cols],
        "spans": pd.DataFrame(
            {
                "chrom": list(spans),
                "first": np.array([v[0] for v in spans.values()], np.int64),
                "last": np.array([v[1] for v in spans.values()], np.int64),
            }
        ),
    }


def combine_roh(parts: list[dict]) -> dict:
    """Join ROH partials of disjoint chromosome sets (see :func:`roh_partial`)."""
    first = parts[0]
    if any(p["samples"] != first["samples"] for p in parts[1:]):
        raise UserError("partial ROH results are for different samples")
    spans = pd.concat([p["spans"] for p in parts], ignore_index=True)
    dup = spans["chrom"][spans["chrom"].duplicated()]
    if len(dup):
        raise UserError(f"chromosome {dup.iloc[0]} is in two partial results; gather each once")
    return {
        "samples": first["samples"],
        "segments": pd.concat([p["segments"] for p in parts], ignore_index=True),
        "spans": spans,
    }


def roh_tables(part: dict, samples: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sample F_ROH and the segment table from (combined) ROH partials.

    ``F_ROH = sum(ROH length) / L`` (McQuillan et al. 2008) with ``L`` the sum
    over all chromosomes of the first-to-last SNP span, so the scattered and
    unscattered results agree.

    Returns
    -------
    per_sample : pandas.DataFrame
        ``sample, n_roh, roh_bp, f_roh, roh_1_2mb, roh_2_4mb, roh_4_8mb,
        roh_8mb_plus`` (bp in each length class), ``genome_bp``.
    segments : pandas.DataFrame
        ``sample, chrom, start, end, length, n_snps, n_het``.
    """
    if list(part["samples"]) != list(samples):
        raise UserError("partial ROH results are for other samples than the sheet lists")
    spans = part["spans"]
    if not len(spans):
        raise UserError("no SNPs to scan for ROH")
    n = len(samples)
    genome_bp = float((spans["last"] - spans["first"] + 1).sum())
    s = np.array(samples, dtype=object)
    seg = part["segments"].copy()
    seg["length"] = (seg["end"] - seg["start"] + 1).astype(np.int64)
    seg = seg.sort_values(["sample_idx", "chrom", "start"], kind="stable")
    idx = seg["sample_idx"].to_numpy(dtype=np.int64)
    length = seg["length"].to_numpy(dtype=float)
    per = pd.DataFrame({"sample": list(samples)})
    per["n_roh"] = np.bincount(idx, minlength=n)
    per["roh_bp"] = np.bincount(idx, weights=length, minlength=n)
    per["f_roh"] = per["roh_bp"] / genome_bp
    edges = [(1e6, 2e6, "roh_1_2mb"), (2e6, 4e6, "roh_2_4mb"), (4e6, 8e6, "roh_4_8mb"),
             (8e6, np.inf, "roh_8mb_plus")]  # fmt: skip
    for lo, hi, name in edges:
        sel = (length >= lo) & (length < hi)
        per[name] = np.bincount(idx[sel], weights=length[sel], minlength=n)
    per["genome_bp"] = genome_bp
    seg.insert(0, "sample", s[idx])
    seg = seg.drop(columns="sample_idx")[
        ["sample", "chrom", "start", "end", "length", "n_snps", "n_het"]
    ].reset_index(drop=True)
    return per, seg


def plot_roh(per: pd.DataFrame, path: str | os.PathLike) -> str:
    """F_ROH histogram and number vs total length of ROH per sample."""
    from breedomics.census._common import figure, save_figure

    fig, (a, b) = figure(ncols=2, figsize=(10, 4))
    a.hist(per["f_roh"], bins=40)
    a.set_xlabel("F_ROH")
    a.set_ylabel("samples")
    b.scatter(per["roh_bp"] / 1e6, per["n_roh"], s=8)
    b.set_xlabel("total ROH length (Mb)")
    b.set_ylabel("number of ROH")
    return save_figure(fig, path)
