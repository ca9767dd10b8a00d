"""breedomics gwas run: association of many traits with one genotype file.

Example:

    breedomics gwas run --geno results/genotypes/all --pheno config/phenotypes.tsv \\
        --covar config/covariates.tsv --pcs 3 --model mlm --loco --out results/gwas

Models: glm (least squares with covariates/PCs), mlm (exact per-variant REML
+ Wald test, as gemma -lmm 1; Zhou & Stephens 2012), mlm-p3d (variance
components fixed at the null estimate; EMMAX/P3D, Kang et al. 2010, Zhang et
al. 2010), farmcpu (multi-locus; Liu et al. 2016). --loco tests every
chromosome with the kinship of the others (Yang et al. 2014).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from breedomics.errors import UserError

__all__ = ["add_arguments", "run"]

_EPILOG = """outputs in --out:
  <trait>.<model>.tsv.gz (+ .tbi, -meta.yaml)  GWAS-SSF summary statistics
  <trait>.<model>.leads.tsv                    lead variants and QTL intervals
  <trait>.<model>.manhattan.png / .qq.png      plots
  summary.<model>.tsv, thresholds.<model>.tsv  per-trait lambda, PVE, thresholds, hits
  samples.tsv                                  which samples were analysed and why not
  pcs.tsv, run.<model>.json                    PCs used, run record
  FarmCPU: <trait>.farmcpu.pseudo_qtns.tsv, .iterations.tsv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gwas`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="gwas_command", metavar="SUBCOMMAND")
    sub.required = True
    p = sub.add_parser(
        "run",
        help="association scan of all traits",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = p.add_argument_group("input and output")
    io.add_argument("--geno", required=True, help="PLINK 1 prefix (.bed/.bim/.fam) or VCF/BCF")
    io.add_argument("--pheno", required=True, help="TSV/CSV: sample + one column per trait")
    io.add_argument("--covar", help="TSV/CSV: sample + covariates (text = categorical)")
    io.add_argument("--traits", help="comma-separated traits to analyse (default: all columns)")
    io.add_argument("--out", required=True, help="output folder")
    io.add_argument(
        "--allow-unmatched",
        action="store_true",
        help="analyse only samples in both genotypes and phenotypes (others are listed in "
        "samples.tsv) instead of stopping",
    )
    io.add_argument("--kinship", help="use this kinship matrix instead of the GRM (no --loco)")
    sh = p.add_argument_group("scatter (see breedomics gwas kinship / gather)")
    sh.add_argument("--grm", help="GRM written by `gwas kinship` (instead of building it)")
    sh.add_argument("--eigen", help="kinship eigendecompositions written by `gwas kinship`")
    sh.add_argument("--chromosomes", help="comma-separated chromosomes to scan (a shard)")
    sh.add_argument(
        "--chromosome-group",
        metavar="K/N",
        help="scan the K-th of N groups of whole chromosomes (genome order, about equal "
        "length; see breedomics.gwas.shards.chromosome_groups)",
    )
    sh.add_argument(
        "--batch",
        help="comma-separated traits to scan; samples are matched on all traits, as in "
        "the unscattered run",
    )
    sh.add_argument(
        "--shard-out",
        help="write the shard state (JSON) for `gwas gather` instead of thresholds, "
        "leads, plots and summaries",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--model", choices=["glm", "mlm", "mlm-p3d", "farmcpu"], default="mlm", help="(mlm)"
    )
    m.add_argument("--pcs", type=int, default=0, help="add the top N GRM PCs as covariates")
    m.add_argument("--loco", action="store_true", help="leave-one-chromosome-out kinship")
    m.add_argument("--null-method", choices=["reml", "ml"], default="reml", help="(reml)")
    m.add_argument("--maf", type=float, default=0.01, help="minimum MAF per trait (0.01)")
    m.add_argument(
        "--max-missing", type=float, default=0.1, help="maximum missing rate per trait (0.1)"
    )
    f = p.add_argument_group("FarmCPU")
    f.add_argument("--farmcpu-p-threshold", type=float, help="start threshold (0.01 / m)")
    f.add_argument("--farmcpu-qtn-threshold", type=float, default=0.01, help="(0.01)")
    f.add_argument("--farmcpu-max-iter", type=int, default=10, help="(10)")
    t = p.add_argument_group("significance and clumping")
    t.add_argument(
        "--threshold",
        choices=["bonferroni", "meff", "permutation"],
        default="bonferroni",
        help="threshold used for leads; all are written to thresholds.<model>.tsv",
    )
    t.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate (0.05)")
    t.add_argument("--permutations", type=int, default=0, help="permutations (0 = none)")
    t.add_argument("--meff-block", type=int, default=300, help="SNPs per M_eff block (300)")
    t.add_argument("--no-meff", action="store_true", help="skip the M_eff thresholds")
    t.add_argument("--clump-p2", type=float, default=0.01)
    t.add_argument("--clump-r2", type=float, default=0.1)
    t.add_argument("--clump-kb", type=float, default=250.0)
    r = p.add_argument_group("resources")
    r.add_argument("--chunk-size", type=int, default=10000, help="SNPs per chunk (10000)")
    r.add_argument(
        "--cache-mb", type=int, default=1024, help="keep genotypes in memory up to this size"
    )
    r.add_argument("--no-plots", action="store_true")
    r.add_argument("--seed", type=int, default=1)
    from breedomics.gwas.annotate_cli import add_parser as add_annotate

    add_annotate(sub)
    from breedomics.gwas.shard_cli import add_parsers as add_shard_parsers

    add_shard_parsers(sub)


def _log(msg: str) -> None:
    print(f"[gwas {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the requested sub-command."""
    if args.gwas_command == "run":
        return run_scan(args)
    if args.gwas_command in ("kinship", "gather"):
        from breedomics.gwas import shard_cli

        return (
            shard_cli.run_kinship(args)
            if args.gwas_command == "kinship"
            else (shard_cli.run_gather(args))
        )
    if args.gwas_command == "annotate":
        from breedomics.gwas.annotate_cli import run_annotate

        return run_annotate(args)
    raise UserError(f"unknown gwas sub-command {args.gwas_command!r}")  # pragma: no cover


def run_scan(args: argparse.Namespace) -> int:
    """``breedomics gwas run``."""
    from breedomics.core import genotypes as gt
    from breedomics.gwas.farmcpu import FarmCPUConfig, run_farmcpu
    from breedomics.gwas.kinship import (
        accumulate_grm,
        eigh_psd,
        impute_center,
        read_kinship,
        top_pcs,
    )
    from breedomics.gwas.phenotypes import add_pcs, prepare, read_covariates, read_phenotypes
    from breedomics.gwas.report import ReportOptions, finalize
    from breedomics.gwas.scan import GenotypeSource, ScanConfig, scan
    from breedomics.gwas.threshold import MeffAccumulator

    t0 = time.time()
    if args.loco and args.model not in ("mlm", "mlm-p3d"):
        raise UserError("--loco applies to the mixed models (--model mlm or mlm-p3d)")
    if args.threshold == "permutation" and args.permutations <= 0:
        raise UserError("--threshold permutation needs --permutations N (e.g. 1000)")
    if args.threshold == "meff" and args.no_meff:
        raise UserError("--threshold meff cannot be combined with --no-meff")
    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha must be in (0, 1), got {args.alpha}")
    gt.check_genotype_order(args.geno)  # sorted, unique, placed: before any work
    out = args.out
    os.makedirs(out, exist_ok=True)
    traits = [t.strip() for t in args.traits.split(",")] if args.traits else None
    pheno = read_phenotypes(args.pheno, traits)
    covar = read_covariates(args.covar) if args.covar else None
    geno_samples = gt.read_samples(args.geno)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = prepare(
            geno_samples,
            pheno,
            covar,
            pheno_path=args.pheno,
            covar_path=args.covar or "covariates",
            allow_unmatched=args.allow_unmatched,
        )
    for w in caught:
        _log(f"warning: {w.message}")
    data.report.to_csv(os.path.join(out, "samples.tsv"), sep="\t", index=False)
    _log(
        f"{len(data.samples)} samples, {data.traits.shape[1]} trait(s), "
        f"{data.covariates.shape[1]} fixed effect(s) before PCs"
    )
    chroms = [c for c in args.chromosomes.split(",") if c] if args.chromosomes else None
    group = None
    if args.chromosome_group:
        from breedomics.gwas.shards import chromosome_group

        if chroms is not None:
            raise UserError("give --chromosomes or --chromosome-group, not both")
        group, chroms = chromosome_group(args.geno, args.chromosome_group)
        _log(f"chromosome group {args.chromosome_group}: {','.join(chroms) or '(none)'}")
    src = GenotypeSource(
        args.geno,
        data.samples,
        chunk_size=args.chunk_size,
        cache_bytes=args.cache_mb << 20,
        chromosomes=chroms,
    )
    _log(f"{src.n_variants} variants in {args.geno}")
    cfg = ScanConfig(
        model=args.model,
        loco=args.loco,
        null_method=args.null_method,
        maf=args.maf,
        max_missing=args.max_missing,
        chunk_size=args.chunk_size,
        permutations=args.permutations,
        alpha=args.alpha,
        seed=args.seed,
        cache_bytes=args.cache_mb << 20,
    )
    grm = kin = None
    mixed = args.model in ("mlm", "mlm-p3d")
    if args.kinship:
        if args.loco:
            raise UserError("--kinship cannot be combined with --loco")
        kin = read_kinship(args.kinship, data.samples, geno_samples)
    if args.grm and ((mixed and kin is None) or args.pcs > 0):
        from breedomics.gwas.shards import load_grm

        grm = load_grm(args.grm, data.samples)
        if args.loco and mixed and not grm.chrom_num:
            raise UserError(f"--loco needs a GRM with per-chromosome parts: '{args.grm}' has none")
        _log(f"GRM from {args.grm} ({grm.n_snps} SNPs)")
    elif (mixed and kin is None) or args.pcs > 0:
        if chroms is not None:
            raise UserError("--chromosomes needs --grm (the GRM is built from all chromosomes)")
        _log("building the GRM" + (" (per chromosome for LOCO)" if args.loco else ""))
        grm = accumulate_grm(src.chunks(), data.samples, loco=args.loco and mixed)
        _log(f"GRM from {grm.n_snps} SNPs")
    if args.pcs > 0:
        e = eigh_psd(grm.matrix() if kin is None else kin, "kinship for PCs")
        pcs = top_pcs(e, args.pcs)
        pd.DataFrame(
            pcs, index=data.samples, columns=[f"PC{i + 1}" for i in range(args.pcs)]
        ).to_csv(os.path.join(out, "pcs.tsv"), sep="\t", index_label="sample", float_format="%.6g")
        data = add_pcs(data, pcs, f"{args.covar or 'covariates'} with {args.pcs} PCs")
    if args.batch:
        batch = [t.strip() for t in args.batch.split(",") if t.strip()]
        unknown = [t for t in batch if t not in data.traits.columns]
        if unknown:
            raise UserError(f"--batch names trait(s) {unknown} not in {args.pheno}")
        data = dataclasses.replace(data, traits=data.traits[batch])
    if chroms is not None and args.model == "farmcpu":
        raise UserError("FarmCPU is genome-wide (multi-locus): scatter it by trait batch only")
    meff = None if args.no_meff else MeffAccumulator(block_size=args.meff_block, max_samples=500)
    _log(f"scanning with model {args.model}" + (" + LOCO" if args.loco else ""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.model == "farmcpu":
            fcfg = FarmCPUConfig(
                p_threshold=args.farmcpu_p_threshold,
                qtn_threshold=args.farmcpu_qtn_threshold,
                max_iter=args.farmcpu_max_iter,
            )
            scans = run_farmcpu(src, data, out, cfg, fcfg)
            if meff is not None:  # M_eff needs one more pass here
                for chrom, _v, d in src.runs():
                    z, mean, nobs = impute_center(d)
                    af = mean / 2
                    meff.add(chrom, z[:, (np.minimum(af, 1 - af) >= args.maf) & (nobs > 0)])
        else:
            eig_cache = None
            if args.eigen:
                from breedomics.gwas.shards import EigenCache

                eig_cache = EigenCache(args.eigen)
            scans = scan(src, data, out, cfg, grm=grm, kinship=kin, meff=meff, eig_cache=eig_cache)
    for w in caught:
        _log(f"warning: {w.message}")
    meff_d = meff.finish() if meff is not None else None
    if args.shard_out:
        from breedomics.gwas.shards import shard_state, write_shard_state

        if meff_d is not None:
            meff_d = {**meff_d, "blocks": meff.blocks}
        state = shard_state(
            scans, meff_d, chroms, covariates=list(data.covariates.columns), group=group
        )
        state["n_variants"] = sum(v.shape[0] for _c, v, _d in src.runs())
        write_shard_state(state, args.shard_out)
        _log(f"shard done in {time.time() - t0:.1f} s; state in {args.shard_out}")
        return 0
    _log("thresholds, plots and clumping")
    summary, _thr = finalize(
        scans,
        data,
        src,
        out,
        ReportOptions.from_args(args),
        meff=meff_d,
        run_meta={
            "genotype_file": str(args.geno),
            "covariates": list(data.covariates.columns),
            "loco": bool(args.loco),
        },
    )
    with open(os.path.join(out, f"run.{args.model}.json"), "w") as fh:
        json.dump(
            {
                "command": " ".join(sys.argv),
                "model": args.model,
                "loco": args.loco,
                "samples": len(data.samples),
                "variants": src.n_variants,
                "meff": meff_d,
                "seconds": round(time.time() - t0, 2),
            },
            fh,
            indent=2,
        )
    for row in summary.itertuples(index=False):
        msg = (
            f"{row.trait}: n={row.n_samples} tested={row.n_variants_tested} "
            f"lambda={row.lambda_gc:.3f} significant={row.n_significant} leads={row.n_leads}"
        )
        if row.notes:
            msg += f" [{row.notes}]"
        _log(msg)
    _log(f"done in {time.time() - t0:.1f} s; results in {out}")
    return 0
