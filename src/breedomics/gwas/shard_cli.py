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
import sys

__all__ = ["add_parsers", "run_kinship", "run_gather"]


def add_parsers(sub) -> None:
    """Add ``kinship`` and ``gather`` to the ``gwas`` sub-command parsers."""
    from breedomics.gwas import arguments as a

    help_k = "GRM of the analysed samples, once for all shards of a scattered GWAS"
    k = a.subcommand(sub, "kinship", help_k, __doc__)
    a.add_inputs(k)
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
    help_g = "merge GWAS shards; thresholds, clumping, plots, summaries"
    g = a.subcommand(sub, "gather", help_g, __doc__)
    a.add_inputs(g)
    g.add_argument("shards", nargs="+", help="shard states (JSON), chromosome groups in order")
    a.add_model(g, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--loco", action="store_true", help="(recorded in the metadata)")
    g.add_argument("--pcs-file", help="pcs.tsv of a shard, copied to --out")
    a.add_filters(g)
    a.add_report(g)


def _log(command: str):
    def log(msg: str) -> None:
        print(f"[gwas {command}] {msg}", file=sys.stderr)

    return log


def run_kinship(args: argparse.Namespace) -> int:
    """``breedomics gwas kinship``."""
    from breedomics.gwas.arguments import inputs_from
    from breedomics.gwas.run import build_shard_kinship

    inputs = inputs_from(args)
    build_shard_kinship(inputs, args.out, args.loco, args.chunk_size, args.eigen, _log("kinship"))
    return 0


def run_gather(args: argparse.Namespace) -> int:
    """``breedomics gwas gather``."""
    from breedomics.gwas.arguments import inputs_from, options_from, report_from
    from breedomics.gwas.run import GatherOptions, gather_gwas

    opts = options_from(
        GatherOptions,
        args,
        inputs=inputs_from(args),
        report=report_from(args),
        command=" ".join(sys.argv),
    )
    gather_gwas(opts, _log("gather"))
    return 0
