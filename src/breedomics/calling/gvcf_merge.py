"""Incremental joint calling: the cohort's gVCFs merged and called at its candidate positions.

``calling.mode: incremental`` genotypes each region of the cohort from the per-sample
gVCFs (``breedomics.calling.gvcf``). Merged whole, they give a record at every position
where any sample has a read of another base: with a hundred samples at a percent of
sequencing error that is nearly every position, and ``bcftools merge --gvcf`` then costs
about what the joint pileup of all their BAMs does (adding 4 samples to 100 cost 1.5
joint recalls). Only positions where some sample's reads propose a variant can be
called: a *candidate* is a position where a sample has at least
``calling.candidate_min_alt_reads`` reads of one alternative base, or proposes an indel
(each sample's are listed once, when its gVCF is made: :func:`candidate_filter`).

``merge-gvcfs`` takes the union of the samples' candidates in the region and, window by
window of at most ``--window`` candidate positions (so that the temporary files stay
bounded: about 80 bytes per sample and position), cuts every gVCF to them (``bcftools
view -T <window> --targets-overlap 1``: the records that overlap one), trims each reference
block to one record per candidate position it covers, merges the cut files (``bcftools
merge --gvcf``: the candidate positions only, every sample with its own values there, as
in the whole merge), completes the indel records (``fill-gvcf-indels``), calls them
(``bcftools call -m``, the workflow's ploidy and sex files) and keeps the records starting
in the window; the windows are concatenated, the site depth summed over the samples
(``bcftools +fill-tags``) and the records starting in the region kept. A site whose every
carrier has one read of the variant is not called (set the threshold to 1 to merge every
position with an alternative read).
"""

from __future__ import annotations

import argparse
import bisect
import shlex
import shutil
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


def region_plan(
    tables: Sequence[str], bed: str, fasta: str
) -> tuple[dict[str, list[int]], dict[tuple[str, int], str]]:
    """The union of the samples' candidate positions in region ``bed`` (per contig, in the
    region's order) and the reference base at each."""
    import pysam

    candidates = region_candidates(tables, read_intervals(bed))
    ref: dict[tuple[str, int], str] = {}
    with pysam.FastaFile(fasta) as fa:
        for contig, sites in candidates.items():
            if sites:
                seq = fa.fetch(contig, sites[0] - 1, sites[-1]).upper()
                ref.update(((contig, p), seq[p - sites[0]]) for p in sites)
    return candidates, ref


def windows(candidates: dict[str, list[int]], size: int) -> list[dict[str, list[int]]]:
    """The candidates split, in order, into windows of at most ``size`` positions (one
    window, possibly empty, when there are none)."""
    out: list[dict[str, list[int]]] = [{}]
    room = size
    for contig, sites in candidates.items():
        i = 0
        while i < len(sites):
            if room == 0:
                out.append({})
                room = size
            take = sites[i : i + room]
            out[-1][contig] = take
            i += len(take)
            room -= len(take)
    return out


def cut_gvcfs(
    gvcfs: Sequence[str],
    candidates: dict[str, list[int]],
    ref: dict[tuple[str, int], str],
    outdir: Path,
    threads: int = 1,
) -> Path:
    """Cut every gVCF to ``candidates`` (``outdir``/NNNNN.vcf); returns the file listing
    them in the order of ``gvcfs``, for ``bcftools merge --no-index -l``."""
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / "candidates.tsv", "w") as targets, open(outdir / "span.tsv", "w") as span:
        for contig, sites in candidates.items():
            if sites:
                span.write(f"{contig}\t{sites[0]}\t{sites[-1]}\n")  # a seek a contig, not a site
                targets.writelines(f"{contig}\t{p}\n" for p in sites)
    outs = [outdir / f"{i:05d}.vcf" for i in range(len(gvcfs))]

    def cut(i: int) -> None:
        cut_gvcf(gvcfs[i], outdir, outs[i], candidates, ref)

    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(cut, range(len(gvcfs))))
    else:
        for i in range(len(gvcfs)):
            cut(i)
    listing = outdir / "list"
    listing.write_text("".join(f"{o}\n" for o in outs))
    return listing


def _targets(rows: Iterable[tuple[str, int, int]], path: Path) -> Path:
    """Write (contig, 1-based start, end) rows as a ``bcftools -T`` targets file."""
    path.write_text("".join(f"{c}\t{a}\t{b}\n" for c, a, b in rows))
    return path


def _run(cmd: str, what: str) -> None:
    """Run the bash pipeline ``cmd``, its messages to this process's stderr."""
    if subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"]).returncode:
        raise UserError(f"{what} failed (messages above)")


