"""Genotype files as labs send them: the messy-input test set (``test-data/soybean/messy/``).

Derived from the simulated soybean panel (``test-data/soybean/panel/``): 60 accessions
(15 of each of the groups G1-G4) and every 4th SNP of chromosomes 1, 2 and 10, written
back with the quirks of real SNP-array and GWAS-tool files planted in them:

* chromosome names that differ from the reference's (``chr01``, ``Chr2``, ``10``) and
  two spellings of one chromosome in the same file (``chr01`` and ``Chr1``);
* variants out of order (chromosome 10 before 2, a shuffled block on chromosome 1);
* unplaced markers: chromosome ``0`` at position 0, and position 0 on chromosome 1;
* duplicate positions: exact copies (other id), a copy with REF/ALT swapped and the
  genotypes mirrored (a PLINK A1/A2 swap), and conflicting records (other genotypes);
* missing ids (``.``) and an id used twice;
* a multi-allelic site and an indel (VCF only: PLINK 1 cannot hold them).

Written: ``genotypes.vcf.gz`` (bgzipped, unsorted, so not indexed), ``genotypes.bed/bim/fam``
(the biallelic SNP records, in the same order), ``samples.tsv``, ``phenotypes.tsv`` and
``quirks.tsv`` (every planted quirk: ``chrom, pos, id, quirk, expected``, the action the
normaliser must take). Deterministic (fixed seed, BGZF without time stamps).

    .venv/bin/python scripts/make_messy_test_data.py [--outdir test-data]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240917
CHROMS = {"1": "chr01", "2": "Chr2", "10": "10"}  # panel name -> name in the messy files
EVERY = 4
PER_GROUP = 15


def _read_panel(panel: Path) -> tuple[list[str], list[list[str]]]:
    header: list[str] = []
    rows = []
    with gzip.open(panel / "genotypes.vcf.gz", "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                continue
            f = line.rstrip("\n").split("\t")
            if line.startswith("#"):
                header = f
                continue
            rows.append(f)
    return header, rows


def _mirror(gts: list[str]) -> list[str]:
    swap = {"0": "1", "1": "0"}
    return ["/".join(swap.get(a, a) for a in g.split("/")) for g in gts]


def make_messy(outdir: Path) -> Path:
    """Write the messy set under ``outdir/soybean/messy`` from ``outdir/soybean/panel``."""
    panel = outdir / "soybean" / "panel"
    out = outdir / "soybean" / "messy"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    sheet = pd.read_csv(panel / "samples.tsv", sep="\t", dtype=str)
    keep = [s for g in ("G1", "G2", "G3", "G4")
            for s in sheet.loc[sheet["group"] == g, "sample"].head(PER_GROUP)]  # fmt: skip
    header, rows = _read_panel(panel)
    col = [header.index(s) for s in keep]
    recs = []  # [chrom, pos, id, ref, alt, gts]
    for chrom in CHROMS:
        sel = [r for r in rows if r[0] == chrom][::EVERY]
        for r in sel:
            recs.append([chrom, int(r[1]), r[2], r[3], r[4], [r[c] for c in col]])
    by_chrom = {c: [r for r in recs if r[0] == c] for c in CHROMS}
    quirks = []

    def note(rec, quirk, expected):
        quirks.append((rec, quirk, expected))  # the record as finally written

    c1, c2, c10 = by_chrom["1"], by_chrom["2"], by_chrom["10"]
    extra = []
    # exact duplicates with another id (array probes of one SNP)
    for k in (10, 40):
        r = c1[k]
        d = [r[0], r[1], f"{r[2]}_probe2", r[3], r[4], list(r[5])]
        extra.append((k + 1, d, "1"))
        note(d, "duplicate position, same alleles and genotypes", "removed")
    # REF/ALT swapped, genotypes mirrored: the same SNP
    r = c2[20]
    d = [r[0], r[1], f"{r[2]}_swapped", r[4], r[3], _mirror(r[5])]
    extra.append((21, d, "2"))
    note(d, "duplicate position, alleles swapped, same genotypes", "removed")
    # conflicting duplicates: another SNP's genotypes at this position, more missing
    for k, src in ((60, 61), (70, 90)):
        r = c1[k]
        gts = list(c1[src][5])
        for i in rng.choice(len(gts), 12, replace=False):
            gts[i] = "./."
        d = [r[0], r[1], f"{r[2]}_conflict", r[3], r[4], gts]
        extra.append((k + 1, d, "1"))
        note(d, "duplicate position, other genotypes, lower call rate", "removed")
        note(r, "duplicate position, other genotypes, higher call rate", "kept (best)")
    for pos, d, chrom in sorted(extra, key=lambda x: -x[0]):
        by_chrom[chrom].insert(pos, d)
    c1 = by_chrom["1"]
    # missing ids and an id used twice
    for k in (5, 100, 200):
        c1[k][2] = "."
        note(c1[k], "missing id", "id CHROM:POS:REF:ALT")
    c2[50][2] = c2[49][2]
    note(c2[50], "duplicate id", "id made unique")
    # unplaced markers: chromosome 0 at position 0, and position 0 on chromosome 1
    unplaced = []
    for k in range(4):
        src = c2[5 + 30 * k]
        d = ["0", 0, f"unplaced_{k + 1}", src[3], src[4], list(src[5])]
        unplaced.append(d)
        note(d, "unplaced chromosome, position 0", "set aside")
    for k in range(2):
        src = c10[7 + 40 * k]
        d = ["1", 0, f"pos0_{k + 1}", src[3], src[4], list(src[5])]
        unplaced.append(d)
        note(d, "position 0", "set aside")
    # a multi-allelic site and an indel (VCF only)
    vcf_only = []
    r = c10[100]
    gts = list(r[5])
    for i in rng.choice(len(gts), 5, replace=False):
        gts[i] = "2/2"
    alt2 = next(b for b in "ACGT" if b not in (r[3], r[4]))
    d = [r[0], r[1] + 1, "multi_1", r[3], f"{r[4]},{alt2}", gts]
    vcf_only.append(d)
    note(d, "multi-allelic site", "removed")
    d = [r[0], r[1] + 2, "indel_1", r[3], r[3] + "T", list(c10[101][5])]
    vcf_only.append(d)
    note(d, "indel", "removed")
    # order: chromosome 1, then 10, then 2; a shuffled block on 1; unplaced in between
    block = c1[150:180]
    c1[150:180] = [block[i] for i in rng.permutation(len(block))]
    c10 = c10 + vcf_only
    ordered = c1[:120] + unplaced[:3] + c1[120:] + c10 + unplaced[3:] + c2
    # names: the reference says 1, 2, 10; some of chromosome 1 is spelled Chr1
    for k, r in enumerate(ordered):
        if r[0] in CHROMS:
            r[0] = CHROMS[r[0]]
            if r[0] == "chr01" and k % 17 == 3 and r[1] > 0:
                r[0] = "Chr1"
    _write_vcf(out / "genotypes.vcf.gz", keep, ordered)
    plink = [r for r in ordered if r not in vcf_only]
    _write_plink(out / "genotypes", keep, plink)
    sheet[sheet["sample"].isin(keep)].to_csv(out / "samples.tsv", sep="\t", index=False)
    ph = pd.read_csv(panel / "phenotypes.tsv", sep="\t", dtype=str)
    ph[ph["sample"].isin(keep)].to_csv(out / "phenotypes.tsv", sep="\t", index=False)
    table = [(r[0], r[1], r[2], q, e) for r, q, e in quirks]
    pd.DataFrame(table, columns=["chrom", "pos", "id", "quirk", "expected"]).to_csv(
        out / "quirks.tsv", sep="\t", index=False
    )
    return out


def _write_vcf(path: Path, samples: list[str], recs: list[list]) -> None:
    import pysam

    lines = [
        "##fileformat=VCFv4.2\n",
        "##source=make_messy_test_data.py (unsorted on purpose)\n",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n",
    ]
    for c, p, i, ref, alt, gts in recs:
        lines.append(f"{c}\t{p}\t{i}\t{ref}\t{alt}\t.\tPASS\t.\tGT\t" + "\t".join(gts) + "\n")
    with pysam.BGZFile(str(path), "wb") as fh:
        fh.write("".join(lines).encode())


def _write_plink(prefix: Path, samples: list[str], recs: list[list]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from breedomics.core.genotypes import write_bed

    table = pd.DataFrame([r[:5] for r in recs], columns=["chrom", "pos", "id", "ref", "alt"])
    code = {"0/0": 0.0, "0/1": 1.0, "1/0": 1.0, "1/1": 2.0}
    dos = np.array([[code.get(g, np.nan) for g in r[5]] for r in recs], dtype=np.float32).T
    write_bed(prefix, table, [dos], samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=Path("test-data"))
    args = ap.parse_args(argv)
    print(f"wrote {make_messy(args.outdir)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
