"""One association run, as ``breedomics gwas run`` and ``gwas gather`` make it.

The decisions that turn a run's options into work are made here, not in the command
line, so that the command line only parses arguments:

1. samples: genotyped samples matched with the phenotypes and covariates
   (:func:`read_gwas_data`; unmatched samples are an error unless allowed, and are
   listed in ``samples.tsv``);
2. kinship (:func:`choose_kinship`): a user matrix (``kinship``), the GRM written by
   ``gwas kinship`` (``grm``, for the shards of a scattered run), or the VanRaden GRM of
   the analysed genotypes (VanRaden 2008), with per-chromosome parts for
   leave-one-chromosome-out tests (LOCO; Yang et al. 2014). It is made only when a mixed
   model or genotype PCs need it;
3. genotype PCs as covariates (:func:`add_genotype_pcs`; the top eigenvectors of the
   kinship, Price et al. 2006);
4. the scan (:func:`breedomics.gwas.scan.scan`): GLM and the mixed models (exact
   per-variant REML as GEMMA, Zhou & Stephens 2012, or P3D/EMMAX, Kang et al. 2010) in
   one streaming pass, FarmCPU (Liu et al. 2016) in its own passes, each feeding the
   M_eff estimate (Li & Ji 2005; Gao et al. 2008); the eigendecompositions written by
   ``gwas kinship`` are reused;
5. the end (:func:`run_gwas`): a shard state for ``gwas gather``, or thresholds,
   leads, plots, summaries and the run record (:func:`breedomics.gwas.report.finalize`);
   :func:`gather_gwas` ends a scattered run the same way.

References
----------
Gao, X., Starmer, J. & Martin, E. R. (2008). A multiple testing correction method for
genetic association studies using correlated single nucleotide polymorphisms. *Genet
Epidemiol* 32:361-369.

Kang, H. M. et al. (2010). Variance component model to account for sample structure in
genome-wide association studies. *Nat Genet* 42:348-354.

Li, J. & Ji, L. (2005). Adjusting multiple testing in multilocus analyses using the
eigenvalues of a correlation matrix. *Heredity* 95:221-227.

Liu, X. et al. (2016). Iterative usage of fixed and random effect models for powerful
and efficient genome-wide association studies. *PLoS Genet* 12:e1005767.

Price, A. L. et al. (2006). Principal components analysis corrects for stratification
in genome-wide association studies. *Nat Genet* 38:904-909.

VanRaden, P. M. (2008). Efficient methods to compute genomic predictions. *J Dairy Sci*
91:4414-4423.

Yang, J. et al. (2014). Advantages and pitfalls in the application of mixed-model
association methods. *Nat Genet* 46:100-106.

Zhou, X. & Stephens, M. (2012). Genome-wide efficient mixed-model analysis for
association studies. *Nat Genet* 44:821-824.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breedomics.errors import UserError
from breedomics.gwas.options import ReportOptions
from breedomics.gwas.phenotypes import GwasData
from breedomics.gwas.scan import MIXED_MODELS, GenotypeSource, ScanConfig

__all__ = [
    "Log",
    "no_log",
    "GwasInputs",
    "RunOptions",
    "GatherOptions",
    "logged_warnings",
    "read_gwas_data",
    "choose_kinship",
    "add_genotype_pcs",
    "run_gwas",
    "gather_gwas",
    "build_shard_kinship",
]

#: Receives a run's progress lines (the command lines print them with a time stamp).
Log = Callable[[str], None]


def no_log(_msg: str) -> None:
    """The default :data:`Log`: progress lines are dropped."""


@dataclass
class GwasInputs:
    """The genotypes and tables of a run.

    Attributes
    ----------
    geno : str
        PLINK 1 prefix or VCF/BCF.
    pheno : str
        Phenotype table: ``sample`` + one column per trait.
    covar : str, optional
        Covariate table (text columns are dummy-coded).
    traits : list of str, optional
        Traits to analyse (default: every column).
    allow_unmatched : bool
        Analyse the samples in both genotypes and phenotypes instead of stopping.
    """

    geno: str
    pheno: str
    covar: str | None = None
    traits: list[str] | None = None
    allow_unmatched: bool = False


@dataclass
class RunOptions:
    """Everything ``breedomics gwas run`` is asked to do (see its ``--help``).

    Attributes
    ----------
    inputs : GwasInputs
    out : str
        Output folder.
    scan : ScanConfig
        Model (FarmCPU's options included), LOCO, filters, permutations, seed, chunking.
    report : ReportOptions
        Threshold, clumping and plots.
    pcs : int
        Top kinship PCs added as covariates.
    kinship : str, optional
        A user kinship matrix instead of the GRM (no LOCO).
    grm, eigen : str, optional
        GRM and eigendecompositions written by ``gwas kinship`` (a scattered run).
    chromosomes : list of str, optional
        Scan these chromosomes only (a shard; needs ``grm``).
    chromosome_group : str, optional
        ``K/N``: scan the K-th of N groups of whole chromosomes.
    batch : list of str, optional
        Scan these traits only; samples are matched on all traits.
    shard_out : str, optional
        Write the shard state (JSON) for ``gwas gather`` instead of the report.
    meff : bool
        Estimate the effective number of tests (M_eff; blocks of ``scan.meff_block``).
    command : str
        The command line, kept in the run record.
    """

    inputs: GwasInputs
    out: str
    scan: ScanConfig = field(default_factory=ScanConfig)
    report: ReportOptions = field(default_factory=ReportOptions)
    pcs: int = 0
    kinship: str | None = None
    grm: str | None = None
    eigen: str | None = None
    chromosomes: list[str] | None = None
    chromosome_group: str | None = None
    batch: list[str] | None = None
    shard_out: str | None = None
    meff: bool = True
    command: str = ""

    def check(self) -> None:
        """Refuse combinations of options that cannot run, before any work."""
        cfg = self.scan
        if cfg.loco and cfg.model not in MIXED_MODELS:
            raise UserError("--loco applies to the mixed models (--model mlm or mlm-p3d)")
        if self.report.threshold == "permutation" and cfg.permutations <= 0:
            raise UserError("--threshold permutation needs --permutations N (e.g. 1000)")
        if self.report.threshold == "meff" and not self.meff:
            raise UserError("--threshold meff cannot be combined with --no-meff")
        if not 0 < self.report.alpha < 1:
            raise UserError(f"--alpha must be in (0, 1), got {self.report.alpha}")


@dataclass
class GatherOptions:
    """What ``breedomics gwas gather`` is asked to do (see its ``--help``).

    Attributes
    ----------
    inputs : GwasInputs
    out : str
    model : str
    shards : list of str
        Shard states (JSON), chromosome groups in order.
    report : ReportOptions
    loco : bool
        Recorded in the metadata.
    maf, max_missing : float
        The shards' filters (for the note on traits without a tested variant).
    pcs_file : str, optional
        A shard's ``pcs.tsv``, copied to ``out``.
    command : str
    """

    inputs: GwasInputs
    out: str
    model: str
    shards: list[str]
    report: ReportOptions = field(default_factory=ReportOptions)
    loco: bool = False
    maf: float = 0.01
    max_missing: float = 0.1
    pcs_file: str | None = None
    command: str = ""


@contextlib.contextmanager
def logged_warnings(log: Log) -> Iterator[None]:
    """Turn the warnings raised inside the block into ``warning: ...`` log lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        log(f"warning: {w.message}")


def read_gwas_data(inputs: GwasInputs) -> tuple[GwasData, list[str]]:
    """Phenotypes and covariates matched to the genotyped samples.

    Returns
    -------
    data : GwasData
    geno_samples : list of str
        All samples of the genotype file, in its order.
    """
    from breedomics.core import genotypes as gt
    from breedomics.gwas.phenotypes import prepare, read_covariates, read_phenotypes

    pheno = read_phenotypes(inputs.pheno, inputs.traits)
    covar = read_covariates(inputs.covar) if inputs.covar else None
    geno_samples = gt.read_samples(inputs.geno)
    data = prepare(
        geno_samples,
        pheno,
        covar,
        pheno_path=inputs.pheno,
        covar_path=inputs.covar or "covariates",
        allow_unmatched=inputs.allow_unmatched,
    )
    return data, geno_samples


def _chromosomes(opts: RunOptions, log: Log) -> tuple[int | None, list[str] | None]:
    """Group index and chromosomes of a shard (None, None for the whole genome)."""
    if not opts.chromosome_group:
        return None, opts.chromosomes
    from breedomics.gwas.shards import chromosome_group

    if opts.chromosomes is not None:
        raise UserError("give --chromosomes or --chromosome-group, not both")
    group, chroms = chromosome_group(opts.inputs.geno, opts.chromosome_group)
    log(f"chromosome group {opts.chromosome_group}: {','.join(chroms) or '(none)'}")
    return group, chroms


def choose_kinship(
    src: GenotypeSource,
    opts: RunOptions,
    geno_samples: list[str],
    log: Log = no_log,
):
    """The kinship a run needs: the GRM (loaded or built), a user matrix, or none.

    A GRM is needed by the mixed models (unless a user matrix is given) and for PCs.
    With ``opts.grm`` it is loaded (a shard); otherwise it is built from the analysed
    genotypes, per chromosome when the mixed model uses LOCO.

    Returns
    -------
    grm : breedomics.core.grm.GRM or None
    kinship : numpy.ndarray or None
        The user matrix of ``opts.kinship`` over the analysed samples.
    """
    from breedomics.gwas.kinship import read_kinship
    from breedomics.gwas.scan import build_grm

    cfg = opts.scan
    mixed = cfg.model in MIXED_MODELS
    grm = kin = None
    if opts.kinship:
        if cfg.loco:
            raise UserError("--kinship cannot be combined with --loco")
        kin = read_kinship(opts.kinship, src.samples, geno_samples)
    if not ((mixed and kin is None) or opts.pcs > 0):
        return grm, kin
    if opts.grm:
        from breedomics.gwas.shards import load_grm

        grm = load_grm(opts.grm, src.samples)
        if cfg.loco and mixed and not grm.chrom_num:
            raise UserError(f"--loco needs a GRM with per-chromosome parts: '{opts.grm}' has none")
        log(f"GRM from {opts.grm} ({grm.n_snps} SNPs)")
        return grm, kin
    if src.chromosomes is not None:
        raise UserError("--chromosomes needs --grm (the GRM is built from all chromosomes)")
    log("building the GRM" + (" (per chromosome for LOCO)" if cfg.loco else ""))
    grm, _ = build_grm(src, loco=cfg.loco and mixed)
    log(f"GRM from {grm.n_snps} SNPs")
    return grm, kin


def add_genotype_pcs(
    data: GwasData, kinship: np.ndarray, n_pcs: int, out: str, covar_label: str
) -> GwasData:
    """Append the top ``n_pcs`` PCs of ``kinship`` to the covariates; write ``pcs.tsv``.

    Parameters
    ----------
    data : GwasData
    kinship : numpy.ndarray
        Kinship of ``data.samples`` (the GRM, or the user matrix).
    n_pcs : int
        Number of PCs (> 0).
    out : str
        Folder of ``pcs.tsv``.
    covar_label : str
        Name of the covariate table (in collinearity errors).
    """
    from breedomics.core.grm import eigh_psd, top_pcs
    from breedomics.gwas.phenotypes import add_pcs

    pcs = top_pcs(eigh_psd(kinship, "kinship for PCs"), n_pcs)
    pd.DataFrame(pcs, index=data.samples, columns=[f"PC{i + 1}" for i in range(n_pcs)]).to_csv(
        os.path.join(out, "pcs.tsv"), sep="\t", index_label="sample", float_format="%.6g"
    )
    return add_pcs(data, pcs, f"{covar_label} with {n_pcs} PCs")


def _write_record(out: str, model: str, record: dict) -> None:
    """``run.<model>.json``: what was run, on what, how long it took."""
    with open(os.path.join(out, f"run.{model}.json"), "w") as fh:
        json.dump(record, fh, indent=2)


def _log_summary(summary: pd.DataFrame, log: Log) -> None:
    for row in summary.itertuples(index=False):
        msg = (
            f"{row.trait}: n={row.n_samples} tested={row.n_variants_tested} "
            f"lambda={row.lambda_gc:.3f} significant={row.n_significant} leads={row.n_leads}"
        )
        if row.notes:
            msg += f" [{row.notes}]"
        log(msg)


def run_gwas(opts: RunOptions, log: Log = no_log) -> pd.DataFrame | None:
    """Run one association scan of all traits, as ``breedomics gwas run``.

    Parameters
    ----------
    opts : RunOptions
    log : callable
        Receives progress lines.

    Returns
    -------
    pandas.DataFrame or None
        The per-trait summary (``summary.<model>.tsv``); None for a shard
        (``opts.shard_out``), whose state is written for ``gwas gather``.
    """
    from breedomics.core import genotypes as gt
    from breedomics.gwas.report import finalize
    from breedomics.gwas.scan import scan
    from breedomics.gwas.threshold import MeffAccumulator

    t0 = time.time()
    cfg = opts.scan
    opts.check()
    gt.check_genotype_order(opts.inputs.geno)  # sorted, unique, placed: before any work
    out = opts.out
    os.makedirs(out, exist_ok=True)
    with logged_warnings(log):
        data, geno_samples = read_gwas_data(opts.inputs)
    data.report.to_csv(os.path.join(out, "samples.tsv"), sep="\t", index=False)
    log(
        f"{len(data.samples)} samples, {data.traits.shape[1]} trait(s), "
        f"{data.covariates.shape[1]} fixed effect(s) before PCs"
    )
    group, chroms = _chromosomes(opts, log)
    passes = 2  # GRM pass and scan
    if cfg.model == "farmcpu":  # an iteration is a pass, and the final scan
        from breedomics.gwas.farmcpu import FarmCPUConfig

        passes = (cfg.farmcpu or FarmCPUConfig()).max_iter + 1
    src = GenotypeSource(
        opts.inputs.geno,
        data.samples,
        chunk_size=cfg.chunk_size,
        cache_bytes=cfg.cache_bytes,
        chromosomes=chroms,
        passes=passes,
    )
    log(f"{src.n_variants} variants in {opts.inputs.geno}")
    grm, kin = choose_kinship(src, opts, geno_samples, log)
    if opts.pcs > 0:
        k = grm.matrix() if kin is None else kin
        data = add_genotype_pcs(data, k, opts.pcs, out, opts.inputs.covar or "covariates")
    if opts.batch:
        unknown = [t for t in opts.batch if t not in data.traits.columns]
        if unknown:
            raise UserError(f"--batch names trait(s) {unknown} not in {opts.inputs.pheno}")
        data = dataclasses.replace(data, traits=data.traits[opts.batch])
    if chroms is not None and cfg.model == "farmcpu":
        raise UserError("FarmCPU is genome-wide (multi-locus): scatter it by trait batch only")
    meff = MeffAccumulator(block_size=cfg.meff_block, max_samples=500) if opts.meff else None
    eig_cache = None
    if opts.eigen:
        from breedomics.gwas.shards import EigenCache

        eig_cache = EigenCache(opts.eigen)
    log(f"scanning with model {cfg.model}" + (" + LOCO" if cfg.loco else ""))
    with logged_warnings(log):
        scans = scan(src, data, out, cfg, grm=grm, kinship=kin, meff=meff, eig_cache=eig_cache)
    meff_d = meff.finish() if meff is not None else None
    if opts.shard_out:
        from breedomics.gwas.shards import shard_state, write_shard_state

        if meff_d is not None:
            meff_d = {**meff_d, "blocks": meff.blocks}
        state = shard_state(
            scans, meff_d, chroms, covariates=list(data.covariates.columns), group=group
        )
        state["n_variants"] = sum(v.shape[0] for _c, v, _d in src.runs())
        write_shard_state(state, opts.shard_out)
        log(f"shard done in {time.time() - t0:.1f} s; state in {opts.shard_out}")
        return None
    log("thresholds, plots and clumping")
    summary, _thr = finalize(
        scans,
        data,
        src,
        out,
        opts.report,
        meff=meff_d,
        run_meta={
            "genotype_file": str(opts.inputs.geno),
            "covariates": list(data.covariates.columns),
            "loco": bool(cfg.loco),
        },
    )
    _write_record(
        out,
        cfg.model,
        {
            "command": opts.command,
            "model": cfg.model,
            "loco": cfg.loco,
            "samples": len(data.samples),
            "variants": src.n_variants,
            "meff": meff_d,
            "seconds": round(time.time() - t0, 2),
        },
    )
    _log_summary(summary, log)
    log(f"done in {time.time() - t0:.1f} s; results in {out}")
    return summary


def build_shard_kinship(
    inputs: GwasInputs,
    out: str,
    loco: bool = False,
    chunk_size: int = 10000,
    eigen: str | None = None,
    log: Log = no_log,
) -> None:
    """The GRM of the analysed samples, once for all shards (``breedomics gwas kinship``).

    Writes the GRM (with per-chromosome parts when ``loco``) to ``out`` and, with
    ``eigen``, the genome-wide kinship's eigendecomposition of every trait pattern into
    that folder (the mixed models' shards then skip it).
    """
    from breedomics.core.genotypes import check_genotype_order
    from breedomics.gwas.scan import build_grm, pattern_eigen, trait_patterns
    from breedomics.gwas.shards import pattern_key, save_eigens, save_grm

    t0 = time.time()
    check_genotype_order(inputs.geno)  # sorted, unique, placed: before any work
    data, _ = read_gwas_data(inputs)
    src = GenotypeSource(inputs.geno, data.samples, chunk_size=chunk_size)
    grm, _ = build_grm(src, loco=loco)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_grm(grm, out)
    if eigen:
        k_full = grm.matrix()
        n = len(data.samples)
        eigens = {
            pattern_key(rows): pattern_eigen(k_full, rows, traits, n)
            for traits, rows in trait_patterns(data)
        }
        save_eigens(eigens, eigen)
    log(
        f"{len(data.samples)} samples, {grm.n_snps} SNPs, "
        f"{len(grm.chrom_num)} LOCO parts, {time.time() - t0:.1f} s"
    )


def gather_gwas(opts: GatherOptions, log: Log = no_log) -> pd.DataFrame:
    """Merge the shards of a scattered run and write what one ``gwas run`` writes.

    Returns
    -------
    pandas.DataFrame
        The per-trait summary.
    """
    from breedomics.core import genotypes as gt
    from breedomics.gwas.report import finalize
    from breedomics.gwas.shards import gather_scans

    t0 = time.time()
    states = []
    for path in opts.shards:
        with open(path) as fh:
            states.append(json.load(fh))
    if opts.report.threshold == "permutation":
        # the permutation maxima are gathered as the maximum over the shards
        unpermuted = [
            path
            for path, st in zip(opts.shards, states, strict=True)
            if any(rec["perm_max_f"] is None for rec in st["traits"])
        ]
        if unpermuted:
            raise UserError(
                f"gwas gather --threshold permutation: shard '{unpermuted[0]}' was scanned "
                "without permutations; rerun its `gwas run` with --permutations N"
            )
    data, _ = read_gwas_data(opts.inputs)
    os.makedirs(opts.out, exist_ok=True)
    scans, meff = gather_scans(
        states,
        list(data.traits.columns),
        opts.out,
        opts.model,
        opts.maf,
        opts.max_missing,
        expect_variants=gt.n_variants(opts.inputs.geno),
    )
    data.report.to_csv(os.path.join(opts.out, "samples.tsv"), sep="\t", index=False)
    if opts.pcs_file:
        shutil.copyfile(opts.pcs_file, os.path.join(opts.out, "pcs.tsv"))
    summary, _thr = finalize(
        scans,
        data,
        GenotypeSource(opts.inputs.geno, data.samples),
        opts.out,
        opts.report,
        meff=meff,
        run_meta={
            "genotype_file": str(opts.inputs.geno),
            "covariates": states[0].get("covariates", []),
            "loco": bool(opts.loco),
        },
    )
    _write_record(
        opts.out,
        opts.model,
        {
            "command": opts.command,
            "model": opts.model,
            "loco": opts.loco,
            "samples": len(data.samples),
            "shards": len(states),
            "meff": meff,
            "seconds": round(time.time() - t0, 2),
        },
    )
    log(f"{len(states)} shards, {len(summary)} traits, {time.time() - t0:.1f} s")
    return summary
