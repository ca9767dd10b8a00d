#!/usr/bin/env python3
"""Simulate the GBS (genotyping-by-sequencing, ApeKI) test data set ``test-data/gbs/``.

A panel of inbred lines on a 1 Mb genome, built by the same reference and msprime
variant code as ``scripts/make_test_data.py`` (imported from there, own seed index),
sequenced as an ApeKI GBS library (Elshire et al. 2011, PLoS ONE 6:e19379) instead of
whole-genome shotgun:

* each line's genome (its haplotype, with its variants) is digested in silico at every
  ApeKI site ``G^CWGC`` (both strands: the site is palindromic), so a variant that
  destroys or creates a site changes that line's fragments (missing data, as in real GBS);
* fragments between neighbouring cut sites whose insert (overhang included) is
  ``MIN_INSERT``-``MAX_INSERT`` bp are sequenced: 2 x 150 bp read pairs that start
  exactly at the two cut sites (R1 at either end, at random: both adapters ligate to
  either overhang), reading into the adapter when the insert is shorter than a read;
* depth is uneven: each locus has an amplification efficiency (gamma, shorter
  fragments amplify better), each line a library size, and the read pairs of a line at
  a locus are negative binomial around that; ``DROPOUT`` of the line-locus pairs get no
  reads at all;
* no PCR duplicates are simulated or marked: every read of a locus starts at the same
  position by design (a duplicate marker would remove almost all of them).

Written: ``reference.fa.gz`` (+ .fai/.gzi), ``reference_features.bed``, ``truth.vcf.gz``
(+ .tbi), ``loci.bed`` (the in-silico ApeKI fragments of the reference within the size
window: where GBS reads can be), ``samples.tsv``, ``units.tsv`` (``library_type`` gbs),
``reads/<sample>_L001_R{1,2}.fq.gz``. Deterministic: a rerun gives byte-identical files.

Usage::

    python scripts/make_gbs_test_data.py [--outdir test-data/gbs]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_test_data as mtd  # noqa: E402

#: Index of this data set in the seeds ``(SEED, index, step)`` of make_test_data.py.
GBS_INDEX = 7
#: Random stream of the GBS reads (the reference and variants use make_test_data's steps).
READS_STEP = 21
#: ApeKI: recognition site (W = A/T) and where the top strand is cut (G^CWGC); the
#: 3-nt 5' overhang CWG is part of both reads' first bases.
SITE = "GCWGC"
CUT = 1
OVERHANG = 3
#: Size window of the sequenced inserts (bp, overhang included).
MIN_INSERT = 100
MAX_INSERT = 400
#: Mean read pairs of a line at a locus of average efficiency.
MEAN_PAIRS = 16.0
#: Gamma shape of the locus efficiencies, negative binomial shape of the pair counts.
EFFICIENCY_SHAPE = 2.0
NB_SHAPE = 4.0
#: Log-normal sd of the lines' library sizes.
LIBRARY_SD = 0.25
#: Fraction of line-locus pairs without reads (methylation, failed amplification).
DROPOUT = 0.05
#: The TruSeq adapters read after a short insert (as resources/adapters/illumina.fa).
ADAPTERS = (
    b"AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC",
    b"AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGTA",
)

SPEC = mtd.SpeciesSpec(
    name="gbs",
    index=GBS_INDEX,
    gc=0.40,
    cpg_depletion=0.4,
    contigs=tuple(
        mtd.ContigSpec(f"chr{i}", n)
        for i, n in enumerate((260_000, 250_000, 250_000, 240_000, 250_000), 1)
    ),
    samples=mtd._samples(
        "GBS",
        2,
        [("landrace", 4), ("cultivar", 4)],
        ["North", "Central", "South"],
        ["NA"] * 8,
        set(),
    ),
    inbred=True,
    pop_sizes={"landrace": 35_000, "cultivar": 5_000},
    splits=((2_000.0, ("cultivar",), "landrace"),),
    ref_population="cultivar",
    mutation_rate=1.4e-8,
    recombination_rate=1e-8,
    gene_prefix="GBS",
    n_repeat_families=4,
    n_repeat_copies=75,
)


def cut_sites(seq: np.ndarray) -> np.ndarray:
    """0-based starts of the ApeKI sites (``GCWGC``) in coded sequence ``seq``."""
    if len(seq) < len(SITE):
        return np.zeros(0, dtype=np.int64)
    n = len(seq) - len(SITE) + 1
    hit = np.ones(n, dtype=bool)
    for k, ch in enumerate(SITE):
        win = seq[k : k + n]
        hit &= (win == 0) | (win == 3) if ch == "W" else win == "ACGT".index(ch)
    return np.flatnonzero(hit)


def fragments(seq: np.ndarray) -> np.ndarray:
    """(start, end) of the sequenced inserts of ``seq``: from the top-strand cut of one
    site to the bottom-strand cut of the next (overhangs included), in the size window."""
    sites = cut_sites(seq)
    start, end = sites[:-1] + CUT, sites[1:] + CUT + OVERHANG
    keep = (end - start >= MIN_INSERT) & (end - start <= MAX_INSERT)
    return np.stack([start[keep], end[keep]], axis=1)


def hap_to_ref(cv: mtd.ContigVariants, hap: int, x: np.ndarray) -> np.ndarray:
    """Reference coordinates of haplotype ``hap``'s positions ``x`` (an indel's bases map
    to its anchor)."""
    idx = np.flatnonzero(cv.alleles[:, hap]) if len(cv.pos) else np.zeros(0, int)
    if not len(idx):
        return x.copy()
    delta = np.array([len(cv.alt[i]) - len(cv.ref[i]) for i in idx.tolist()])
    ref_pos = cv.pos[idx]
    hap_pos = ref_pos + np.concatenate([[0], np.cumsum(delta)[:-1]])
    k = np.searchsorted(hap_pos, x, side="right") - 1
    shift = np.where(k >= 0, np.concatenate([[0], np.cumsum(delta)])[k + 1], 0)
    out = x - shift
    inside = (k >= 0) & (out < ref_pos[np.maximum(k, 0)])  # within an insertion
    return np.where(inside, ref_pos[np.maximum(k, 0)], out)


def _reads_of(ins: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` error-free pairs of one insert, R1 from either end at random; a mate longer
    than the insert reads on into its adapter (R1's or R2's), then random sequence."""
    L = mtd.READ_LEN
    tail = rng.integers(0, 4, size=L, dtype=np.uint8)

    def read(strand: np.ndarray, mate: int) -> np.ndarray:
        return np.concatenate([strand, mtd.encode(ADAPTERS[mate]), tail])[:L]

    top, bottom = ins, mtd.revcomp(ins)
    flip = rng.random(n) < 0.5
    r1 = np.where(flip[:, None], read(bottom, 0)[None, :], read(top, 0)[None, :])
    r2 = np.where(flip[:, None], read(top, 1)[None, :], read(bottom, 1)[None, :])
    return r1.astype(np.uint8), r2.astype(np.uint8)


