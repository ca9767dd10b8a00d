"""Checks of the simulated data sets under ``test-data/`` (made by scripts/make_test_data.py).

Every number is recomputed from the files themselves (or from an independent
tool, bcftools), never read back from the generator's own summaries: the
sheets must describe the files that exist, the truth VCF must agree with the
reference, the gene models must be valid ORFs in the reference, the reads must
give the promised depth and carry the truth alleles, and the committed reference
and truth must be what the generator makes today.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pysam
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test-data"
SPECIES = ("soybean", "rice", "pig")
EXPECTED_CONTIGS = {
    "soybean": ["Gm01", "Gm02", "Gm03"],
    "rice": ["Chr1", "Chr2"] + [f"scaffold_{i:03d}" for i in range(1, 41)],
    "pig": ["chr1", "chr2", "chrX", "chrY"],
}
TARGET_GC = {"soybean": 0.35, "rice": 0.43, "pig": 0.42}
READ_LEN = 150
CODON_STOPS = {"TAA", "TAG", "TGA"}
COMP = str.maketrans("ACGTN", "TGCAN")


def _load_generator():
    path = ROOT / "scripts" / "make_test_data.py"
    spec = importlib.util.spec_from_file_location("make_test_data", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_test_data"] = module
    spec.loader.exec_module(module)
    return module


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _reference(species: str) -> dict[str, str]:
    with pysam.FastaFile(str(DATA / species / "reference.fa.gz")) as fa:
        return {name: fa.fetch(name).upper() for name in fa.references}


def _truth(species: str) -> list[tuple[str, int, str, str, dict[str, tuple]]]:
    out = []
    with pysam.VariantFile(str(DATA / species / "truth.vcf.gz")) as vf:
        for rec in vf:
            gts = {s: rec.samples[s]["GT"] for s in rec.samples}
            out.append((rec.chrom, rec.pos, rec.ref, rec.alts[0], gts))
    return out


def _revcomp(seq: str) -> str:
    return seq.translate(COMP)[::-1]


def _read_fastq(path: Path) -> tuple[list[bytes], list[bytes], list[bytes]]:
    with gzip.open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    assert lines[-1] == b"", f"{path} does not end with a newline"
    lines = lines[:-1]
    assert len(lines) % 4 == 0, f"{path}: truncated record"
    return lines[0::4], lines[1::4], lines[3::4]


@pytest.fixture(scope="module")
def generator():
    return _load_generator()


def test_total_size_under_40_mb():
    total = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    assert total < 40e6, f"test-data/ is {total / 1e6:.1f} MB"
    assert (DATA / "README.md").is_file()


@pytest.mark.parametrize("species", SPECIES)
def test_files_and_sheets_consistent(species):
    sdir = DATA / species
    for name in (
        "reference.fa.gz",
        "reference.fa.gz.fai",
        "reference.fa.gz.gzi",
        "annotation.gff3",
        "truth.vcf.gz",
        "truth.vcf.gz.tbi",
        "samples.tsv",
        "units.tsv",
        "truth_summary.tsv",
    ):
        assert (sdir / name).is_file(), f"missing {species}/{name}"
    samples = _tsv(sdir / "samples.tsv")
    assert list(samples[0]) == ["sample", "species", "group", "sex", "origin"]
    ids = [r["sample"] for r in samples]
    assert len(ids) == len(set(ids)) == {"soybean": 12, "rice": 10, "pig": 12}[species]
    assert {r["species"] for r in samples} == {species}
    sexes = Counter(r["sex"] for r in samples)
    if species == "pig":
        assert sexes == {"M": 6, "F": 6}
    else:
        assert sexes == {"NA": len(ids)}
    if species == "rice":
        assert len({r["group"] for r in samples}) == 2
    units = _tsv(sdir / "units.tsv")
    assert list(units[0]) == ["sample", "unit", "fq1", "fq2", "platform", "library_type"]
    assert {u["sample"] for u in units} == set(ids)
    assert len({(u["sample"], u["unit"]) for u in units}) == len(units)
    per_sample = Counter(u["sample"] for u in units)
    assert sum(n == 2 for n in per_sample.values()) >= 3
    listed = set()
    for u in units:
        assert u["platform"] == "ILLUMINA" and u["library_type"] == "wgs"
        for key in ("fq1", "fq2"):
            assert not Path(u[key]).is_absolute()
            assert (sdir / u[key]).is_file(), f"{species}: {u[key]} missing"
            listed.add((sdir / u[key]).resolve())
    on_disk = {p.resolve() for p in (sdir / "reads").glob("*.fq.gz")}
    assert on_disk == listed, "reads/ holds files the unit sheet does not list"
    with pysam.VariantFile(str(sdir / "truth.vcf.gz")) as vf:
        assert list(vf.header.samples) == ids


@pytest.mark.parametrize("species", SPECIES)
def test_reference_layout(species):
    sdir = DATA / species
    with gzip.open(sdir / "reference.fa.gz", "rt") as fh:
        lines = fh.read().splitlines()
    names = [ln[1:] for ln in lines if ln.startswith(">")]
    assert names == EXPECTED_CONTIGS[species]
    seq_lines = [ln for ln in lines if not ln.startswith(">")]
    assert max(len(ln) for ln in seq_lines) == 60
    ref = _reference(species)
    body = "".join(ref.values())
    counts = Counter(body)
    gc = (counts["G"] + counts["C"]) / sum(counts[b] for b in "ACGT")
    assert abs(gc - TARGET_GC[species]) < 0.02, gc
    assert set(counts) <= set("ACGTN")
    assert 150_000 < len(body) < 400_000
    runs = [(name, m) for name, s in ref.items() for m in _n_runs(s)]
    assert runs, "no N runs"
    for name, (a, b) in runs:
        assert 100 <= b - a <= 5000 and 0 < a and b < len(ref[name]), (name, a, b)
    if species == "rice":
        small = [len(s) for n, s in ref.items() if n.startswith("scaffold_")]
        assert len(small) == 40 and min(small) >= 1000 and max(small) <= 4000


def _n_runs(seq: str) -> list[tuple[int, int]]:
    arr = np.frombuffer(seq.encode(), dtype=np.uint8) == ord("N")
    edges = np.flatnonzero(np.diff(np.concatenate([[0], arr.astype(int), [0]])))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


@pytest.mark.parametrize("species", SPECIES)
def test_gene_models_are_valid_orfs(species):
    ref = _reference(species)
    cds: dict[str, list[tuple[str, int, int, str, int]]] = {}
    n_genes = 0
    strands = Counter()
    with open(DATA / species / "annotation.gff3") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            assert len(f) == 9
            if f[2] == "gene":
                n_genes += 1
                strands[f[6]] += 1
                assert "biotype=protein_coding" in f[8] and f[8].startswith("ID=gene:")
            if f[2] == "CDS":
                parent = f[8].split("Parent=")[1].split(";")[0]
                cds.setdefault(parent, []).append((f[0], int(f[3]), int(f[4]), f[6], int(f[7])))
    main_len = sum(len(s) for n, s in ref.items() if not n.startswith("scaffold_"))
    assert 0.7 < n_genes / (main_len / 8000) < 1.3
    assert strands["+"] > 0 and strands["-"] > 0
    for tid, parts in cds.items():
        chrom, strand = parts[0][0], parts[0][3]
        parts.sort(key=lambda p: p[1], reverse=strand == "-")
        seq = ""
        for _, a, b, _, phase in parts:
            assert phase == (3 - len(seq) % 3) % 3, f"{tid}: wrong phase"
            piece = ref[chrom][a - 1 : b]
            seq += piece if strand == "+" else _revcomp(piece)
        assert len(seq) % 3 == 0, tid
        codons = [seq[i : i + 3] for i in range(0, len(seq), 3)]
        assert codons[0] == "ATG" and codons[-1] in CODON_STOPS, tid
        assert not CODON_STOPS & set(codons[:-1]), f"{tid}: internal stop"


@pytest.mark.parametrize("species", SPECIES)
def test_truth_vcf_matches_reference(species):
    ref = _reference(species)
    truth = _truth(species)
    with pysam.VariantFile(str(DATA / species / "truth.vcf.gz")) as vf:
        header_len = {c: vf.header.contigs[c].length for c in vf.header.contigs}
    assert header_len == {n: len(s) for n, s in ref.items()}
    order = {n: i for i, n in enumerate(ref)}
    keys = [(order[c], p) for c, p, *_ in truth]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    total = sum(len(s) for s in ref.values())
    assert 150 <= total / len(truth) <= 300, f"one variant per {total / len(truth):.0f} bp"
    n_indel = sum(len(r) != len(a) for _, _, r, a, _ in truth)
    assert 0.08 < n_indel / len(truth) < 0.16
    last: dict[str, int] = {}
    for chrom, pos, r, a, _ in truth:
        seq = ref[chrom]
        assert seq[pos - 1 : pos - 1 + len(r)] == r, (chrom, pos, r)
        assert "N" not in seq[max(0, pos - 51) : pos - 1 + len(r) + 50]
        if len(r) != len(a):
            assert r[0] == a[0] and min(len(r), len(a)) == 1 and abs(len(r) - len(a)) <= 10
        assert pos - last.get(chrom, -100) >= 10
        last[chrom] = pos + len(r) - 1


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
@pytest.mark.parametrize("species", SPECIES)
def test_truth_vcf_is_normalised_by_bcftools(species, tmp_path):
    sdir = DATA / species
    out = subprocess.run(
        [
            "bcftools",
            "norm",
            "-f",
            str(sdir / "reference.fa.gz"),
            "-c",
            "e",
            "-Ov",
            "-o",
            str(tmp_path / "norm.vcf"),
            str(sdir / "truth.vcf.gz"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # the line reads "Lines   total/split/realigned/skipped:  N/0/0/0": nothing moved
    stats = out.stderr.strip().split()[-1].split("/")
    assert stats[1:] == ["0", "0", "0"], out.stderr


@pytest.mark.parametrize("species", SPECIES)
def test_truth_genotype_semantics_and_summary(species):
    samples = {r["sample"]: r for r in _tsv(DATA / species / "samples.tsv")}
    truth = _truth(species)
    counts = {s: Counter() for s in samples}
    for chrom, _, r, a, gts in truth:
        kind = "snps" if len(r) == len(a) == 1 else "indels"
        for s, gt in gts.items():
            if species != "pig":
                assert len(gt) == 2 and gt[0] == gt[1], (chrom, s, gt)
            else:
                sex = samples[s]["sex"]
                expected = {"chrX": 1 if sex == "M" else 2, "chrY": 1 if sex == "M" else 0}
                if chrom == "chrY" and sex == "F":
                    assert gt == (None,), (chrom, s, gt)
                    continue
                assert len(gt) == expected.get(chrom, 2), (chrom, s, gt)
            if any(gt):
                counts[s][kind] += 1
                if len(set(gt)) > 1:
                    counts[s]["het_" + kind] += 1
    summary = _tsv(DATA / species / "truth_summary.tsv")
    assert [r["sample"] for r in summary] == list(samples)
    for row in summary:
        for key in ("snps", "indels", "het_snps", "het_indels"):
            assert int(row[key]) == counts[row["sample"]][key], (row["sample"], key)
    if species == "pig":
        assert all(counts[s]["het_snps"] > 20 for s in samples)


def _copies(species: str, sex: str, contig: str) -> int:
    if species == "pig" and contig == "chrX":
        return 1 if sex == "M" else 2
    if species == "pig" and contig == "chrY":
        return 1 if sex == "M" else 0
    return 2


@pytest.mark.parametrize("species", SPECIES)
def test_reads_give_15x(species):
    sdir = DATA / species
    samples = {r["sample"]: r for r in _tsv(sdir / "samples.tsv")}
    ref_len = {n: len(s) for n, s in _reference(species).items()}
    pairs = Counter()
    for u in _tsv(sdir / "units.tsv"):
        prefix = f"{u['sample']}_{u['unit']}_".encode()
        with gzip.open(sdir / u["fq1"], "rb") as f1, gzip.open(sdir / u["fq2"], "rb") as f2:
            t1, t2 = f1.read(), f2.read()
        n1, n2 = t1.count(b"\n") // 4, t2.count(b"\n") // 4
        assert n1 == n2 > 0, u
        first = t1.split(b"\n", 4)
        assert first[0] == b"@" + prefix + b"1/1" and len(first[1]) == READ_LEN
        assert first[3].strip(b"#-8F") == b"" and len(first[3]) == READ_LEN
        assert t2.split(b"\n", 1)[0] == b"@" + prefix + b"1/2"
        pairs[u["sample"]] += n1
    for s, row in samples.items():
        # each haploid copy present gets 7.5x, so "15x" means 2 * bases / copy-length
        copy_len = sum(ref_len[c] * _copies(species, row["sex"], c) for c in ref_len)
        depth = 2 * pairs[s] * 2 * READ_LEN / copy_len
        assert 14.0 < depth < 16.0, (s, depth)


def _kmer_codes(seqs: np.ndarray, k: int) -> np.ndarray:
    """All k-mers (k <= 31) of equal-length reads as 2-bit packed integers."""
    width = seqs.shape[1] - k + 1
    codes = np.zeros((seqs.shape[0], width), dtype=np.uint64)
    for j in range(k):
        codes = (codes << np.uint64(2)) | seqs[:, j : j + width].astype(np.uint64)
    return codes.ravel()


def _pack(seq: str) -> int:
    v = 0
    for ch in seq:
        v = (v << 2) | "ACGT".index(ch)
    return v


@pytest.mark.parametrize(
    "species,sample",
    [("soybean", "SOY002"), ("rice", "RICE06"), ("pig", "MIN01"), ("pig", "MIN04")],
)
def test_reads_carry_truth_alleles(species, sample):
    """Count reads holding the REF or ALT 21-mer centred on each truth SNP of one sample.

    Independent of any aligner: hom-ALT sites must show almost only ALT k-mers,
    REF sites almost none, and heterozygous sites a balanced mixture.
    """
    k, half = 21, 10
    sdir = DATA / species
    ref = _reference(species)
    lut = np.full(256, 255, dtype=np.uint8)
    for i, b in enumerate(b"ACGT"):
        lut[b] = i
    seqs = []
    for u in _tsv(sdir / "units.tsv"):
        if u["sample"] != sample:
            continue
        for key in ("fq1", "fq2"):
            _, s, _ = _read_fastq(sdir / u[key])
            seqs.append(lut[np.frombuffer(b"".join(s), dtype=np.uint8)].reshape(-1, READ_LEN))
    reads = np.concatenate(seqs)
    reads = reads[(reads != 255).all(axis=1)]
    kmers = np.concatenate([_kmer_codes(reads, k), _kmer_codes(3 - reads[:, ::-1], k)])
    kmers.sort()

    def count(seq: str) -> int:
        v = np.uint64(_pack(seq))
        return int(np.searchsorted(kmers, v, "right") - np.searchsorted(kmers, v, "left"))

    by_class: dict[str, list[float]] = {"ref": [], "alt": [], "het": []}
    for chrom, pos, r, a, gts in _truth(species):
        gt = gts[sample]
        if len(r) != 1 or len(a) != 1 or gt == (None,):
            continue
        ctx = ref[chrom][pos - 1 - half : pos + half]
        if len(ctx) != k or "N" in ctx:
            continue
        n_ref = count(ctx)
        n_alt = count(ctx[:half] + a + ctx[half + 1 :])
        cls = "het" if len(set(gt)) > 1 else ("alt" if gt[0] else "ref")
        by_class[cls].append(n_alt / max(n_ref + n_alt, 1))
    alt, refc = np.array(by_class["alt"]), np.array(by_class["ref"])
    assert len(alt) > 50 and np.mean(alt > 0.9) > 0.97
    assert np.mean(refc > 0.2) < 0.01
    if species == "pig":
        het = np.array(by_class["het"])
        assert len(het) > 20 and 0.4 < het.mean() < 0.6
        assert np.mean(het == 0.0) < 0.05  # 5x of one allele at 7.5x/copy is rare


@pytest.mark.parametrize("species", SPECIES)
def test_committed_reference_and_truth_match_generator(species, generator, tmp_path):
    """Regenerate reference, annotation and truth (not reads: slow) and compare bytes."""
    spec = generator.SPECIES[species]
    ref = generator.simulate_reference(spec)
    generator.write_reference(spec, ref, tmp_path)
    generator.write_annotation(spec, ref, tmp_path)
    variants = generator.simulate_variants(spec, ref)
    generator.write_truth_vcf(spec, variants, tmp_path)
    for name in ("reference.fa.gz", "annotation.gff3", "truth.vcf.gz", "truth.vcf.gz.tbi"):
        assert (tmp_path / name).read_bytes() == (DATA / species / name).read_bytes(), name


def test_committed_pig_weighings_match_generator(generator, tmp_path):
    """test-data/pig/weights.tsv and its truth are what the generator writes (own stream)."""
    generator.write_weighings(generator.SPECIES["pig"], tmp_path)
    for name in ("weights.tsv", "weights.truth.tsv"):
        assert (tmp_path / name).read_bytes() == (DATA / "pig" / name).read_bytes(), name


def test_committed_soybean_panel_matches_generator(generator, tmp_path, monkeypatch):
    """Regenerate the soybean panel (genotypes from the landrace simulator, traits, trials,
    panel reference, expression and metabolites) and compare every file's bytes: the
    simulators of :mod:`breedomics.testing` must keep their random streams."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from make_panel_reference import make_panel_reference

    spec = generator.SPECIES["soybean"]
    generator.make_panel(spec, tmp_path)
    make_panel_reference(spec, tmp_path)
    generator.write_omics(spec, tmp_path / "soybean" / "panel")
    made = sorted(p.name for p in (tmp_path / "soybean" / "panel").iterdir())
    assert made == sorted(p.name for p in (DATA / "soybean" / "panel").iterdir())
    for name in made:
        got = (tmp_path / "soybean" / "panel" / name).read_bytes()
        assert got == (DATA / "soybean" / "panel" / name).read_bytes(), name


