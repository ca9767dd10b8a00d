#!/usr/bin/env python3
"""A second, independent truth set for variant calling: dwgsim reads on a repeat-rich genome.

The project's own read simulator (``scripts/make_test_data.py``) draws reads with its own
error model; a caller tuned on it could be tuned to its quirks. This script makes a truth
set whose reads come from a different simulator, ``dwgsim`` (Homer, DNAA), with errors
that rise along the read (0.1 % -> 1 % on read 1, 0.2 % -> 1.5 % on read 2) and base
qualities drawn around them, on a synthetic reference that is hard to map to:

* transposon-like repeat families: many copies at 1-12 % divergence from their
  consensus (young copies are nearly identical, so reads in them map ambiguously),
* microsatellites (STRs) and homopolymers,
* segmental duplications: 5-20 kb copies of other parts of the genome, within or
  between contigs, 0.5-3 % diverged,
* genes and assembly gaps (N runs) as in the project's test data.

Variants come from msprime (``make_test_data.simulate_variants``): SNPs and 1-15 bp
indels in 4 inbred lines (one haplotype each, homozygous) and 4 outbred animals (two
haplotypes each), sampled from two diverged populations. Every haplotype is built from
the truth genome (N runs filled) and read by dwgsim in haploid mode: an inbred line's one
haplotype at the full depth, each outbred haplotype at half of it.

Reference, truth and the strata are small and deterministic (seeded from ``SEED``);
reads are written only with ``--depth`` (dwgsim is seeded too, so they are reproducible
with the same dwgsim version) and are made at benchmark/test time instead of committed.

Usage::

    python scripts/make_dwgsim_truth.py --outdir test-data/dwgsim            # truth only
    python scripts/make_dwgsim_truth.py --outdir /tmp/dw --depth 15 --depth 6
    python scripts/make_dwgsim_truth.py --outdir /tmp/dw --size-mb 0.5 --depth 15
    python scripts/make_dwgsim_truth.py --outdir /tmp/dwN40 --samples 40 --size-mb 0.4 --depth 6

Outputs in ``--outdir``: ``reference.fa.gz`` (+ ``.fai``/``.gzi``), ``truth.vcf.gz``
(+ ``.tbi``), ``reference_features.bed`` (every simulated feature), ``repeats.bed``
(the repeat stratum: repeat copies, STRs, homopolymers and segmental duplications,
merged), ``samples.tsv`` (``group`` is ``inbred`` or ``outbred``), and per depth D
``reads_<D>x/`` with ``units_<D>x.tsv``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_test_data as mtd  # noqa: E402

#: Fixed seed of this truth set (independent of ``make_test_data.SEED``).
SEED = 20261201
READ_LEN = 150
#: Fragment (outer) length mean and SD, as in the project's simulator.
INSERT_MEAN = 350
INSERT_SD = 40
#: dwgsim per-base error rate ramps (first base - last base) of read 1 and read 2.
ERROR_R1 = "0.001-0.01"
ERROR_R2 = "0.002-0.015"
#: Fraction of read pairs that are random sequence (unmappable contamination).
RANDOM_READS = 0.01
N_INBRED = 4
N_OUTBRED = 4
#: ``--samples`` panel: the breed's effective size and its age (generations).
PANEL_NE = 500
PANEL_SPLIT = 500.0


def make_spec(size_mb: float, panel: int = 0) -> mtd.SpeciesSpec:
    """Species description: ``size_mb`` Mb in 250-500 kb contigs, 4 inbred + 4 outbred.

    With ``panel`` > 0: instead ``panel`` outbred animals of one breed (the skim-sequenced
    accessions of a breeding programme) -- a breed of effective size ``PANEL_NE`` founded
    ``PANEL_SPLIT`` generations ago from a large ancestral population, so that its
    animals share long haplotypes (LD over tens of kb) as breeds and breeding
    populations do, on the same kind of genome (its own seeds: ``index`` 5).
    """
    total = int(size_mb * 1e6)
    n_contigs = max(2, round(total / 500_000))
    length = total // n_contigs
    contigs = tuple(mtd.ContigSpec(f"chr{i + 1}", length) for i in range(n_contigs))
    genome = dict(
        name="dwgsim",
        gc=0.40,
        cpg_depletion=0.35,
        contigs=contigs,
        inbred=False,
        mutation_rate=2e-8,
        recombination_rate=1e-8,
        gene_prefix="DW",
        # ~10 % of the genome in interspersed repeat copies of ~1 kb
        n_repeat_families=8,
        n_repeat_copies=max(8, int(total * 0.10 / 1000)),
        repeat_divergence=(0.01, 0.12),
        indel_max=15,
    )
    if panel:
        return mtd.SpeciesSpec(
            index=5,
            samples=tuple(
                mtd.SampleSpec(f"AN{i + 1}", "outbred", "NA", "animal", inbred=False)
                for i in range(panel)
            ),
            pop_sizes={"outbred": PANEL_NE, "ancestral": 10_000},
            splits=((PANEL_SPLIT, ("outbred",), "ancestral"),),
            ref_population="outbred",
            **genome,
        )
    samples = tuple(
        mtd.SampleSpec(f"IL{i + 1}", "inbred", "NA", "line", inbred=True) for i in range(N_INBRED)
    ) + tuple(
        mtd.SampleSpec(f"OB{i + 1}", "outbred", "NA", "animal", inbred=False)
        for i in range(N_OUTBRED)
    )
    return mtd.SpeciesSpec(
        index=4,
        samples=samples,
        pop_sizes={"inbred": 12_000, "outbred": 10_000, "ancestral": 15_000},
        splits=((6_000.0, ("inbred", "outbred"), "ancestral"),),
        ref_population="inbred",
        **genome,
    )


def add_segmental_duplications(
    spec: mtd.SpeciesSpec, ref: mtd.Reference, rng: np.random.Generator
) -> None:
    """Overwrite a few windows with diverged copies of other windows (in place).

    About one duplication per 200 kb, 5-20 kb long, 0.5-3 % diverged (substitutions and
    small indels, :func:`make_test_data._mutate_copy`), the source anywhere in the genome.
    Source and target avoid N runs, contig ends and each other; both copies are recorded
    as ``segdup`` features.
    """
    names = [c.name for c in spec.contigs]
    total = sum(c.length for c in spec.contigs)
    taken: dict[str, list[tuple[int, int]]] = {n: [] for n in names}

    def free(name: str, a: int, b: int) -> bool:
        if np.any(ref.seqs[name][a:b] == mtd.N_CODE):
            return False
        return all(b <= s or a >= e for s, e in taken[name])

    n_dup = max(1, round(total / 200_000))
    placed = 0
    for _ in range(200 * n_dup):
        if placed == n_dup:
            break
        length = int(rng.integers(5_000, 20_001))
        src_c, dst_c = rng.choice(names), rng.choice(names)
        lim_s = len(ref.seqs[src_c]) - length - mtd.END_MARGIN
        lim_d = len(ref.seqs[dst_c]) - length - mtd.END_MARGIN
        s = int(rng.integers(mtd.END_MARGIN, lim_s))
        d = int(rng.integers(mtd.END_MARGIN, lim_d))
        if not (free(src_c, s, s + length) and free(dst_c, d, d + length)):
            continue
        if src_c == dst_c and abs(s - d) < length:
            continue
        copy = mtd._mutate_copy(ref.truth[src_c][s : s + length], rng.uniform(0.005, 0.03), rng)
        n = min(len(copy), length)
        for seqs in (ref.seqs, ref.truth):
            seqs[dst_c][d : d + n] = copy[:n]
        taken[src_c].append((s, s + length))
        taken[dst_c].append((d, d + n))
        ref.features.append(mtd.Feature(src_c, s, s + length, "segdup", f"SD{placed + 1}:source"))
        ref.features.append(mtd.Feature(dst_c, d, d + n, "segdup", f"SD{placed + 1}:copy"))
        placed += 1
    order = {n: i for i, n in enumerate(names)}
    ref.features.sort(key=lambda f: (order[f.contig], f.start))


REPEAT_KINDS = ("repeat", "microsatellite", "homopolymer", "segdup")


def write_repeat_bed(ref: mtd.Reference, spec: mtd.SpeciesSpec, path: Path) -> None:
    """Write the repeat stratum: repeat-like features merged into sorted intervals."""
    rows = []
    for c in spec.contigs:
        iv = sorted((f.start, f.end) for f in ref.features
                    if f.contig == c.name and f.kind in REPEAT_KINDS)  # fmt: skip
        merged: list[list[int]] = []
        for a, b in iv:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        rows += [f"{c.name}\t{a}\t{b}\n" for a, b in merged]
    path.write_text("".join(rows))


def write_samples(spec: mtd.SpeciesSpec, path: Path) -> None:
    """Sample sheet (``sample species group sex origin``)."""
    lines = ["sample\tspecies\tgroup\tsex\torigin"]
    lines += [f"{s.sample}\t{spec.name}\t{s.group}\t{s.sex}\t{s.origin}" for s in spec.samples]
    path.write_text("\n".join(lines) + "\n")


def _write_fasta(path: Path, seqs: dict[str, np.ndarray]) -> None:
    with open(path, "w") as fh:
        for name, codes in seqs.items():
            s = mtd.decode(codes)
            fh.write(f">{name}\n")
            fh.writelines(s[i : i + 60] + "\n" for i in range(0, len(s), 60))


def simulate_reads(
    spec: mtd.SpeciesSpec,
    ref: mtd.Reference,
    variants: dict[str, mtd.ContigVariants],
    outdir: Path,
    depth: float,
) -> Path:
    """Read every sample's haplotypes with dwgsim at ``depth`` (diploid) into ``reads_<D>x/``.

    Returns the unit sheet ``units_<D>x.tsv`` (paths relative to ``outdir``).
    """
    if shutil.which("dwgsim") is None:
        sys.exit("make_dwgsim_truth: dwgsim is not on PATH (Debian: apt-get install dwgsim)")
    tag = f"{depth:g}x"
    rdir = outdir / f"reads_{tag}"
    rdir.mkdir(parents=True, exist_ok=True)
    units = ["sample\tunit\tfq1\tfq2\tplatform\tlibrary_type"]
    with tempfile.TemporaryDirectory(prefix="dwgsim-") as tmp:
        for si, s in enumerate(spec.samples):
            haps = sorted(set(variants[spec.contigs[0].name].sample_haps[si]))
            # an inbred line carries one haplotype twice: it alone gives the full depth
            cov = depth / (2 if len(haps) == 2 else 1)
            outs = {1: rdir / f"{s.sample}_R1.fq.gz", 2: rdir / f"{s.sample}_R2.fq.gz"}
            for p in outs.values():
                p.unlink(missing_ok=True)
            for h in haps:
                fa = Path(tmp) / f"{s.sample}_h{h}.fa"
                _write_fasta(
                    fa,
                    {c.name: mtd.build_haplotype(ref.truth[c.name], variants[c.name], h)
                     for c in spec.contigs},
                )  # fmt: skip
                prefix = Path(tmp) / f"{s.sample}_h{h}"
                seed = SEED % 100_000 + 1000 * si + 10 * h + int(depth * 10)
                subprocess.run(
                    ["dwgsim", "-H", "-C", f"{cov:g}", "-r", "0", "-R", "0",
                     "-y", str(RANDOM_READS), "-e", ERROR_R1, "-E", ERROR_R2,
                     "-1", str(READ_LEN), "-2", str(READ_LEN), "-d", str(INSERT_MEAN),
                     "-s", str(INSERT_SD), "-z", str(seed), "-o", "1",
                     "-P", f"{s.sample}h{h}", str(fa), str(prefix)],
                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                # concatenated gzip members are one valid gzip stream
                for mate, out in outs.items():
                    with (
                        open(out, "ab") as dst,
                        open(f"{prefix}.bwa.read{mate}.fastq.gz", "rb") as src,
                    ):
                        shutil.copyfileobj(src, dst)
            units.append(
                f"{s.sample}\tL001\treads_{tag}/{outs[1].name}\treads_{tag}/{outs[2].name}"
                "\tILLUMINA\twgs"
            )
    sheet = outdir / f"units_{tag}.tsv"
    sheet.write_text("\n".join(units) + "\n")
    return sheet


def main(argv: list[str] | None = None) -> int:
    """Parse the command line; write the truth set (and reads per ``--depth``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", type=Path, required=True)
    ap.add_argument("--size-mb", type=float, default=2.0, help="genome size (default 2 Mb)")
    ap.add_argument(
        "--samples", type=int, default=0,
        help="instead of the 4 inbred + 4 outbred samples: this many outbred animals of "
        "one breed (a skim-sequencing panel with shared haplotypes)",
    )  # fmt: skip
    ap.add_argument(
        "--depth", type=float, action="append", default=[],
        help="write dwgsim reads at this diploid depth (repeatable); none: truth only",
    )  # fmt: skip
    args = ap.parse_args(argv)
    if not 0.2 <= args.size_mb <= 50:
        ap.error("--size-mb must be between 0.2 and 50")
    if args.samples and not 2 <= args.samples <= 1000:
        ap.error("--samples must be between 2 and 1000")
    spec = make_spec(args.size_mb, args.samples)
    out = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    ref = mtd.simulate_reference(spec)
    add_segmental_duplications(spec, ref, np.random.default_rng([SEED, 1]))
    variants = mtd.simulate_variants(spec, ref)
    mtd.write_reference(spec, ref, out)
    mtd.write_truth_vcf(spec, variants, out)
    write_repeat_bed(ref, spec, out / "repeats.bed")
    write_samples(spec, out / "samples.tsv")
    n = sum(len(v.pos) for v in variants.values())
    print(f"{out}: {len(spec.contigs)} contigs, {sum(c.length for c in spec.contigs)} bp, "
          f"{n} truth variants")  # fmt: skip
    for depth in args.depth:
        print(f"  reads {depth:g}x -> {simulate_reads(spec, ref, variants, out, depth)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
