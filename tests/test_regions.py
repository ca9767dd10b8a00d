"""Tests for ``breedomics make-regions``: coverage, gap exclusion, packing and streaming.

The expected callable bases are computed independently with a numpy base mask
over the whole in-memory sequence, then compared base by base with the bins.
"""

from __future__ import annotations

import gzip
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from breedomics import cli
from breedomics.calling.regions import _cut_points, scan_fasta, split_regions
from breedomics.errors import UserError

MIN_GAP = 50


def _random_seq(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGTacgt"), size=n))


def _genome(rng: np.random.Generator) -> dict[str, str]:
    """A long contig with N runs of chosen lengths, a medium contig and 300 small scaffolds."""
    seq = list(_random_seq(rng, 600_000))
    runs = {
        0: 100,  # leading Ns
        40_000: 30,  # shorter than MIN_GAP: stays callable
        97_000: 200,  # near the 100 kb boundary: preferred cut
        150_000: MIN_GAP,  # exactly MIN_GAP: excluded
        250_000: MIN_GAP - 1,  # one short: callable
        333_333: 5_000,
        450_000: 60,  # lowercase n below
        599_920: 80,  # trailing Ns
    }
    for start, length in runs.items():
        char = "n" if start == 450_000 else "N"
        seq[start : start + length] = char * length
    genome = {"chrLong": "".join(seq), "chr2": _random_seq(rng, 250_000)}
    for i in range(300):
        s = _random_seq(rng, int(rng.integers(200, 3000)))
        if i == 17:
            s = "N" * 400  # an all-N scaffold yields no region
        elif i % 10 == 3:
            s = s[:100] + "N" * 70 + s[170:]
        genome[f"scaffold_{i:03d}"] = s
    return genome


def _write_fasta(path: Path, genome: dict[str, str]) -> Path:
    with open(path, "w", newline="") as fh:
        for i, (name, seq) in enumerate(genome.items()):
            fh.write(f">{name} description text\n")
            if name == "chr2":  # one contig on a single line
                fh.write(seq + "\n")
                continue
            eol = "\r\n" if i % 7 == 0 else "\n"  # some CRLF records
            for k in range(0, len(seq), 60):
                fh.write(seq[k : k + 60] + eol)
    return path


def _expected_mask(seq: str, min_gap: int) -> np.ndarray:
    """1 for bases that must be covered, 0 for bases in N runs >= min_gap."""
    arr = np.frombuffer(seq.encode(), dtype=np.uint8)
    is_n = np.isin(arr, [ord("N"), ord("n")]).astype(np.int8)
    edges = np.diff(np.concatenate([[0], is_n, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    mask = np.ones(len(seq), dtype=np.int64)
    for s, e in zip(starts, ends, strict=True):
        if e - s >= min_gap:
            mask[s:e] = 0
    return mask


@pytest.fixture(scope="module")
def genome_fasta(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    genome = _genome(np.random.default_rng(7))
    path = _write_fasta(tmp_path_factory.mktemp("ref") / "ref.fa", genome)
    return genome, path


def _check_bins(genome: dict[str, str], bins: list[list[tuple[str, int, int]]]) -> None:
    """Exact single coverage of callable bases, and bins/intervals in genome order."""
    order = {name: i for i, name in enumerate(genome)}
    cover = {name: np.zeros(len(seq), dtype=np.int64) for name, seq in genome.items()}
    flat = [iv for b in bins for iv in b]
    for contig, start, end in flat:
        assert 0 <= start < end <= len(genome[contig])
        cover[contig][start:end] += 1
    for name, seq in genome.items():
        np.testing.assert_array_equal(cover[name], _expected_mask(seq, MIN_GAP), err_msg=name)
    keys = [(order[c], s, e) for c, s, e in flat]
    for a, b in zip(keys, keys[1:], strict=False):
        assert a < b and (a[0] < b[0] or a[2] <= b[1]), (a, b)


def test_cut_points_by_hand() -> None:
    # boundary 100000 +- 10000: gap 98000-98200 is used (nearest point 98200); later
    # boundaries have no gap and are exact; stop once the rest is <= 110000
    assert _cut_points(1_000_000, [(98_000, 98_200)], 100_000) == [
        98_200 + 100_000 * k for k in range(9)
    ]
    # a gap outside the 10% window is ignored; 250 kb -> 100 + 100 + 50 kb
    assert _cut_points(250_000, [(50_000, 51_000)], 100_000) == [100_000, 200_000]
    # nearest of two candidate gaps; the cut lands inside the run
    assert _cut_points(250_000, [(91_000, 92_000), (103_000, 104_000)], 100_000)[0] == 103_000
    assert _cut_points(110_000, [], 100_000) == []


def test_scan_finds_runs(genome_fasta: tuple[dict[str, str], Path]) -> None:
    genome, path = genome_fasta
    scans = list(scan_fasta(path, MIN_GAP))
    assert [c.name for c in scans] == list(genome)
    assert [c.length for c in scans] == [len(s) for s in genome.values()]
    long = scans[0]
    assert long.gaps == [
        (0, 100),
        (97_000, 97_200),
        (150_000, 150_050),
        (333_333, 338_333),
        (450_000, 450_060),
        (599_920, 600_000),
    ]


def test_split_covers_callable_bases_once(genome_fasta: tuple[dict[str, str], Path]) -> None:
    genome, path = genome_fasta
    target = 100_000
    bins = split_regions(path, target, 200, MIN_GAP)
    _check_bins(genome, bins)
    weights = [sum(e - s for _, s, e in b) for b in bins]
    total = sum(weights)
    assert all(w <= target * 1.1 for w in weights)
    # consecutive in-order bins together exceed the target, so few bins overall
    assert len(bins) <= 2 * math.ceil(total / target)
    assert all(weights[i] + weights[i + 1] > target for i in range(len(weights) - 1))
    # the long contig is cut inside the N run near 100 kb, not at the exact boundary
    long_ends = [e for b in bins for c, _, e in b if c == "chrLong"]
    assert 97_000 in long_ends and 100_000 not in long_ends
    # the small scaffolds are packed into a few bins, not one job each
    scaffold_bins = {i for i, b in enumerate(bins) for c, _, _ in b if c.startswith("scaffold")}
    assert len(scaffold_bins) <= math.ceil(sum(len(s) for s in genome.values()) / target)


def test_max_jobs_grows_bins(genome_fasta: tuple[dict[str, str], Path]) -> None:
    genome, path = genome_fasta
    bins = split_regions(path, 10_000, 7, MIN_GAP)
    assert len(bins) <= 7
    _check_bins(genome, bins)
    weights = [sum(e - s for _, s, e in b) for b in bins]
    # balanced: no bin exceeds an even share by more than one ~10 kb piece
    assert max(weights) <= math.ceil(sum(weights) / 7) + 11_000
    # one job: the same intervals, with pieces cut at exact boundaries joined again
    joined: list[tuple[str, int, int]] = []
    for c, s, e in (iv for b in bins for iv in b):
        if joined and joined[-1][0] == c and joined[-1][2] == s:
            joined[-1] = (c, joined[-1][1], e)
        else:
            joined.append((c, s, e))
    assert split_regions(path, 10_000, 1, MIN_GAP) == [joined]


def test_chunk_size_does_not_change_result(
    genome_fasta: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    genome, path = genome_fasta
    reference = split_regions(path, 100_000, 200, MIN_GAP)
    for chunk in (13, 4096):
        assert split_regions(path, 100_000, 200, MIN_GAP, chunk_size=chunk) == reference
    gz = tmp_path / "ref.fa.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(path.read_bytes())
    assert split_regions(gz, 100_000, 200, MIN_GAP, chunk_size=1000) == reference
    # byte-at-a-time on a small FASTA: N runs and headers split across every boundary
    small = {k: genome[k] for k in list(genome)[2:40]}
    small["edge"] = "N" * 60 + "ACGT" + "n" * 49 + "GG" + "N" * 50
    small_fa = _write_fasta(tmp_path / "small.fa", small)
    one = split_regions(small_fa, 5_000, 50, MIN_GAP, chunk_size=1)
    assert one == split_regions(small_fa, 5_000, 50, MIN_GAP)
    _check_bins(small, one)


def test_memory_is_bounded_by_chunk(tmp_path: Path) -> None:
    # 16 Mb on a single line: a line-based reader would hold all of it
    path = tmp_path / "oneline.fa"
    block = ("ACGT" * 4096 + "N" * 100) * 8
    with open(path, "w") as fh:
        fh.write(">big\n")
        while fh.tell() < 16_000_000:
            fh.write(block)
        fh.write("\n")
    tracemalloc.start()
    try:
        scans = list(scan_fasta(path, MIN_GAP, chunk_size=1 << 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scans[0].length > 16_000_000
    assert len(scans[0].gaps) == scans[0].length // (4 * 4096 + 100)
    assert peak < 1_500_000, peak  # gap list (~1000 tuples) + a few 64 KiB chunks


def test_cli_writes_atomic_outdir(genome_fasta: tuple[dict[str, str], Path], tmp_path) -> None:
    genome, path = genome_fasta
    outdir = tmp_path / "regions"
    outdir.mkdir()
    (outdir / "region_0999.bed").write_text("stale\n")
    argv = ["make-regions", "--fasta", str(path), "--target-size", "100000"]
    assert cli.main([*argv, "--max-jobs", "200", "--outdir", str(outdir)]) == 0
    bins = split_regions(path, 100_000, 200, MIN_GAP)
    beds = sorted(outdir.glob("*.bed"))
    assert [p.name for p in beds] == [f"region_{i:04d}.bed" for i in range(1, len(bins) + 1)]
    for bed, b in zip(beds, bins, strict=True):
        rows = [ln.split("\t") for ln in bed.read_text().splitlines()]
        assert [(c, int(s), int(e)) for c, s, e in rows] == b
    tsv = (outdir / "regions.tsv").read_text().splitlines()
    assert tsv[0] == "bin\tcontig\tstart\tend\tlength"
    assert len(tsv) - 1 == sum(len(b) for b in bins)
    first = tsv[1].split("\t")
    assert first[0] == "region_0001" and int(first[4]) == int(first[3]) - int(first[2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regions"]  # no temp dirs left


def test_bad_inputs(tmp_path: Path) -> None:
    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nACGT\n>a\nACGT\n")
    with pytest.raises(UserError, match="occurs twice"):
        split_regions(dup, 100, 10, MIN_GAP)
    alln = tmp_path / "alln.fa"
    alln.write_text(">a\n" + "N" * 500 + "\n")
    with pytest.raises(UserError, match="no callable"):
        split_regions(alln, 100, 10, MIN_GAP)
    noheader = tmp_path / "noheader.fa"
    noheader.write_text("ACGT\n>a\nACGT\n")
    with pytest.raises(UserError, match="before the first"):
        split_regions(noheader, 100, 10, MIN_GAP)
    with pytest.raises(UserError, match="does not exist"):
        split_regions(tmp_path / "missing.fa", 100, 10, MIN_GAP)
    with pytest.raises(UserError, match="positive"):
        split_regions(dup, 100, 0, MIN_GAP)