def simulate_gbs_reads(
    spec: mtd.SpeciesSpec, ref: mtd.Reference, variants: dict, outdir: Path
) -> dict[str, int]:
    """Write every line's GBS read pairs; returns the pairs per sample."""
    rng = np.random.default_rng([mtd.SEED, spec.index, READS_STEP])
    reads_dir = outdir / "reads"
    reads_dir.mkdir(parents=True, exist_ok=True)
    for f in reads_dir.glob("*.fq.gz"):
        f.unlink()
    library = np.exp(rng.normal(0.0, LIBRARY_SD, size=len(spec.samples)))
    efficiency: dict[tuple[int, int], float] = {}  # (contig, ref start) -> efficiency

    def locus_efficiency(ci: int, start: int, length: int) -> float:
        key = (ci, start)
        if key not in efficiency:
            erng = np.random.default_rng([mtd.SEED, spec.index, READS_STEP, ci, start])
            gamma = erng.gamma(EFFICIENCY_SHAPE, 1.0 / EFFICIENCY_SHAPE)
            efficiency[key] = float(gamma * np.exp(-(length - MIN_INSERT) / 300.0) * 1.4)
        return efficiency[key]

    pairs: dict[str, int] = {}
    for si, s in enumerate(spec.samples):
        r1_parts, r2_parts = [], []
        for ci, c in enumerate(spec.contigs):
            cv = variants[c.name]
            haps = cv.sample_haps[si]
            distinct = sorted(set(haps))
            for h in distinct:
                share = haps.count(h) / len(haps)
                hap = mtd.build_haplotype(ref.truth[c.name], cv, h)
                frags = fragments(hap)
                ref_starts = hap_to_ref(cv, h, frags[:, 0])
                for (a, b), rs in zip(frags.tolist(), ref_starts.tolist(), strict=True):
                    eff = locus_efficiency(ci, int(rs), b - a)
                    mean = MEAN_PAIRS * eff * library[si] * share
                    n = int(rng.negative_binomial(NB_SHAPE, NB_SHAPE / (NB_SHAPE + mean)))
                    if rng.random() < DROPOUT or n == 0:
                        continue
                    r1, r2 = _reads_of(hap[a:b], n, rng)
                    r1_parts.append(r1)
                    r2_parts.append(r2)
        r1 = np.concatenate(r1_parts)
        r2 = np.concatenate(r2_parts)
        q1 = mtd.quality_bins(len(r1), rng)
        q2 = mtd.quality_bins(len(r2), rng, worse=1.3)
        r1 = mtd._add_errors(r1, q1, rng)
        r2 = mtd._add_errors(r2, q2, rng)
        prefix = f"{s.sample}_L001"
        for mate, (rs, qs) in enumerate(((r1, q1), (r2, q2)), start=1):
            mtd.write_gzip(
                reads_dir / f"{prefix}_R{mate}.fq.gz", mtd._fastq_bytes(prefix, mate, rs, qs)
            )
        pairs[s.sample] = len(r1)
    return pairs


