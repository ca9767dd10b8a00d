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

from breedomics.census._common import load_groups, write_table

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


def _scatter_of(args: argparse.Namespace):
    """Whole genome, one shard or a gather, as the scatter options say."""
    from breedomics.census.scatter import Scatter

    return Scatter(args.shards, args.shard, args.gather)


#: Each job's library call with its arguments (:mod:`breedomics.census.jobs`).
CALLS = {
    "pca": lambda j, a, g: j.pca_job(a.geno, g, a.n_pcs, a.min_maf, a.chunk_size),
    "grm": lambda j, a, g: j.grm_job(a.geno, g, a.method, a.min_maf, a.chunk_size),
    "admixture": lambda j, a, g: j.admixture_job(
        a.geno, g, a.k_min, a.k_max, a.inbred, a.folds, a.max_snps, a.seed
    ),
    "diversity": lambda j, a, g: j.diversity_job(
        a.geno, g, a.inbred, a.window, a.lengths, a.chunk_size, _scatter_of(a)
    ),
    "fst": lambda j, a, g: j.fst_job(a.geno, g, a.inbred, a.blen, a.chunk_size),
    "ld-decay": lambda j, a, g: j.ld_job(
        a.geno, g, a.max_dist, a.bin_size, a.min_maf, a.min_samples, a.chunk_size, _scatter_of(a)
    ),
    "roh": lambda j, a, g: j.roh_job(
        a.geno,
        g,
        a.min_length,
        a.min_snps,
        a.max_het,
        a.max_missing,
        a.max_gap,
        a.chunk_size,
        _scatter_of(a),
    ),
    "duplicates": lambda j, a, g: j.duplicates_job(
        a.geno, g, a.threshold, a.min_snps, a.chunk_size
    ),
    "core": lambda j, a, g: j.core_job(
        a.geno, g, a.size, a.required, a.n_random, a.seed, a.chunk_size
    ),
}


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
    from breedomics.census import jobs

    groups = load_groups(args.geno, args.groups)
    res = CALLS[args.job](jobs, args, groups)
    for path in jobs.write_outputs(res, args.out, plot=not args.no_plot):
        print(path, file=sys.stderr)
    return 0
