"""The genotype panels' own reference and gene models (scripts/make_panel_reference.py).

The FASTA must agree with the panel VCF (contig lengths, REF allele at every SNP), every
CDS must be a readable ORF (length a multiple of 3, correct phases, no internal stop),
every QTL gene of ``qtl_genes.tsv`` must contain its QTL, and the committed files must be
what the script writes.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import sys
from pathlib import Path

import pysam
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test-data"
SPECIES = ["soybean", "rice", "pig"]
STOPS = {"TAA", "TAG", "TGA"}
_COMP = str.maketrans("ACGT", "TGCA")


def _panel_vcf(species):
    lengths, snps = {}, []
    with gzip.open(DATA / species / "panel" / "genotypes.vcf.gz", "rt") as fh:
        for line in fh:
            if line.startswith("##contig=<ID="):
                kv = dict(x.split("=") for x in line.strip()[10:-1].split(","))
                lengths[kv["ID"]] = int(kv["length"])
            elif not line.startswith("#"):
                f = line.split("\t", 5)
                snps.append((f[0], int(f[1]), f[3]))
    return lengths, snps


@pytest.mark.parametrize("species", SPECIES)
def test_fasta_matches_panel_vcf(species):
    lengths, snps = _panel_vcf(species)
    with pysam.FastaFile(str(DATA / species / "panel" / "reference.fa.gz")) as fa:
        assert dict(zip(fa.references, fa.lengths, strict=True)) == lengths
        seqs = {c: fa.fetch(c) for c in fa.references}
    bad = [(c, p, r) for c, p, r in snps if seqs[c][p - 1] != r]
    assert not bad, bad[:5]


@pytest.mark.parametrize("species", SPECIES)
def test_gene_models_are_orfs_and_cover_qtl(species):
    pdir = DATA / species / "panel"
    with pysam.FastaFile(str(pdir / "reference.fa.gz")) as fa:
        seqs = {c: fa.fetch(c) for c in fa.references}
    cds, genes = {}, {}
    for line in (pdir / "annotation.gff3").read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if f[2] == "gene":
            genes[f[8].split(";")[0].removeprefix("ID=gene:")] = (f[0], int(f[3]), int(f[4]))
        if f[2] == "CDS":
            parent = f[8].split("Parent=")[1].split(";")[0]
            cds.setdefault(parent, []).append((f[0], int(f[3]), int(f[4]), f[6], int(f[7])))
    assert len(cds) == len(genes) > 150
    for tid, parts in cds.items():
        chrom, strand = parts[0][0], parts[0][3]
        parts.sort(key=lambda p: p[1], reverse=strand == "-")
        seq = ""
        for _, a, b, _, phase in parts:
            assert phase == (3 - len(seq) % 3) % 3, tid
            piece = seqs[chrom][a - 1 : b]
            seq += piece if strand == "+" else piece.translate(_COMP)[::-1]
        assert len(seq) % 3 == 0, tid
        codons = [seq[i : i + 3] for i in range(3, len(seq) - 3, 3)]
        assert not STOPS & set(codons), f"{tid}: internal stop"
    qg = (pdir / "qtl_genes.tsv").read_text().splitlines()[1:]
    qtl = (pdir / "qtl.tsv").read_text().splitlines()[1:]
    assert len(qg) >= 0.9 * len({line.split("\t")[3] for line in qtl})
    for line in qg:
        _id, chrom, pos, gene, planted = line.split("\t")
        c, s, e = genes[gene]
        assert c == chrom and s <= int(pos) <= e
        assert planted in {"missense", "in_gene"}


@pytest.mark.parametrize("species", SPECIES)
def test_committed_panel_reference_matches_script(species, tmp_path):
    path = ROOT / "scripts" / "make_panel_reference.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("make_panel_reference", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    src, dst = DATA / species / "panel", tmp_path / species / "panel"
    dst.mkdir(parents=True)
    for name in ("genotypes.vcf.gz", "qtl.tsv"):
        shutil.copy(src / name, dst / name)
    module.make_panel_reference(module.SPECIES[species], tmp_path)
    for name in ("reference.fa.gz", "reference.fa.gz.fai", "annotation.gff3", "qtl_genes.tsv"):
        assert (dst / name).read_bytes() == (src / name).read_bytes(), name
