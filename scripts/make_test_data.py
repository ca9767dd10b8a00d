#!/usr/bin/env python3
"""Simulate the small, deterministic test data sets under ``test-data/``.

Three species-like data sets (soybean, rice, Min pig) are written, each with a
simulated reference, gene models, a population of samples simulated with
msprime, a truth VCF and Illumina-like paired-end reads. Everything derives
from one fixed seed, and every compressed file is written without time stamps,
so running the script twice gives byte-identical files.

The generator is split into one function per step (reference, annotation,
variants, reads, sheets); each step draws from its own random stream, seeded
from ``(SEED, species, step)``, so adding a step later leaves the outputs of the
existing steps unchanged.

Usage::

    python scripts/make_test_data.py [--outdir test-data] [--species soybean,rice,pig]
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import msprime
import numpy as np
import pysam

#: Master seed: change it and every file changes.
SEED = 20240917

#: Base codes used throughout: 0..3 = A, C, G, T and 4 = N.
BASES = np.frombuffer(b"ACGTN", dtype=np.uint8)
_ENCODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _ENCODE[_b] = _i
    _ENCODE[ord(chr(_b).lower())] = _i
N_CODE = 4

READ_LEN = 150
INSERT_MEAN = 350.0
INSERT_SD = 40.0
#: Target depth of a diploid sample, i.e. 7.5x from each haploid copy.
DEPTH = 15.0
#: NovaSeq-like binned base qualities and the matching error probabilities.
QUAL_VALUES = np.array([2, 12, 23, 37])
QUAL_CHARS = np.frombuffer(b"#-8F", dtype=np.uint8)
QUAL_ERROR = 10.0 ** (-QUAL_VALUES / 10.0)
#: Fraction of variant sites turned into indels.
INDEL_FRACTION = 0.12
#: Minimum distance (bp) between two truth variants (their whole ambiguity spans).
MIN_VARIANT_GAP = 10
#: No truth variants this close (bp) to an N run or to a contig end.
N_MARGIN = 50
END_MARGIN = 200
STEP_SEEDS = {
    "reference": 1,
    "variants": 2,
    "reads": 3,
    "panel": 4,
    "panel-thin": 5,
    "traits": 6,
    "trials": 11,
    "omics": 12,
    "field": 13,
    "drone": 14,
    "weights": 15,
    "injections": 16,
}

STOP_CODONS = ("TAA", "TAG", "TGA")
SENSE_CODONS = tuple(
    a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOP_CODONS
)


# --------------------------------------------------------------------------------------
# Species descriptions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContigSpec:
    """One contig: name, length, chromosome kind (A autosome, X, Y) and gene-bearing flag."""

    name: str
    length: int
    kind: str = "A"
    main: bool = True


@dataclass(frozen=True)
class SampleSpec:
    """One sample: id, population (msprime deme and sheet group), sex, origin, lanes."""

    sample: str
    group: str
    sex: str
    origin: str
    units: tuple[str, ...] = ("L001",)
    #: None: as the species (``SpeciesSpec.inbred``); True/False for a mixed panel
    inbred: bool | None = None


@dataclass(frozen=True)
class SpeciesSpec:
    """Everything that differs between the simulated species."""

    name: str
    index: int
    gc: float
    cpg_depletion: float
    contigs: tuple[ContigSpec, ...]
    samples: tuple[SampleSpec, ...]
    inbred: bool
    #: msprime populations: name -> effective size (diploid individuals)
    pop_sizes: dict[str, float]
    #: (time in generations, derived populations, ancestral population)
    splits: tuple[tuple[float, tuple[str, ...], str], ...]
    #: population the reference haplotype is drawn from
    ref_population: str
    mutation_rate: float
    recombination_rate: float
    gene_prefix: str
    n_repeat_families: int
    n_repeat_copies: int
    #: divergence of repeat copies from their family consensus (uniform range)
    repeat_divergence: tuple[float, float] = (0.05, 0.15)
    #: indel lengths 1..indel_max bp
    indel_max: int = 10


def _scaffolds(n: int, seed: int) -> tuple[ContigSpec, ...]:
    rng = np.random.default_rng([SEED, seed])
    lengths = rng.integers(1000, 4001, size=n)
    return tuple(
        ContigSpec(f"scaffold_{i + 1:03d}", int(length), "A", False)
        for i, length in enumerate(lengths)
    )


def _samples(
    prefix: str,
    width: int,
    groups: list[tuple[str, int]],
    origins: list[str],
    sexes: list[str],
    split: set[int],
) -> tuple[SampleSpec, ...]:
    out = []
    k = 0
    for group, count in groups:
        for _ in range(count):
            units = ("L001", "L002") if k in split else ("L001",)
            out.append(
                SampleSpec(
                    f"{prefix}{k + 1:0{width}d}", group, sexes[k], origins[k % len(origins)], units
                )
            )
            k += 1
    return tuple(out)


SPECIES: dict[str, SpeciesSpec] = {
    "soybean": SpeciesSpec(
        name="soybean",
        index=1,
        gc=0.35,
        cpg_depletion=0.45,
        contigs=(
            ContigSpec("Gm01", 86_000),
            ContigSpec("Gm02", 78_000),
            ContigSpec("Gm03", 72_000),
        ),
        samples=_samples(
            "SOY",
            3,
            [("landrace", 6), ("cultivar", 6)],
            ["Heilongjiang", "Jilin", "Liaoning", "Shandong", "Henan", "Anhui"],
            ["NA"] * 12,
            {1, 4, 8},
        ),
        inbred=True,
        pop_sizes={"landrace": 35_000, "cultivar": 5_000},
        splits=((2_000.0, ("cultivar",), "landrace"),),
        ref_population="cultivar",
        mutation_rate=1.4e-8,
        recombination_rate=1e-8,
        gene_prefix="Glyma.",
        n_repeat_families=4,
        n_repeat_copies=22,
    ),
    "rice": SpeciesSpec(
        name="rice",
        index=2,
        gc=0.43,
        cpg_depletion=0.5,
        contigs=(ContigSpec("Chr1", 82_000), ContigSpec("Chr2", 79_000)) + _scaffolds(40, 77),
        samples=_samples(
            "RICE",
            2,
            [("indica", 5), ("japonica", 5)],
            [
                "Guangdong",
                "Yunnan",
                "Philippines",
                "India",
                "Vietnam",
                "Heilongjiang",
                "Japan",
                "Korea",
                "Jiangsu",
                "Liaoning",
            ],
            ["NA"] * 10,
            {1, 5, 8},
        ),
        inbred=True,
        pop_sizes={"indica": 40_000, "japonica": 15_000, "ancestral": 50_000},
        splits=((20_000.0, ("indica", "japonica"), "ancestral"),),
        ref_population="japonica",
        mutation_rate=1.0e-8,
        recombination_rate=1e-8,
        gene_prefix="Os",
        n_repeat_families=4,
        n_repeat_copies=24,
    ),
    "pig": SpeciesSpec(
        name="pig",
        index=3,
        gc=0.42,
        cpg_depletion=0.25,
        contigs=(
            ContigSpec("chr1", 82_000),
            ContigSpec("chr2", 78_000),
            ContigSpec("chrX", 60_000, "X"),
            ContigSpec("chrY", 15_000, "Y"),
        ),
        samples=_samples(
            "MIN",
            2,
            [("Min", 12)],
            ["Lanxi farm, Heilongjiang", "Harbin conservation farm", "Wangkui farm"],
            ["M", "F"] * 6,
            {0, 3, 6, 9},
        ),
        inbred=False,
        pop_sizes={"Min": 10_000, "European": 8_000, "ancestral": 10_000},
        splits=((16_000.0, ("Min", "European"), "ancestral"),),
        ref_population="European",
        mutation_rate=2.5e-8,
        recombination_rate=1e-8,
        gene_prefix="MINPIG",
        n_repeat_families=4,
        n_repeat_copies=22,
    ),
}


def species_rng(spec: SpeciesSpec, step: str) -> np.random.Generator:
    """Return the independent random stream of one species and one step.

    Seeding each step separately keeps the outputs of one step unchanged when
    another step (or a new one) changes how many numbers it draws.
    """
    return np.random.default_rng([SEED, spec.index, STEP_SEEDS[step]])


# --------------------------------------------------------------------------------------
# Sequence helpers
# --------------------------------------------------------------------------------------


def encode(seq: str | bytes) -> np.ndarray:
    """Encode an ACGTN string as uint8 codes 0..4."""
    if isinstance(seq, str):
        seq = seq.encode()
    return _ENCODE[np.frombuffer(seq, dtype=np.uint8)]


def decode(codes: np.ndarray) -> str:
    """Decode uint8 codes 0..4 back to an ACGTN string."""
    return BASES[codes].tobytes().decode()


def revcomp(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of coded sequence(s) along the last axis; N stays N."""
    out = np.where(codes == N_CODE, N_CODE, 3 - codes).astype(np.uint8)
    return out[..., ::-1]


