"""Incremental joint calling: the samples' gVCFs cut to the cohort's candidate positions.

``calling.mode: incremental`` genotypes each region of the cohort from the per-sample
gVCFs (``breedomics.calling.gvcf``). Merged whole, they give a record at every position
where any sample has a read of another base: with a hundred samples at a percent of
sequencing error that is nearly every position, and ``bcftools merge --gvcf`` then costs
about what the joint pileup of all their BAMs does (adding 4 samples to 100 cost 1.5
joint recalls). Only positions where some sample's reads propose a variant can be
called: a *candidate* is a position where a sample has at least
``calling.candidate_min_alt_reads`` reads of one alternative base, or proposes an indel
(each sample's are listed once, when its gVCF is made: :data:`CANDIDATE_FILTER`). Here
every gVCF is cut to the union of the samples' candidates in the region (``bcftools view
--targets-overlap 1``: the records that overlap one) and each reference block is trimmed
to one record per candidate position it covers, so the merge writes the candidate
positions only and every sample still has its own values there, as in the whole merge.
The calls are those of the whole merge at the candidate positions; a site whose every
carrier has one read of the variant is not called (set the threshold to 1 to merge every
position with an alternative read).
"""

from __future__ import annotations

import argparse
import bisect
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from breedomics.errors import UserError


def candidate_filter(min_alt_reads: int) -> str:
    """``bcftools -i`` expression of a gVCF record that makes its position a candidate:
    an indel record, or one alternative allele with ``min_alt_reads`` reads."""
    return f'TYPE~"indel" || MAX(FMT/AD[0:1-])>={min_alt_reads}'


def read_intervals(bed: str) -> list[tuple[str, int, int]]:
    """The (contig, 0-based start, end) intervals of a calling-region BED file."""
    out = []
    with open(bed) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.rstrip("\n").split("\t")
            try:
                out.append((cols[0], int(cols[1]), int(cols[2])))
            except (IndexError, ValueError):
                raise UserError(f"{bed}, line {n}: expected contig, start, end") from None
    return out


def region_candidates(
    tables: Iterable[str], intervals: Sequence[tuple[str, int, int]]
) -> dict[str, list[int]]:
    """The sorted union of the candidate positions (1-based) of every sample's table
    (bgzipped, tabix-indexed contig/position TSV) within ``intervals``, per contig."""
    import pysam

    found: dict[str, set[int]] = {contig: set() for contig, _, _ in intervals}
    for path in tables:
        with pysam.TabixFile(path) as tbx:
            contigs = set(tbx.contigs)
            for contig, start, end in intervals:
                if contig not in contigs:
                    continue
                found[contig].update(
                    int(row.split("\t", 2)[1]) for row in tbx.fetch(contig, start, end)
                )
    return {contig: sorted(pos) for contig, pos in found.items()}


def trim_blocks(
    lines: Iterable[str], candidates: dict[str, list[int]], ref: dict[tuple[str, int], str]
) -> list[str]:
    """The gVCF text ``lines`` with each reference block (ALT ``<*>``, INFO starting with
    END, as bcftools writes it) replaced by one single-position block per candidate it
    covers (REF the reference base there); headers and other records unchanged, in
    position order (a block that spans a later record of the file is sorted in)."""
    out: list[str] = []
    keep = out.append
    left, right = bisect.bisect_left, bisect.bisect_right
    last, unsorted = ("", 0), False
    for line in lines:
        if line[0] == "#":
            keep(line)
            continue
        chrom, pos, vid, _, alt, qual, filt, info, tail = line.split("\t", 8)
        if alt != "<*>" or not info.startswith("END="):  # a variant record
            unsorted |= chrom == last[0] and int(pos) < last[1]
            last = (chrom, int(pos))
            keep(line)
            continue
        semi = info.find(";")
        end = int(info[4:semi] if semi >= 0 else info[4:])
        rest = info[semi:] if semi >= 0 else ""
        sites = candidates.get(chrom, [])
        lo = left(sites, int(pos))
        hi = right(sites, end, lo)
        for p in sites[lo:hi]:
            base = ref[chrom, p]
            keep(f"{chrom}\t{p}\t{vid}\t{base}\t<*>\t{qual}\t{filt}\tEND={p}{rest}\t{tail}")
        if hi > lo:
            unsorted |= chrom == last[0] and sites[lo] < last[1]
            last = (chrom, sites[hi - 1])
    if unsorted:
        head = [line for line in out if line[0] == "#"]
        body = out[len(head) :]
        order = {c: i for i, c in enumerate(dict.fromkeys(r.split("\t", 1)[0] for r in body))}
        body.sort(key=lambda r: (order[r.split("\t", 1)[0]], int(r.split("\t", 2)[1])))
        out = head + body
    return out


