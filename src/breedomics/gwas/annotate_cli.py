"""``breedomics gwas annotate``: favourable alleles, candidate genes and consequences of leads.

Example::

    breedomics gwas annotate --dir results/gwas/mlm --model mlm --traits yield,height \\
        --geno results/genotypes/genotypes --samples panel/samples.tsv \\
        --reference panel/reference.fa.gz --gff3 panel/annotation.gff3 \\
        --consequences results/gwas/consequences.tsv.gz --direction height=decrease

Reads ``<dir>/<trait>.<model>.leads.tsv`` and writes ``<dir>/<trait>.<model>.candidates.tsv``
(see :func:`breedomics.gwas.annotate.annotate_leads` for the columns).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.errors import UserError

__all__ = ["add_parser", "run_annotate"]

DIRECTIONS = ("increase", "decrease")


def add_parser(sub) -> None:
    """Add ``annotate`` to the ``gwas`` sub-command parsers."""
    p = sub.add_parser(
        "annotate",
        help="favourable alleles, group frequencies, candidate genes, consequences of leads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dir", required=True, help="folder with <trait>.<model>.leads.tsv")
    p.add_argument("--model", required=True)
    p.add_argument("--traits", required=True, help="comma-separated traits")
    p.add_argument("--geno", required=True, help="genotypes of the GWAS (PLINK prefix or VCF)")
    p.add_argument("--samples", required=True, help="sample sheet with a 'group' column")
    p.add_argument("--gff3", help="gene models on the genotypes' coordinates")
    p.add_argument("--reference", help="FASTA the genotypes and GFF3 refer to (.fai used)")
    p.add_argument("--consequences", help="bcftools csq query table (CHROM POS REF ALT BCSQ)")
    p.add_argument(
        "--direction",
        action="append",
        default=[],
        metavar="TRAIT=increase|decrease",
        help="direction of selection (default increase); repeat per trait",
    )
    p.add_argument("--window", type=int, default=20000, help="minimum half-width (bp) (20000)")


def parse_directions(items: list[str], traits: list[str]) -> dict[str, str]:
    """``trait=direction`` pairs -> dict over ``traits`` (default ``increase``)."""
    out = dict.fromkeys(traits, "increase")
    for item in items:
        trait, sep, d = item.partition("=")
        if not sep or d not in DIRECTIONS:
            raise UserError(f"--direction {item!r}: expected TRAIT=increase or TRAIT=decrease")
        if trait not in out:
            raise UserError(
                f"direction given for trait {trait!r}, which is not analysed "
                f"(traits: {', '.join(traits)}); fix the name in 'directions' of the config."
            )
        out[trait] = d
    return out


def _lead_dosages(geno: str, ids: list[str]) -> tuple[list[str], np.ndarray]:
    """ALT dosages ``(n_samples, len(ids))`` of the given variant ids, all samples."""
    from breedomics.core import genotypes as gt

    samples = gt.read_samples(geno)
    want = {v: k for k, v in enumerate(dict.fromkeys(ids))}
    out = np.full((len(samples), len(want)), np.nan, dtype=np.float32)
    found = np.zeros(len(want), dtype=bool)
    if want:
        for var, dos in gt.iter_dosage_chunks(geno, chunk_size=20000):
            hit = var["id"].isin(want).to_numpy()
            if hit.any():
                cols = [want[v] for v in var["id"].to_numpy()[hit]]
                out[:, cols] = dos[:, hit]
                found[cols] = True
    if not found.all():
        miss = [v for v, k in want.items() if not found[k]]
        raise UserError(f"lead variant(s) {', '.join(miss[:5])} are not in genotypes '{geno}'.")
    return samples, out


def run_annotate(args: argparse.Namespace) -> int:
    """``breedomics gwas annotate``."""
    from breedomics.core import genotypes as gt
    from breedomics.gwas.annotate import (
        allele_frequencies,
        annotate_leads,
        check_annotation,
        read_consequences,
        read_gff3_genes,
    )
    from breedomics.sheets import fasta_contigs

    traits = [t.strip() for t in args.traits.split(",") if t.strip()]
    directions = parse_directions(args.direction, traits)
    if args.window < 0:
        raise UserError(f"--window must be >= 0, got {args.window}")
    sheet = tables.read_table(args.samples, "Sample sheet")
    if "group" not in sheet.columns:
        raise UserError(f"Sample sheet '{args.samples}' has no 'group' column.")
    groups = dict(zip(sheet["sample"], sheet["group"], strict=True))
    genes = None
    if args.gff3:
        genes = read_gff3_genes(args.gff3)
        if args.reference:
            check_annotation(
                args.gff3,
                genes["chrom"],
                args.reference,
                fasta_contigs(args.reference),
                args.geno,
                gt.read_variants(args.geno)["chrom"].astype(str),
            )
    csq = read_consequences(args.consequences) if args.consequences else None
    leads = {}
    for t in traits:
        path = os.path.join(args.dir, f"{t}.{args.model}.leads.tsv")
        if not os.path.exists(path):
            raise UserError(f"lead table '{path}' does not exist: run the GWAS of {t!r} first.")
        leads[t] = pd.read_csv(path, sep="\t", dtype={"chromosome": str})
    ids = [v for tab in leads.values() for v in tab["lead_variant"].astype(str)]
    samples, dos = _lead_dosages(args.geno, ids)
    col = {v: k for k, v in enumerate(dict.fromkeys(ids))}
    for t, tab in leads.items():
        sel = [col[v] for v in tab["lead_variant"].astype(str)]
        freqs = allele_frequencies(dos[:, sel], samples, groups)
        # dosages count the ALT allele (last field of CHROM:POS:REF:ALT ids)
        alt = tab["lead_variant"].astype(str).str.rsplit(":", n=1).str[-1].to_numpy()
        flip = tab["effect_allele"].astype(str).to_numpy() != alt
        freqs.loc[flip, :] = 1.0 - freqs.loc[flip, :].to_numpy()
        out = annotate_leads(tab, t, args.model, directions[t], freqs, genes, csq, args.window)
        dest = os.path.join(args.dir, f"{t}.{args.model}.candidates.tsv")
        out.to_csv(dest + ".tmp", sep="\t", index=False, na_rep="NA", float_format="%.6g")
        os.replace(dest + ".tmp", dest)
    return 0
