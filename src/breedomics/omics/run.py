"""The two steps of ``breedomics omics`` around the scan, as the command line runs them.

``prepare`` (:func:`run_prepare`)
    Read a feature table, check its chromosomes against the genotypes, match samples,
    QC, transform and factor the features (:func:`breedomics.omics.features.prepare_dataset`)
    and write ``phenotypes.tsv``, ``covariates.tsv`` (hidden factors not associated with a
    variant; Fusi, Stegle & Lawrence 2012), ``features.tsv``, ``samples.tsv``,
    ``hidden_factors.tsv`` and ``prepare.json``.
``summarise`` (:func:`run_summarise`)
    Read the features and the scan's results and write the per-feature, cis, trans,
    hotspot and summary tables and the cis/trans map
    (:func:`breedomics.omics.summarise.summarise`; FastQTL/tensorQTL conventions, Ongen et
    al. 2016, Taylor-Weiner et al. 2019, Storey q-values, Storey & Tibshirani 2003).

Between them ``breedomics gwas run`` maps every feature in one pass
(:func:`breedomics.gwas.run.run_gwas`).

References
----------
Fusi, N., Stegle, O. & Lawrence, N. D. (2012). Joint modelling of confounding factors
and prominent genetic regulators provides increased accuracy in genetical genomics
studies. *PLoS Comput Biol* 8:e1002330.

Ongen, H. et al. (2016). Fast and efficient QTL mapper for thousands of molecular
phenotypes. *Bioinformatics* 32:1479-1485.

Storey, J. D. & Tibshirani, R. (2003). Statistical significance for genomewide studies.
*PNAS* 100:9440-9445.

Taylor-Weiner, A. et al. (2019). Scaling computational genomics to millions of
individuals with GPUs. *Genome Biol* 20:228.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import pandas as pd

from breedomics.errors import UserError
from breedomics.gwas.run import Log, logged_warnings, no_log
from breedomics.omics.features import QCOptions
from breedomics.omics.summarise import SummaryOptions

__all__ = ["PrepareOptions", "run_prepare", "run_summarise", "SUMMARY_FILES"]

#: Table of :func:`breedomics.omics.summarise.summarise` -> file written by ``summarise``.
SUMMARY_FILES = {
    "features": "qtl_features.tsv",
    "cis": "cis.tsv",
    "trans": "trans.tsv",
    "hotspots": "hotspots.tsv",
    "summary": "summary.tsv",
}


@dataclass
class PrepareOptions:
    """What ``breedomics omics prepare`` is asked to do (see its ``--help``).

    Attributes
    ----------
    features : str
        Feature table: samples x features, or a phenotype BED.
    geno : str
        Genotypes (PLINK prefix or VCF/BCF): sample ids, chromosomes, factor scan.
    out : str
        Output folder.
    qc : QCOptions
        Per-feature QC thresholds.
    transform : str
        ``inverse_normal``, ``log2`` or ``none``.
    pseudocount : float
        For ``log2``.
    hidden_factors : int
        Top PCs of the features used as covariates.
    keep_genetic_factors : bool
        Use every factor, also those associated with a variant.
    factor_alpha : float
        Family-wise error rate of the factor-genotype test.
    normalise : str
        ``none`` (the table is already expression), or ``tmm`` / ``deseq``: the table
        holds raw read counts (:mod:`breedomics.omics.normalise`).
    gene_lengths : str or None
        ``feature_id, length`` table for the TPM filter (None: CPM).
    min_tpm, min_reads : float
        GTEx filter thresholds (with ``qc.min_expressed_fraction``).
    covariates : str or None
        Known covariates (samples x covariates), used with the hidden factors.
    command : str
        The command line, kept in ``prepare.json``.
    """

    features: str
    geno: str
    out: str
    qc: QCOptions = field(default_factory=QCOptions)
    transform: str = "inverse_normal"
    pseudocount: float = 1.0
    hidden_factors: int = 5
    keep_genetic_factors: bool = False
    factor_alpha: float = 0.05
    normalise: str = "none"
    gene_lengths: str | None = None
    min_tpm: float = 0.1
    min_reads: float = 6.0
    covariates: str | None = None
    command: str = ""


def run_prepare(opts: PrepareOptions, log: Log = no_log):
    """QC, transform and hidden factors of one feature table; write the step's files.

    Returns
    -------
    breedomics.omics.features.Prepared
    """
    from breedomics.core import genotypes as gt
    from breedomics.omics.features import (
        check_feature_chromosomes,
        genotype_chromosomes,
        prepare_dataset,
        read_feature_table,
    )

    t0 = time.time()
    if not 0 <= opts.qc.max_missing < 1:
        raise UserError(f"--max-missing must be in [0, 1), got {opts.qc.max_missing}")
    if opts.hidden_factors < 0:
        raise UserError(f"--hidden-factors must be >= 0, got {opts.hidden_factors}")
    table = read_feature_table(opts.features)
    log(
        f"{table.path}: {table.values.shape[1]} features x {table.values.shape[0]} samples"
        + (" (phenotype BED)" if table.positions is not None else "")
    )
    geno_samples = gt.read_samples(opts.geno)
    if table.positions is not None:
        off = check_feature_chromosomes(
            table.positions, genotype_chromosomes(str(opts.geno)), table.path, str(opts.geno)
        )
        if off:
            log(
                f"warning: {len(off)} feature(s) on chromosomes the genotypes lack (no cis "
                f"variants), e.g. {off[0]!r}"
            )
    counts = None
    if opts.normalise != "none":
        from breedomics.omics.normalise import CountOptions

        counts = CountOptions(
            method=opts.normalise,
            gene_lengths=opts.gene_lengths,
            min_tpm=opts.min_tpm,
            min_reads=opts.min_reads,
            min_fraction=opts.qc.min_expressed_fraction,
        )
    elif opts.gene_lengths:
        raise UserError("--gene-lengths is for count tables: give --normalise tmm or deseq")
    with logged_warnings(log):
        prep = prepare_dataset(
            table,
            geno_samples,
            opts.qc,
            method=opts.transform,
            n_factors=opts.hidden_factors,
            pseudocount=opts.pseudocount,
            geno_path=str(opts.geno),
            geno_scan=not opts.keep_genetic_factors,
            factor_alpha=opts.factor_alpha,
            counts=counts,
            covariates=opts.covariates,
        )
    _write_prepared(opts, prep, t0, log)
    return prep


def _write_prepared(opts: PrepareOptions, prep, t0: float, log: Log) -> None:
    out = opts.out
    os.makedirs(out, exist_ok=True)
    prep.phenotypes.to_csv(
        os.path.join(out, "phenotypes.tsv"), sep="\t", na_rep="NA", float_format="%.6g"
    )
    # with no hidden factor the file has only the sample column: do not pass it as --covar
    prep.covariates.to_csv(os.path.join(out, "covariates.tsv"), sep="\t", float_format="%.6g")
    prep.features.to_csv(
        os.path.join(out, "features.tsv"),
        sep="\t",
        index=False,
        na_rep="NA",
        float_format="%.6g",
    )
    prep.samples.to_csv(os.path.join(out, "samples.tsv"), sep="\t", index=False)
    prep.factors.to_csv(
        os.path.join(out, "hidden_factors.tsv"), sep="\t", index=False, float_format="%.6g"
    )
    n_hf = int(prep.covariates.columns.str.fullmatch(r"HF\d+").sum())
    removed = prep.features[prep.features["status"] != "kept"]
    unmatched = prep.samples[~prep.samples["analysed"]]
    for r in removed.itertuples(index=False):
        log(f"feature {r.feature_id} removed: {r.reason}")
    for reason, grp in unmatched.groupby("reason"):
        log(f"{len(grp)} sample(s) not analysed ({reason}): {', '.join(grp['sample'][:5])}")
    with open(os.path.join(out, "prepare.json"), "w") as fh:
        json.dump(
            {
                "command": opts.command,
                "features": int(len(prep.features)),
                "features_kept": int(prep.phenotypes.shape[1]),
                "samples_analysed": int(prep.phenotypes.shape[0]),
                "transform": opts.transform,
                "normalise": opts.normalise,
                "known_covariates": int(prep.covariates.shape[1] - n_hf),
                "hidden_factors": opts.hidden_factors,
                "seconds": round(time.time() - t0, 2),
            },
            fh,
            indent=2,
        )
    for r in prep.factors.itertuples(index=False):
        if not getattr(r, "used", True):
            log(
                f"hidden factor {r.factor} is associated with {r.lead_variant} "
                f"(-log10 p = {r.neg_log_10_p_value:.1f}): left out of the covariates"
            )
    log(
        f"{prep.phenotypes.shape[1]} of {len(prep.features)} features kept, "
        f"{prep.phenotypes.shape[0]} samples, {n_hf} of {opts.hidden_factors} hidden "
        f"factors and {prep.covariates.shape[1] - n_hf} known covariate column(s) used; "
        f"done in {time.time() - t0:.1f} s"
    )


def run_summarise(
    features: str,
    qtl_dir: str,
    out: str,
    opts: SummaryOptions,
    title: str = "molecular QTL",
    log: Log = no_log,
) -> dict:
    """Cis/trans tables, q-values and hotspots of one dataset's scan; write them.

    Parameters
    ----------
    features : str
        ``features.tsv`` of the prepare step.
    qtl_dir : str
        The scan's ``--out`` folder.
    out : str
        Output folder (the tables of :data:`SUMMARY_FILES` and ``qtl_map.png``).
    opts : SummaryOptions
    title : str
        Title of the map.
    log : callable

    Returns
    -------
    dict
        The tables of :func:`breedomics.omics.summarise.summarise`.
    """
    from breedomics.omics.summarise import plot_map, summarise

    t0 = time.time()
    if not 0 < opts.fdr < 1:
        raise UserError(f"--fdr must be in (0, 1), got {opts.fdr}")
    if not os.path.exists(features):
        raise UserError(f"feature table {features} does not exist (run `omics prepare`)")
    feats = pd.read_csv(features, sep="\t", dtype={"chrom": str, "feature_id": str})
    tables = summarise(feats, qtl_dir, opts)
    os.makedirs(out, exist_ok=True)
    for key, name in SUMMARY_FILES.items():
        tables[key].to_csv(
            os.path.join(out, name), sep="\t", index=False, na_rep="NA", float_format="%.6g"
        )
    plot_map(tables, os.path.join(out, "qtl_map.png"), title)
    s = tables["summary"].iloc[0]
    log(
        f"{s['n_features_tested']} features: {s.get('n_cis_features', 0)} with a cis QTL, "
        f"{s['n_trans_features']} with a trans QTL, {s['n_hotspots']} hotspot(s) at FDR "
        f"{opts.fdr}; done in {time.time() - t0:.1f} s"
    )
    return tables
