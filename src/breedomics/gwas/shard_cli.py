"""``breedomics gwas kinship`` and ``gwas gather``: the ends of a scattered GWAS.

A scattered GWAS is::

    breedomics gwas kinship --geno G --pheno P [--covar C] [--loco] --out grm.npz \\
        --eigen eigen/
    breedomics gwas run --geno G --pheno P --grm grm.npz --eigen eigen/ --chromosomes 1,2 \\
        --batch yield --shard-out shards/c1.t1.json --out shards/c1.t1   # per shard
    breedomics gwas gather --geno G --pheno P --model mlm --out results/gwas/mlm \\
        shards/*.json

and writes the same files as one ``breedomics gwas run`` (see
:mod:`breedomics.gwas.shards`). With ``--chromosome-group K/N`` instead of
``--chromosomes`` the shards are planned from the genotype file itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

from breedomics.errors import UserError

__all__ = ["add_parsers", "run_kinship", "run_gather"]


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--geno", required=True, help="PLINK 1 prefix or VCF/BCF")
    p.add_argument("--pheno", required=True, help="phenotypes.tsv (all traits)")
    p.add_argument("--covar", help="covariates.tsv")
    p.add_argument("--allow-unmatched", action="store_true")


def add_parsers(sub) -> None:
    """Add ``kinship`` and ``gather`` to the ``gwas`` sub-command parsers."""
    k = sub.add_parser(
        "kinship",
        help="GRM of the analysed samples, once for all shards of a scattered GWAS",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_args(k)
    k.add_argument("--loco", action="store_true", help="keep per-chromosome parts (LOCO)")
    k.add_argument(
        "--chunk-size",
        type=int,
        default=10000,
        help="SNPs per chunk, as in `gwas run` (the GRM sums follow the chunks)",
    )
    k.add_argument("--out", required=True, help="output .npz")
    k.add_argument(
        "--eigen",
        help="also write the genome-wide kinship's eigendecomposition per trait missingness "
        "pattern into this folder (for the mixed models' shards)",
    )
    g = sub.add_parser(
        "gather",
        help="merge GWAS shards; thresholds, clumping, plots, summaries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_args(g)
    g.add_argument("shards", nargs="+", help="shard states (JSON), chromosome groups in order")
    g.add_argument("--model", required=True, choices=["glm", "mlm", "mlm-p3d", "farmcpu"])
    g.add_argument("--out", required=True)
    g.add_argument("--loco", action="store_true", help="(recorded in the metadata)")
    g.add_argument("--pcs-file", help="pcs.tsv of a shard, copied to --out")
    g.add_argument(
        "--threshold", choices=["bonferroni", "meff", "permutation"], default="bonferroni"
    )
    g.add_argument("--alpha", type=float, default=0.05)
    g.add_argument("--maf", type=float, default=0.01)
    g.add_argument("--max-missing", type=float, default=0.1)
    g.add_argument("--clump-p2", type=float, default=0.01)
    g.add_argument("--clump-r2", type=float, default=0.1)
    g.add_argument("--clump-kb", type=float, default=250.0)
    g.add_argument("--no-plots", action="store_true")


def _prepare(args):
    from breedomics.core import genotypes as gt
    from breedomics.gwas.phenotypes import prepare, read_covariates, read_phenotypes

    pheno = read_phenotypes(args.pheno, None)
    covar = read_covariates(args.covar) if args.covar else None
    return prepare(
        gt.read_samples(args.geno),
        pheno,
        covar,
        pheno_path=args.pheno,
        covar_path=args.covar or "covariates",
        allow_unmatched=args.allow_unmatched,
    )


def run_kinship(args: argparse.Namespace) -> int:
    """``breedomics gwas kinship``."""
    from breedomics.core.genotypes import check_genotype_order
    from breedomics.gwas.kinship import accumulate_grm
    from breedomics.gwas.scan import GenotypeSource
    from breedomics.gwas.shards import save_grm

    t0 = time.time()
    check_genotype_order(args.geno)  # sorted, unique, placed: before any work
    data = _prepare(args)
    src = GenotypeSource(args.geno, data.samples, chunk_size=args.chunk_size)
    grm = accumulate_grm(src.chunks(), data.samples, loco=args.loco)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_grm(grm, args.out)
    if args.eigen:
        from breedomics.gwas.kinship import eigh_psd
        from breedomics.gwas.scan import trait_patterns
        from breedomics.gwas.shards import pattern_key, save_eigens

        k_full = grm.matrix()
        eigens = {}
        for traits, rows in trait_patterns(data):
            label = "kinship"
            if len(rows) < len(data.samples):
                label += f" of the {len(rows)} samples observed for {', '.join(traits[:3])}"
            eigens[pattern_key(rows)] = eigh_psd(k_full[np.ix_(rows, rows)], label)
        save_eigens(eigens, args.eigen)
    print(
        f"[gwas kinship] {len(data.samples)} samples, {grm.n_snps} SNPs, "
        f"{len(grm.chrom_num)} LOCO parts, {time.time() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def run_gather(args: argparse.Namespace) -> int:
    """``breedomics gwas gather``."""
    from breedomics.gwas.report import ReportOptions, finalize
    from breedomics.gwas.scan import GenotypeSource
    from breedomics.gwas.shards import gather_scans

    t0 = time.time()
    states = []
    for path in args.shards:
        with open(path) as fh:
            states.append(json.load(fh))
    if args.threshold == "permutation":
        # the permutation maxima are gathered as the maximum over the shards
        unpermuted = [
            path
            for path, st in zip(args.shards, states, strict=True)
            if any(rec["perm_max_f"] is None for rec in st["traits"])
        ]
        if unpermuted:
            raise UserError(
                f"gwas gather --threshold permutation: shard '{unpermuted[0]}' was scanned "
                "without permutations; rerun its `gwas run` with --permutations N"
            )
    data = _prepare(args)
    os.makedirs(args.out, exist_ok=True)
    from breedomics.core import genotypes as gt

    scans, meff = gather_scans(
        states,
        list(data.traits.columns),
        args.out,
        args.model,
        args.maf,
        args.max_missing,
        expect_variants=gt.n_variants(args.geno),
    )
    data.report.to_csv(os.path.join(args.out, "samples.tsv"), sep="\t", index=False)
    if args.pcs_file:
        shutil.copyfile(args.pcs_file, os.path.join(args.out, "pcs.tsv"))
    src = GenotypeSource(args.geno, data.samples)
    summary, _thr = finalize(
        scans,
        data,
        src,
        args.out,
        ReportOptions.from_args(args),
        meff=meff,
        run_meta={
            "genotype_file": str(args.geno),
            "covariates": states[0].get("covariates", []),
            "loco": bool(args.loco),
        },
    )
    with open(os.path.join(args.out, f"run.{args.model}.json"), "w") as fh:
        json.dump(
            {
                "command": " ".join(sys.argv),
                "model": args.model,
                "loco": args.loco,
                "samples": len(data.samples),
                "shards": len(states),
                "meff": meff,
                "seconds": round(time.time() - t0, 2),
            },
            fh,
            indent=2,
        )
    print(
        f"[gwas gather] {len(states)} shards, {len(summary)} traits, {time.time() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0
