"""``breedomics omics link``: GWAS leads of field traits -> the features that act through them.

For every GWAS lead of the traits, the omics features whose QTL lead is the GWAS lead
or in LD with it (``r^2 >= --r2`` over the panel's dosages) and whose level predicts
the trait (Pearson correlation across the samples with both, ``p <= --max-p``), with
the mediation of the lead's effect by the feature (:mod:`breedomics.omics.link`).

A dataset is ``NAME`` or ``NAME:MODE``: its folder ``<omics-dir>/NAME`` holds
``phenotypes.tsv`` (the feature levels), ``features.tsv`` and the summary's
``qtl_features.tsv``, ``cis.tsv``, ``trans.tsv``; ``MODE`` is the ``omics map`` mode
whose ``mapping/`` outputs are read too (cis, cis_independent, trans, cis_nominal;
none or absent: only the summary).

Output: one TSV (``--out``), a header always, one row per trait, GWAS lead, dataset and
linked feature (columns in ``docs/omics-mapping.md``).

Example::

    breedomics omics link --gwas-dir results/gwas/mlm --model mlm --traits yield,height \\
        --pheno test-data/soybean/panel/phenotypes.tsv --geno results/genotypes/genotypes \\
        --omics-dir results/omics --datasets expression:cis,metabolites:trans \\
        --r2 0.8 --max-p 0.05 --out results/omics/links.tsv
"""

from __future__ import annotations

import argparse
import os
import sys
import time

__all__ = ["add_link_parser", "run_link"]


def _log(msg: str) -> None:
    print(f"[omics link {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_link_parser(sub) -> argparse.ArgumentParser:
    """Add the ``link`` sub-command to the ``omics`` sub-parsers ``sub``."""
    from breedomics.gwas.arguments import add_number, subcommand

    help = "GWAS loci -> colocalised omics features that predict the trait"
    p = subcommand(sub, "link", help, __doc__)
    p.add_argument("--gwas-dir", required=True, help="--out folder of `gwas run` (leads)")
    p.add_argument("--model", required=True, help="the GWAS model (file names)")
    p.add_argument("--traits", required=True, help="comma-separated traits")
    p.add_argument("--pheno", required=True, help="the GWAS phenotype table (sample, traits)")
    p.add_argument("--geno", required=True, help="genotypes (PLINK prefix or VCF): LD r2")
    p.add_argument("--omics-dir", required=True, help="folder of the datasets (results/omics)")
    p.add_argument(
        "--datasets", required=True, help="comma-separated NAME or NAME:MODE (omics map mode)"
    )
    add_number(p, "--r2", 0.8, "smallest LD r2 of the feature's QTL lead with the GWAS lead")
    add_number(p, "--max-p", 0.05, "largest feature-trait correlation p-value")
    add_number(p, "--fdr", 0.05, "q-value threshold of the mapping's cis leads")
    p.add_argument(
        "--max-pair-p",
        type=float,
        help="largest p of a trans / cis_nominal pair (default 0.05 / number of variants)",
    )
    add_number(p, "--window", 1_000_000, "bp: one pair lead per feature and window")
    p.add_argument("--out", required=True, help="links TSV")
    return p


def run_link(args: argparse.Namespace) -> int:
    """``breedomics omics link``."""
    import pandas as pd

    from breedomics.errors import UserError
    from breedomics.gwas.arguments import comma_list, options_from
    from breedomics.gwas.phenotypes import read_phenotypes
    from breedomics.omics import link
    from breedomics.omics.kernel import read_layer

    traits = comma_list(args.traits) or []
    opts = options_from(link.LinkOptions, args)
    leads = link.read_gwas_leads(args.gwas_dir, args.model, traits)
    pheno = read_phenotypes(args.pheno, traits)
    qtl, levels = [], {}
    for item in comma_list(args.datasets) or []:
        name, _sep, mode = item.partition(":")
        d = os.path.join(args.omics_dir, name)
        if not os.path.isdir(d):
            raise UserError(f"{d}: no such dataset folder")
        levels[name] = read_layer(os.path.join(d, "phenotypes.tsv"))
        found = [link.read_summary_qtl(d, name)]
        if mode and mode != "none":
            fpath = os.path.join(d, "features.tsv")
            feats = None
            if os.path.exists(fpath):
                feats = pd.read_csv(fpath, sep="\t", dtype={"feature_id": str, "chrom": str})
            found.append(link.read_mapping_qtl(d, name, mode, args.geno, opts, feats))
        _log(f"{name}: {sum(len(q) for q in found)} QTL leads ({levels[name].shape[1]} features)")
        qtl += found
    qtl = [q for q in qtl if len(q)]
    table = pd.concat(qtl, ignore_index=True) if qtl else pd.DataFrame(columns=link.QTL_COLUMNS)
    links = link.link_loci(leads, table, pheno, levels, args.geno, opts, _log)
    link.write_links(links, args.out)
    _log(f"{len(links)} links -> {args.out}")
    return 0