def cut_gvcf(gvcf: str, outdir: Path, out: Path, candidates, ref) -> None:
    """Write the records of ``gvcf`` that overlap a candidate (``outdir``/candidates.tsv,
    read within the span of ``outdir``/span.tsv), blocks trimmed, to ``out``; with no
    candidates, the header only."""
    cmd = ["bcftools", "view", "-Ov", gvcf]
    span, targets = outdir / "span.tsv", outdir / "candidates.tsv"
    cmd[2:2] = (
        ["-R", str(span), "--regions-overlap", "1", "-T", str(targets), "--targets-overlap", "1"]
        if any(candidates.values())
        else ["-h"]
    )
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise UserError(f"{gvcf}: bcftools view failed: {proc.stderr.strip()}")
    with open(out, "w") as fh:
        fh.writelines(trim_blocks(proc.stdout.splitlines(keepends=True), candidates, ref))


def cut_gvcfs(
    gvcfs: Sequence[str],
    tables: Sequence[str],
    bed: str,
    fasta: str,
    outdir: Path,
    threads: int = 1,
) -> int:
    """Cut every gVCF to the union of the candidates of ``tables`` in region ``bed``
    (``outdir``/NNNNN.vcf, listed in ``outdir``/list in the order of ``gvcfs``, for
    ``bcftools merge --no-index -l``); returns the number of candidate positions."""
    import pysam

    if len(gvcfs) != len(tables):
        raise UserError(f"{len(gvcfs)} gVCFs but {len(tables)} candidate tables")
    outdir.mkdir(parents=True, exist_ok=True)
    intervals = read_intervals(bed)
    candidates = region_candidates(tables, intervals)
    ref: dict[tuple[str, int], str] = {}
    with (
        pysam.FastaFile(fasta) as fa,
        open(outdir / "candidates.tsv", "w") as targets,
        open(outdir / "span.tsv", "w") as span,
    ):
        for contig, sites in candidates.items():
            if not sites:
                continue
            span.write(f"{contig}\t{sites[0]}\t{sites[-1]}\n")  # a seek per contig, not per site
            seq = fa.fetch(contig, sites[0] - 1, sites[-1]).upper()
            for p in sites:
                ref[contig, p] = seq[p - sites[0]]
                targets.write(f"{contig}\t{p}\n")
    n = sum(map(len, candidates.values()))
    outs = [outdir / f"{i:05d}.vcf" for i in range(len(gvcfs))]

    def cut(i: int) -> None:
        cut_gvcf(gvcfs[i], outdir, outs[i], candidates, ref)

    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(cut, range(len(gvcfs))))
    else:
        for i in range(len(gvcfs)):
            cut(i)
    (outdir / "list").write_text("".join(f"{o}\n" for o in outs))
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``cut-gvcfs`` options."""
    parser.add_argument("--gvcfs", nargs="+", required=True, help="per-sample gVCFs (BCF)")
    parser.add_argument(
        "--candidates", nargs="+", required=True,
        help="each sample's candidate positions (bgzipped, tabix-indexed TSV), same order",
    )  # fmt: skip
    parser.add_argument("--regions", required=True, help="calling region (BED)")
    parser.add_argument("--fasta", required=True, help="indexed reference FASTA")
    parser.add_argument("--outdir", required=True, help="folder of the cut files and their list")
    parser.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    import sys

    n = cut_gvcfs(args.gvcfs, args.candidates, args.regions, args.fasta, Path(args.outdir),
                  args.threads)  # fmt: skip
    print(f"cut-gvcfs: {len(args.gvcfs)} gVCFs cut to {n} candidate positions", file=sys.stderr)
    return 0
