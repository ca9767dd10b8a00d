"""The census jobs as library functions: one per ``breedomics census <job>``.

Each job takes the genotype file, the analysed samples and their groups
(:class:`~breedomics.census._common.Groups`) and its settings, runs the
analysis of its module and returns a :class:`JobOutput`: the tables to write
(``<out>.tsv`` and ``<out>.<name>.tsv``), the plot (``<out>.png``) or, for one
shard of a per-chromosome job, the partial result (``<out>.json``).
:func:`write_outputs` writes them. The command line
(:mod:`breedomics.census.cli`) only parses arguments and calls these.

The per-chromosome jobs (diversity, LD decay, ROH) run over the whole genome,
over one shard of chromosomes, or gather the shards' partial results
(:class:`~breedomics.census.scatter.Scatter`); gathered tables equal the
unscattered ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from breedomics.census import diversity as dv
from breedomics.census import ld, roh
from breedomics.census._common import Groups, write_table
from breedomics.census.admixture import admixture, plot_admixture
from breedomics.census.core import core_collection, core_size, plot_core, read_required
from breedomics.census.duplicates import duplicate_clusters, pairwise_ibs, plot_ibs
from breedomics.census.fst import pairwise_fst, plot_fst
from breedomics.census.grm import census_grm, grm_table, plot_grm
from breedomics.census.pca import pca, plot_pca
from breedomics.census.scatter import WHOLE_GENOME, Scatter, write_partial

__all__ = [
    "JobOutput",
    "write_outputs",
    "pca_job",
    "grm_job",
    "admixture_job",
    "diversity_job",
    "fst_job",
    "ld_job",
    "roh_job",
    "duplicates_job",
    "core_job",
]

#: SNPs per chunk of the LD scan at most: its rolling buffer and pair blocks grow with it.
LD_MAX_CHUNK = 5000


@dataclass
class JobOutput:
    """What a census job writes.

    Attributes
    ----------
    tables : dict
        ``name -> table``; name ``""`` is ``<out>.tsv``, others ``<out>.<name>.tsv``.
    plot : callable, optional
        ``plot(path) -> path`` drawing ``<out>.png``.
    partial : tuple, optional
        ``(kind, result)`` of one shard of a per-chromosome job (``<out>.json``).
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plot: Callable[[str], str] | None = None
    partial: tuple[str, dict[str, Any]] | None = None


def write_outputs(res: JobOutput, out: str | os.PathLike, plot: bool = True) -> list[str]:
    """Write a job's tables, plot or partial result under the prefix ``out``; their paths."""
    if res.partial is not None:
        kind, part = res.partial
        return [write_partial(part, f"{out}.json", kind)]
    written = [
        write_table(table, f"{out}.tsv" if name == "" else f"{out}.{name}.tsv")
        for name, table in res.tables.items()
    ]
    if plot and res.plot is not None:
        written.append(res.plot(f"{out}.png"))
    return written


def _labels(groups: Groups, samples: pd.Series) -> pd.Series:
    return samples.map(dict(zip(groups.samples, groups.labels, strict=True)))


def _per_chromosome(
    kind: str,
    scatter: Scatter,
    compute: Callable[[list[str] | None], dict[str, Any]],
    combine: Callable[[list[dict[str, Any]]], dict[str, Any]],
    tabulate: Callable[[dict[str, Any]], JobOutput],
) -> JobOutput:
    """A per-chromosome job: a shard's partial result, or the tables of all chromosomes."""
    part = scatter.partial(kind, compute, combine)
    return JobOutput(partial=(kind, part)) if scatter.mode == "shard" else tabulate(part)


def pca_job(
    geno: str | os.PathLike, groups: Groups, n_pcs: int = 10, min_maf: float = 0.0,
    chunk_size: int = 10000,
) -> JobOutput:  # fmt: skip
    """PCA scores with their group, variance explained (:func:`~breedomics.census.pca.pca`)."""
    scores, var = pca(geno, groups.samples, n_pcs=n_pcs, min_maf=min_maf, chunk_size=chunk_size)
    scores.insert(1, "group", groups.labels)
    return JobOutput({"": scores, "variance": var}, partial(plot_pca, scores, var, groups.labels))


def grm_job(
    geno: str | os.PathLike, groups: Groups, method: str = "vanraden", min_maf: float = 0.0,
    chunk_size: int = 10000,
) -> JobOutput:  # fmt: skip
    """The GRM as a square table (:func:`~breedomics.census.grm.census_grm`)."""
    res = census_grm(geno, groups.samples, method=method, min_maf=min_maf, chunk_size=chunk_size)
    return JobOutput({"": grm_table(res)}, partial(plot_grm, res, groups.labels))


def admixture_job(
    geno: str | os.PathLike, groups: Groups, k_min: int = 2, k_max: int = 6,
    inbred: bool = False, folds: int = 5, max_snps: int = 20000, seed: int = 1,
) -> JobOutput:  # fmt: skip
    """Ancestry proportions per K and the CV table (:mod:`~breedomics.census.admixture`)."""
    qtab, cv, _ = admixture(geno, groups.samples, k_min, k_max, inbred, folds, max_snps, seed)
    qtab.insert(1, "group", _labels(groups, qtab["sample"]))
    return JobOutput({"": qtab, "cv": cv}, partial(plot_admixture, qtab, cv, groups.labels))


