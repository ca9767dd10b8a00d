"""``breedomics census <job>``: one germplasm-census job per subcommand.

Every job reads a genotype file (``--geno``: VCF/BCF or PLINK 1 prefix),
optionally a group sheet (``--groups``: TSV with ``sample`` and ``group``
columns; only the samples it lists are analysed), and writes
``<out>.tsv`` (main table, with header), extra tables ``<out>.<name>.tsv``
and a plot ``<out>.png``.

The per-chromosome jobs (``diversity``, ``ld-decay``, ``roh``) can also be
scattered: ``census shards`` splits the chromosomes into shards,
``--shards PLAN --shard NAME`` computes one shard's partial result
(``<out>.json``) and ``--gather PART ...`` combines the partials into the same
tables as the unscattered job.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from breedomics.census._common import load_groups, write_table
from breedomics.census.scatter import read_partials, shard_chroms, write_partial
from breedomics.errors import UserError

JOBS = {
    "pca": "principal components of the standardised GRM (variance explained, plot by group)",
    "grm": "VanRaden genomic relationship matrix and heatmap",
    "admixture": "ancestry proportions for K = k-min..k-max with a cross-validation choice of K",
    "diversity": "per-group pi, Watterson theta, Tajima's D (genome-wide, windows), Ho/He, "
    "private alleles",
    "fst": "pairwise Hudson Fst between groups with block-jackknife SE",
    "ld-decay": "LD (r^2) decay curves and half-decay distance per group",
    "roh": "runs of homozygosity and F_ROH per sample",
    "duplicates": "duplicate / near-identical accessions from pairwise IBS, as clusters",
    "core": "core collection maximising allele coverage, compared with random subsets",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--geno", required=True, help="VCF/BCF, or PLINK 1 prefix / .bed")
    p.add_argument("--groups", help="TSV with 'sample' and 'group' columns (default: all samples)")
    p.add_argument("--out", required=True, help="output prefix: <out>.tsv, <out>.png, ...")
    p.add_argument("--chunk-size", type=int, default=10000, help="SNPs per streamed chunk")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")


def _scatter(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("per-chromosome scatter")
    g.add_argument("--shards", help="shard plan written by `census shards` (chromosome order)")
    g.add_argument(
        "--shard", help="compute only this shard's partial result (<out>.json); needs --shards"
    )
    g.add_argument(
        "--gather", nargs="+", metavar="PART", help="combine partial results (<out>.json files)"
    )


def _inbred(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inbred",
        action="store_true",
        help="samples are inbred lines: count each as one haplotype (soybean, rice)",
    )


#: Jobs that run per chromosome and can be scattered.
SCATTERED = ("diversity", "ld-decay", "roh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the census subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="job", metavar="JOB", required=True)
    ps = {name: sub.add_parser(name, help=h, description=h) for name, h in JOBS.items()}
    for p in ps.values():
        _common(p)
    for name in SCATTERED:
        _scatter(ps[name])
    sh = sub.add_parser(
        "shards",
        help="split the chromosomes into shards for the per-chromosome scatter",
        description="Write the shard plan (shard, chrom, n_snps, order): one shard per "
        "chromosome; small or non-path-safe ones packed together.",
    )
    sh.add_argument("--geno", required=True, help="VCF/BCF, or PLINK 1 prefix / .bed")
    sh.add_argument("--out", required=True, help="shard plan TSV to write")
    sh.add_argument(
        "--min-snps", type=int, default=500, help="chromosomes with fewer SNPs are packed"
    )
    ps["pca"].add_argument("--n-pcs", type=int, default=10)
    ps["pca"].add_argument("--min-maf", type=float, default=0.0)
    ps["grm"].add_argument("--method", choices=["vanraden", "standardized"], default="vanraden")
    ps["grm"].add_argument("--min-maf", type=float, default=0.0)
    a = ps["admixture"]
    _inbred(a)
    a.add_argument("--k-min", type=int, default=2)
    a.add_argument("--k-max", type=int, default=6)
    a.add_argument("--folds", type=int, default=5, help="cross-validation folds (1: no CV)")
    a.add_argument("--max-snps", type=int, default=20000, help="SNPs kept by even thinning")
    a.add_argument("--seed", type=int, default=1)
    d = ps["diversity"]
    _inbred(d)
    d.add_argument("--window", type=int, default=100_000, help="window size (bp)")
    d.add_argument(
        "--lengths",
        help="chromosome lengths (TSV/.fai: chrom, length) used as the per-bp denominator; "
        "default: first-to-last SNP span per chromosome",
    )
    f = ps["fst"]
    _inbred(f)
    f.add_argument("--blen", type=int, default=1000, help="jackknife block length (SNPs)")
    ld = ps["ld-decay"]
    ld.add_argument("--max-dist", type=int, default=500_000)
    ld.add_argument("--bin-size", type=int, default=10_000)
    ld.add_argument("--min-maf", type=float, default=0.05)
    ld.add_argument("--min-samples", type=int, default=10)
    r = ps["roh"]
    r.add_argument("--min-length", type=int, default=1_000_000)
    r.add_argument("--min-snps", type=int, default=50)
    r.add_argument("--max-het", type=int, default=1)
    r.add_argument("--max-missing", type=int, default=5)
    r.add_argument("--max-gap", type=int, default=1_000_000)
    du = ps["duplicates"]
    du.add_argument("--threshold", type=float, default=0.97, help="minimum IBS of duplicates")
    du.add_argument("--min-snps", type=int, default=100, help="minimum SNPs called in both")
    c = ps["core"]
    c.add_argument(
        "--size", type=float, required=True, help="core size: a count, or a fraction if < 1"
    )
    c.add_argument("--required", help="file with accessions forced into the core, one per line")
    c.add_argument("--n-random", type=int, default=200)
    c.add_argument("--seed", type=int, default=1)


def _read_lengths(path: str) -> dict[str, int]:
    try:
        df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1], dtype={0: str})
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read chromosome lengths {path}: {exc}") from exc
    if df[1].dtype.kind not in "iu":
        df = df.iloc[1:]  # a header line
    return {str(k): int(v) for k, v in zip(df[0], df[1], strict=True)}


def _scatter_mode(args: argparse.Namespace) -> str:
    """``full``, ``shard`` or ``gather`` (checked for consistency)."""
    shard, gather = getattr(args, "shard", None), getattr(args, "gather", None)
    if shard and gather:
        raise UserError("--shard and --gather exclude each other")
    if shard and not args.shards:
        raise UserError("--shard needs --shards (the plan written by `census shards`)")
    return "shard" if shard else "gather" if gather else "full"


def _chrom_order(args: argparse.Namespace) -> list[str] | None:
    from breedomics.census.scatter import read_plan

    return read_plan(args.shards)["chrom"].tolist() if args.shards else None


def run(args: argparse.Namespace) -> int:
    """Run one census job."""
    from breedomics.core.genotypes import check_genotype_order

    check_genotype_order(args.geno)  # sorted, unique, placed: before any work
    if args.job == "shards":
        from breedomics.census.scatter import plan_shards

        plan = plan_shards(args.geno, args.min_snps)
        print(write_table(plan, args.out), file=sys.stderr)
        print(f"{len(plan)} chromosomes in {plan['shard'].nunique()} shards", file=sys.stderr)
        return 0
    mode = _scatter_mode(args)
    groups = load_groups(args.geno, args.groups)
    out = args.out
    plot = not args.no_plot
    written: list[str] = []
    gmap = dict(zip(groups.samples, groups.labels, strict=True))
    job = args.job

    if job == "pca":
        from breedomics.census.pca import pca, plot_pca

        scores, var = pca(args.geno, groups.samples, args.n_pcs, args.min_maf, args.chunk_size)
        scores.insert(1, "group", groups.labels)
        written += [write_table(scores, f"{out}.tsv"), write_table(var, f"{out}.variance.tsv")]
        if plot:
            written.append(plot_pca(scores, var, groups.labels, f"{out}.png"))
    elif job == "grm":
        from breedomics.census.grm import accumulate_grm, grm_table, plot_grm

        res = accumulate_grm(args.geno, groups.samples, args.method, args.min_maf, args.chunk_size)
        written.append(write_table(grm_table(res), f"{out}.tsv"))
        if plot:
            written.append(plot_grm(res, groups.labels, f"{out}.png"))
    elif job == "admixture":
        from breedomics.census.admixture import admixture, plot_admixture

        qtab, cv, _ = admixture(
            args.geno, groups.samples, args.k_min, args.k_max, args.inbred, args.folds,
            args.max_snps, args.seed,
        )  # fmt: skip
        qtab.insert(1, "group", qtab["sample"].map(gmap))
        written += [write_table(qtab, f"{out}.tsv"), write_table(cv, f"{out}.cv.tsv")]
        if plot:
            written.append(plot_admixture(qtab, cv, groups.labels, f"{out}.png"))
    elif job == "diversity":
        from breedomics.census import diversity as dv

        lengths = _read_lengths(args.lengths) if args.lengths else None
        if mode == "shard":
            part = dv.diversity_partial(
                args.geno, groups, args.inbred, args.window,
                shard_chroms(args.shards, args.shard), args.chunk_size,
            )  # fmt: skip
            return _done([write_partial(part, f"{out}.json", "diversity")])
        if mode == "gather":
            part = dv.combine_diversity(read_partials(args.gather, "diversity"), _chrom_order(args))
            genome, windows = dv.diversity_tables(part, groups, lengths)
        else:
            genome, windows = dv.diversity(
                args.geno, groups, args.inbred, args.window, lengths, args.chunk_size
            )
        written += [write_table(genome, f"{out}.tsv"), write_table(windows, f"{out}.windows.tsv")]
        if plot:
            written.append(dv.plot_diversity(genome, windows, f"{out}.png"))
    elif job == "fst":
        from breedomics.census.fst import pairwise_fst, plot_fst

        tab = pairwise_fst(args.geno, groups, args.inbred, args.blen, args.chunk_size)
        written.append(write_table(tab, f"{out}.tsv"))
        if plot:
            written.append(plot_fst(tab, f"{out}.png"))
    elif job == "ld-decay":
        from breedomics.census import ld

        if mode == "gather":
            part = ld.combine_ld(read_partials(args.gather, "ld-decay"))
        else:
            part = ld.ld_partial(
                args.geno, groups, args.max_dist, args.bin_size, args.min_maf, args.min_samples,
                shard_chroms(args.shards, args.shard) if mode == "shard" else None,
                min(args.chunk_size, 5000),
            )  # fmt: skip
        if mode == "shard":
            return _done([write_partial(part, f"{out}.json", "ld-decay")])
        bins, summary = ld.ld_tables(part, groups)
        written += [write_table(bins, f"{out}.tsv"), write_table(summary, f"{out}.summary.tsv")]
        if plot:
            written.append(ld.plot_ld(bins, summary, f"{out}.png"))
    elif job == "roh":
        from breedomics.census import roh

        if mode == "gather":
            part = roh.combine_roh(read_partials(args.gather, "roh"))
        else:
            part = roh.roh_partial(
                args.geno, groups.samples, args.min_length, args.min_snps, args.max_het,
                args.max_missing, args.max_gap,
                shard_chroms(args.shards, args.shard) if mode == "shard" else None,
                args.chunk_size,
            )  # fmt: skip
        if mode == "shard":
            return _done([write_partial(part, f"{out}.json", "roh")])
        per, seg = roh.roh_tables(part, groups.samples)
        per.insert(1, "group", groups.labels)
        written += [write_table(per, f"{out}.tsv"), write_table(seg, f"{out}.segments.tsv")]
        if plot:
            written.append(roh.plot_roh(per, f"{out}.png"))
    elif job == "duplicates":
        from breedomics.census.duplicates import duplicate_clusters, pairwise_ibs, plot_ibs

        res = pairwise_ibs(args.geno, groups.samples, args.chunk_size)
        pairs, clusters = duplicate_clusters(res, args.threshold, args.min_snps)
        written += [
            write_table(pairs, f"{out}.tsv"),
            write_table(clusters, f"{out}.clusters.tsv"),
        ]
        if plot:
            written.append(plot_ibs(res, args.threshold, f"{out}.png"))
    elif job == "core":
        from breedomics.census.core import core_collection, plot_core

        n = len(groups.samples)
        size = int(round(args.size * n)) if args.size < 1 else int(args.size)
        required: list[str] = []
        if args.required:
            with open(args.required) as fh:
                required = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
        core, summary = core_collection(
            args.geno, groups.samples, size, required, args.n_random, args.seed, args.chunk_size
        )
        core.insert(2, "group", core["sample"].map(gmap))
        written += [write_table(core, f"{out}.tsv"), write_table(summary, f"{out}.summary.tsv")]
        if plot:
            written.append(plot_core(core, summary, f"{out}.png"))
    else:  # pragma: no cover - argparse restricts the choices
        raise UserError(f"unknown census job {job!r}")
    return _done(written)


def _done(written: list[str]) -> int:
    for w in written:
        print(w, file=sys.stderr)
    return 0