def test_dwgsim_truth_matches_generator_and_reference(tmp_path):
    """test-data/dwgsim (the second simulator's truth set) is what its script makes, and its
    truth agrees with the reference (REF alleles) and has 1-15 bp indels and both groups."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/make_dwgsim_truth.py"), "--outdir", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("reference.fa.gz", "truth.vcf.gz", "repeats.bed", "samples.tsv"):
        assert (tmp_path / name).read_bytes() == (DATA / "dwgsim" / name).read_bytes(), name
    with pysam.FastaFile(str(DATA / "dwgsim" / "reference.fa.gz")) as fa:
        seqs = {n: fa.fetch(n).upper() for n in fa.references}
    lengths, het = Counter(), Counter()
    with pysam.VariantFile(str(DATA / "dwgsim" / "truth.vcf.gz")) as vf:
        for rec in vf:
            assert seqs[rec.chrom][rec.pos - 1 : rec.pos - 1 + len(rec.ref)] == rec.ref
            lengths[abs(len(rec.ref) - len(rec.alts[0]))] += 1
            for s in rec.samples:
                het[s] += len(set(rec.samples[s]["GT"])) > 1
    assert max(lengths) == 15 and lengths[0] > 5 * sum(v for k, v in lengths.items() if k)
    assert all(het[f"IL{i}"] == 0 for i in range(1, 5))  # inbred lines: homozygous
    assert all(het[f"OB{i}"] > 1000 for i in range(1, 5))