def call_window(listing: Path, fasta: str, ploidy: str, sexes: str, bounds: Path, out: Path):
    """Merge the cut files of ``listing``, complete the indel records, call, and keep the
    records starting within ``bounds``; returns (indel records, samples filled). The
    tools' messages go to this process's stderr (the job's log)."""
    from breedomics.calling.gvcf import MERGE_RULES, fill_stream

    q = shlex.quote
    merge = subprocess.Popen(
        ["bcftools", "merge", "--gvcf", fasta, "--no-index", "-l", str(listing),
         "-i", MERGE_RULES, "-Ov"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    tail = subprocess.Popen(
        ["bash", "-c", f"set -o pipefail; bcftools call -m -v -a GQ --ploidy-file {q(ploidy)}"
         f" -S {q(sexes)} -Ou | bcftools view -T {q(str(bounds))} -Ob -o {q(str(out))}"],
        stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    counts = (0, 0)
    try:
        counts = fill_stream(merge.stdout, tail.stdin.write)
        tail.stdin.close()
    except BrokenPipeError:  # the caller stopped: its exit status says why
        pass
    finally:
        if tail.wait() and merge.poll() is None:
            merge.kill()  # nobody reads its output any more
        merge.stdout.close()
        merge.wait()
    if tail.returncode:  # first: a failed call also stops the merge
        raise UserError(f"bcftools call of the merged {listing} failed (messages above)")
    if merge.returncode:
        raise UserError(f"bcftools merge of the files in {listing} failed (messages above)")
    return counts


def merge_region(
    gvcfs: Sequence[str],
    tables: Sequence[str],
    bed: str,
    fasta: str,
    ploidy: str,
    sexes: str,
    out: str,
    workdir: Path,
    window: int = 10_000,
    threads: int = 1,
) -> tuple[int, int, int, int]:
    """Genotype region ``bed`` of the cohort from its gVCFs at its candidate positions,
    window by window (see the module text); writes BCF ``out``, returns (candidate
    positions, windows, indel records, genotypes filled at them)."""
    if len(gvcfs) != len(tables):
        raise UserError(f"{len(gvcfs)} gVCFs but {len(tables)} candidate tables")
    candidates, ref = region_plan(tables, bed, fasta)
    parts, indels, filled = [], 0, 0
    for k, win in enumerate(windows(candidates, window)):
        folder = workdir / f"w{k:05d}"
        listing = cut_gvcfs(gvcfs, win, ref, folder, threads)
        # the records starting in the window (a deletion may reach into the next one)
        spans = [(c, s[0], s[-1]) for c, s in win.items() if s]
        if not spans:  # no candidate in the region: a header-only call
            spans = [(c, a + 1, b) for c, a, b in read_intervals(bed)]
        bounds = _targets(spans, workdir / f"w{k:05d}.tsv")
        part = workdir / f"w{k:05d}.bcf"
        n_indels, n_filled = call_window(listing, fasta, ploidy, sexes, bounds, part)
        indels, filled = indels + n_indels, filled + n_filled
        shutil.rmtree(folder)
        parts.append(str(part))
    q = shlex.quote
    steps = (
        f"bcftools concat -Ou {' '.join(map(q, parts))}"
        " | bcftools +fill-tags -Ou - -- -t 'INFO/DP:1=int(sum(FMT/DP))'"
        f" | bcftools view -T {q(bed)} -Ob -o {q(out)}"
    )
    _run(steps, "bcftools concat of the windows")
    return sum(map(len, candidates.values())), len(parts), indels, filled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``merge-gvcfs`` options."""
    parser.add_argument("--gvcfs", nargs="+", required=True, help="per-sample gVCFs (BCF)")
    parser.add_argument(
        "--candidates", nargs="+", required=True,
        help="each sample's candidate positions (bgzipped, tabix-indexed TSV), same order",
    )  # fmt: skip
    parser.add_argument("--regions", required=True, help="calling region (BED)")
    parser.add_argument("--fasta", required=True, help="indexed reference FASTA")
    parser.add_argument("--ploidy", required=True, help="bcftools call --ploidy-file")
    parser.add_argument("--sexes", required=True, help="bcftools call -S (sample, sex)")
    parser.add_argument("--out", required=True, help="called records of the region (BCF)")
    parser.add_argument("--workdir", required=True, help="folder for the temporary files")
    parser.add_argument(
        "--window", type=int, default=10_000,
        help="candidate positions merged at a time (temporary files: ~80 bytes per sample"
        " and position)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    import sys

    if args.window < 1:
        raise UserError(f"--window must be at least 1, not {args.window}")
    n, k, indels, filled = merge_region(
        args.gvcfs, args.candidates, args.regions, args.fasta, args.ploidy, args.sexes,
        args.out, Path(args.workdir), args.window, args.threads,
    )  # fmt: skip
    print(f"merge-gvcfs: {len(args.gvcfs)} gVCFs at {n} candidate positions, {k} window(s);"
          f" {filled} genotypes filled at {indels} indel records", file=sys.stderr)  # fmt: skip
    return 0
