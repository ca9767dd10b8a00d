"""``breedomics omics map``: cis / cis_nominal / trans / cis_independent QTL mapping at scale.

The tensorQTL/FastQTL modes (:mod:`breedomics.omics.cismap`) on a feature table and
the genotypes, covariates regressed out of both, features in batches and genotypes
streamed once per chromosome:

``cis``
    ``cis.tsv``: one lead per feature with its cis window's variant count, nominal
    p-value, slope, empirical (``pval_perm``) and beta-approximated (``pval_beta``)
    permutation p-values, Storey ``qval`` across features and the feature's nominal
    p-value threshold at ``--fdr``.
``cis_nominal``
    ``cis_nominal/<chrom>.parquet``: every cis pair.
``trans``
    ``trans.parquet``: every pair with ``p < --pval-threshold`` (optionally without
    the cis pairs, ``--exclude-cis``).
``cis_independent``
    ``cis.tsv`` as ``cis``, then ``cis_independent.tsv``: the conditionally
    independent signals (forward-backward stepwise) of the significant features.

Every mode also writes ``<mode>.json`` (counts, seconds, the command).

Example::

    breedomics omics map --mode cis --geno results/genotypes/genotypes \\
        --pheno results/omics/expression/phenotypes.tsv \\
        --features results/omics/expression/features.tsv \\
        --covariates results/omics/expression/covariates.tsv \\
        --window 1000000 --nperm 10000 --out results/omics/expression/mapping
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["MODES", "add_map_parser", "run_map"]

#: The mapping modes.
MODES = ("cis", "cis_nominal", "trans", "cis_independent")


def _log(msg: str) -> None:
    print(f"[omics map {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_map_parser(sub) -> argparse.ArgumentParser:
    """Add the ``map`` sub-command to the ``omics`` sub-parsers ``sub``."""
    from breedomics.gwas.arguments import subcommand

    p = subcommand(sub, "map", "cis/trans QTL mapping at scale (tensorQTL modes)", __doc__)
    p.add_argument("--mode", choices=MODES, default="cis", help="(cis)")
    p.add_argument("--geno", required=True, help="genotypes (PLINK prefix or VCF/BCF)")
    p.add_argument(
        "--pheno",
        required=True,
        help="phenotype BED (#chr start end phenotype_id samples...) or samples x features "
        "table (phenotypes.tsv of `omics prepare`, positions from --features)",
    )
    p.add_argument("--features", help="features.tsv of `omics prepare` (positions, feature ids)")
    p.add_argument(
        "--covariates", help="samples x covariates TSV (covariates.tsv of `omics prepare`)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--window", type=int, default=1_000_000, help="cis window, bp (1000000)")
    p.add_argument("--nperm", type=int, default=10_000, help="permutations (10000)")
    p.add_argument("--seed", type=int, default=123456, help="of the permutations (123456)")
    p.add_argument("--batch-size", type=int, default=256, help="features per batch (256)")
    p.add_argument("--chunk-size", type=int, default=20_000, help="variants per read (20000)")
    p.add_argument(
        "--maf-threshold", type=float, default=0.0, help="test variants with MAF above this (0)"
    )
    p.add_argument("--fdr", type=float, default=0.05, help="(0.05)")
    p.add_argument(
        "--pval-threshold", type=float, default=1e-5, help="trans pairs kept below it (1e-5)"
    )
    p.add_argument(
        "--exclude-cis", action="store_true", help="trans: leave out pairs in the cis window"
    )
    p.add_argument("--pcs", type=int, default=0, help="genotype PCs added to the covariates (0)")
    return p


def run_map(args: argparse.Namespace) -> int:
    """Run ``breedomics omics map``."""
    import numpy as np

    from breedomics.errors import UserError
    from breedomics.gwas.arguments import options_from
    from breedomics.omics import cismap

    t0 = time.time()
    opts = options_from(cismap.MapOptions, args)
    if opts.window < 0 or opts.batch_size < 1 or opts.chunk_size < 1:
        raise UserError("--window must be >= 0, --batch-size and --chunk-size >= 1")
    if not 0 < opts.fdr < 1 or not 0 < opts.pval_threshold <= 1:
        raise UserError("--fdr must be in (0, 1) and --pval-threshold in (0, 1]")
    pheno = cismap.read_phenotypes(args.pheno, args.features)
    cov = cismap.read_covariates(args.covariates)
    data = cismap.MapData(args.geno, pheno, cov)
    _log(
        f"{args.pheno}: {len(pheno.ids)} features x {len(pheno.samples)} samples"
        + ("" if cov is None else f"; {cov.shape[1]} covariate(s)")
    )
    os.makedirs(args.out, exist_ok=True)
    summary: dict = {"mode": args.mode, "command": " ".join(sys.argv)}
    if args.mode in ("cis", "cis_independent"):
        cis = cismap.map_cis(data, opts, _log)
        path = os.path.join(args.out, "cis.tsv")
        cis.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.6g")
        q = cis["qval"].to_numpy(np.float64)
        summary.update(
            features_mapped=len(cis),
            cis_qtl=int(np.sum(q <= opts.fdr)),
            dof=int(cis.attrs.get("dof", -1)),
            files=[path],
        )
        if args.mode == "cis_independent":
            ind = cismap.map_independent(data, cis, opts, _log)
            path = os.path.join(args.out, "cis_independent.tsv")
            ind.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.6g")
            summary.update(independent_signals=len(ind), files=summary["files"] + [path])
    elif args.mode == "cis_nominal":
        folder = os.path.join(args.out, "cis_nominal")
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            if old.endswith(".parquet"):
                os.remove(os.path.join(folder, old))
        files = cismap.map_cis_nominal(data, opts, folder, _log)
        summary.update(files=files)
    else:
        path = os.path.join(args.out, "trans.parquet")
        n = cismap.map_trans(data, opts, path, _log)
        summary.update(pairs=n, files=[path])
    summary["seconds"] = round(time.time() - t0, 2)
    with open(os.path.join(args.out, f"{args.mode}.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    _log(f"{args.mode} done in {summary['seconds']:.1f} s")
    return 0
