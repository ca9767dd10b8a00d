"""Split a reference into calling regions for scatter/gather (``breedomics make-regions``).

Variant calling is scattered over regions so that jobs are of similar size and
no job straddles an assembly gap. The reference is scanned in a streaming way
(fixed-size chunks, so a 2.5 Gb pig genome needs only one chunk of memory plus
the list of gaps) to find runs of ``N``/``n`` of at least ``min_gap`` bases;
the callable intervals are the stretches between them. Long contigs are cut
into pieces of about ``target_size``, preferring a cut inside an N run within
10% of the boundary; pieces are then packed, in FASTA order, into bins of about
``target_size`` callable bases (thousands of small scaffolds end up in a few
bins). When that gives more than ``max_jobs`` bins the bin size grows (from
total/max_jobs up to the smallest size that fits) so at most ``max_jobs`` bins
are written. Bins are contiguous in genome order, so concatenating per-bin
VCFs in bin order yields a sorted VCF.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from breedomics.errors import UserError

#: bytes read from the FASTA at a time; memory use is a small multiple of this
DEFAULT_CHUNK_SIZE = 1 << 22

_N_RUN = re.compile(rb"[Nn]+")
_WHITESPACE = b"\r\n\t "
_MAX_HEADER = 65536

Interval = tuple[str, int, int]


@dataclass
class ContigScan:
    """One FASTA record: name, length and N runs >= min_gap (0-based half-open, sorted)."""

    name: str
    length: int
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def callable_intervals(self) -> list[tuple[int, int]]:
        """The stretches of the contig outside the qualifying N runs."""
        out = []
        pos = 0
        for start, end in self.gaps:
            if start > pos:
                out.append((pos, start))
            pos = end
        if pos < self.length:
            out.append((pos, self.length))
        return out


def _open_fasta(path: Path) -> BinaryIO:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class _Scanner:
    """Incremental state of the FASTA scan; ``feed_*`` may be called with any split."""

    def __init__(self, path: Path, min_gap: int) -> None:
        self.path = path
        self.min_gap = min_gap
        self.current: ContigScan | None = None
        self.pos = 0
        self.run_start: int | None = None

    def start(self, header: bytes) -> None:
        words = header.split()
        if not words:
            raise UserError(f"{self.path}: empty FASTA header line '>'; give every record a name")
        self.current = ContigScan(words[0].decode(errors="replace"), 0)
        self.pos = 0
        self.run_start = None

    def _gap(self, start: int, end: int) -> None:
        assert self.current is not None
        if end - start >= self.min_gap:
            self.current.gaps.append((start, end))

    def sequence(self, segment: bytes) -> None:
        if self.current is None:
            if segment.strip():
                raise UserError(
                    f"{self.path}: sequence found before the first '>' header; "
                    "is this a FASTA file?"
                )
            return
        seq = segment.translate(None, _WHITESPACE)
        if not seq:
            return
        if self.run_start is not None and seq[:1] not in (b"N", b"n"):
            self._gap(self.run_start, self.pos)
            self.run_start = None
        last = len(seq)
        for m in _N_RUN.finditer(seq):
            start = self.pos + m.start()
            if m.start() == 0 and self.run_start is not None:
                start = self.run_start  # run continues from the previous chunk
            if m.end() == last:
                self.run_start = start  # run may continue into the next chunk
            else:
                self._gap(start, self.pos + m.end())
                self.run_start = None
        self.pos += last

    def finish(self) -> ContigScan | None:
        contig = self.current
        if contig is None:
            return None
        if self.run_start is not None:
            self._gap(self.run_start, self.pos)
        contig.length = self.pos
        self.current = None
        self.run_start = None
        return contig


def scan_fasta(
    fasta: str | os.PathLike[str], min_gap: int, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[ContigScan]:
    """Yield each FASTA record with its length and N runs, reading ``chunk_size`` bytes at a time.

    Line structure is irrelevant (a whole chromosome on one line is fine): ``>``
    starts a header that ends at the next newline, everything else is sequence
    with whitespace removed. Plain and gzip/bgzip FASTA are accepted.
    """
    path = Path(fasta)
    if not path.is_file():
        raise UserError(f"reference FASTA {path} does not exist; pass an existing file to --fasta")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    scanner = _Scanner(path, min_gap)
    in_header = False
    header = bytearray()
    try:
        with _open_fasta(path) as fh:
            while chunk := fh.read(chunk_size):
                i, n = 0, len(chunk)
                while i < n:
                    if in_header:
                        j = chunk.find(b"\n", i)
                        stop = n if j < 0 else j
                        if len(header) < _MAX_HEADER:
                            header += chunk[i : min(stop, i + _MAX_HEADER)]
                        if j < 0:
                            break
                        scanner.start(bytes(header))
                        in_header = False
                        i = j + 1
                    else:
                        j = chunk.find(b">", i)
                        stop = n if j < 0 else j
                        if stop > i:
                            scanner.sequence(chunk[i:stop])
                        if j < 0:
                            break
                        done = scanner.finish()
                        if done is not None:
                            yield done
                        in_header = True
                        header = bytearray()
                        i = j + 1
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read reference FASTA {path}: {exc}") from exc
    if in_header:
        scanner.start(bytes(header))
    done = scanner.finish()
    if done is not None:
        yield done


def _cut_points(length: int, gaps: list[tuple[int, int]], target: int) -> list[int]:
    """Interior cut positions splitting a contig into pieces of about ``target`` bases.

    At each boundary ``start + target`` the nearest point inside an N run within
    ``target // 10`` is preferred, otherwise the exact boundary is used. The
    last piece may be up to 10% longer than ``target`` rather than leaving a sliver.
    """
    tol = target // 10
    gap_ends = [end for _, end in gaps]
    cuts: list[int] = []
    start = 0
    while length - start > target + tol:
        boundary = start + target
        best: int | None = None
        best_dist = tol + 1
        k = bisect.bisect_left(gap_ends, boundary - tol)
        while k < len(gaps) and gaps[k][0] <= boundary + tol:
            gs, ge = gaps[k]
            point = min(max(boundary, gs), ge)
            dist = abs(point - boundary)
            if dist < best_dist and point > start:
                best, best_dist = point, dist
            k += 1
        cut = boundary if best is None else best
        cuts.append(cut)
        start = cut
    return cuts


def _pieces(contig: ContigScan, target: int) -> list[list[Interval]]:
    """Callable intervals of ``contig`` grouped into pieces of about ``target`` bases."""
    bounds = [0, *_cut_points(contig.length, contig.gaps, target), contig.length]
    intervals = contig.callable_intervals()
    pieces: list[list[Interval]] = []
    k = 0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        piece = []
        while k < len(intervals) and intervals[k][1] <= lo:
            k += 1
        j = k
        while j < len(intervals) and intervals[j][0] < hi:
            s, e = max(intervals[j][0], lo), min(intervals[j][1], hi)
            if e > s:
                piece.append((contig.name, s, e))
            j += 1
        if piece:
            pieces.append(piece)
    return pieces


def _weight(piece: list[Interval]) -> int:
    return sum(e - s for _, s, e in piece)


def _greedy(weights: list[int], capacity: int) -> list[int]:
    """Bin start indices when packing ``weights`` in order, closing a bin before it exceeds."""
    starts: list[int] = []
    load = 0
    for i, w in enumerate(weights):
        if not starts or load + w > capacity:
            starts.append(i)
            load = 0
        load += w
    return starts


def _pack(weights: list[int], target: int, max_jobs: int) -> list[int]:
    """Bin start indices: bins of about ``target``, growing the size to fit ``max_jobs``."""
    starts = _greedy(weights, target)
    if len(starts) <= max_jobs:
        return starts
    # Smallest capacity >= total/max_jobs whose in-order greedy packing fits in max_jobs
    # bins (bin count is monotone in capacity, so bisect).
    lo = max(math.ceil(sum(weights) / max_jobs), max(weights))
    hi = sum(weights)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_greedy(weights, mid)) <= max_jobs:
            hi = mid
        else:
            lo = mid + 1
    return _greedy(weights, lo)


def _merge_adjacent(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for iv in intervals:
        if out and out[-1][0] == iv[0] and out[-1][2] == iv[1]:
            out[-1] = (iv[0], out[-1][1], iv[2])
        else:
            out.append(iv)
    return out


def split_regions(
    fasta: str | os.PathLike[str],
    target_size: int,
    max_jobs: int,
    min_gap: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[list[Interval]]:
    """Return bins of (contig, start, end) intervals (BED coordinates), in genome order.

    Every base outside N runs of length >= ``min_gap`` is covered exactly once;
    there are at most ``max_jobs`` bins.
    """
    if target_size < 1 or max_jobs < 1 or min_gap < 1:
        raise UserError(
            f"--target-size ({target_size}), --max-jobs ({max_jobs}) and --min-gap "
            f"({min_gap}) must all be positive integers"
        )
    pieces: list[list[Interval]] = []
    seen: set[str] = set()
    for contig in scan_fasta(fasta, min_gap, chunk_size):
        if contig.name in seen:
            raise UserError(
                f"{fasta}: contig name {contig.name!r} occurs twice; names must be unique"
            )
        seen.add(contig.name)
        pieces.extend(_pieces(contig, target_size))
    if not pieces:
        raise UserError(f"{fasta}: no callable (non-N) sequence found; is this the right FASTA?")
    weights = [_weight(p) for p in pieces]
    starts = _pack(weights, target_size, max_jobs)
    bins = []
    for a, b in zip(starts, [*starts[1:], len(pieces)], strict=True):
        bins.append(_merge_adjacent([iv for piece in pieces[a:b] for iv in piece]))
    return bins


def bin_names(n: int) -> list[str]:
    """File stems ``region_0001`` ... (wider numbers when there are more than 9999 bins)."""
    width = max(4, len(str(n)))
    return [f"region_{i:0{width}d}" for i in range(1, n + 1)]


def write_regions(bins: list[list[Interval]], outdir: str | os.PathLike[str]) -> None:
    """Write one BED per bin plus ``regions.tsv``; the directory appears atomically.

    Files are written into a temp dir next to ``outdir`` and renamed into place,
    replacing any previous ``outdir``, so a crash never leaves a partial directory.
    """
    out = Path(outdir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        rows = ["bin\tcontig\tstart\tend\tlength\n"]
        for name, intervals in zip(bin_names(len(bins)), bins, strict=True):
            with open(tmp / f"{name}.bed", "w") as fh:
                for contig, start, end in intervals:
                    fh.write(f"{contig}\t{start}\t{end}\n")
                    rows.append(f"{name}\t{contig}\t{start}\t{end}\t{end - start}\n")
        (tmp / "regions.tsv").write_text("".join(rows))
        if out.exists() or out.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``make-regions`` options."""
    parser.add_argument("--fasta", type=Path, required=True, help="reference FASTA (.fa/.fa.gz)")
    parser.add_argument(
        "--target-size",
        type=int,
        default=5_000_000,
        help="approximate callable bases per region/job (default 5000000)",
    )
    parser.add_argument(
        "--max-jobs", type=int, default=200, help="at most this many regions (default 200)"
    )
    parser.add_argument(
        "--min-gap",
        type=int,
        default=50,
        help="N runs at least this long are excluded and preferred as cut points (default 50)",
    )
    parser.add_argument("--outdir", type=Path, required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    """Compute the bins and write them to ``--outdir``."""
    bins = split_regions(args.fasta, args.target_size, args.max_jobs, args.min_gap)
    write_regions(bins, args.outdir)
    total = sum(e - s for b in bins for _, s, e in b)
    print(f"make-regions: {len(bins)} regions, {total} callable bases -> {args.outdir}")
    return 0
