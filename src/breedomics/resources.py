"""Resource requests of workflow jobs, estimated from their input and clipped by a cap.

Every rule asks for memory (``mem_mb``, MB) and run time (``runtime``, minutes) computed
from what it reads: bytes of FASTQ, BAM, VCF/BCF and FASTA inputs, and for PLINK sets the
genotype cells (4 per byte of ``.bed``) and the sample count (lines of ``.fam``). A model
per rule turns these into a request, with a floor for small data, so that a 36k-marker
panel asks for little and a whole-genome panel for what it needs. Each retry (Snakemake's
``attempt``) multiplies the estimate.

The cluster's limits (nf-core's ``resourceLimits``) come from the environment:
``BREEDOMICS_MAX_MEM_MB``, ``BREEDOMICS_MAX_THREADS`` and ``BREEDOMICS_MAX_RUNTIME``
(minutes). An estimate above them is clipped to them, retries included, with one warning
per rule: the job runs at the cap instead of being refused by the scheduler.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from breedomics.errors import UserError

#: Environment variables of the cap: resource -> variable.
CAP_VARS = {
    "mem_mb": "BREEDOMICS_MAX_MEM_MB",
    "threads": "BREEDOMICS_MAX_THREADS",
    "runtime": "BREEDOMICS_MAX_RUNTIME",
}
_UNITS = {"mem_mb": "MB", "threads": "CPUs", "runtime": "minutes"}
_EXAMPLE = {"mem_mb": "23000", "threads": "2", "runtime": "1440"}

_GB = 1e9
_READS = (".fq.gz", ".fastq.gz", ".fq", ".fastq")
_BAM = (".bam", ".cram")
_VCF = (".vcf.gz", ".vcf", ".bcf")
_FASTA = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")
_BWA_INDEX = (".amb", ".ann", ".bwt", ".pac", ".sa")


@dataclass(frozen=True)
class Cap:
    """Largest request of any job; ``None``: no limit."""

    mem_mb: int | None = None
    threads: int | None = None
    runtime: int | None = None


def read_cap(env: Mapping[str, str] | None = None) -> Cap:
    """The cap from ``BREEDOMICS_MAX_*`` in ``env`` (default: the process environment).

    Raises
    ------
    UserError
        A variable set to anything but a positive whole number, naming it and the fix.
    """
    env = os.environ if env is None else env
    values: dict[str, int | None] = {}
    for key, var in CAP_VARS.items():
        text = env.get(var, "").strip()
        if not text:
            values[key] = None
            continue
        if not text.isdigit() or int(text) < 1:
            raise UserError(
                f"{var}={text!r} is not a positive whole number of {_UNITS[key]}: set e.g. "
                f"`export {var}={_EXAMPLE[key]}`, or unset it for no limit."
            )
        values[key] = int(text)
    return Cap(**values)


@dataclass(frozen=True)
class Inputs:
    """What a job reads, in the units the models use.

    Attributes
    ----------
    reads_gb, bam_gb, vcf_gb, fasta_gb, index_gb, other_gb : float
        Gigabytes (1e9 bytes) of FASTQ, BAM/CRAM, VCF/BCF, FASTA, bwa index and other
        inputs (tables, folders).
    region_bam_gb, region_vcf_gb : float
        ``bam_gb`` and ``vcf_gb`` times the fraction of the genome in the job's region BED
        (calling from the BAMs, merging the per-sample gVCFs).
    gcells : float
        Genotype cells (samples x markers, 1e9) of the PLINK sets read.
    mmarkers : float
        Markers (1e6) of the PLINK sets read (per-marker results held in memory).
    ksamples2 : float
        (samples / 1000) squared, of the largest PLINK set read (n x n matrices).
        Derived: :attr:`ksamples`, :attr:`gkcells`.
    """

    reads_gb: float = 0.0
    bam_gb: float = 0.0
    region_bam_gb: float = 0.0
    vcf_gb: float = 0.0
    region_vcf_gb: float = 0.0
    fasta_gb: float = 0.0
    index_gb: float = 0.0
    other_gb: float = 0.0
    gcells: float = 0.0
    mmarkers: float = 0.0
    ksamples2: float = 0.0

    @property
    def ksamples(self) -> float:
        """Samples / 1000 of the largest PLINK set (per-sample work: admixture)."""
        return math.sqrt(self.ksamples2)

    @property
    def gkcells(self) -> float:
        """``gcells`` x ``ksamples``: samples^2 x markers / 1e12, the work of the n x n
        products over every marker (GRM, kinship, the mixed models' rotation, IBS)."""
        return self.gcells * self.ksamples


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _genome_length(fai: Path) -> int:
    with open(fai) as fh:
        return sum(int(line.split("\t")[1]) for line in fh if line.strip())


def _bed_length(bed: Path) -> int:
    total = 0
    with open(bed) as fh:
        for line in fh:
            f = line.split("\t")
            if len(f) >= 3 and f[1].strip().isdigit():
                total += int(f[2]) - int(f[1])
    return total


def measure(
    paths: Iterable[str | os.PathLike], region_bed: str | None = None, missing_ok: bool = False
) -> Inputs:
    """Sizes and counts of a job's input files.

    Parameters
    ----------
    paths
        Every input file or folder of the job.
    region_bed
        The job's calling region (a BED of intervals); with a ``.fai`` among ``paths`` it
        scales the BAM and VCF/BCF bytes to the region's share of the genome.
    missing_ok
        Count missing files as empty instead of raising FileNotFoundError (Snakemake then
        shows the request as <TBD> and computes it when the input exists). For a rule in a
        group job: its input may be written inside the group, after the group's request.
    """
    files = [Path(p) for p in paths]
    if missing_ok:
        files = [p for p in files if p.exists()]
        if region_bed and not Path(region_bed).exists():
            region_bed = None
    names = {str(p) for p in files}
    gb: dict[str, float] = dict.fromkeys(("reads", "bam", "vcf", "fasta", "index", "other"), 0.0)
    gcells = 0.0
    mmarkers = 0.0
    n_max = 0
    fai = None
    for p in files:
        name = str(p)
        if name.endswith(".bed") and name[: -len(".bed")] + ".fam" in names:
            fam = Path(name[: -len(".bed")] + ".fam")
            n = _lines(fam)
            n_max = max(n_max, n)
            padded = 4 * math.ceil(n / 4) if n else 4
            markers = max(_size(p) - 3, 0) * 4 / padded
            gcells += n * markers / _GB
            mmarkers += markers / 1e6
            continue
        if name.endswith(".fai"):
            fai = p
        kind = next(
            (
                k
                for k, ends in (
                    ("reads", _READS),
                    ("bam", _BAM),
                    ("vcf", _VCF),
                    ("fasta", _FASTA),
                    ("index", _BWA_INDEX),
                )
                if name.endswith(ends)
            ),
            "other",
        )
        gb[kind] += _size(p) / _GB
    share = 1.0
    if (
        region_bed
        and fai is not None
        and str(region_bed) not in {n[: -len(".fam")] + ".bed" for n in names if n.endswith(".fam")}
    ):
        genome = _genome_length(fai)
        share = min(1.0, _bed_length(Path(region_bed)) / genome) if genome else 1.0
    return Inputs(
        reads_gb=gb["reads"],
        bam_gb=gb["bam"],
        region_bam_gb=gb["bam"] * share,
        vcf_gb=gb["vcf"],
        region_vcf_gb=gb["vcf"] * share,
        fasta_gb=gb["fasta"],
        index_gb=gb["index"],
        other_gb=gb["other"],
        gcells=gcells,
        mmarkers=mmarkers,
        ksamples2=(n_max / 1000) ** 2,
    )


@dataclass(frozen=True)
class Model:
    """Request of one kind of job: floors plus rates per unit of :class:`Inputs`.

    ``mem_mb = mem + mem_per_thread * threads + sum(mem_rates[q] * inputs.q)`` and
    ``runtime = time + sum(time_rates[q] * inputs.q) * ((1 - parallel) + parallel /
    threads)``, both times ``attempt``. Rates: MB, and CPU-minutes, per unit.
    """

    mem: float
    time: float
    mem_per_thread: float = 0.0
    mem_rates: Mapping[str, float] = field(default_factory=dict)
    time_rates: Mapping[str, float] = field(default_factory=dict)
    parallel: float = 1.0


def _tool(mem: float = 500, time: float = 5, **time_rates: float) -> Model:
    """A streaming tool (bcftools, samtools, plink2): small memory, time from bytes."""
    return Model(mem=mem, time=time, time_rates=time_rates, parallel=0.5)


def _matrix(
    mem_gcells: float,
    mem_k2: float,
    time_gcells: float,
    time_k2: float = 0.0,
    time: float = 10,
    mem_mmarkers: float = 0.0,
) -> Model:
    """A Python stage over a PLINK set: numpy baseline, the matrix or chunks of it (MB per
    1e9 cells), n x n matrices (MB per 1000 samples squared), per-marker results."""
    return Model(
        mem=1000,
        time=time,
        mem_rates={"gcells": mem_gcells, "ksamples2": mem_k2, "mmarkers": mem_mmarkers},
        time_rates={"gcells": time_gcells, "ksamples2": time_k2},
        parallel=0.5,
    )


#: Beagle 5 (Java heap from mem_mb): memory and time grow with the genotypes it reads.
_BEAGLE = Model(
    mem=1500, time=10, mem_rates={"vcf_gb": 3000}, time_rates={"vcf_gb": 1000}, parallel=0.9
)
#: a GWAS scan (``run_gwas``, ``scan_gwas_shard``): the rotation U'X grows as n^2 x m, the
#: tests and traits as n x m, the eigendecomposition as n^3 (seconds at 3,000)
_GWAS_SCAN = Model(
    mem=1000,
    time=10,
    mem_rates={"ksamples2": 300, "mmarkers": 300},
    time_rates={"gkcells": 8, "gcells": 4, "ksamples2": 1},
    parallel=0.5,
)
#: ``genotypes.impute: mean`` copies the QC'd VCF and its index (I/O only)
_COPY = Model(mem=500, time=5, time_rates={"vcf_gb": 1}, parallel=0)

#: Rule -> model. Rates are set from the benchmarks/ of the test data and of a larger
#: simulated panel (docs/cluster.md), with headroom; real-genome rates (reads, BAMs)
#: from the tools' documented footprints (bwa index ~5.4 bytes per base, bwa mem the index
#: plus per-thread buffers, samtools sort -m 512M per thread).
MODELS: dict[str, Model] = {
    # reference and reads
    "prepare_reference": _tool(fasta_gb=20),
    "build_bwa_index": Model(
        mem=500, time=10, mem_rates={"fasta_gb": 2000}, time_rates={"fasta_gb": 60}, parallel=0
    ),
    # fastp holds ~1.1 GB even with one thread and a small lane (benchmarks/trim/)
    "trim_reads": Model(mem=1500, time=5, mem_per_thread=250, time_rates={"reads_gb": 15}),
    "map_reads": Model(
        mem=1000,
        time=10,
        mem_per_thread=800,
        mem_rates={"index_gb": 1250},
        time_rates={"reads_gb": 150},
        parallel=0.95,
    ),
    # units given as BAM/CRAM: pairs extracted (collate | fastq), or records imported
    # (read groups, fixmate, samtools sort -m 512M per thread)
    "extract_reads": _tool(bam_gb=30),
    "import_alignment": Model(
        mem=1000, time=10, mem_per_thread=600, time_rates={"bam_gb": 40}, parallel=0.5
    ),
    "merge_sample_bams": _tool(bam_gb=10),
    "mark_duplicates": Model(
        mem=1000, time=5, mem_per_thread=300, time_rates={"bam_gb": 10}, parallel=0.5
    ),
    "mark_duplicates_cram": Model(
        mem=1000, time=5, mem_per_thread=300, time_rates={"bam_gb": 15}, parallel=0.5
    ),
    "stat_alignments": Model(
        mem=500, time=5, mem_rates={"fasta_gb": 1200}, time_rates={"bam_gb": 20}, parallel=0
    ),
    # calling
    "make_regions": Model(
        mem=800, time=5, mem_rates={"fasta_gb": 2000}, time_rates={"fasta_gb": 20}
    ),
    "write_ploidy": _tool(),
    # a GBS run's covered loci: samtools depth over every BAM (calling.gbs.loci: covered)
    "gbs_covered_loci": _tool(bam_gb=10),
    "call_variants_region": Model(
        mem=1000, time=10, mem_rates={"bam_gb": 5}, time_rates={"region_bam_gb": 120}, parallel=0
    ),
    # calling.mode incremental: one sample's pileup of the whole genome (gVCF blocks), its
    # candidate positions (bcftools query); one region's cut of every sample's gVCF to the
    # candidates (Python, text), merge, indel fill and call
    "call_sample_gvcf": Model(mem=1000, time=10, time_rates={"bam_gb": 120}, parallel=0),
    "list_gvcf_candidates": _tool(vcf_gb=5),
    # reads the region of every gVCF: 104 x 0.1 Mb at 6x (35 MB of the gVCFs' bytes),
    # 2.7 CPU s, i.e. ~1.3 CPU-min per GB (bench/varcall.py --incremental)
    "merge_gvcfs_region": Model(mem=1000, time=10, time_rates={"region_vcf_gb": 3}, parallel=0),
    "concat_calls": _tool(vcf_gb=10),
    # estimate-inbreeding: reads every record, keeps <= 20 000 thinned sites x samples
    "estimate_inbreeding": Model(mem=800, time=5, time_rates={"vcf_gb": 120}, parallel=0),
    "normalize_calls": Model(
        mem=800, time=5, mem_rates={"fasta_gb": 1200}, time_rates={"vcf_gb": 30}, parallel=0.5
    ),
    "filter_calls": _tool(vcf_gb=30),
    # refine-calls: one chromosome's records in memory; time ~ genotypes x states x rounds
    "refine_calls": Model(
        mem=1000, time=10, mem_rates={"vcf_gb": 4000}, time_rates={"vcf_gb": 600}, parallel=0
    ),
    "hardfilter_calls": _tool(vcf_gb=15),
    "stat_calls": _tool(vcf_gb=20),
    "run_multiqc": Model(mem=1500, time=10, mem_rates={"other_gb": 2000}),
    # genotypes
    # two streamed passes; held: a few numbers per variant (mmarkers) and one chunk of
    # dosages. PLINK input, 3,000 x 10 M: ~4.1 GB and ~2.2 CPU h (docs/scaling.md)
    "normalise_genotypes": Model(
        mem=1000,
        time=5,
        mem_rates={"vcf_gb": 500, "gcells": 100, "mmarkers": 200, "fasta_gb": 1200},
        time_rates={"vcf_gb": 60, "gcells": 10},
        parallel=0,
    ),
    # two streamed passes (chunks of variants); 3,000 x 10 M: ~1.05 CPU h, ~0.4 GB
    "qc_genotypes": Model(mem=1000, time=5, mem_rates={"vcf_gb": 100}, time_rates={"vcf_gb": 15}),
    "apply_genotype_qc": _tool(vcf_gb=15),
    "impute_genotypes:beagle": _BEAGLE,
    "impute_genotypes:mean": _COPY,
    "mask_genotypes": Model(mem=1000, time=5, mem_rates={"vcf_gb": 500}, time_rates={"vcf_gb": 60}),
    "impute_masked_genotypes": _BEAGLE,
    "score_imputation": Model(
        mem=1000, time=5, mem_rates={"vcf_gb": 500}, time_rates={"vcf_gb": 60}
    ),
    "export_plink": _tool(mem=1000, vcf_gb=30),
    "prune_ld": _tool(mem=1000, gcells=5),  # plink2 --indep-pairwise: minutes at 3,000 x 10 M
    # census (PLINK sets; admixture and PCA on the pruned set)
    "compute_census_pca": _matrix(0, 200, 20, 10),
    "compute_census_grm": _matrix(0, 200, 20, 10),
    # at most census.admixture_max_snps (20,000) markers: grows with the samples only
    # (3,000 samples: ~0.5 CPU h on one busy thread, 3.2 GB; docs/scaling.md)
    "estimate_admixture": Model(
        mem=1000, time=10, mem_rates={"ksamples": 1000}, time_rates={"ksamples": 40}, parallel=0
    ),
    "plan_census_shards": _matrix(0, 0, 1, time=5),
    # census shards: a streamed pass over their chromosomes (whole genome of 3,000 x 10 M:
    # < 3.6 CPU h, 0.3 GB; docs/scaling.md)
    "scan_diversity_shard": _matrix(20, 50, 10),
    "gather_diversity": _matrix(0, 50, 1, time=5),
    "compute_fst": _matrix(50, 50, 4),
    "scan_ld_decay_shard": _matrix(20, 50, 20),
    "gather_ld_decay": _matrix(0, 50, 1, time=5),
    "scan_roh_shard": _matrix(20, 50, 10),
    "gather_roh": _matrix(0, 50, 1, time=5),
    # pairwise IBS (n^2 x m), 3,000 x 10 M: 1.2-7 CPU h, 3.8 GB
    "find_duplicate_accessions": Model(
        mem=1000,
        time=10,
        mem_rates={"mmarkers": 200, "ksamples2": 200},
        time_rates={"gkcells": 10, "gcells": 2},
        parallel=0.5,
    ),
    # 3,000 x 10 M: 1.9 CPU h, 2.9 GB
    "select_core_set": Model(
        mem=1000,
        time=10,
        mem_rates={"mmarkers": 200, "ksamples2": 100},
        time_rates={"gcells": 12, "gkcells": 1},
        parallel=0.5,
    ),
    # GWAS: one eigendecomposition, variant chunks rotated (n^2 per variant), every trait.
    # Exact MLM genome-wide at 3,000 x 10 M: ~16,500 CPU s per trait (docs/scaling.md);
    # 1,200 x 5 M: 230 s on 2 cores, peak 1.1 GB (docs/gwas-benchmarks.md)
    "run_gwas": _GWAS_SCAN,
    "predict_gwas_consequences": Model(
        mem=1000, time=5, mem_rates={"other_gb": 300}, time_rates={"vcf_gb": 60}, parallel=0
    ),
    # the leads' rows of the genotypes and the variant table (3,000 x 10 M: 0.1 h, < 6 GB)
    "annotate_gwas": Model(
        mem=1000,
        time=10,
        mem_rates={"mmarkers": 500, "ksamples2": 50},
        time_rates={"mmarkers": 3},
        parallel=0,
    ),
    # one pass of float32 n x n products (3,000 x 10 M: 3.5 CPU h, ~1.5 GB)
    "compute_gwas_kinship": Model(
        mem=1000,
        time=10,
        mem_rates={"ksamples2": 300},
        time_rates={"gkcells": 5, "gcells": 1},
        parallel=0.9,
    ),
    # a shard's input is the whole set; its time is asked for its chromosome group's
    # share of the markers (workflow/rules/resources.smk, chromosome_group_share)
    "scan_gwas_shard": _GWAS_SCAN,
    # every trait's table of one model (3,000 x 10 M, 10 traits: ~12 GB, docs/scaling.md)
    "gather_gwas": Model(
        mem=1000,
        time=10,
        mem_rates={"mmarkers": 1200, "ksamples2": 50},
        time_rates={"mmarkers": 6, "other_gb": 5},
        parallel=0,
    ),
    # genomic selection: the genotype matrix in memory (float32 copies), kernels n x n
    "estimate_blues": Model(mem=1000, time=10, mem_rates={"other_gb": 5000}),
    # spatial trials: dense mixed-model equations of one trial (5,000 plots: ~0.3 GB, 10 s)
    "spatial_trials": Model(
        mem=2000, time=20, mem_rates={"other_gb": 20000}, time_rates={"other_gb": 600}
    ),
    # growth curves: padded unit x date arrays and their B-spline/Jacobian stacks (a 1 MB
    # series of 2,000 plots x 20 dates: ~0.1 GB, 2 s)
    "growth_curves": Model(
        mem=600, time=5, mem_rates={"other_gb": 50000}, time_rates={"other_gb": 60}
    ),
    "make_gs_folds": _tool(),
    "cross_validate_gs": _matrix(16000, 300, 120, 120),
    "cross_validate_gs_multitrait": _matrix(16000, 300, 120, 120),
    "gather_gs_cv": _tool(),
    "predict_gs": _matrix(16000, 300, 120, 120),
    "select_candidates": _matrix(8000, 200, 300, 30),
    # molecular-trait QTL (feature tables count as other_gb)
    # QC-RLSC: a few copies of the injections x features table, LOESS per feature and
    # batch, n x n sample distances for k-NN imputation
    "prepare_metabolites": Model(
        mem=600,
        time=5,
        mem_rates={"other_gb": 20000, "ksamples2": 100},
        time_rates={"other_gb": 1200},
    ),
    "prepare_omics": Model(
        mem=1000,
        time=10,
        mem_rates={"other_gb": 20000, "ksamples2": 100},
        time_rates={"other_gb": 600},
    ),
    "map_omics_qtl": Model(
        mem=1000,
        time=10,
        mem_rates={"gcells": 1000, "ksamples2": 300, "other_gb": 5000},
        time_rates={"gcells": 3000, "other_gb": 3000},
        parallel=0.5,
    ),
    # omics map (tensorQTL modes): memory is the cis windows of one batch of features
    # and the permutation arrays (n x nperm), never the genome; time grows with the
    # features (phenotype table, other_gb) times the genotypes (gcells): 1,000 samples x
    # 500,000 SNPs x 20,000 genes (a 0.17 GB table), 1,000 permutations: ~10 min
    "map_omics_scale": Model(
        mem=1000,
        time=10,
        mem_rates={"ksamples2": 300, "other_gb": 3000},
        time_rates={"other_gb": 600, "gcells": 30},
        parallel=0.8,
    ),
    # n x n kernel of a dataset's standardised features (omics kernel)
    "compute_omics_kernel": Model(
        mem=1000, time=5, mem_rates={"other_gb": 5000, "ksamples2": 50}, time_rates={"other_gb": 60}
    ),
    "summarise_omics": Model(
        mem=1000, time=10, mem_rates={"other_gb": 2000, "gcells": 500}, time_rates={"other_gb": 120}
    ),
    # omics link: the tables of every dataset (other_gb), the variant table (mmarkers) and
    # the dosages of the leads only (a few PLINK rows)
    "link_omics_gwas": Model(
        mem=1000,
        time=5,
        mem_rates={"other_gb": 3000, "mmarkers": 500},
        time_rates={"other_gb": 60, "mmarkers": 2},
    ),
    # the run's summary page: reads tables and summary statistics (other_gb), never the
    # genotypes, BAMs or VCFs among its inputs
    # (3,000 x 10 M, 10 traits: 5.7 GB, 5 min)
    "build_report": Model(
        mem=1000, time=10, mem_rates={"other_gb": 1000}, time_rates={"other_gb": 8}
    ),
}


def estimate(
    model: Model, inputs: Inputs, threads: int = 1, attempt: int = 1, work_share: float = 1.0
) -> dict[str, int]:
    """``{"mem_mb": MB, "runtime": minutes}`` of one job (before the cap).

    Both grow with ``attempt``: a retry after running out of memory or time asks for
    more of both. ``work_share``: the part of its input's markers a shard job scans
    (:func:`chromosome_group_share`, :func:`census_shard_share`); it scales the time
    rates, not the memory (a shard holds the whole variant table).
    """
    q = {**vars(inputs), "ksamples": inputs.ksamples, "gkcells": inputs.gkcells}
    mem = model.mem + model.mem_per_thread * threads
    mem += sum(rate * q[k] for k, rate in model.mem_rates.items())
    work = work_share * sum(rate * q[k] for k, rate in model.time_rates.items())
    runtime = model.time + work * ((1 - model.parallel) + model.parallel / max(threads, 1))
    return {"mem_mb": math.ceil(mem * attempt), "runtime": math.ceil(runtime * attempt)}


_WARNED: set[tuple[str, str]] = set()


def clip(
    rule: str,
    key: str,
    value: int,
    cap: Cap,
    share: float = 1.0,
    warn: Callable[[str], None] | None = None,
) -> int:
    """``value`` clipped to ``cap`` (times ``share``), warning once per rule and resource.

    ``share``: this rule's part of the cap when it runs in a group job with others (a
    group job asks for their summed run time, and memory of those running side by side).
    """
    limit = getattr(cap, key)
    if limit is None:
        return value
    limit = max(1, int(limit * share))
    if value <= limit:
        return value
    if key == "threads":  # fewer threads: slower, never wrong; one note for all rules
        if warn is not None and ("*", key) not in _WARNED:
            _WARNED.add(("*", key))
            warn(
                f"breedomics: rule {rule} asks for threads={value} (its own or the profile's "
                f"set-threads), above the cap {CAP_VARS[key]}={getattr(cap, key)}; it and any "
                f"other rule asking for more run with {limit} (slower, same results)."
            )
        return limit
    if warn is not None and (rule, key) not in _WARNED:
        _WARNED.add((rule, key))
        grouped = (
            f" (its share of the cap in a group of {round(1 / share)} rules)" if share < 1 else ""
        )
        warn(
            f"breedomics: rule {rule} estimates {key}={value} {_UNITS[key]} from its input, "
            f"above the cap {CAP_VARS[key]}={getattr(cap, key)}; it runs with {limit}"
            f"{grouped}. If it fails, raise {CAP_VARS[key]} to what the cluster allows."
        )
    return limit


def request(
    rule: str,
    model: Model,
    key: str,
    paths: Iterable[str | os.PathLike],
    threads: int,
    attempt: int,
    cap: Cap,
    share: float = 1.0,
    region_bed: str | None = None,
    warn: Callable[[str], None] | None = None,
    work_share: float = 1.0,
) -> int:
    """One resource (``mem_mb`` or ``runtime``) of a job: estimated, then clipped.

    A rule in a group job (``share`` < 1) counts inputs not written yet as empty: the
    group's request is made before its later rules' input exists, and Snakemake leaves
    rules it cannot evaluate out of the group's sum. ``work_share``: see :func:`estimate`.
    """
    q = measure(paths, region_bed, missing_ok=share < 1)
    value = estimate(model, q, threads, attempt, work_share)[key]
    return clip(rule, key, value, cap, share, warn)


@functools.lru_cache(maxsize=8)
def _chromosome_markers(bim: str, mtime_ns: int) -> tuple[dict[str, int], dict[str, int]]:
    """Markers and largest position per chromosome of a ``.bim``, in file order."""
    import pandas as pd

    t = pd.read_csv(bim, sep=r"\s+", header=None, usecols=[0, 3], names=["chrom", "pos"],
                    dtype={"chrom": str, "pos": "int64"})  # fmt: skip
    g = t.groupby("chrom", sort=False)["pos"]
    return g.size().to_dict(), g.max().to_dict()


def chromosome_group_share(bim: str | os.PathLike, k: int, n_groups: int) -> float:
    """Share of a PLINK set's markers in chromosome group ``k`` of ``n_groups`` (the groups
    ``gwas run --chromosome-group k/N`` scans: :func:`breedomics.gwas.shards.chromosome_groups`).
    """
    from breedomics.gwas.shards import chromosome_groups

    bim = str(bim)
    counts, extents = _chromosome_markers(bim, os.stat(bim).st_mtime_ns)
    groups = chromosome_groups(extents, n_groups)
    total = sum(counts.values())
    if not total or k > len(groups):
        return 0.0
    return sum(counts[c] for c in groups[k - 1]) / total


def census_shard_share(plan: str | os.PathLike, shard: str) -> float:
    """Share of the markers in census shard ``shard`` (``census shards`` plan: ``shard``,
    ``chrom``, ``n_snps`` per row)."""
    import pandas as pd

    t = pd.read_csv(plan, sep="\t", dtype={"shard": str})
    total = t["n_snps"].sum()
    return float(t.loc[t["shard"] == str(shard), "n_snps"].sum() / total) if total else 1.0


def refused_submissions(
    log_text: str, rules: Iterable[str], cap: Cap, groups: Mapping[str, str] | None = None
) -> list[str]:
    """One line per rule (or group job) whose submission ``sbatch`` refused, from a log.

    The SLURM executor reports a refusal as the sbatch error and the whole ``sbatch``
    command (a screen of base64); this names the rule or group (from ``--comment
    rule_<name>_...``; ``groups``: rule -> group), what it asked for (``--mem``,
    ``--cpus-per-task``, ``-t``), the cap and the keys to set.
    """
    members: dict[str, list[str]] = {}
    for rule, group in (groups or {}).items():
        members.setdefault(group, []).append(rule)
    names = sorted({*rules, *members}, key=len, reverse=True)
    lines: dict[str, str] = {}
    pattern = re.compile(
        r"SLURM sbatch failed\. The error message was '(?P<error>.*?)'\.?\s*"
        r"sbatch call:\s*(?P<call>sbatch [^\n]*)",
        re.S,
    )
    for m in pattern.finditer(log_text):
        call = m.group("call")
        comment = re.search(r"--comment '?rule_([^' ]*)", call)
        name = next((n for n in names if comment and comment.group(1).startswith(n)), "?")
        if name in members and name not in rules:
            name = f"group {name} ({', '.join(sorted(members[name]))})"
        else:
            name = f"rule {name}"
        asked = {}
        for key, rx in (
            ("mem_mb", r"--mem (\d+)"),
            ("threads", r"--cpus-per-task[= ](\d+)"),
            ("runtime", r" -t '?(\d+)"),
        ):
            hit = re.search(rx, call)
            if hit:
                asked[key] = int(hit.group(1))
        error = " ".join(m.group("error").split())
        # one line per rule: its last attempt (retries ask for more)
        lines[name] = f"sbatch refused {refusal_hint(name, asked, cap)} (sbatch: {error})"
    return list(lines.values())


def refusal_hint(name: str, asked: Mapping[str, int], cap: Cap) -> str:
    """The job (``rule x`` / ``group y (...)``), what it asked for, the cap, the keys."""
    parts = []
    for key in ("mem_mb", "threads", "runtime"):
        if key in asked:
            limit = getattr(cap, key)
            shown = "unset" if limit is None else limit
            parts.append(f"{key}={asked[key]} (cap {CAP_VARS[key]}={shown})")
    return (
        f"{name}: it asked for {', '.join(parts)}; set BREEDOMICS_MAX_MEM_MB, "
        "BREEDOMICS_MAX_THREADS and BREEDOMICS_MAX_RUNTIME to the largest job the "
        "cluster accepts (sinfo -o '%c %m %l')."
    )
