#!/usr/bin/env python3
"""Write a reference FASTA and gene models for each simulated genotype panel.

The panels in ``test-data/<species>/panel/`` are msprime simulations on their
own coordinates (contigs ``1``..``N`` of 1.5-20 Mb), not on the small read-level
reference, so the GWAS annotation step (candidate genes, ``bcftools csq``
consequences) needs a reference of its own for them. This script writes, next
to each panel's ``genotypes.vcf.gz``:

``reference.fa.gz`` (+ ``.fai``, ``.gzi``)
    BGZF FASTA whose every contig has the length of the panel VCF's ``##contig``
    line and whose base at every panel SNP is the VCF's REF allele. Between
    genes the sequence is one short random block tiled along the contig, so the
    file stays small (BGZF compresses a repeat within each 64 kb block); genes
    carry their own random sequence.
``annotation.gff3``
    Ensembl-style gene models (``gene:``/``transcript:`` ids, ``biotype``, CDS
    phases) that ``bcftools csq`` reads: one gene over every simulated QTL of
    ``qtl.tsv`` (for every other QTL, counted along the genome, the QTL SNP is
    the first base of a codon whose REF and ALT encode different amino acids:
    a planted missense variant) and ``GENES_PER_CONTIG`` genes elsewhere on every contig.
``qtl_genes.tsv``
    Truth for the tests: for every QTL SNP, the gene placed over it and
    whether it was planted as a missense variant.

Every CDS is ATG + sense codons + stop; where a planted REF allele would make
an internal stop codon, another base of that codon (never a SNP) is changed.
The panel VCF and every other panel file are read, never changed, so the
statistics and truth files of the panels stay as they are.

Usage::

    python scripts/make_panel_reference.py [--outdir test-data] [--species soybean,rice,pig]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_test_data import (  # noqa: E402
    SEED,
    SPECIES,
    ContigSpec,
    Gene,
    Reference,
    SpeciesSpec,
    build_stranded_gene,
    decode,
    encode,
    make_markov_model,
    write_annotation,
)

#: Random-stream id of this step (distinct from make_test_data.STEP_SEEDS values).
STEP_SEED = 21
#: Length (bp) of the random block tiled between genes (a multiple of the 60-column lines).
TILE = 120
#: Genes per contig besides the ones over QTL.
GENES_PER_CONTIG = 16
#: Standard genetic code, codons in TCAG order (first base slowest).
_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_TCAG_INDEX = np.array([2, 1, 3, 0])  # code (A=0,C=1,G=2,T=3) -> index in TCAG


def translate(codon: np.ndarray) -> str:
    """Amino acid (one letter, ``*`` = stop) of a codon given as three base codes."""
    i = _TCAG_INDEX[codon]
    return _AA[int(i[0] * 16 + i[1] * 4 + i[2])]


def read_panel(pdir: Path) -> tuple[dict[str, int], pd.DataFrame]:
    """Contig lengths (VCF header order) and the REF/ALT of every panel SNP."""
    lengths: dict[str, int] = {}
    rows = []
    with gzip.open(pdir / "genotypes.vcf.gz", "rt") as fh:
        for line in fh:
            if line.startswith("##contig=<ID="):
                body = line.strip()[len("##contig=<") : -1]
                kv = dict(x.split("=", 1) for x in body.split(","))
                lengths[kv["ID"]] = int(kv["length"])
            elif line.startswith("#"):
                continue
            else:
                f = line.split("\t", 5)
                rows.append((f[0], int(f[1]), f[3], f[4]))
    snps = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])
    return lengths, snps


def _cds_offsets(cds: list[tuple[int, int]], strand: str) -> np.ndarray:
    """Positions (relative to the gene start) of the CDS bases in transcription order."""
    pos = np.concatenate([np.arange(a, b) for a, b in cds])
    return pos if strand == "+" else pos[::-1]


def _placed(gseq, exons, cds, strand, start, contig) -> Gene:
    return Gene(
        "",
        contig,
        strand,
        start,
        start + len(gseq),
        [(start + a, start + b) for a, b in exons],
        [(start + a, start + b) for a, b in cds],
    )


def _free(occupied: list[tuple[int, int]], a: int, b: int, margin: int = 200) -> bool:
    return all(b + margin <= s or a >= e + margin for s, e in occupied)


def simulate_genes(
    spec: SpeciesSpec,
    lengths: dict[str, int],
    snps: pd.DataFrame,
    qtl: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], list[Gene], list[dict]]:
    """Lay genes over the QTL and elsewhere on tiled background; plant the REF alleles."""
    model = make_markov_model(spec.gc, spec.cpg_depletion, rng)
    intron_model = make_markov_model(max(spec.gc - 0.05, 0.2), spec.cpg_depletion, rng)
    tile = model.sample(TILE, rng)
    seqs = {c: np.resize(tile, n).astype(np.uint8) for c, n in lengths.items()}
    genes: list[Gene] = []
    occupied: dict[str, list[tuple[int, int]]] = {c: [] for c in lengths}
    truth: list[dict] = []
    missense: list[tuple[Gene, int]] = []  # gene, 0-based SNP position (codon first base)

    sites = qtl.drop_duplicates("id").sort_values(["chrom_order", "pos"])
    for k, q in enumerate(sites.itertuples(index=False)):
        p0 = int(q.pos) - 1
        plant = k % 2 == 0
        for _attempt in range(50):
            gseq, exons, cds, strand = build_stranded_gene(model, intron_model, rng)
            if plant:
                offs = _cds_offsets(cds, strand)
                codon = int(rng.integers(1, len(offs) // 3 - 1))
                rel = int(offs[3 * codon])
            else:
                rel = int(rng.integers(0, len(gseq)))
            start = p0 - rel
            if start < 0 or start + len(gseq) > lengths[q.chrom]:
                continue
            if not _free(occupied[q.chrom], start, start + len(gseq), margin=0):
                continue
            seqs[q.chrom][start : start + len(gseq)] = gseq
            g = _placed(gseq, exons, cds, strand, start, q.chrom)
            genes.append(g)
            occupied[q.chrom].append((g.start, g.end))
            if plant:
                missense.append((g, p0))
            truth.append(
                {
                    "id": q.id,
                    "chrom": q.chrom,
                    "pos": int(q.pos),
                    "gene": g,
                    "planted": "missense" if plant else "in_gene",
                }
            )
            break
    for c, n in lengths.items():
        for _ in range(GENES_PER_CONTIG):
            gseq, exons, cds, strand = build_stranded_gene(model, intron_model, rng)
            start = int(rng.integers(0, n - len(gseq)))
            if not _free(occupied[c], start, start + len(gseq)):
                continue
            seqs[c][start : start + len(gseq)] = gseq
            genes.append(_placed(gseq, exons, cds, strand, start, c))
            occupied[c].append((start, start + len(gseq)))

    # plant the panel's REF alleles, then repair codons (never at a SNP)
    is_snp = {c: np.zeros(n, dtype=bool) for c, n in lengths.items()}
    alt_at: dict[tuple[str, int], int] = {}
    for c, grp in snps.groupby("chrom", sort=False):
        p = grp["pos"].to_numpy() - 1
        seqs[c][p] = encode("".join(grp["ref"]))
        is_snp[c][p] = True
        alt_at.update(
            zip(
                zip([c] * len(p), p.tolist(), strict=True),
                encode("".join(grp["alt"])).tolist(),
                strict=True,
            )
        )
    planted = {(g.contig, g.start): p0 for g, p0 in missense}
    for g in genes:
        s = seqs[g.contig]
        offs = _cds_offsets([(a - g.start, b - g.start) for a, b in g.cds], g.strand) + g.start
        comp = g.strand == "-"
        for ci in range(1, len(offs) // 3 - 1):
            gpos = offs[3 * ci : 3 * ci + 3]

            def codon(gp=gpos, s=s, comp=comp):
                b = s[gp]
                return 3 - b if comp else b

            p0 = planted.get((g.contig, g.start))
            if p0 is not None and gpos[0] == p0:
                alt = alt_at[(g.contig, p0)]
                free = [x for x in gpos[1:] if not is_snp[g.contig][x]]
                for _ in range(200):
                    for x in free:
                        s[x] = rng.integers(4)
                    alt_codon = codon().copy()
                    alt_codon[0] = 3 - alt if comp else alt
                    ra, aa = translate(codon()), translate(alt_codon)
                    if ra != "*" and aa != "*" and ra != aa:
                        break
                else:
                    raise RuntimeError(f"cannot plant a missense codon at {g.contig}:{p0 + 1}")
                continue
            tries = 0
            while translate(codon()) == "*":
                free = [x for x in gpos if not is_snp[g.contig][x]]
                if not free or tries > 200:
                    raise RuntimeError(f"cannot remove a stop codon at {g.contig}:{gpos[0] + 1}")
                s[free[int(rng.integers(len(free)))]] = rng.integers(4)
                tries += 1
    return seqs, genes, truth


def write_fasta(seqs: dict[str, np.ndarray], fa_gz: Path) -> None:
    """BGZF FASTA with 60-column lines and its .fai/.gzi indexes."""
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "reference.fa"
        with open(plain, "w") as fh:
            for name, seq in seqs.items():
                s = decode(seq)
                fh.write(f">{name}\n")
                fh.write("\n".join(s[i : i + 60] for i in range(0, len(s), 60)) + "\n")
        for suffix in ("", ".fai", ".gzi"):
            Path(str(fa_gz) + suffix).unlink(missing_ok=True)
        pysam.tabix_compress(str(plain), str(fa_gz), force=True)
    pysam.faidx(str(fa_gz))


def make_panel_reference(spec: SpeciesSpec, outdir: Path) -> None:
    """Write ``reference.fa.gz``, ``annotation.gff3`` and ``qtl_genes.tsv`` of one panel."""
    pdir = outdir / spec.name / "panel"
    lengths, snps = read_panel(pdir)
    qtl = pd.read_csv(pdir / "qtl.tsv", sep="\t", dtype={"chrom": str})
    order = {c: i for i, c in enumerate(lengths)}
    qtl["chrom_order"] = qtl["chrom"].map(order)
    rng = np.random.default_rng([SEED, spec.index, STEP_SEED])
    seqs, genes, truth = simulate_genes(spec, lengths, snps, qtl, rng)
    genes.sort(key=lambda g: (order[g.contig], g.start))
    counter: dict[str, int] = {}
    named = []
    for g in genes:
        counter[g.contig] = counter.get(g.contig, 0) + 1
        named.append(
            dataclasses.replace(g, gene_id=_panel_gene_id(spec, g.contig, counter[g.contig]))
        )
    ids = {(g.contig, g.start): n.gene_id for g, n in zip(genes, named, strict=True)}
    write_fasta(seqs, pdir / "reference.fa.gz")
    panel_spec = dataclasses.replace(
        spec, contigs=tuple(ContigSpec(c, n) for c, n in lengths.items())
    )
    write_annotation(panel_spec, Reference(seqs={}, truth={}, genes=named), pdir)
    rows = [
        {
            "id": t["id"],
            "chrom": t["chrom"],
            "pos": t["pos"],
            "gene_id": ids[(t["gene"].contig, t["gene"].start)],
            "planted": t["planted"],
        }
        for t in truth
    ]
    pd.DataFrame(rows).to_csv(pdir / "qtl_genes.tsv", sep="\t", index=False)


def _panel_gene_id(spec: SpeciesSpec, contig: str, k: int) -> str:
    """Gene id in the species' style, marked ``P`` (panel assembly) after the prefix."""
    return f"{spec.gene_prefix}P{int(contig):02d}G{k * 10:05d}"


def main(argv: list[str] | None = None) -> int:
    """Write the panel references of the requested species."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=Path("test-data"))
    ap.add_argument("--species", default="all")
    args = ap.parse_args(argv)
    names = list(SPECIES) if args.species == "all" else args.species.split(",")
    for name in names:
        make_panel_reference(SPECIES[name], args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