def write_loci(spec: mtd.SpeciesSpec, ref: mtd.Reference, outdir: Path) -> int:
    """``loci.bed``: the reference's in-silico ApeKI inserts in the size window."""
    lines = []
    for c in spec.contigs:
        for a, b in fragments(ref.seqs[c.name]).tolist():
            lines.append(f"{c.name}\t{a}\t{b}")
    (outdir / "loci.bed").write_text("\n".join(lines) + "\n")
    return len(lines)


def write_sheets(spec: mtd.SpeciesSpec, pairs: dict[str, int], outdir: Path) -> None:
    """``samples.tsv`` and ``units.tsv`` (one GBS unit per line, paths relative)."""
    rows = ["sample\tspecies\tgroup\tsex\torigin"]
    rows += [f"{s.sample}\t{spec.name}\t{s.group}\t{s.sex}\t{s.origin}" for s in spec.samples]
    (outdir / "samples.tsv").write_text("\n".join(rows) + "\n")
    rows = ["sample\tunit\tfq1\tfq2\tplatform\tlibrary_type"]
    for s in spec.samples:
        p = f"reads/{s.sample}_L001"
        rows.append(f"{s.sample}\tL001\t{p}_R1.fq.gz\t{p}_R2.fq.gz\tILLUMINA\tgbs")
    (outdir / "units.tsv").write_text("\n".join(rows) + "\n")


def make_gbs(outdir: Path) -> dict[str, int]:
    """Every file of the GBS set into ``outdir``; returns the read pairs per sample."""
    outdir.mkdir(parents=True, exist_ok=True)
    ref = mtd.simulate_reference(SPEC)
    mtd.write_reference(SPEC, ref, outdir)
    variants = mtd.simulate_variants(SPEC, ref)
    mtd.write_truth_vcf(SPEC, variants, outdir)
    write_loci(SPEC, ref, outdir)
    pairs = simulate_gbs_reads(SPEC, ref, variants, outdir)
    write_sheets(SPEC, pairs, outdir)
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=Path("test-data/gbs"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    pairs = make_gbs(args.outdir)
    print(
        f"gbs: {sum(pairs.values())} read pairs, {time.perf_counter() - t0:.1f} s -> {args.outdir}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
