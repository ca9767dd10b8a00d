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

__all__ = ["add_parser", "run_annotate"]


def add_parser(sub) -> None:
    """Add ``annotate`` to the ``gwas`` sub-command parsers."""
    from breedomics.gwas.arguments import subcommand

    help_a = "favourable alleles, group frequencies, candidate genes, consequences of leads"
    p = subcommand(sub, "annotate", help_a, __doc__)
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


def run_annotate(args: argparse.Namespace) -> int:
    """``breedomics gwas annotate``."""
    from breedomics.gwas import annotate as an
    from breedomics.gwas.arguments import comma_list

    traits = comma_list(args.traits) or []
    directions = an.parse_directions(args.direction, traits)
    groups = an.read_groups(args.samples)
    genes = an.read_checked_genes(args.gff3, args.reference, args.geno) if args.gff3 else None
    csq = an.read_consequences(args.consequences) if args.consequences else None
    an.annotate_scan(
        args.dir, args.model, traits, args.geno, groups, directions, genes, csq, args.window
    )
    return 0