def diversity_job(
    geno: str | os.PathLike, groups: Groups, inbred: bool = False, window: int = 100_000,
    lengths: str | os.PathLike | None = None, chunk_size: int = 10000,
    scatter: Scatter = WHOLE_GENOME,
) -> JobOutput:  # fmt: skip
    """Genome-wide and windowed diversity (:mod:`~breedomics.census.diversity`).

    ``lengths`` is a chromosome-length file (:func:`~breedomics.census.diversity.read_lengths`).
    """
    sizes = dv.read_lengths(lengths) if lengths else None

    def tabulate(part: dict[str, Any]) -> JobOutput:
        genome, windows = dv.diversity_tables(part, groups, sizes)
        return JobOutput(
            {"": genome, "windows": windows}, partial(dv.plot_diversity, genome, windows)
        )

    return _per_chromosome(
        "diversity",
        scatter,
        lambda chroms: dv.diversity_partial(
            geno, groups, inbred=inbred, window=window, chroms=chroms, chunk_size=chunk_size
        ),
        lambda parts: dv.combine_diversity(parts, scatter.chrom_order()),
        tabulate,
    )


def fst_job(
    geno: str | os.PathLike, groups: Groups, inbred: bool = False, blen: int = 1000,
    chunk_size: int = 10000,
) -> JobOutput:  # fmt: skip
    """Pairwise Hudson Fst (:func:`~breedomics.census.fst.pairwise_fst`)."""
    tab = pairwise_fst(geno, groups, inbred, blen, chunk_size)
    return JobOutput({"": tab}, partial(plot_fst, tab))


def ld_job(
    geno: str | os.PathLike, groups: Groups, max_dist: int = 500_000, bin_size: int = 10_000,
    min_maf: float = 0.05, min_samples: int = 10, chunk_size: int = 10000,
    scatter: Scatter = WHOLE_GENOME,
) -> JobOutput:  # fmt: skip
    """LD decay bins and summary (:mod:`~breedomics.census.ld`), chunks of at most 5000 SNPs."""
    settings = dict(max_dist=max_dist, bin_size=bin_size, min_maf=min_maf,
                    min_samples=min_samples, chunk_size=min(chunk_size, LD_MAX_CHUNK))  # fmt: skip

    def tabulate(part: dict[str, Any]) -> JobOutput:
        bins, summary = ld.ld_tables(part, groups)
        return JobOutput({"": bins, "summary": summary}, partial(ld.plot_ld, bins, summary))

    return _per_chromosome(
        "ld-decay",
        scatter,
        lambda chroms: ld.ld_partial(geno, groups, chroms=chroms, **settings),
        ld.combine_ld,
        tabulate,
    )


def roh_job(
    geno: str | os.PathLike, groups: Groups, min_length: int = 1_000_000, min_snps: int = 50,
    max_het: int = 1, max_missing: int = 5, max_gap: int = 1_000_000, chunk_size: int = 10000,
    scatter: Scatter = WHOLE_GENOME,
) -> JobOutput:  # fmt: skip
    """F_ROH per sample with its group, and the segments (:mod:`~breedomics.census.roh`)."""
    settings = dict(min_length=min_length, min_snps=min_snps, max_het=max_het,
                    max_missing=max_missing, max_gap=max_gap, chunk_size=chunk_size)  # fmt: skip

    def tabulate(part: dict[str, Any]) -> JobOutput:
        per, seg = roh.roh_tables(part, groups.samples)
        per.insert(1, "group", groups.labels)
        return JobOutput({"": per, "segments": seg}, partial(roh.plot_roh, per))

    return _per_chromosome(
        "roh",
        scatter,
        lambda chroms: roh.roh_partial(geno, groups.samples, chroms=chroms, **settings),
        roh.combine_roh,
        tabulate,
    )


def duplicates_job(
    geno: str | os.PathLike, groups: Groups, threshold: float = 0.97, min_snps: int = 100,
    chunk_size: int = 10000,
) -> JobOutput:  # fmt: skip
    """Duplicate pairs and clusters from pairwise IBS (:mod:`~breedomics.census.duplicates`)."""
    res = pairwise_ibs(geno, groups.samples, chunk_size)
    pairs, clusters = duplicate_clusters(res, threshold, min_snps)
    return JobOutput({"": pairs, "clusters": clusters}, partial(plot_ibs, res, threshold))


def core_job(
    geno: str | os.PathLike, groups: Groups, size: float, required: str | os.PathLike | None = None,
    n_random: int = 200, seed: int = 1, chunk_size: int = 10000,
) -> JobOutput:  # fmt: skip
    """Core collection of ``size`` accessions (a count, or a fraction if < 1) and its summary.

    ``required`` is a file of accessions forced into the core
    (:func:`~breedomics.census.core.read_required`).
    """
    forced = read_required(required) if required else []
    core, summary = core_collection(
        geno, groups.samples, core_size(size, len(groups.samples)), forced, n_random, seed,
        chunk_size,
    )  # fmt: skip
    core.insert(2, "group", _labels(groups, core["sample"]))
    return JobOutput({"": core, "summary": summary}, partial(plot_core, core, summary))