@dataclass
class MarkovModel:
    """Second-order Markov chain over A, C, G, T (16 contexts x 4 next bases)."""

    probs: np.ndarray

    def stationary_gc(self) -> float:
        """GC fraction of the stationary distribution of the chain."""
        trans = np.zeros((16, 16))
        for ctx in range(16):
            b1 = ctx % 4
            for nxt in range(4):
                trans[ctx, b1 * 4 + nxt] = self.probs[ctx, nxt]
        vals, vecs = np.linalg.eig(trans.T)
        stat = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        stat = stat / stat.sum()
        last = stat.reshape(4, 4).sum(axis=0)
        return float(last[1] + last[2])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw a sequence of length ``n`` (uint8 codes)."""
        out = np.empty(n, dtype=np.uint8)
        if n == 0:
            return out
        cum = np.cumsum(self.probs, axis=1).tolist()
        u = rng.random(n).tolist()
        p1, p2 = int(rng.integers(4)), int(rng.integers(4))
        seq = [0] * n
        for i in range(n):
            row = cum[p1 * 4 + p2]
            x = u[i]
            b = 0 if x < row[0] else 1 if x < row[1] else 2 if x < row[2] else 3
            seq[i] = b
            p1, p2 = p2, b
        out[:] = seq
        return out


def make_markov_model(gc: float, cpg_depletion: float, rng: np.random.Generator) -> MarkovModel:
    """Build a second-order Markov model whose stationary GC content equals ``gc``.

    Each context gets a randomly perturbed base composition, CpG is depleted
    (methylated CpG decays to TpG in plant and animal genomes) and the previous
    base is slightly favoured, which lengthens homopolymers as in real genomes.
    The GC/AT weight is then solved by bisection so the stationary GC matches.
    """
    noise = np.exp(rng.normal(0.0, 0.25, size=(16, 4)))
    for ctx in range(16):
        b1 = ctx % 4
        noise[ctx, b1] *= 1.25
        if b1 == 1:
            noise[ctx, 2] *= cpg_depletion

    def model(weight: float) -> MarkovModel:
        base = np.array([1.0 - weight, weight, weight, 1.0 - weight])
        p = noise * base
        return MarkovModel(p / p.sum(axis=1, keepdims=True))

    lo, hi = 0.01, 0.99
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if model(mid).stationary_gc() < gc:
            lo = mid
        else:
            hi = mid
    return model(0.5 * (lo + hi))


# --------------------------------------------------------------------------------------
# Reference and gene models
# --------------------------------------------------------------------------------------


@dataclass
class Gene:
    """A one-transcript protein-coding gene model in reference coordinates (0-based, half-open)."""

    gene_id: str
    contig: str
    strand: str
    start: int
    end: int
    exons: list[tuple[int, int]]
    cds: list[tuple[int, int]]


@dataclass
class Feature:
    """A simulated reference feature (repeat copy, STR, homopolymer, N run, gene)."""

    contig: str
    start: int
    end: int
    kind: str
    name: str
    strand: str = "."


@dataclass
class Reference:
    """A simulated reference.

    ``seqs`` hold the assembly (with N runs) and ``truth`` the same sequences with
    every N run filled by sequence unknown to the assembly, i.e. the genome the
    samples are sequenced from.
    """

    seqs: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    genes: list[Gene] = field(default_factory=list)
    features: list[Feature] = field(default_factory=list)


def _build_gene(
    model: MarkovModel, intron_model: MarkovModel, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
    """Simulate one gene on the plus strand.

    Returns the sequence and the exon and CDS intervals relative to its start.
    The CDS is ATG + sense codons + a stop codon, split into exons separated by
    GT...AG introns, with 5' and 3' UTRs, so ``bcftools csq`` sees a valid ORF.
    """
    n_codons = int(rng.integers(100, 420))
    codons = rng.integers(len(SENSE_CODONS), size=n_codons - 2)
    cds = "ATG" + "".join(SENSE_CODONS[c] for c in codons) + STOP_CODONS[rng.integers(3)]
    cds_codes = encode(cds)
    n_exons = int(rng.integers(1, 6))
    cuts: list[int] = []
    if n_exons > 1:
        while True:
            cuts = sorted(
                rng.choice(np.arange(40, len(cds) - 40), size=n_exons - 1, replace=False).tolist()
            )
            if all(b - a >= 40 for a, b in zip(cuts, cuts[1:], strict=False)):
                break
    bounds = [0, *cuts, len(cds)]
    utr5 = model.sample(int(rng.integers(40, 200)), rng)
    utr3 = model.sample(int(rng.integers(80, 400)), rng)
    pieces = [utr5]
    pos = len(utr5)
    cds_iv: list[tuple[int, int]] = []
    exon_iv: list[tuple[int, int]] = []
    exon_start = 0
    for k in range(n_exons):
        part = cds_codes[bounds[k] : bounds[k + 1]]
        pieces.append(part)
        cds_iv.append((pos, pos + len(part)))
        pos += len(part)
        if k < n_exons - 1:
            exon_iv.append((exon_start, pos))
            body = intron_model.sample(int(rng.integers(80, 700)), rng)
            intron = np.concatenate([encode("GT"), body, encode("AG")])
            pieces.append(intron)
            pos += len(intron)
            exon_start = pos
    pieces.append(utr3)
    pos += len(utr3)
    exon_iv.append((exon_start, pos))
    return np.concatenate(pieces), exon_iv, cds_iv


def build_stranded_gene(
    model: MarkovModel, intron_model: MarkovModel, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]], str]:
    """A gene from :func:`_build_gene` on a random strand (minus: reverse-complemented,
    exon and CDS intervals mirrored), as ``(sequence, exons, cds, strand)``."""
    gseq, exons, cds = _build_gene(model, intron_model, rng)
    strand = "+" if rng.random() < 0.5 else "-"
    if strand == "-":
        n = len(gseq)
        gseq = revcomp(gseq)
        exons = [(n - b, n - a) for a, b in reversed(exons)]
        cds = [(n - b, n - a) for a, b in reversed(cds)]
    return gseq, exons, cds, strand


def _mutate_copy(consensus: np.ndarray, divergence: float, rng: np.random.Generator) -> np.ndarray:
    """Copy a repeat consensus with substitutions and small indels at ``divergence``."""
    seq = consensus.copy()
    n_sub = rng.binomial(len(seq), divergence * 0.9)
    idx = rng.choice(len(seq), size=n_sub, replace=False)
    seq[idx] = (seq[idx] + rng.integers(1, 4, size=n_sub)) % 4
    out = []
    n_indel = rng.binomial(len(seq), divergence * 0.1 / 2.0)
    pos_list = np.sort(rng.choice(len(seq), size=n_indel, replace=False))
    cur = 0
    for p in pos_list:
        out.append(seq[cur:p])
        length = int(rng.integers(1, 4))
        if rng.random() < 0.5:
            out.append(rng.integers(0, 4, size=length).astype(np.uint8))
            cur = p
        else:
            cur = min(len(seq), p + length)
    out.append(seq[cur:])
    return np.concatenate(out).astype(np.uint8)


def simulate_reference(spec: SpeciesSpec) -> Reference:
    """Simulate the reference contigs of one species with genes, repeats and N runs.

    Each contig is Markov background sequence on which non-overlapping features
    are laid out at random: genes (about one per 8 kb, both strands, main
    contigs only), copies of a few interspersed repeat families (85-95 % identity
    to their consensus, 300 bp - 2 kb), microsatellites, homopolymers and runs of
    N (100 bp - 5 kb, main contigs only). The N runs hide real sequence: the
    ``truth`` genome the reads come from has them filled.
    """
    rng = species_rng(spec, "reference")
    model = make_markov_model(spec.gc, spec.cpg_depletion, rng)
    intron_model = make_markov_model(max(spec.gc - 0.05, 0.2), spec.cpg_depletion, rng)
    families = []
    for _ in range(spec.n_repeat_families):
        families.append(model.sample(int(rng.integers(300, 2001)), rng))

    lengths = np.array([c.length for c in spec.contigs], dtype=float)
    # assign repeat copies to contigs by length, only where they fit comfortably
    copy_plan: dict[str, list[tuple[int, np.ndarray, str]]] = {c.name: [] for c in spec.contigs}
    for k in range(spec.n_repeat_copies):
        fam = k % spec.n_repeat_families
        cons = families[fam]
        seq = _mutate_copy(cons, float(rng.uniform(*spec.repeat_divergence)), rng)
        if rng.random() < 0.4 and len(seq) > 600:  # 5'-truncated copy
            keep = int(rng.integers(300, len(seq)))
            seq = seq[len(seq) - keep :]
        strand = "+"
        if rng.random() < 0.5:
            seq, strand = revcomp(seq), "-"
        fits = np.array([c.length > 4 * len(seq) + 2 * END_MARGIN for c in spec.contigs])
        p = lengths * fits
        ci = int(rng.choice(len(spec.contigs), p=p / p.sum()))
        copy_plan[spec.contigs[ci].name].append((fam, seq, strand))

    ref = Reference(seqs={}, truth={})
    for contig in spec.contigs:
        gene_counter = 0
        items: list[tuple[str, np.ndarray, dict]] = []
        for fam, seq, strand in copy_plan[contig.name]:
            items.append(("repeat", seq, {"name": f"REP{fam + 1}", "strand": strand}))
        n_str = max(1, round(contig.length / 4000))
        for _ in range(n_str if contig.main else int(rng.integers(0, 2))):
            unit = model.sample(int(rng.integers(2, 7)), rng)
            copies = int(rng.integers(max(4, 20 // len(unit)), max(6, 60 // len(unit)) + 1))
            items.append(("microsatellite", np.tile(unit, copies), {"name": f"({decode(unit)})n"}))
        n_homo = round(contig.length / 3000) if contig.main else int(rng.integers(0, 2))
        for _ in range(n_homo):
            base = int(rng.choice(4, p=[0.4, 0.1, 0.1, 0.4]))
            items.append(
                (
                    "homopolymer",
                    np.full(int(rng.integers(8, 21)), base, np.uint8),
                    {"name": f"poly{'ACGT'[base]}"},
                )
            )
        if contig.main:
            n_gap = 2 if contig.length > 80_000 else 1
            for _ in range(n_gap):
                glen = int(np.exp(rng.uniform(np.log(100), np.log(5000))))
                if contig.kind == "Y":
                    glen = min(glen, 800)
                items.append(("N_run", np.full(glen, N_CODE, np.uint8), {"name": "gap"}))
            for _ in range(round(contig.length / 8000)):
                gseq, exons, cds, strand = build_stranded_gene(model, intron_model, rng)
                items.append(("gene", gseq, {"strand": strand, "exons": exons, "cds": cds}))
        order = rng.permutation(len(items))
        items = [items[i] for i in order]
        occupied = sum(len(s) for _, s, _ in items)
        min_gap = 100
        free = contig.length - occupied - 2 * END_MARGIN - (len(items) + 1) * min_gap
        if free < 0:
            raise RuntimeError(f"{spec.name}/{contig.name}: features do not fit")
        gaps = np.floor(rng.dirichlet(np.ones(len(items) + 1)) * free).astype(int) + min_gap
        gaps[0] += END_MARGIN
        gaps[-1] = contig.length - occupied - gaps[:-1].sum()
        seq = model.sample(contig.length, rng)
        truth = seq.copy()
        pos = 0
        for k, (kind, fseq, info) in enumerate(items):
            pos += int(gaps[k])
            end = pos + len(fseq)
            seq[pos:end] = fseq
            if kind == "N_run":
                truth[pos:end] = model.sample(len(fseq), rng)
            else:
                truth[pos:end] = fseq
            if kind == "gene":
                gene_counter += 1
                gid = _gene_id(spec, contig.name, gene_counter)
                ref.genes.append(
                    Gene(
                        gid,
                        contig.name,
                        info["strand"],
                        pos,
                        end,
                        [(pos + a, pos + b) for a, b in info["exons"]],
                        [(pos + a, pos + b) for a, b in info["cds"]],
                    )
                )
                ref.features.append(Feature(contig.name, pos, end, "gene", gid, info["strand"]))
            else:
                ref.features.append(
                    Feature(contig.name, pos, end, kind, info["name"], info.get("strand", "."))
                )
            pos = end
        ref.seqs[contig.name] = seq
        ref.truth[contig.name] = truth
    ref.features.sort(key=lambda f: (_contig_index(spec, f.contig), f.start))
    return ref


def _contig_index(spec: SpeciesSpec, name: str) -> int:
    return [c.name for c in spec.contigs].index(name)


def _gene_id(spec: SpeciesSpec, contig: str, k: int) -> str:
    digits = "".join(ch for ch in contig if ch.isdigit()) or contig[-1]
    if spec.name == "soybean":
        return f"{spec.gene_prefix}{int(digits):02d}G{k * 100:06d}"
    if spec.name == "rice":
        return f"{spec.gene_prefix}{int(digits):02d}g{k * 100:07d}"
    return f"{spec.gene_prefix}{contig.upper()}G{k:04d}"


def write_reference(spec: SpeciesSpec, ref: Reference, outdir: Path) -> None:
    """Write ``reference.fa.gz`` (BGZF, 60-column lines) with its .fai/.gzi and a feature BED."""
    outdir.mkdir(parents=True, exist_ok=True)
    fa_gz = outdir / "reference.fa.gz"
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "reference.fa"
        with open(plain, "w") as fh:
            for contig in spec.contigs:
                s = decode(ref.seqs[contig.name])
                fh.write(f">{contig.name}\n")
                for i in range(0, len(s), 60):
                    fh.write(s[i : i + 60] + "\n")
        for suffix in ("", ".fai", ".gzi"):
            Path(str(fa_gz) + suffix).unlink(missing_ok=True)
        pysam.tabix_compress(str(plain), str(fa_gz), force=True)
    pysam.faidx(str(fa_gz))
    with open(outdir / "reference_features.bed", "w") as fh:
        for f in ref.features:
            fh.write(f"{f.contig}\t{f.start}\t{f.end}\t{f.kind}:{f.name}\t0\t{f.strand}\n")


def write_annotation(spec: SpeciesSpec, ref: Reference, outdir: Path) -> None:
    """Write ``annotation.gff3`` in the Ensembl-like dialect that ``bcftools csq`` reads.

    Genes carry ``ID=gene:...;biotype=protein_coding``, transcripts
    ``ID=transcript:...;Parent=gene:...``; CDS phases follow GFF3 (bases to skip
    from the 5' end of the feature, in transcription order, to reach a codon).
    """
    lines = ["##gff-version 3"]
    for c in spec.contigs:
        lines.append(f"##sequence-region {c.name} 1 {c.length}")
    src = "breedomics_sim"
    for g in sorted(ref.genes, key=lambda g: (_contig_index(spec, g.contig), g.start)):
        tid = f"{g.gene_id}.1"
        rows: list[tuple[int, int, str, str, str]] = []
        rows.append(
            (
                g.start,
                g.end,
                "gene",
                ".",
                f"ID=gene:{g.gene_id};Name={g.gene_id};biotype=protein_coding",
            )
        )
        rows.append(
            (
                g.start,
                g.end,
                "mRNA",
                ".",
                f"ID=transcript:{tid};Parent=gene:{g.gene_id};Name={tid};biotype=protein_coding",
            )
        )
        for k, (a, b) in enumerate(g.exons):
            rows.append((a, b, "exon", ".", f"ID=exon:{tid}.{k + 1};Parent=transcript:{tid}"))
        order = g.cds if g.strand == "+" else list(reversed(g.cds))
        done = 0
        phases = {}
        for a, b in order:
            phases[(a, b)] = (3 - done % 3) % 3
            done += b - a
        for a, b in g.cds:
            rows.append((a, b, "CDS", str(phases[(a, b)]), f"ID=CDS:{tid};Parent=transcript:{tid}"))
        cds_lo, cds_hi = g.cds[0][0], g.cds[-1][1]
        left_utr = "five_prime_UTR" if g.strand == "+" else "three_prime_UTR"
        right_utr = "three_prime_UTR" if g.strand == "+" else "five_prime_UTR"
        rows.append((g.start, cds_lo, left_utr, ".", f"Parent=transcript:{tid}"))
        rows.append((cds_hi, g.end, right_utr, ".", f"Parent=transcript:{tid}"))
        head = rows[:2]
        body = sorted(rows[2:], key=lambda r: (r[0], r[1]))
        for a, b, ftype, phase, attrs in head + body:
            lines.append(
                "\t".join([g.contig, src, ftype, str(a + 1), str(b), ".", g.strand, phase, attrs])
            )
    (outdir / "annotation.gff3").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------


@dataclass
class ContigVariants:
    """Truth variants of one contig.

    ``pos`` is the 0-based position of the first REF base; ``alleles[i, h]`` is
    True when haplotype ``h`` carries ALT at variant ``i``; ``sample_haps[s]``
    lists the haplotypes of sample ``s`` on this contig (an inbred line lists
    its one haplotype twice; empty = the sample has no copy, e.g. chrY in a female).
    """

    pos: np.ndarray
    ref: list[str]
    alt: list[str]
    alleles: np.ndarray
    sample_haps: list[tuple[int, ...]]


def _haplotype_layout(
    spec: SpeciesSpec, contig: ContigSpec
) -> tuple[list[tuple[int, ...]], list[str]]:
    """Map samples to simulated haplotypes on one contig; return (sample_haps, hap_population)."""
    sample_haps: list[tuple[int, ...]] = []
    hap_pop: list[str] = []
    for s in spec.samples:
        inbred = spec.inbred if s.inbred is None else s.inbred
        if inbred:
            n = 1
        elif contig.kind == "A":
            n = 2
        elif contig.kind == "X":
            n = 2 if s.sex == "F" else 1
        else:
            n = 1 if s.sex == "M" else 0
        haps = tuple(range(len(hap_pop), len(hap_pop) + n))
        hap_pop.extend([s.group] * n)
        sample_haps.append(haps * 2 if inbred else haps)
    return sample_haps, hap_pop


def _demography(spec: SpeciesSpec, scale: float) -> msprime.Demography:
    dem = msprime.Demography()
    for name, size in spec.pop_sizes.items():
        dem.add_population(name=name, initial_size=size * scale)
    for t, derived, ancestral in spec.splits:
        dem.add_population_split(time=t, derived=list(derived), ancestral=ancestral)
    return dem


def _left_align_deletion(seq: np.ndarray, s: int, length: int) -> tuple[int, int]:
    """Left- and right-most start of deleting ``seq[s:s+length]`` (equivalent deletions)."""
    left = s
    while left - 1 >= 0 and seq[left - 1] == seq[left + length - 1]:
        left -= 1
    right = s
    while right + length < len(seq) and seq[right + length] == seq[right]:
        right += 1
    return left, right


def _left_align_insertion(seq: np.ndarray, s: int, ins: np.ndarray) -> tuple[int, np.ndarray, int]:
    """Left-most equivalent placement of inserting ``ins`` before ``seq[s]``.

    Returns (left position, inserted sequence there, right-most position).
    """
    left, lins = s, ins.copy()
    while left - 1 >= 0 and seq[left - 1] == lins[-1]:
        lins = np.roll(lins, 1)
        left -= 1
    right, rins = s, ins.copy()
    while right < len(seq) and seq[right] == rins[0]:
        rins = np.roll(rins, -1)
        right += 1
    return left, lins, right


def simulate_variants(spec: SpeciesSpec, ref: Reference) -> dict[str, ContigVariants]:
    """Simulate the truth variants of every contig with msprime.

    Each contig is an independent coalescent simulation (Hudson model; Kelleher
    et al. 2016, PLoS Comput Biol 12:e1004842) of the samples' haplotypes plus one
    reference haplotype from ``spec.ref_population``; a sample carries ALT where
    its allele differs from the reference haplotype's. X and Y use 3/4 and 1/4 of
    the autosomal effective size. Sites are kept at least 200 bp from contig ends
    and 50 bp from N runs, about 12 % become 1-``indel_max`` bp indels (left-aligned), and
    variants whose ambiguity spans come closer than 10 bp are dropped so the
    truth has one unambiguous representation.
    """
    rng = species_rng(spec, "variants")
    out: dict[str, ContigVariants] = {}
    for contig in spec.contigs:
        seq = ref.seqs[contig.name]
        sample_haps, hap_pop = _haplotype_layout(spec, contig)
        scale = {"A": 1.0, "X": 0.75, "Y": 0.25}[contig.kind]
        sets = []
        k = 0
        while k < len(hap_pop):
            j = k
            while j < len(hap_pop) and hap_pop[j] == hap_pop[k]:
                j += 1
            sets.append(msprime.SampleSet(j - k, population=hap_pop[k], ploidy=1))
            k = j
        sets.append(msprime.SampleSet(1, population=spec.ref_population, ploidy=1))
        ts = msprime.sim_ancestry(
            samples=sets,
            demography=_demography(spec, scale),
            ploidy=2,
            sequence_length=contig.length,
            recombination_rate=spec.recombination_rate,
            random_seed=int(rng.integers(1, 2**31 - 1)),
        )
        ts = msprime.sim_mutations(
            ts,
            rate=spec.mutation_rate,
            model=msprime.BinaryMutationModel(),
            random_seed=int(rng.integers(1, 2**31 - 1)),
        )
        nh = len(hap_pop)
        geno = ts.genotype_matrix()
        positions = ts.tables.sites.position.astype(np.int64)
        derived = geno[:, :nh] != geno[:, [nh]]
        keep = derived.any(axis=1)
        positions, derived = positions[keep], derived[keep]

        forbidden = np.zeros(contig.length + 1, dtype=bool)
        forbidden[:END_MARGIN] = True
        forbidden[contig.length - END_MARGIN :] = True
        nidx = np.flatnonzero(seq == N_CODE)
        if len(nidx):
            for d in range(-N_MARGIN, N_MARGIN + 1):
                forbidden[np.clip(nidx + d, 0, contig.length)] = True
        csum = np.concatenate([[0], np.cumsum(forbidden)])

        is_indel = rng.random(len(positions)) < INDEL_FRACTION
        indel_p = _indel_length_p(spec.indel_max)
        records: list[tuple[int, int, str, str, int]] = []  # span_lo, span_hi, ref, alt, row
        for row, (p, indel) in enumerate(zip(positions.tolist(), is_indel.tolist(), strict=True)):
            if not indel:
                base = int(seq[p])
                if base == N_CODE:
                    continue
                if rng.random() < 2.0 / 3.0:
                    alt = base ^ 2  # A<->G, C<->T transitions
                else:
                    alt = int(rng.choice([b for b in range(4) if b != base and b != base ^ 2]))
                lo, hi, r, a = p, p + 1, "ACGT"[base], "ACGT"[alt]
            else:
                length = int(rng.choice(np.arange(1, spec.indel_max + 1), p=indel_p))
                if rng.random() < 0.5:
                    s, right = _left_align_deletion(seq, p + 1, length)
                    lo, hi = s - 1, right + length
                    r, a = decode(seq[s - 1 : s + length]), decode(seq[s - 1 : s])
                else:
                    if rng.random() < 0.4:
                        ins = seq[p + 1 : p + 1 + length].copy()  # tandem duplication
                    else:
                        ins = rng.integers(0, 4, size=length).astype(np.uint8)
                    s, lins, right = _left_align_insertion(seq, p + 1, ins)
                    lo, hi = s - 1, right
                    r, a = decode(seq[s - 1 : s]), decode(seq[s - 1 : s]) + decode(lins)
            lo = max(lo, 0)
            if csum[min(hi, contig.length) + 1] - csum[lo] > 0 or "N" in r + a:
                continue
            records.append((lo, hi, r, a, row))
        records.sort()
        kept: list[tuple[int, int, str, str, int]] = []
        last_hi = -(10**9)
        for rec in records:
            if rec[0] - last_hi < MIN_VARIANT_GAP:
                if kept and kept[-1][1] == last_hi:
                    kept.pop()  # both are ambiguous neighbours: drop both
                last_hi = max(last_hi, rec[1])
                continue
            kept.append(rec)
            last_hi = rec[1]
        pos = np.array([rec[0] for rec in kept], dtype=np.int64)
        out[contig.name] = ContigVariants(
            pos=pos,
            ref=[rec[2] for rec in kept],
            alt=[rec[3] for rec in kept],
            alleles=derived[[rec[4] for rec in kept]] if kept else np.zeros((0, nh), bool),
            sample_haps=sample_haps,
        )
    return out


def _indel_length_p(indel_max: int) -> np.ndarray:
    """Probabilities of indel lengths 1..indel_max bp, most of them short (~ length^-1.3,
    roughly as in plant and animal resequencing)."""
    p = 1.0 / np.arange(1, indel_max + 1) ** 1.3
    return p / p.sum()


def genotype_strings(spec: SpeciesSpec, cv: ContigVariants) -> list[list[str]]:
    """GT strings (variants x samples): '0/0'/'1/1' inbred, phased 'a|b' outbred diploid,
    'a' haploid, '.' absent."""
    sep = "/" if spec.inbred else "|"
    cols = []
    for haps in cv.sample_haps:
        if not haps:
            cols.append(["."] * len(cv.pos))
            continue
        al = cv.alleles[:, list(haps)].astype(int).astype(str)
        cols.append([sep.join(row) for row in al.tolist()])
    return [list(r) for r in zip(*cols, strict=True)] if cols and len(cv.pos) else []


def write_truth_vcf(spec: SpeciesSpec, variants: dict[str, ContigVariants], outdir: Path) -> None:
    """Write ``truth.vcf.gz`` (BGZF, sorted, left-aligned) and its tabix index."""
    head = [
        "##fileformat=VCFv4.2",
        f"##source=breedomics make_test_data.py seed={SEED} species={spec.name}",
        "##reference=reference.fa.gz",
    ]
    for c in spec.contigs:
        head.append(f"##contig=<ID={c.name},length={c.length}>")
    head += [
        '##INFO=<ID=VT,Number=1,Type=String,Description="Variant type: SNP or INDEL">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="True genotype">',
        "#"
        + "\t".join(
            [
                "CHROM",
                "POS",
                "ID",
                "REF",
                "ALT",
                "QUAL",
                "FILTER",
                "INFO",
                "FORMAT",
                *[s.sample for s in spec.samples],
            ]
        ),
    ]
    body = []
    for c in spec.contigs:
        cv = variants[c.name]
        gts = genotype_strings(spec, cv)
        for i, p in enumerate(cv.pos.tolist()):
            vt = "SNP" if len(cv.ref[i]) == len(cv.alt[i]) == 1 else "INDEL"
            body.append(
                "\t".join(
                    [
                        c.name,
                        str(p + 1),
                        ".",
                        cv.ref[i],
                        cv.alt[i],
                        ".",
                        "PASS",
                        f"VT={vt}",
                        "GT",
                        *gts[i],
                    ]
                )
            )
    vcf_gz = outdir / "truth.vcf.gz"
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "truth.vcf"
        plain.write_text("\n".join(head + body) + "\n")
        pysam.tabix_compress(str(plain), str(vcf_gz), force=True)
    pysam.tabix_index(str(vcf_gz), preset="vcf", force=True)


def truth_summary(spec: SpeciesSpec, variants: dict[str, ContigVariants]) -> list[dict]:
    """Per-sample counts of non-reference SNPs and indels, heterozygotes and haploid calls."""
    rows = []
    for si, s in enumerate(spec.samples):
        cnt = dict.fromkeys(
            ["snps", "indels", "het_snps", "het_indels", "hom_alt", "haploid_alt", "absent"], 0
        )
        for c in spec.contigs:
            cv = variants[c.name]
            haps = cv.sample_haps[si]
            if not haps:
                cnt["absent"] += len(cv.pos)
                continue
            al = cv.alleles[:, list(haps)]
            is_snp = np.array(
                [len(r) == len(a) == 1 for r, a in zip(cv.ref, cv.alt, strict=True)], dtype=bool
            )
            nonref = al.any(axis=1)
            het = al.any(axis=1) & ~al.all(axis=1)
            cnt["snps"] += int((nonref & is_snp).sum())
            cnt["indels"] += int((nonref & ~is_snp).sum())
            cnt["het_snps"] += int((het & is_snp).sum())
            cnt["het_indels"] += int((het & ~is_snp).sum())
            if len(haps) == 2:
                cnt["hom_alt"] += int(al.all(axis=1).sum())
            else:
                cnt["haploid_alt"] += int(nonref.sum())
        rows.append({"sample": s.sample, **cnt})
    return rows


# --------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------


def build_haplotype(truth: np.ndarray, cv: ContigVariants, hap: int) -> np.ndarray:
    """Apply the ALT alleles carried by haplotype ``hap`` to the truth contig sequence."""
    idx = np.flatnonzero(cv.alleles[:, hap]) if len(cv.pos) else np.array([], int)
    pieces = []
    cur = 0
    for i in idx.tolist():
        p = int(cv.pos[i])
        pieces.append(truth[cur:p])
        pieces.append(encode(cv.alt[i]))
        cur = p + len(cv.ref[i])
    pieces.append(truth[cur:])
    return np.concatenate(pieces).astype(np.uint8)


def quality_bins(n: int, rng: np.random.Generator, worse: float = 1.0) -> np.ndarray:
    """Draw NovaSeq-like binned qualities (indices into ``QUAL_VALUES``) for ``n`` reads.

    The marginal bin frequencies degrade along the read so that the expected
    error rate rises from about 0.1 % at the first cycle to about 1 % at the last;
    qualities come in runs (each cycle keeps the previous bin with probability
    0.9), as on real instruments.
    """
    t = np.linspace(0.0, 1.0, READ_LEN)
    p2 = 0.003 * t**3 * worse
    p12 = (0.005 + 0.09 * t**2) * worse
    p23 = 0.10 + 0.15 * t
    p37 = 1.0 - p2 - p12 - p23
    cdf = np.cumsum(np.stack([p2, p12, p23, p37], axis=1), axis=1)  # (L, 4)
    u = rng.random((n, READ_LEN))
    draws = np.zeros((n, READ_LEN), dtype=np.uint8)
    for k in range(3):
        draws += u > cdf[None, :, k]
    redraw = rng.random((n, READ_LEN)) < 0.1
    redraw[:, 0] = True
    idx = np.where(redraw, np.arange(READ_LEN), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    return np.take_along_axis(draws, idx, axis=1)


def _add_errors(seqs: np.ndarray, qbins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Substitute bases with the error probability implied by their quality."""
    err = rng.random(seqs.shape) < QUAL_ERROR[qbins]
    out = seqs.copy()
    out[err] = (out[err] + rng.integers(1, 4, size=int(err.sum()))) % 4
    return out


def simulate_fragments(
    hap: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` read pairs (error-free, read orientation) from one haplotype sequence.

    Fragment lengths are N(350, 40) (clipped to 200-600 bp) placed uniformly; half
    the fragments come from the reverse strand. Returns (R1, R2, fragment start).
    """
    flen = np.clip(np.rint(rng.normal(INSERT_MEAN, INSERT_SD, size=n)), 200, 600).astype(int)
    flen = np.minimum(flen, len(hap))
    start = (rng.random(n) * (len(hap) - flen + 1)).astype(np.int64)
    ar = np.arange(READ_LEN)
    fwd = hap[start[:, None] + ar[None, :]]
    tail = hap[(start + flen - READ_LEN)[:, None] + ar[None, :]]
    rev = revcomp(tail)
    flip = rng.random(n) < 0.5
    r1 = np.where(flip[:, None], rev, fwd)
    r2 = np.where(flip[:, None], fwd, rev)
    return r1, r2, start


def _fastq_bytes(name_prefix: str, mate: int, seqs: np.ndarray, quals: np.ndarray) -> bytes:
    seq_txt = BASES[seqs]
    qual_txt = QUAL_CHARS[quals]
    buf = io.BytesIO()
    pre = name_prefix.encode()
    for i in range(len(seqs)):
        buf.write(
            b"@%s_%d/%d\n%s\n+\n%s\n"
            % (pre, i + 1, mate, seq_txt[i].tobytes(), qual_txt[i].tobytes())
        )
    return buf.getvalue()


def write_gzip(path: Path, data: bytes) -> None:
    """Gzip ``data`` to ``path`` without name or time stamp (byte-reproducible)."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        gz.write(data)


def simulate_reads(
    spec: SpeciesSpec, ref: Reference, variants: dict[str, ContigVariants], outdir: Path
) -> dict[str, int]:
    """Simulate and write the paired-end reads of every sample and unit.

    Every haploid copy present in a sample gets 7.5x (so a diploid region 15x, a
    male's X and Y 7.5x, an inbred line's two identical copies 15x). Pairs get
    binned qualities with errors drawn from them (R2 a little worse) and are split
    at random between lanes L001/L002 for multi-unit samples.

    Pairs are written in approximate genome order (fragment start plus up to
    500 bp of random jitter, the copies of a contig interleaved), not in random
    order: overlapping reads then fall inside gzip's 32 kb window, which shrinks
    the files about threefold and keeps ``test-data/`` small. Nothing downstream
    may rely on the order of reads in a FASTQ file, so this loses no realism that
    matters. Returns the number of read pairs per sample.
    """
    rng = species_rng(spec, "reads")
    reads_dir = outdir / "reads"
    reads_dir.mkdir(parents=True, exist_ok=True)
    per_copy = DEPTH / 2.0
    pairs: dict[str, int] = {}
    for si, s in enumerate(spec.samples):
        r1_parts, r2_parts, key_parts = [], [], []
        for ci, c in enumerate(spec.contigs):
            cv = variants[c.name]
            for h in cv.sample_haps[si]:
                hap = build_haplotype(ref.truth[c.name], cv, h)
                n = int(round(per_copy * len(hap) / (2 * READ_LEN)))
                r1, r2, start = simulate_fragments(hap, n, rng)
                r1_parts.append(r1)
                r2_parts.append(r2)
                key_parts.append(ci * 1e9 + start + rng.uniform(0.0, 500.0, size=n))
        r1 = np.concatenate(r1_parts)
        r2 = np.concatenate(r2_parts)
        order = np.argsort(np.concatenate(key_parts), kind="stable")
        r1, r2 = r1[order], r2[order]
        q1 = quality_bins(len(r1), rng)
        q2 = quality_bins(len(r2), rng, worse=1.3)
        r1 = _add_errors(r1, q1, rng)
        r2 = _add_errors(r2, q2, rng)
        lane = np.zeros(len(r1), dtype=int)
        if len(s.units) > 1:
            lane = rng.integers(0, len(s.units), size=len(r1))
        for ui, unit in enumerate(s.units):
            sel = lane == ui
            prefix = f"{s.sample}_{unit}"
            for mate, (rs, qs) in enumerate(((r1, q1), (r2, q2)), start=1):
                write_gzip(
                    reads_dir / f"{prefix}_R{mate}.fq.gz",
                    _fastq_bytes(prefix, mate, rs[sel], qs[sel]),
                )
        pairs[s.sample] = len(r1)
    return pairs


# --------------------------------------------------------------------------------------
# Sheets
# --------------------------------------------------------------------------------------


def write_sheets(
    spec: SpeciesSpec, variants: dict[str, ContigVariants], pairs: dict[str, int], outdir: Path
) -> None:
    """Write ``samples.tsv``, ``units.tsv`` (paths relative to it) and ``truth_summary.tsv``."""
    lines = ["sample\tspecies\tgroup\tsex\torigin"]
    for s in spec.samples:
        lines.append(f"{s.sample}\t{spec.name}\t{s.group}\t{s.sex}\t{s.origin}")
    (outdir / "samples.tsv").write_text("\n".join(lines) + "\n")
    lines = ["sample\tunit\tfq1\tfq2\tplatform\tlibrary_type"]
    for s in spec.samples:
        for u in s.units:
            lines.append(
                f"{s.sample}\t{u}\treads/{s.sample}_{u}_R1.fq.gz\t"
                f"reads/{s.sample}_{u}_R2.fq.gz\tILLUMINA\twgs"
            )
    (outdir / "units.tsv").write_text("\n".join(lines) + "\n")
    rows = truth_summary(spec, variants)
    cols = list(rows[0].keys()) + ["read_pairs"]
    lines = ["\t".join(cols)]
    for r in rows:
        r["read_pairs"] = pairs[r["sample"]]
        lines.append("\t".join(str(r[c]) for c in cols))
    (outdir / "truth_summary.tsv").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def make_species(spec: SpeciesSpec, outdir: Path) -> None:
    """Run every step for one species into ``outdir/<species>/``."""
    sdir = outdir / spec.name
    sdir.mkdir(parents=True, exist_ok=True)
    reads_dir = sdir / "reads"
    if reads_dir.exists():
        for f in reads_dir.glob("*.fq.gz"):
            f.unlink()
    ref = simulate_reference(spec)
    write_reference(spec, ref, sdir)
    write_annotation(spec, ref, sdir)
    variants = simulate_variants(spec, ref)
    write_truth_vcf(spec, variants, sdir)
    pairs = simulate_reads(spec, ref, variants, sdir)
    write_sheets(spec, variants, pairs, sdir)
    if spec.name in WEIGHT_SPECIES:
        write_weighings(spec, sdir)


# --------------------------------------------------------------------------- genotype panels
#: Panel sizes kept small enough for test-data/ (< 40 MB in all) yet large enough for
#: census statistics, GWAS and genomic prediction to mean something.
PANEL_MAX_SNPS = 12_000
#: Simulated traits: (name, heritability, number of QTL, direction of selection).
PANEL_TRAITS = (
    ("yield", 0.5, 50, "increase"),
    ("height", 0.7, 5, "decrease"),
)


def make_panel(spec: SpeciesSpec, outdir: Path) -> None:
    """Write ``<species>/panel/``: a genotype panel with truth, and traits with known QTL.

    Genotypes come from :func:`breedomics.testing.simulate.simulate_species` (msprime with
    species-like demography: structured inbred landraces with admixed lines and planted
    duplicates for soybean and rice, an outbred breed with known inbreeding for pig).
    Traits are additive: QTL effects are drawn from a normal distribution and the
    residual variance is set so that the genetic share of the variance is the target
    heritability; the true genetic values are written next to the phenotypes.
    """
    from breedomics.testing.simulate import simulate_species, write_truth, write_vcf
    from breedomics.testing.traits import additive_phenotype

    seed = int(species_rng(spec, "panel").integers(1, 100_000))
    panel = simulate_species(spec.name, seed=seed)
    m = panel.genotypes.shape[1]
    if m > PANEL_MAX_SNPS:
        keep = np.sort(species_rng(spec, "panel-thin").choice(m, PANEL_MAX_SNPS, replace=False))
        panel.genotypes = panel.genotypes[:, keep]
        panel.variants = panel.variants.iloc[keep].reset_index(drop=True)
    pdir = outdir / spec.name / "panel"
    pdir.mkdir(parents=True, exist_ok=True)
    # the committed panels name the module they were first made with (before the layout
    # of issue 13): keep it, so that they stay what this script writes, byte for byte
    write_vcf(panel, pdir / "genotypes.vcf.gz", source="breedomics.simulate")
    write_truth(panel, pdir / "panel")
    sex = panel.truth["sex"] if "sex" in panel.truth.columns else ["NA"] * len(panel.samples)
    with open(pdir / "samples.tsv", "w") as fh:
        fh.write("sample\tspecies\tgroup\tsex\torigin\n")
        for s, g, x in zip(panel.samples, panel.truth["group"], sex, strict=True):
            fh.write(f"{s}\t{spec.name}\t{g}\t{x}\tsimulated\n")

    rng = species_rng(spec, "traits")
    dos = panel.dosage()
    col_mean = np.nanmean(dos, axis=0)
    dos = np.where(np.isnan(dos), col_mean[None, :], dos)
    poly = np.flatnonzero((col_mean > 0.1) & (col_mean < 1.9))
    pheno = {"sample": panel.samples}
    gv_cols = {"sample": panel.samples}
    qtl_rows = []
    for name, h2, n_qtl, direction in PANEL_TRAITS:
        qtl = np.sort(rng.choice(poly, n_qtl, replace=False))
        effect = rng.normal(0, 1, n_qtl)
        g = (dos[:, qtl] - col_mean[qtl]) @ effect
        y = additive_phenotype(g, h2, rng, mean=100)
        miss = rng.random(len(y)) < 0.03
        pheno[name] = np.where(miss, np.nan, np.round(y, 4))
        gv_cols[name] = np.round(g, 6)
        for j, b in zip(qtl, effect, strict=True):
            v = panel.variants.iloc[j]
            qtl_rows.append(
                f"{name}\t{v.chrom}\t{v.pos}\t{v.id}\t{v.alt}\t{b:.6f}\t{h2}\t{direction}\n"
            )
    import pandas as pd

    pd.DataFrame(pheno).to_csv(pdir / "phenotypes.tsv", sep="\t", index=False, na_rep="NA")
    pd.DataFrame(gv_cols).to_csv(pdir / "genetic_values.tsv", sep="\t", index=False)
    with open(pdir / "qtl.tsv", "w") as fh:
        fh.write("trait\tchrom\tpos\tid\teffect_allele\teffect\th2\tdirection\n")
        fh.writelines(qtl_rows)
    write_trials(spec, pdir)
    if spec.name in DRONE_SPECIES:
        write_drone_series(spec, pdir, panel.samples, dos, panel.variants)


#: Multi-environment trial layout of the panel: environments, replicates per environment,
#: GxE variance as a share of the genetic variance, plot share dropped, planted outliers.
TRIAL_ENVS, TRIAL_REPS, TRIAL_GXE, TRIAL_MISSING, TRIAL_OUTLIERS = 4, 2, 0.3, 0.04, 3
#: Field layout of each environment: every block a grid of TRIAL_BLOCK_ROWS rows (blocks
#: stacked along the rows, as many columns as needed), and a smooth fertility trend with
#: a variance of TRIAL_TREND x the error variance (the spatial model's target).
TRIAL_BLOCK_ROWS, TRIAL_TREND = 16, 0.25


def add_field_layout(
    rec, index: tuple, n_geno: int, n_env: int, n_rep: int, rng: np.random.Generator
) -> np.ndarray:
    """Give the plots of ``rec`` ``row``/``col`` columns; return a unit-SD smooth trend.

    Each block of each environment is a grid of ``TRIAL_BLOCK_ROWS`` rows (genotypes
    randomised within the block, :func:`breedomics.testing.field.field_layout`), the
    blocks stacked along the rows; the trend is a smooth random surface of every
    environment's field (:func:`breedomics.testing.field.smooth_trend`). The stream is
    the ``field`` step's own, so the plot effects of ``trials`` keep their values.
    """
    from breedomics.testing.field import field_layout, smooth_trend

    gi, ej, rk = index
    n_cols = -(-n_geno // TRIAL_BLOCK_ROWS)
    rows = np.zeros(gi.size, dtype=int)
    cols = np.zeros(gi.size, dtype=int)
    trend = np.zeros(gi.size)
    for e in range(n_env):
        lay = field_layout(n_geno, n_rep, TRIAL_BLOCK_ROWS, n_cols, rng)
        pos = {(int(g), int(b) - 1): (r, c) for g, b, r, c in lay.itertuples(index=False)}
        m = np.flatnonzero(ej == e)
        rc = np.array([pos[(int(gi[k]), int(rk[k]))] for k in m])
        rows[m], cols[m] = rc[:, 0], rc[:, 1]
        trend[m] = smooth_trend(rows[m], cols[m], 1.0, rng)
    rec.insert(rec.columns.get_loc("environment") + 2, "row", rows)
    rec.insert(rec.columns.get_loc("row") + 1, "col", cols)
    return trend


def write_trials(spec: SpeciesSpec, pdir: Path) -> None:
    """Write ``panel/trials.tsv``: plot records of a multi-environment trial of the panel.

    Each accession is grown in ``TRIAL_REPS`` complete blocks in each of
    ``TRIAL_ENVS`` environments; a plot is ``100 + environment + block + g + GxE +
    error``, with ``g`` the true genetic value of ``genetic_values.tsv``, GxE
    variance ``TRIAL_GXE * var(g)`` and the error variance set so that the plot-level
    heritability is the trait's target. A few plots are dropped and a few get a
    planted outlier shift of 8 error SDs. ``trials.truth.tsv`` holds the variance
    components, the entry-mean heritability of the balanced design and the outlier
    plot ids, for the BLUE stage to be checked against. The layout and effects are
    those of :mod:`breedomics.testing.trials` (as in ``simulate_gs.simulate_met``).
    """
    import pandas as pd

    from breedomics.testing.traits import residual_variance
    from breedomics.testing.trials import (
        drop_plots,
        entry_mean_h2,
        outlier_plots,
        plot_values,
        rcbd_records,
    )

    rng = species_rng(spec, "trials")
    gv = pd.read_csv(pdir / "genetic_values.tsv", sep="\t", index_col=0)
    ne, nr = TRIAL_ENVS, TRIAL_REPS
    envs = np.array([f"E{j + 1}" for j in range(ne)])
    rec, index = rcbd_records(gv.index.to_numpy(str), envs, nr, "block", plot_digits=5)
    truth_rows = []
    for name, h2, _n_qtl, _direction in PANEL_TRAITS:
        g = gv[name].to_numpy(float)
        var_g = g.var()
        var_ge = TRIAL_GXE * var_g
        var_e = residual_variance(var_g, h2)
        env_sd, block_sd = 2 * np.sqrt(var_g), 0.5 * np.sqrt(var_e)
        y, _eff = plot_values(g, index, ne, nr, env_sd, block_sd, var_ge, var_e, 100, rng)
        rec[name] = y
        truth_rows.append(
            (name, var_g, var_ge, var_e, h2, entry_mean_h2(var_g, var_ge, var_e, ne, nr))
        )
    trend = add_field_layout(rec, index, len(gv), ne, nr, species_rng(spec, "field"))
    for name, _h2, _n_qtl, _direction in PANEL_TRAITS:
        var_e = next(t[3] for t in truth_rows if t[0] == name)
        rec[name] = np.round(rec[name] + np.sqrt(TRIAL_TREND * var_e) * trend, 4)
    rec = rec[drop_plots(len(rec), TRIAL_MISSING, rng)].reset_index(drop=True)
    out_idx, sign = outlier_plots(len(rec), TRIAL_OUTLIERS, rng)
    out_idx = np.sort(out_idx)
    first = PANEL_TRAITS[0][0]
    shift = 8 * np.sqrt(truth_rows[0][3]) * sign
    rec.loc[out_idx, first] = np.round(rec.loc[out_idx, first] + shift, 4)
    rec.to_csv(pdir / "trials.tsv", sep="\t", index=False)
    with open(pdir / "trials.truth.tsv", "w") as fh:
        fh.write("trait\tvar_g\tvar_ge\tvar_e\th2_plot\tH2_entry\toutlier_plots\n")
        for name, var_g, var_ge, var_e, h2, h2e in truth_rows:
            outs = ",".join(rec.loc[out_idx, "plot"]) if name == first else ""
            fh.write(f"{name}\t{var_g:.6g}\t{var_ge:.6g}\t{var_e:.6g}\t{h2}\t{h2e:.6f}\t{outs}\n")


#: Species whose panel gets a drone-flight series of plot height (phenome curves).
DRONE_SPECIES = ("soybean",)
#: Flights (days after sowing), plots per accession, logistic curve of plant height:
#: asymptote (cm), rate (/day), inflection (day); genetic and plot SDs (log scale for the
#: rate); the planted QTL's effect on log rate per allele copy; measurement error SD;
#: missing plot-dates; the flight missed by the second replicate; outlier flights.
DRONE_DAYS = np.arange(14, 92, 7)
DRONE_REPS, DRONE_A, DRONE_R, DRONE_TI = 2, 100.0, 0.1, 40.0
DRONE_SD_G, DRONE_SD_PLOT = (3.0, 0.06, 2.0), (3.0, 0.04, 1.5)
DRONE_QTL, DRONE_NOISE, DRONE_MISSING, DRONE_OUTLIER_FLIGHTS = 0.15, 1.5, 0.05, 1


def write_drone_series(spec: SpeciesSpec, pdir: Path, samples, dos: np.ndarray, variants) -> None:
    """Write ``panel/drone_height.tsv``: plant height of every plot on 12 drone flights.

    Each accession is grown in ``DRONE_REPS`` plots; a plot's height follows a logistic
    curve (:func:`breedomics.testing.growth.simulate_series`) whose asymptote, rate and
    inflection are the accession's (polygenic, not linked to markers) plus plot
    deviations; one planted QTL changes the **rate** only (``DRONE_QTL`` on log rate
    per allele copy), so the last flight, when every plot is near its asymptote, hardly
    shows it while the maximum growth rate does. The second replicate missed one flight,
    5% of plot-dates are missing and one flight is an outlier for 30% of the plots.
    ``drone_height.truth.tsv`` holds each accession's true curve and QTL dosage.
    """
    import pandas as pd

    from breedomics.testing.growth import simulate_series, true_max_rate

    rng = species_rng(spec, "drone")
    maf = np.nanmean(dos, axis=0) / 2
    cand = np.flatnonzero((maf > 0.3) & (maf < 0.7))
    j = int(rng.choice(cand))
    q = dos[:, j] - 1.0
    n = len(samples)
    sd_a, sd_r, sd_t = DRONE_SD_G
    a = DRONE_A + rng.normal(0, sd_a, n)
    log_r = np.log(DRONE_R) + DRONE_QTL * q + rng.normal(0, sd_r, n)
    ti = DRONE_TI + rng.normal(0, sd_t, n)
    g = np.repeat(np.arange(n), DRONE_REPS)
    rep = np.tile(np.arange(1, DRONE_REPS + 1), n)
    pa, pr, pt = DRONE_SD_PLOT
    plots = pd.DataFrame(
        {
            "unit": [f"D{k:04d}" for k in range(len(g))],
            "model": "logistic",
            "A": a[g] + rng.normal(0, pa, len(g)),
            "r": np.exp(log_r[g] + rng.normal(0, pr, len(g))),
            "ti": ti[g] + rng.normal(0, pt, len(g)),
        }
    )
    obs = simulate_series(
        plots, DRONE_DAYS, rng, DRONE_NOISE, DRONE_MISSING, DRONE_OUTLIER_FLIGHTS, digits=1
    )
    missed = f"F{int(rng.integers(3, len(DRONE_DAYS) - 2)) + 1:02d}"
    rep_of = dict(zip(plots["unit"], rep, strict=True))
    drop = (obs["flight"] == missed) & (obs["unit"].map(rep_of) == 2)
    obs = obs[~drop]
    geno_of = dict(zip(plots["unit"], np.asarray(samples)[g], strict=True))
    table = pd.DataFrame(
        {
            "plot": obs["unit"],
            "genotype": obs["unit"].map(geno_of),
            "rep": obs["unit"].map(rep_of),
            "flight": obs["flight"],
            "day": obs["time"].astype(int),
            "height_cm": obs["value"],
        }
    )
    table.to_csv(pdir / "drone_height.tsv", sep="\t", index=False)
    r = np.exp(log_r)
    v = variants.iloc[j]
    truth = pd.DataFrame(
        {
            "sample": samples,
            "asymptote": np.round(a, 4),
            "rate": np.round(r, 6),
            "t_inflection": np.round(ti, 4),
            "max_rate": np.round(true_max_rate(np.full(n, "logistic"), a, r), 6),
            "qtl_id": v.id,
            "qtl_dosage": np.round(dos[:, j], 3),
        }
    )
    truth.to_csv(pdir / "drone_height.truth.tsv", sep="\t", index=False)


#: Species whose animals get a series of repeated weighings (phenome curves).
WEIGHT_SPECIES = ("pig",)
#: Weekly weighings (27 sessions from the week of birth to 26 weeks), the first session's
#: date, the animals' ages at it (0-6 days); Gompertz curve of body weight: asymptote
#: (kg) by sex, rate (/day), inflection age (day); between-animal SDs (asymptote, log
#: rate, inflection); scale error SD (kg); missed weighings; one mis-weighed session
#: (share of animals hit, shift in error SDs).
WEIGHT_WEEKS, WEIGHT_START = 27, "2024-03-04"
WEIGHT_A, WEIGHT_R, WEIGHT_TI = {"M": 140.0, "F": 125.0}, 0.015, 105.0
WEIGHT_SD, WEIGHT_NOISE, WEIGHT_MISSING = (8.0, 0.06, 6.0), 0.6, 0.08
WEIGHT_MISWEIGHED_SHARE, WEIGHT_MISWEIGHED_SHIFT = 0.5, 8.0


def write_weighings(spec: SpeciesSpec, sdir: Path) -> None:
    """Write ``weights.tsv``: body weight of every animal of the species on weekly weighings.

    Each animal follows a Gompertz curve (:func:`breedomics.testing.growth.simulate_series`)
    with a sex-specific asymptote, born 0-6 days before the first session, so its ages
    (``age_days``) differ from the other animals' on the same ``date``; 8% of weighings
    are missed and on one session (never the first or last) half of the animals are
    mis-weighed by ``WEIGHT_MISWEIGHED_SHIFT`` error SDs. ``weights.truth.tsv`` holds
    each animal's true curve (inflection in days of age) and the mis-weighed date.
    Drawn from its own stream (``species_rng(spec, "weights")``): no other file changes.
    """
    import pandas as pd

    from breedomics.testing.growth import simulate_series, true_max_rate

    rng = species_rng(spec, "weights")
    animals = [s.sample for s in spec.samples]
    sex = np.array([s.sex for s in spec.samples])
    n = len(animals)
    sd_a, sd_r, sd_t = WEIGHT_SD
    a = np.array([WEIGHT_A[x] for x in sex]) + rng.normal(0, sd_a, n)
    r = np.exp(np.log(WEIGHT_R) + rng.normal(0, sd_r, n))
    ti = WEIGHT_TI + rng.normal(0, sd_t, n)
    age0 = rng.integers(0, 7, n)
    sessions = 7.0 * np.arange(WEIGHT_WEEKS)
    curves = pd.DataFrame({"unit": animals, "model": "gompertz", "A": a, "r": r, "ti": ti - age0})
    obs = simulate_series(
        curves, sessions, rng, WEIGHT_NOISE, WEIGHT_MISSING, 1,
        WEIGHT_MISWEIGHED_SHARE, WEIGHT_MISWEIGHED_SHIFT, digits=1,
    )  # fmt: skip
    start = np.datetime64(WEIGHT_START)
    born = dict(zip(animals, age0, strict=True))  # age at the first session
    dates = (start + obs["time"].astype(int).to_numpy().astype("timedelta64[D]")).astype(str)
    table = pd.DataFrame(
        {
            "animal": obs["unit"],
            "date": dates,
            "age_days": obs["time"].astype(int) + obs["unit"].map(born),
            "weight_kg": obs["value"],
        }
    )
    table.to_csv(sdir / "weights.tsv", sep="\t", index=False)
    # one mis-weighed session: its date on the animals hit
    hit = {x: str(start + np.timedelta64(int(t), "D")) for x, t in obs.attrs["outliers"]}
    truth = pd.DataFrame(
        {
            "animal": animals,
            "sex": sex,
            "birth": [str(start - np.timedelta64(int(d), "D")) for d in age0],
            "asymptote": np.round(a, 4),
            "rate": np.round(r, 6),
            "t_inflection": np.round(ti, 4),
            "max_rate": np.round(true_max_rate(np.full(n, "gompertz"), a, r), 6),
            "misweighed": [hit.get(x, "") for x in animals],
        }
    )
    truth.to_csv(sdir / "weights.truth.tsv", sep="\t", index=False)


#: Species whose panel gets simulated molecular traits (expression and metabolite tables).
OMICS_SPECIES = ("soybean",)
#: Expression: genes, share with a cis-eQTL, trans hotspots, genes per hotspot, hidden
#: batch factors, genotyped samples left out, ungenotyped samples added.
OMICS_GENES, OMICS_CIS, OMICS_HOTSPOTS, OMICS_TARGETS, OMICS_BATCHES = 300, 0.3, 2, 15, 3
OMICS_DROP, OMICS_EXTRA = 10, 2
#: Metabolites: features, with an mQTL, with missing values (below detection), their
#: missing-value rate; the last feature is mostly missing.
OMICS_METABOLITES, OMICS_MQTL, OMICS_WITH_MISSING, OMICS_MISSING = 50, 5, 8, 0.05


def write_omics(spec: SpeciesSpec, pdir: Path) -> None:
    """Write the panel's molecular traits with known QTL (an eQTL and an mQTL data set).

    ``expression.bed.gz``: a tensorQTL-style phenotype BED (``#chr start end
    feature_id`` + one column per sample; start/end = TSS - 1 / TSS) of
    ``OMICS_GENES`` genes, those of ``annotation.gff3`` first, the rest at random
    positions. Each gene's latent value is the sum of a cis-eQTL (``OMICS_CIS`` of
    the genes: a SNP with MAF >= 0.05 within 100 kb of the TSS), a trans effect
    (``OMICS_HOTSPOTS`` SNPs on different chromosomes each drive ``OMICS_TARGETS``
    genes on other chromosomes), ``OMICS_BATCHES`` hidden batch factors shared by
    all genes (30-60 % of the variance) and noise, each scaled to a drawn share of
    the variance; the value written is ``exp(mu + s * latent)`` (TPM-like,
    skewed). Three genes are barely expressed and one is constant (QC must remove
    them). ``OMICS_DROP`` genotyped samples are left out and ``OMICS_EXTRA``
    ungenotyped ones added. ``metabolites.tsv``: samples x ``OMICS_METABOLITES``
    log-normal features, ``OMICS_MQTL`` of them with an mQTL, ``OMICS_MISSING`` of the
    values of ``OMICS_WITH_MISSING`` features missing at random and one feature 60 %
    missing. ``expression.truth.tsv``
    and ``metabolites.truth.tsv`` hold every feature's causal variant, its effect
    per ALT allele copy on the latent scale (unit variance) and its variance share.
    ``metabolites_raw.tsv`` and ``injections.tsv``: :func:`write_injections`.
    """
    import pandas as pd

    from breedomics.core import genotypes as gt
    from breedomics.testing.traits import scaled_to_share, signed_effect

    rng = species_rng(spec, "omics")
    samples = gt.read_samples(pdir / "genotypes.vcf.gz")
    var, dos = gt.read_dosage(pdir / "genotypes.vcf.gz")
    var = var.reset_index(drop=True)
    dos = dos.astype(np.float64)
    mean = np.nanmean(dos, axis=0)
    dos = np.where(np.isnan(dos), mean[None, :], dos)
    maf = np.minimum(mean / 2, 1 - mean / 2)
    chroms = list(dict.fromkeys(var["chrom"].astype(str)))
    vchrom = var["chrom"].astype(str).to_numpy()
    vpos = var["pos"].to_numpy(np.int64)
    lengths = {}
    for line in open(pdir / "reference.fa.gz.fai"):
        f = line.split("\t")
        lengths[f[0]] = int(f[1])
    genes = []
    for line in open(pdir / "annotation.gff3"):
        f = line.rstrip("\n").split("\t")
        if len(f) == 9 and f[2] == "gene":
            gid = f[8].split("ID=gene:")[1].split(";")[0]
            tss = int(f[3]) if f[6] == "+" else int(f[4])
            genes.append((gid, f[0], tss))
    genes = genes[:OMICS_GENES]
    for k in range(OMICS_GENES - len(genes)):
        c = chroms[int(rng.integers(len(chroms)))]
        genes.append((f"SIM{c}G{k + 1:03d}", c, int(rng.integers(20_000, lengths[c] - 20_000))))
    order = sorted(range(len(genes)), key=lambda i: (chroms.index(genes[i][1]), genes[i][2]))
    genes = [genes[i] for i in order]
    n, g_n = len(samples), len(genes)
    gid = [g[0] for g in genes]
    gchrom = np.array([g[1] for g in genes])
    gtss = np.array([g[2] for g in genes])
    qc = np.array(["pass"] * g_n, dtype=object)
    synthetic = np.flatnonzero(np.char.startswith(np.array(gid), "SIM"))
    bad = rng.choice(synthetic, 4, replace=False)
    qc[bad[:3]] = "low_expression"
    qc[bad[3]] = "zero_variance"
    ok = np.flatnonzero(qc == "pass")
    latent = np.zeros((n, g_n))
    truth = {
        "feature_id": gid,
        "chrom": gchrom,
        "tss": gtss,
        "qc": qc,
        "qtl_type": ["none"] * g_n,
        "variant_id": [""] * g_n,
        "variant_chrom": [""] * g_n,
        "variant_pos": [0] * g_n,
        "hotspot": [""] * g_n,
        "beta": [0.0] * g_n,
        "var_explained": [0.0] * g_n,
    }
    taken: set[int] = set()

    def plant(j: int, snp: int, share: float, kind: str, hotspot: str = "") -> None:
        x = dos[:, snp] - dos[:, snp].mean()
        beta = signed_effect(x, share, rng)
        latent[:, j] += beta * x
        truth["qtl_type"][j] = kind
        truth["variant_id"][j] = var["id"].iloc[snp]
        truth["variant_chrom"][j] = vchrom[snp]
        truth["variant_pos"][j] = int(vpos[snp])
        truth["hotspot"][j] = hotspot
        truth["beta"][j] = round(float(beta), 6)
        truth["var_explained"][j] = round(share, 6)
        taken.add(j)

    for j in np.sort(rng.choice(ok, int(round(OMICS_CIS * g_n)), replace=False)):
        for win in (100_000, 250_000, 1_000_000):
            near = np.flatnonzero(
                (vchrom == gchrom[j]) & (np.abs(vpos - gtss[j]) <= win) & (maf >= 0.05)
            )
            if len(near):
                break
        plant(j, int(rng.choice(near)), float(rng.uniform(0.04, 0.3)), "cis")
    hot_chroms = rng.choice(chroms, OMICS_HOTSPOTS, replace=False)
    for h, c in enumerate(hot_chroms):
        snp = int(rng.choice(np.flatnonzero((vchrom == c) & (maf >= 0.25))))
        pool = np.array([j for j in ok if j not in taken and gchrom[j] != c])
        for j in np.sort(rng.choice(pool, OMICS_TARGETS, replace=False)):
            plant(int(j), snp, float(rng.uniform(0.15, 0.3)), "trans", f"hotspot{h + 1}")
    factors = rng.normal(size=(n, OMICS_BATCHES))
    loadings = rng.normal(size=(OMICS_BATCHES, g_n))
    batch_share = rng.uniform(0.3, 0.6, g_n)
    for j in range(g_n):
        latent[:, j] += scaled_to_share(factors @ loadings[:, j], batch_share[j])
        rest = 1 - batch_share[j] - truth["var_explained"][j]
        latent[:, j] += scaled_to_share(rng.normal(size=n), rest)
    mu = rng.normal(3, 1, g_n)
    scale = rng.uniform(0.3, 0.8, g_n)
    expr = np.exp(mu + scale * latent)
    for j in bad[:3]:
        expr[:, j] = np.where(rng.random(n) < 0.9, 0.0, rng.uniform(0.01, 0.5, n))
    expr[:, bad[3]] = 1.0
    keep = np.sort(rng.choice(n, n - OMICS_DROP, replace=False))
    cols = [samples[i] for i in keep] + [f"NOTGENOTYPED{k + 1}" for k in range(OMICS_EXTRA)]
    values = np.vstack([expr[keep], np.exp(rng.normal(3, 1, (OMICS_EXTRA, g_n)))])
    lines = ["\t".join(["#chr", "start", "end", "feature_id", *cols])]
    for j in range(g_n):
        vals = "\t".join(f"{v:.4g}" for v in values[:, j])
        lines.append(f"{gchrom[j]}\t{gtss[j] - 1}\t{gtss[j]}\t{gid[j]}\t{vals}")
    write_gzip(pdir / "expression.bed.gz", ("\n".join(lines) + "\n").encode())
    truth["batch_share"] = np.round(batch_share, 6)
    pd.DataFrame(truth).to_csv(pdir / "expression.truth.tsv", sep="\t", index=False)

    # metabolites: no coordinates, some missing values, a few mQTL
    m_n = OMICS_METABOLITES
    mid = [f"met{k + 1:03d}" for k in range(m_n)]
    met = rng.normal(size=(n, m_n))
    mtruth = {
        "feature_id": mid,
        "qtl_type": ["none"] * m_n,
        "variant_id": [""] * m_n,
        "variant_chrom": [""] * m_n,
        "variant_pos": [0] * m_n,
        "beta": [0.0] * m_n,
        "var_explained": [0.0] * m_n,
    }
    common = np.flatnonzero(maf >= 0.1)
    for j in np.sort(rng.choice(m_n - 1, OMICS_MQTL, replace=False)):
        snp = int(rng.choice(common))
        share = float(rng.uniform(0.2, 0.4))
        x = dos[:, snp] - dos[:, snp].mean()
        beta = signed_effect(x, share, rng)
        met[:, j] = scaled_to_share(met[:, j], 1 - share) + beta * x
        mtruth["qtl_type"][j] = "mqtl"
        mtruth["variant_id"][j] = var["id"].iloc[snp]
        mtruth["variant_chrom"][j] = vchrom[snp]
        mtruth["variant_pos"][j] = int(vpos[snp])
        mtruth["beta"][j] = round(float(beta), 6)
        mtruth["var_explained"][j] = round(share, 6)
    values = np.exp(rng.normal(1, 0.5, m_n) + rng.uniform(0.2, 0.6, m_n) * met)
    miss = rng.random((n, m_n)) < OMICS_MISSING
    with_missing = np.zeros(m_n, dtype=bool)
    with_missing[rng.choice(m_n - 1, OMICS_WITH_MISSING, replace=False)] = True
    miss[:, ~with_missing] = False
    miss[:, -1] = rng.random(n) < 0.6
    mtruth["missing_fraction"] = np.where(with_missing, OMICS_MISSING, 0.0)
    mtruth["missing_fraction"][-1] = 0.6
    text = np.where(miss, "NA", np.char.mod("%.5g", values))
    with open(pdir / "metabolites.tsv", "w") as fh:
        fh.write("\t".join(["sample", *mid]) + "\n")
        for i in range(n):
            fh.write(samples[i] + "\t" + "\t".join(text[i]) + "\n")
    pd.DataFrame(mtruth).to_csv(pdir / "metabolites.truth.tsv", sep="\t", index=False)
    write_injections(spec, pdir)  # the raw run behind metabolites.tsv (own stream)


#: Raw metabolite run (``metabolites_raw.tsv`` + ``injections.tsv``): analytical batches,
#: a pooled QC every ``RUN_QC_EVERY`` injections, blanks per batch, blank-only
#: contaminant features, features with a detection limit and its missing share range.
RUN_BATCHES, RUN_QC_EVERY, RUN_BLANKS, RUN_CONTAMINANTS = 3, 10, 2, 3
RUN_LOD_FEATURES, RUN_LOD_MISSING = 20, (0.04, 0.15)


def write_injections(spec: SpeciesSpec, pdir: Path) -> None:
    """Write the raw LC-MS run behind the clean ``metabolites.tsv`` and its injection sheet.

    The committed clean table is read back (never rewritten): its samples are injected
    in a random order over ``RUN_BATCHES`` batches, each batch opening with a blank and
    a pooled QC, a QC after every ``RUN_QC_EVERY - 1`` samples, a QC and a blank at the
    end. Every feature gets per batch a multiplicative drift along injection order (a
    random quadratic on the log2 scale, up to about +-1 log2 unit over the batch) and a
    batch offset (sd 0.5 log2), plus 4 % technical noise on every injection. A QC pool
    is the mean of the clean samples; a blank holds traces (1 % of the pool) of a few
    features and the ``RUN_CONTAMINANTS`` blank-only contaminants (``cont1..``) at the
    level they have in the samples. ``RUN_LOD_FEATURES`` features get a detection limit
    (``RUN_LOD_MISSING`` of their samples below it: ``NA``, missing not at random).
    ``metabolites_raw.tsv``: samples (in ``metabolites.tsv`` order), then the QCs and
    blanks, as rows; ``injections.tsv``: ``sample, batch, order, type``.
    """
    import pandas as pd

    rng = species_rng(spec, "injections")
    clean = pd.read_csv(pdir / "metabolites.tsv", sep="\t", index_col=0)
    samples = list(clean.index)
    x = clean.to_numpy(np.float64)
    n, m = x.shape
    pool = np.nanmean(x, axis=0)
    cont = np.exp(rng.normal(1, 0.5, RUN_CONTAMINANTS))
    fids = [*clean.columns, *(f"cont{k + 1}" for k in range(RUN_CONTAMINANTS))]
    perm = rng.permutation(n)
    rows: dict[str, np.ndarray] = {}
    sheet = []
    for b, part in enumerate(np.array_split(perm, RUN_BATCHES)):
        seq: list[tuple[str, str, int]] = [(f"BLANK_B{b + 1}_1", "blank", -1)]
        q = 0
        for k, i in enumerate(part):
            if k % (RUN_QC_EVERY - 1) == 0:
                q += 1
                seq.append((f"QC_B{b + 1}_{q:02d}", "qc", -1))
            seq.append((samples[i], "sample", int(i)))
        seq.append((f"QC_B{b + 1}_{q + 1:02d}", "qc", -1))
        seq.append((f"BLANK_B{b + 1}_2", "blank", -1))
        t = np.linspace(-1, 1, len(seq))
        slope, curve = rng.normal(0, 0.4, m), rng.normal(0, 0.3, m)
        offset = rng.normal(0, 0.5, m)
        traces = rng.random(m) < 0.2
        for o, (sid, kind, i) in enumerate(seq):
            sheet.append((sid, f"B{b + 1}", o + 1, kind))
            drift = 2.0 ** (offset + slope * t[o] + curve * (t[o] ** 2 - 1 / 3))
            tech = np.exp(rng.normal(0, 0.04, m))
            if kind == "blank":
                v = np.where(traces, 0.01 * pool * drift * tech, np.nan)
            else:
                v = (x[i] if kind == "sample" else pool) * drift * tech
            c = cont * rng.uniform(0.7, 1.4, RUN_CONTAMINANTS)
            rows[sid] = np.concatenate([v, c])
    order = samples + [s for s, _, _, k in sheet if k != "sample"]
    raw = np.vstack([rows[s] for s in order])
    is_sample = np.arange(len(order)) < n
    for j in np.sort(rng.choice(m - 1, RUN_LOD_FEATURES, replace=False)):
        lod = np.nanquantile(raw[is_sample, j], rng.uniform(*RUN_LOD_MISSING))
        raw[is_sample, j] = np.where(raw[is_sample, j] < lod, np.nan, raw[is_sample, j])
    text = np.where(np.isfinite(raw), np.char.mod("%.5g", np.nan_to_num(raw)), "NA")
    with open(pdir / "metabolites_raw.tsv", "w") as fh:
        fh.write("\t".join(["sample", *fids]) + "\n")
        for s, r in zip(order, text, strict=True):
            fh.write(s + "\t" + "\t".join(r) + "\n")
    pd.DataFrame(sheet, columns=["sample", "batch", "order", "type"]).to_csv(
        pdir / "injections.tsv", sep="\t", index=False
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and generate the requested species."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--outdir", type=Path, default=Path("test-data"), help="output folder (default: test-data)"
    )
    ap.add_argument(
        "--species",
        default="all",
        help="comma-separated subset of: " + ",".join(SPECIES) + " (default: all)",
    )
    ap.add_argument(
        "--panels-only", action="store_true", help="only (re)write the genotype panels and traits"
    )
    ap.add_argument(
        "--trials-only",
        action="store_true",
        help="only (re)write the panels' trial records from their genetic values",
    )
    ap.add_argument(
        "--omics-only",
        action="store_true",
        help="only (re)write the soybean panel's expression and metabolite tables",
    )
    args = ap.parse_args(argv)
    names = list(SPECIES) if args.species == "all" else args.species.split(",")
    unknown = [n for n in names if n not in SPECIES]
    if unknown:
        ap.error(f"unknown species {unknown}; choose from {list(SPECIES)}")
    for name in names:
        t0 = time.perf_counter()
        if args.trials_only:
            write_trials(SPECIES[name], args.outdir / name / "panel")
            continue
        if args.omics_only:
            if name in OMICS_SPECIES:
                write_omics(SPECIES[name], args.outdir / name / "panel")
            continue
        if not args.panels_only:
            make_species(SPECIES[name], args.outdir)
        make_panel(SPECIES[name], args.outdir)
        from make_panel_reference import make_panel_reference  # panel FASTA + GFF3

        make_panel_reference(SPECIES[name], args.outdir)
        if name in OMICS_SPECIES:  # needs the panel's gene models
            write_omics(SPECIES[name], args.outdir / name / "panel")
        print(f"{name}: {time.perf_counter() - t0:.1f} s -> {args.outdir / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
