# Loads and validates the config and the sheets once, and holds the input functions.
# Any input problem stops the run here, before a single job starts.

import os
import shlex
from pathlib import Path

import yaml
from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake.exceptions import WorkflowError

from breedomics.calling.gvcf import GVCF_BANDS
from breedomics.calling.gvcf_merge import candidate_filter
from breedomics.calling.inbreeding import line_het_steps
from breedomics.errors import UserError
from breedomics.validate import validate_run

SCHEMA_DIR = Path(workflow.basedir) / "schemas"

# The config is the whole config: validate_run fills in the schema's defaults, then checks
# every input the enabled stages name (the same check as `breedomics check-inputs`). The
# FASTQ files are opened once, by the main process: not again in each spawned job process
# (a cluster job runs one Snakemake per job).
try:
    RUN = validate_run(
        config,
        SCHEMA_DIR,
        source=" + ".join(map(str, workflow.configfiles)) or "config",
        check_files=workflow.is_main_process,
    )
except UserError as exc:
    raise WorkflowError(f"breedomics input error: {exc}") from None

GENO = config["genotypes"]
# Reads are processed when a unit sheet is given; a run can also start from genotypes.
HAS_READS = RUN.has_reads
samples, units, CONTIGS = RUN.samples, RUN.units, RUN.contigs

GENO_PATH = GENO["path"] or "unset"
# Sample sheet describing the genotyped accessions (groups, sex): a genotype panel
# can hold other accessions than the sequenced ones.
GENO_SAMPLES = GENO.get("samples") or config["samples"]
#: The sheet's rows of the samples that pass genotype QC (qc_genotypes).
QC_SHEET = "results/genotypes/qc/samples.tsv"

SAMPLES = list(samples.index)

# The Python stages run from this checkout's src/ (also inside --use-conda envs).
BREEDOMICS = (
    "PYTHONPATH="
    + shlex.quote(str(Path(workflow.basedir).parent / "src"))
    + "${PYTHONPATH:+:$PYTHONPATH} python -m breedomics"
)
#: Thread pools of numpy/scipy's BLAS and OpenMP; unset, each takes every core of the node.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def threaded_cli(wildcards, threads):
    """The breedomics command after `OMP_NUM_THREADS=n OPENBLAS_NUM_THREADS=n
    MKL_NUM_THREADS=n`, n being the job's threads (after --set-threads and the cap).

    `cli=threaded_cli` in the params of the rules whose BLAS work runs on their threads;
    `cli=BREEDOMICS` leaves the pools at their defaults. The thread count can change
    floating-point sums in their last bits, so each rule keeps the setting it had.
    """
    pools = " ".join(f"{var}={threads}" for var in THREAD_VARS)
    return f"{pools} {BREEDOMICS}"


# PLINK sets written by genotypes.smk: every QC'd, imputed marker, and the LD-pruned
# subset for the structure analyses (PCA, ancestry).
GENOTYPES_PLINK = "results/genotypes/genotypes"
PRUNED_PLINK = "results/genotypes/pruned"


def plink_set(prefix):
    """The .bed/.bim/.fam of a PLINK set as named files (`input.bed`, `output.fam`...)."""
    return multiext(prefix, bed=".bed", bim=".bim", fam=".fam")


def plink_prefix(wildcards, input):
    """A rule's PLINK input as the tools take it (`--geno`, `--bfile`): `input.bed`
    without `.bed`."""
    return input.bed[: -len(".bed")]


def plink_output_prefix(wildcards, output):
    """`plink2 --out` of the PLINK set a job writes (`output.bed` without `.bed`)."""
    return plink_prefix(wildcards, output)


SEX_X = config["genome"]["sex_chromosomes"].get("X") or ""
SEX_Y = config["genome"]["sex_chromosomes"].get("Y") or ""
INBRED = config["genome"]["mating"] == "inbred"
# The call set the PASS set is made from: refined genotypes when calling.refine is on.
REFINE = config["calling"]["refine"]
CALLS_TO_PASS = (
    "results/calls/all.refined.vcf.gz"
    if REFINE["enabled"]
    else "results/calls/all.filtered.vcf.gz"
)
REPO = Path(workflow.basedir).parent
ADAPTERS = str(REPO / "resources" / "adapters" / "illumina.fa")


wildcard_constraints:
    sample=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    unit=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    region=r"region_\d+",


def units_of(sample):
    """Unit ids of one sample."""
    return list(units.loc[sample, "unit"])


def unit_fastqs(wildcards):
    """The unit's reads: its FASTQ, or the pairs extracted from its BAM/CRAM."""
    row = units.loc[(wildcards.sample, wildcards.unit)]
    if row["entry"] == "extract":
        prefix = f"results/reads/{wildcards.sample}/{wildcards.unit}"
        return {"fq1": f"{prefix}_R1.fq.gz", "fq2": f"{prefix}_R2.fq.gz"}
    return {"fq1": row["fq1"], "fq2": row["fq2"]}


def unit_alignment(wildcards):
    """A BAM/CRAM unit's file and the FASTA that decodes it (a CRAM; else the reference)."""
    row = units.loc[(wildcards.sample, wildcards.unit)]
    decode = row["decode_with"]
    fa = decode if decode and decode != "workflow" else "results/reference/genome.fa"
    return {"aln": row["bam"], "fa": fa}


def decode_option(wildcards, input):
    """`--reference FASTA` for a CRAM (samtools would look its contigs up online else)."""
    return f"--reference {input.fa}" if input.aln.endswith(".cram") else ""


def mapped_unit_bams(wildcards):
    """Each unit's sorted records: aligned here, or imported from its BAM/CRAM."""
    return [
        (
            f"results/imported/{wildcards.sample}/{u}.bam"
            if units.loc[(wildcards.sample, u), "entry"] == "import"
            else f"results/mapped/{wildcards.sample}/{u}.bam"
        )
        for u in units_of(wildcards.sample)
    ]


def read_group(wildcards):
    """SAM read-group line; every field comes from schema-validated identifiers."""
    row = units.loc[(wildcards.sample, wildcards.unit)]
    rg = (
        f"@RG\\tID:{wildcards.sample}.{wildcards.unit}\\tSM:{wildcards.sample}"
        f"\\tLB:{wildcards.sample}.{row['library_type']}\\tPL:{row['platform']}"
        f"\\tPU:{wildcards.unit}"
    )
    return rg


def is_gbs(sample):
    return (units.loc[sample, "library_type"] == "gbs").all()


# A GBS run (every sample's units library_type gbs): the bcftools caller piles up to
# calling.gbs.max_depth reads, in joint mode only at the loci the reads cover
# (calling.gbs.loci; an incremental run's gVCFs hold the positions each sample's reads
# cover), and the site filters take filtering.gbs's values.
GBS_RUN = HAS_READS and all(is_gbs(s) for s in SAMPLES)
GBS = config["calling"]["gbs"]
GBS_LOCI_BED = {"covered": "results/calls/gbs_loci.bed", "all": ""}.get(
    GBS["loci"], GBS["loci"]
)
if (
    GBS_RUN
    and GBS_LOCI_BED
    and GBS["loci"] != "covered"
    and not os.path.isfile(GBS_LOCI_BED)
):
    raise WorkflowError(
        f"breedomics input error: calling.gbs.loci: BED file {GBS_LOCI_BED} does not "
        "exist; give the loci BED, or covered (from the reads) or all."
    )


def gbs_loci(wildcards=None):
    """The loci BED a GBS run calls in (input of call_variants_region), else nothing:
    only the bcftools caller reads it (`-T`), so freebayes runs do not make it."""
    bcftools = config["calling"]["caller"] == "bcftools"
    return [GBS_LOCI_BED] if GBS_RUN and GBS_LOCI_BED and bcftools else []


def gbs_targets(wildcards, input):
    """`-T <loci BED>` of bcftools mpileup in a GBS run (calling.gbs.loci), else ""."""
    return f"-T {shlex.quote(input.loci[0])}" if input.loci else ""


def site_filters():
    """filtering.*, with filtering.gbs's values in place of the same keys in a GBS run."""
    f = dict(config["filtering"])
    if GBS_RUN:
        f.update(f["gbs"])
    return f


# The stored alignments (alignment.format): results/bam/<sample>.bam with .bam.bai, or
# .cram with .cram.crai (decoded with results/reference/genome.fa).
ALN = config["alignment"]["format"]
ALN_INDEX = {"bam": "bai", "cram": "crai"}[ALN]


def sample_bams(wildcards=None):
    return expand("results/bam/{sample}.{ext}", sample=SAMPLES, ext=ALN)


def sample_bam_indexes(wildcards=None):
    return expand(
        "results/bam/{sample}.{ext}.{idx}", sample=SAMPLES, ext=ALN, idx=ALN_INDEX
    )


CENSUS_JOBS = [
    "pca",
    "grm",
    "admixture",
    "diversity",
    "fst",
    "ld_decay",
    "roh",
    "duplicates",
    "core",
]


GWAS = config["gwas"]

# Time-series traits (phenome curves, phenome.smk): the derived per-genotype traits join
# the GWAS and/or GS phenotype tables (phenome.curves.join), as <name>_<trait> columns;
# with gwas.phenotypes empty they are the GWAS traits alone.
CURVES = config["phenome"]["curves"]
CURVE_TRAITS = RUN.curve_traits
CURVES_GWAS = bool(CURVE_TRAITS) and "gwas" in CURVES["join"] and GWAS["enabled"]
CURVES_GS = bool(CURVE_TRAITS) and "gs" in CURVES["join"] and bool(RUN.gs_traits)
# [] without a phenotype table (a calls-only run): "" would make every GWAS rule warn.
GWAS_PHENO = (
    "results/phenome/curves/gwas_phenotypes.tsv"
    if CURVES_GWAS
    else (config["gwas"]["phenotypes"] or [])
)
TRAITS = RUN.traits + (CURVE_TRAITS if CURVES_GWAS else [])


def gwas_covariate_args(wildcards=None):
    return f"--covar {shlex.quote(GWAS['covariates'])}" if GWAS["covariates"] else ""


# Direction of selection per trait (`directions`; default increase). GWAS favourable
# alleles use it; genomic selection reads it too.
DIRECTIONS = config.get("directions") or {}
# Reference and gene models on the genotypes' coordinates: a genotype panel can have its
# own (genotypes.reference/gff3); otherwise the workflow's prepared reference and its GFF3.
GWAS_REF_SOURCE = GENO.get("reference") or config["reference"]["fasta"]
GWAS_FASTA = GENO.get("reference") or "results/reference/genome.fa"
GWAS_GFF3 = GENO.get("gff3") or (
    "" if GENO.get("reference") else config["reference"].get("gff3") or ""
)


def gwas_permutation_args(wildcards=None):
    """`--permutations N` of a permutation threshold (N schema-validated; shards permute
    with the same seed, and the gather takes the maximum over them)."""
    if GWAS["threshold"] != "permutation":
        return ""
    return f"--permutations {GWAS['permutations']}"


def gwas_direction_args(wildcards=None):
    """`--direction trait=...` of the analysed traits (names schema-validated)."""
    return " ".join(
        f"--direction {t}={d}" for t, d in DIRECTIONS.items() if t in TRAITS
    )


# Scatter (gwas.chromosome_shards, gwas.traits_per_shard): shard c<k>.b<j> scans the k-th
# chromosome group (planned by `gwas run --chromosome-group k/N` from the genotypes
# themselves) and the j-th trait batch; FarmCPU is multi-locus, so only c1 (all chromosomes).
GWAS_SCATTER = GWAS["chromosome_shards"] > 1 or GWAS["traits_per_shard"] > 0
GWAS_BATCH = GWAS["traits_per_shard"] or max(1, len(TRAITS))
GWAS_BATCHES = [TRAITS[i : i + GWAS_BATCH] for i in range(0, len(TRAITS), GWAS_BATCH)]
GWAS_MIXED = {"mlm", "mlm-p3d"}
GWAS_LOCO_KINSHIP = GWAS["loco"] and bool(GWAS_MIXED & set(GWAS["models"]))


def gwas_loco_arg(wildcards):
    """LOCO applies to the mixed models only."""
    return "--loco" if GWAS["loco"] and wildcards.model in GWAS_MIXED else ""


def _gwas_shard_ids(model):
    n = 1 if model == "farmcpu" else GWAS["chromosome_shards"]
    return [
        f"c{k}.b{j}" for k in range(1, n + 1) for j in range(1, len(GWAS_BATCHES) + 1)
    ]


def gwas_shard_states(wildcards):
    return [
        f"results/gwas/{wildcards.model}/shards/{s}.json"
        for s in _gwas_shard_ids(wildcards.model)
    ]


def gwas_shard_dirs(wildcards):
    return [
        f"results/gwas/{wildcards.model}/shards/{s}"
        for s in _gwas_shard_ids(wildcards.model)
    ]


def gwas_shard_args(wildcards):
    """Chromosome group and trait batch of one shard (trait names are schema-safe)."""
    k, j = (int(x) for x in wildcards.shard[1:].split(".b"))
    group = (
        ""
        if wildcards.model == "farmcpu"
        else f"--chromosome-group {k}/{GWAS['chromosome_shards']}"
    )
    return f"{group} --batch {','.join(GWAS_BATCHES[j - 1])}"


def gwas_annotation_inputs(wildcards=None):
    """Gene models, reference and consequences when an annotation is configured."""
    if not GWAS_GFF3:
        return {}
    return {
        "gff3": GWAS_GFF3,
        "fasta": GWAS_FASTA,
        "csq": "results/gwas/consequences.tsv.gz",
    }


def multiqc_inputs(wildcards=None):
    """fastp, samtools and bcftools reports of a run that starts from reads."""
    return (
        [
            f"results/qc/fastp/{u.sample}.{u.unit}.fastp.json"
            for u in units.itertuples()
            if u.entry != "import"  # records used as they are: never trimmed here
        ]
        + expand("results/qc/samtools/{sample}.stats.txt", sample=SAMPLES)
        + expand("results/qc/samtools/{sample}.flagstat.txt", sample=SAMPLES)
        + expand("results/qc/markdup/{sample}.markdup.txt", sample=SAMPLES)
        + [
            "results/qc/bcftools/all.filtered.stats.txt",
            "results/qc/bcftools/all.pass.stats.txt",
        ]
    )


def genotype_source(wildcards=None):
    """The genotype file(s) the genotype stage starts from (see `genotypes.source`)."""
    if GENO["source"] == "calls":
        return {"vcf": "results/calls/all.pass.vcf.gz"}
    if GENO["source"] == "plink":
        return {ext: f"{GENO_PATH}.{ext}" for ext in ("bed", "bim", "fam")}
    return {"vcf": GENO["path"]}


# Reference whose contig names and order the genotypes are normalised to ("": none):
# genotypes.reference, else the top-level one, which a genotype file may not be on
# (then it is ignored: --reference-optional).
GENO_REFERENCE = GENO.get("reference") or config["reference"].get("fasta") or ""
_GENO_REF_OPTIONAL = not (GENO.get("reference") or GENO["source"] == "calls")
GENO_REFERENCE_ARGS = (
    f"--reference {shlex.quote(GENO_REFERENCE)}"
    + (" --reference-optional" if _GENO_REF_OPTIONAL else "")
    if GENO_REFERENCE
    else ""
)


def impute_sex_args(wildcards=None):
    """X gets its own Beagle run (ploidy differs by sex); Y is not imputed."""
    args = []
    if SEX_X:
        args.append(f"--separate {SEX_X}")
    if SEX_Y:
        args.append(f"--skip {SEX_Y}")
    return " ".join(args)


def beagle_args(wildcards=None):
    """Beagle's sampling settings (genotypes.beagle)."""
    b = config["genotypes"]["beagle"]
    ne = f" --ne {b['ne']}" if b.get("ne") is not None else ""
    return f"--burnin {b['burnin']} --iterations {b['iterations']}{ne}"


def genotype_outputs():
    out = [
        "results/genotypes/qc/summary.tsv",
        "results/genotypes/imputed.vcf.gz",
        "results/genotypes/genotypes.bed",
        "results/genotypes/pruned.bed",
    ]
    if GENO["impute"] == "beagle":
        out.append("results/genotypes/imputation_accuracy.tsv")
    return out


def final_outputs(summary_page=True):
    """What `snakemake` builds by default: per-sample BAMs, the call sets and the QC report,
    the tables of every enabled stage and, with `report.enabled`, the run's summary page
    (`summary_page=False`: everything else, the page's own input).

    The BAMs are targets themselves, so deleting one rebuilds it (and what depends on it).
    """
    out = genotype_outputs() if GENO["enabled"] else []
    if GENO["enabled"] and config["census"]["enabled"]:
        out += expand("results/census/{job}.tsv", job=CENSUS_JOBS)
    if GENO["enabled"] and GWAS["enabled"]:
        out += expand("results/gwas/{model}/summary.{model}.tsv", model=GWAS["models"])
        out += expand(
            "results/gwas/{model}/{trait}.{model}.candidates.tsv",
            model=GWAS["models"],
            trait=TRAITS,
        )
    if GENO["enabled"] and config["gs"]["enabled"]:
        out += gs_outputs()  # defined in gs.smk
    if CURVES["path"]:
        out.append("results/phenome/curves/traits.tsv")
    if GENO["enabled"] and OMICS["enabled"]:
        out += omics_outputs()
    if OMICS_LINK:
        out.append("results/omics/links.tsv")  # omics.smk: link_omics_gwas
    if HAS_READS:
        out += sample_bams() + [
            "results/calls/all.filtered.vcf.gz",
            "results/calls/all.filtered.vcf.gz.tbi",
            "results/calls/all.pass.vcf.gz",
            "results/calls/all.pass.vcf.gz.tbi",
            "results/qc/bcftools/all.filtered.stats.txt",
            "results/qc/bcftools/all.pass.stats.txt",
            "results/qc/multiqc_report.html",
        ]
    if summary_page and config["report"]["enabled"]:
        out.append("results/report/index.html")  # report.smk
    return out


def ploidy_args(wildcards=None):
    """Sex-chromosome arguments for `breedomics write-ploidy` (validated contig names)."""
    args = []
    if SEX_X:
        args += ["--x", SEX_X]
    if SEX_Y:
        args += ["--y", SEX_Y]
    for start, end in config["genome"].get("par", []):
        args += ["--par", f"{start}-{end}"]
    return " ".join(args)


def refine_args(wildcards=None):
    """`breedomics refine-calls` options from calling.refine (and genome.mating)."""
    r = REFINE
    args = (
        f"--iterations {r['iterations']} --burnin {r['burnin']} --error {r['error']}"
        f" --ne {r['ne']} --cm-per-mb {r['cm_per_mb']} --max-states {r['max_states']}"
        f" --seed {r['seed']}"
    )
    if INBRED:
        args += " --inbred"
    if r["only_pass"]:
        args += " --only-pass"
    return args


def inbreeding_args(wildcards=None):
    """`breedomics estimate-inbreeding` options: calling.lines (detect off: no lines)."""
    lines = config["calling"]["lines"]
    min_f = lines["min_f"] if lines["detect"] else 2
    return f"--min-f {min_f} --min-expected-het {lines['min_expected_het']}"


def line_het_pipeline(wildcards=None):
    """bcftools steps resolving the inbred lines' heterozygous calls (calling.inbred_het):
    every sample under genome.mating: inbred, else those estimate_inbreeding listed."""
    lines = None if INBRED else "results/calls/inbred_lines.txt"
    tag = "GL" if config["calling"]["caller"] == "freebayes" else "PL"
    return line_het_steps(config["calling"]["inbred_het"], lines, tag)


# calling.mode: joint (one mpileup of every BAM per region) or incremental (one gVCF per
# sample, results/calls/gvcf/<sample>.all.bcf, merged and called per region: adding or
# removing samples reruns the merges, no other sample's job).
INCREMENTAL = config["calling"]["mode"] == "incremental"
if INCREMENTAL and HAS_READS and config["calling"]["caller"] != "bcftools":
    raise WorkflowError(
        "breedomics input error: calling.mode incremental needs calling.caller bcftools."
    )
if INCREMENTAL and HAS_READS and len(SAMPLES) < 2:
    raise WorkflowError(
        "breedomics input error: calling.mode incremental needs at least two samples."
    )


def sample_gvcfs(wildcards=None):
    return expand("results/calls/gvcf/{sample}.all.bcf", sample=SAMPLES)


def sample_gvcf_candidates(wildcards=None):
    return expand("results/calls/gvcf/{sample}.candidates.tsv.gz", sample=SAMPLES)


def region_bcfs(wildcards):
    """Per-region call files, in genome order, once the regions checkpoint has run."""
    regions_dir = checkpoints.make_regions.get().output.regions
    names = sorted(p.stem for p in Path(regions_dir).glob("region_*.bed"))
    folder = "merged" if INCREMENTAL else "by_region"
    return [f"results/calls/{folder}/{name}.bcf" for name in names]


def genotype_filter(wildcards=None):
    """Set poorly supported genotypes (not whole sites) to missing, then refresh AC/AN.

    ``filtering.min_gq`` / ``min_gt_depth`` (0 = off): per-genotype thresholds applied
    before the site filters, so a site keeps its well-supported genotypes.
    """
    f = config["filtering"]
    terms = []
    if f["min_gq"] > 0:
        terms.append(f"FMT/GQ<{f['min_gq']}")
    if f["min_gt_depth"] > 0:
        terms.append(f"FMT/DP<{f['min_gt_depth']}")
    if not terms:
        return ""
    return (
        f"| bcftools +setGT -Ou - -- -t q -n . -i {shlex.quote(' | '.join(terms))}"
        " | bcftools +fill-tags -Ou - -- -t AN,AC,AF,F_MISSING"
    )


def soft_filter_pipeline(wildcards=None):
    """Chain of `bcftools filter -s NAME` soft filters (FILTER column), from config numbers.

    Expressions are built from schema-validated numbers only, then shell-quoted.
    """
    import shlex

    f = site_filters()
    if config["calling"]["caller"] == "freebayes":
        mq, sb = "INFO/MQM", "INFO/SAP"
    else:
        mq, sb = "INFO/MQ", "MAX(FMT/SP)"
    # Depth is judged per called genotype: females have no Y genotype and males carry
    # one X, so a whole-sample denominator would flag every Y site as low depth.
    called = "(N_SAMPLES-N_MISSING)"
    missing = f"F_MISSING>{f['max_missing']}"
    n_female = int((samples["sex"] == "F").sum())
    n_male = int((samples["sex"] == "M").sum())
    if SEX_Y and n_male:
        # On Y only males can have a genotype: missingness is counted among them.
        missing = (
            f'(CHROM!="{SEX_Y}" && {missing}) || '
            f'(CHROM=="{SEX_Y}" && (N_MISSING-{n_female})/{n_male}>{f["max_missing"]})'
        )
    # A low-QUAL site is kept when one genotype is well supported (a het carried by one
    # sample of many has a modest QUAL): whole-site LowQual cost true hets on the truth sets.
    lowqual = f"QUAL<{f['min_qual']}"
    if f["qual_alt_reads"]:
        lowqual += f" && MAX(FMT/AD[*:1])<{f['qual_alt_reads']}"
    filters = [
        ("LowQual", lowqual),
        ("LowDepth", f"INFO/DP<{f['min_mean_depth']}*{called}"),
        ("HighDepth", f"INFO/DP>{f['max_mean_depth']}*{called}"),
        ("LowMQ", f"{mq}<{f['min_mq']}"),
        ("StrandBias", f"{sb}>{f['max_strand_bias']}"),
        ("HighMissing", missing),
    ]
    if not f["max_mean_depth"]:  # 0: no HighDepth filter (as min_gq/min_gt_depth 0)
        filters = [flt for flt in filters if flt[0] != "HighDepth"]
    if config["calling"]["caller"] != "freebayes" and f["min_indel_fraction"] > 0:
        # bcftools -p proposes an indel per sample; a second alignment of the same indel
        # (split reads) comes out as a false indel that few reads of any sample carry.
        filters.append(
            ("LowIndelFraction", f"INFO/INDEL=1 && INFO/IMF<{f['min_indel_fraction']}")
        )
    return " ".join(
        f"| bcftools filter -Ou -m+ -s {name} -e {shlex.quote(expr)}"
        for name, expr in filters
    )


# Genomic selection (gs.smk): traits, phenotype source, scatter units and arguments.
GS = config["gs"]
#: Traits of the trial analysis (estimate_blues, spatial_trials); the GS models also
#: predict the derived growth-curve traits when phenome.curves joins gs.
GS_TRIAL_TRAITS = RUN.gs_traits
GS_TRAITS = GS_TRIAL_TRAITS + (CURVE_TRAITS if CURVES_GS else [])

#: Spatial trial analysis (phenome spatial) when the trials have plot coordinates.
GS_SPATIAL = bool(
    GS["trials"] and GS["trial_columns"]["row"] and GS["trial_columns"]["col"]
)
GS_BASE_PHENO = (
    "results/phenome/spatial/blues.tsv"
    if GS_SPATIAL
    else (
        "results/gs/blue/blues.tsv"
        if GS["trials"]
        else (GS["phenotypes"] or GWAS["phenotypes"] or "unset")
    )
)
GS_PHENO = "results/phenome/curves/gs_phenotypes.tsv" if CURVES_GS else GS_BASE_PHENO
GS_MULTI = [m for m in GS["models"] if m == "mtgblup"]
GS_SINGLE = [m for m in GS["models"] if m != "mtgblup"]
GS_REPEATS = [1] if GS["by_group"] else list(range(1, GS["repeats"] + 1))
GS_PREDICT = list(dict.fromkeys(GS["predict_models"] + [GS["selection"]["model"]]))


def gs_outputs():
    """Final GS tables: CV summary, GEBVs per model, the ranked selection."""
    out = ["results/gs/cv/cv_summary.tsv", "results/gs/selection.tsv"]
    out += expand("results/gs/predict/{model}/gebv.tsv", model=GS_PREDICT)
    if GS["trials"]:
        out.append("results/gs/blue/blues.tsv")
    if GS_SPATIAL:
        out += [
            "results/phenome/spatial/blues.tsv",
            "results/phenome/spatial/field_map.png",
        ]
    return out


def gs_kernels(wildcards):
    """The omics kernels of model mkgblup (gs.omics_layers); none for other models."""
    if wildcards.model != "mkgblup":
        return []
    return expand(
        "results/omics/{dataset}/{dataset}.kernel.tsv", dataset=RUN.gs_omics_layers
    )


def gs_model_args(wildcards=None):
    """Model settings shared by CV and prediction (all schema-validated numbers/paths)."""
    args = (
        f"--iterations {GS['iterations']} --burn-in {GS['burn_in']} --thin {GS['thin']}"
        f" --seed {config['genotypes']['seed']}"
    )
    if GS["covariates"]:
        args += f" --covariates {shlex.quote(GS['covariates'])}"
    if wildcards is not None and wildcards.get("model") == "mkgblup":
        args += " --kernels " + ",".join(gs_kernels(wildcards))
    return args


def gs_cv_models(wildcards):
    """Models of a CV job: its model; for mkgblup also each omics layer alone
    (gs.layer_accuracy)."""
    if wildcards.model == "mkgblup" and GS["layer_accuracy"]:
        return ",".join(["mkgblup", *(f"layer:{d}" for d in RUN.gs_omics_layers)])
    return wildcards.model


def gs_cv_dirs(wildcards=None):
    """Every scattered CV job's metrics table (trait x model x repeat)."""
    out = expand(
        "results/gs/cv/{trait}/{model}/rep{repeat}/cv_metrics.tsv",
        trait=GS_TRAITS,
        model=GS_SINGLE,
        repeat=GS_REPEATS,
    )
    out += expand(
        "results/gs/cv/multi-trait/{model}/rep{repeat}/cv_metrics.tsv",
        model=GS_MULTI,
        repeat=GS_REPEATS,
    )
    return out


def gs_weights(wildcards=None):
    """Selection index weights: gs.selection.weights, else +1/-1 by `directions`."""
    w = GS["selection"]["weights"]
    if not w:
        directions = config.get("directions") or {}
        w = {t: (-1 if directions.get(t) == "decrease" else 1) for t in GS_TRAITS}
    return ",".join(f"{t}={float(v):g}" for t, v in w.items())


def spatial_args(wildcards=None):
    """Arguments of `phenome spatial` from gs.trial_columns, gs.spatial, gs.drop_outliers."""
    s = GS["spatial"]
    c = {k: shlex.quote(v) for k, v in GS["trial_columns"].items()}  # lab names: spaces
    args = (
        f"--genotype-col {c['genotype']} --env-col {c['environment']}"
        f" --row-col {c['row']} --col-col {c['col']}"
        f" --segments-row {s['segments_row']} --segments-col {s['segments_col']}"
        f" --max-lag {s['max_lag']}"
    )
    for key, flag in (
        ("replicate", "--rep-col"),
        ("block", "--block-col"),
        ("plot", "--id-col"),
    ):
        if GS["trial_columns"][key]:
            args += f" {flag} {c[key]}"
    if GS["drop_outliers"]:
        args += " --drop-outliers"
    if s["covariates"]:
        covariates = shlex.quote(",".join(s["covariates"]))
        args += f" --covariates {covariates}"
    if not s["row_col_effects"]:
        args += " --no-row-col-effects"
    return args


def curves_joins():
    """(GWAS/GS base phenotype table, joined table) pairs of phenome.curves.join (base ""
    when gwas.phenotypes is empty: the derived traits alone)."""
    out = []
    if CURVES_GWAS:
        out.append((config["gwas"]["phenotypes"], GWAS_PHENO))
    if CURVES_GS:
        out.append((GS_BASE_PHENO, GS_PHENO))
    return out


def curves_args(wildcards=None):
    """Arguments of `phenome curves` from phenome.curves (column names quoted)."""
    c = {k: shlex.quote(v) for k, v in CURVES["columns"].items()}
    args = (
        f"--unit-col {c['unit']} --time-col {c['time']} --value-col {c['value']}"
        f" --models {','.join(CURVES['models'])} --min-points {CURVES['min_points']}"
        f" --outlier-z {CURVES['outlier_z']:g} --segments {CURVES['segments']}"
        f" --name {CURVES['name']} --join-traits {','.join(CURVES['traits'])}"
    )
    for key in ("genotype", "flight"):
        if CURVES["columns"][key]:
            args += f" --{key}-col {c[key]}"
    if CURVES["reference_time"] is not None:
        args += f" --reference-time {CURVES['reference_time']:g}"
    if CURVES["auc_range"]:
        args += " --auc-range " + ",".join(f"{x:g}" for x in CURVES["auc_range"])
    for base, out in curves_joins():
        args += f" --join {shlex.quote(base)}={shlex.quote(out)}"
    return args


def gs_fold_args(wildcards=None):
    if GS["by_group"]:
        return f"--group-col group --groups {shlex.quote(GENO_SAMPLES)}"
    return f"--folds {GS['folds']} --repeats {GS['repeats']}"


# Census scatter (census.smk): shard names from the shard-plan checkpoint.
import csv

CENSUS_SHARD_PLAN = "results/census/by_chrom/shards.tsv"


def census_shard_names(wildcards=None):
    """Shard names, in genome order, once the shard plan checkpoint has run."""
    plan = checkpoints.plan_census_shards.get().output.tsv
    with open(plan) as fh:
        return list(
            dict.fromkeys(row["shard"] for row in csv.DictReader(fh, delimiter="\t"))
        )


def census_parts(job):
    """Input function: the per-shard partial results of one census job."""

    def parts(wildcards):
        return expand(
            f"results/census/by_chrom/{{shard}}/{job}.json", shard=census_shard_names()
        )

    return parts


# Molecular-trait QTL (omics.smk): one dataset per feature table; names reach paths.
OMICS = config["omics"]
OMICS_DATASETS = RUN.omics_datasets


def omics_dataset(wildcards):
    return OMICS["datasets"][wildcards.dataset]


def omics_feature_table(wildcards):
    """The table prepare_omics reads: the drift-corrected one when injections are set."""
    d = omics_dataset(wildcards)
    if d.get("injections"):
        return f"results/omics/{wildcards.dataset}/drift/corrected.tsv"
    return d["path"]


def omics_injections(wildcards):
    """The injection sheet of a metabolite dataset (prepare_metabolites)."""
    return omics_dataset(wildcards)["injections"]


def omics_drift_args(wildcards):
    """Drift-correction, filter and imputation options of one metabolite dataset."""
    d = omics_dataset(wildcards)
    return (
        f"--qc-rsd-max {d['qc_rsd_max']} --blank-ratio-min {d['blank_ratio_min']}"
        f" --max-missing {d['max_missing']} --missing {d['missing']}"
    )


def omics_prepare_args(wildcards):
    """QC, transform and factor options of one dataset (schema-validated values)."""
    d = omics_dataset(wildcards)
    args = (
        f"--transform {d['transform']} --pseudocount {d['pseudocount']}"
        f" --hidden-factors {d['hidden_factors']} --max-missing {d['max_missing']}"
        f" --min-observed {d['min_observed']}"
        f" --min-expressed-fraction {d['min_expressed_fraction']}"
    )
    if d.get("min_expression") is not None:
        args += f" --min-expression {d['min_expression']}"
    if d["keep_genetic_factors"]:
        args += " --keep-genetic-factors"
    if d.get("normalise", "none") != "none":
        args += (
            f" --normalise {d['normalise']} --min-tpm {d['min_tpm']}"
            f" --min-reads {d['min_reads']}"
        )
    for key in ("gene_lengths", "covariates"):
        if d.get(key):
            args += f" --{key.replace('_', '-')} {shlex.quote(d[key])}"
    return args


def omics_prepare_inputs(wildcards):
    """The gene-length and known-covariate tables of one dataset (when set)."""
    d = omics_dataset(wildcards)
    return {key: d[key] for key in ("gene_lengths", "covariates") if d.get(key)}


def omics_mapping_mode(dataset):
    """The `omics map` mode of a dataset (its mapping_mode, else omics.mapping.mode)."""
    return OMICS["datasets"][dataset].get("mapping_mode") or OMICS["mapping"]["mode"]


def omics_mapping_args(wildcards):
    """`breedomics omics map` options from omics.mapping, the cis window and gwas.pcs
    (genotype PCs as covariates, as rule map_omics_qtl)."""
    m = OMICS["mapping"]
    args = (
        f"--window {OMICS['cis_window']} --fdr {OMICS['fdr']} --nperm {m['nperm']}"
        f" --pcs {GWAS['pcs']}"
        f" --seed {m['seed']} --batch-size {m['batch_size']}"
        f" --maf-threshold {m['maf_threshold']} --pval-threshold {m['pval_threshold']}"
    )
    if m["exclude_cis"]:
        args += " --exclude-cis"
    return args


def omics_outputs():
    """Per dataset: the per-feature, cis, trans and hotspot tables and the map, and the
    summary of its `omics map` mode (none: no mapping job)."""
    out = expand(
        "results/omics/{dataset}/{name}",
        dataset=OMICS_DATASETS,
        name=[
            "qtl_features.tsv",
            "cis.tsv",
            "trans.tsv",
            "hotspots.tsv",
            "qtl_map.png",
        ],
    )
    for dataset in OMICS_DATASETS:
        mode = omics_mapping_mode(dataset)
        if mode != "none":
            out.append(f"results/omics/{dataset}/mapping/{mode}.json")
    return out


# GWAS leads -> omics features (link_omics_gwas), with both stages, traits and datasets.
OMICS_LINK = bool(
    GENO["enabled"]
    and OMICS["enabled"]
    and GWAS["enabled"]
    and TRAITS
    and OMICS_DATASETS
)
# The GWAS model whose leads are linked: omics.link.model, else the first of gwas.models.
OMICS_LINK_MODEL = OMICS["link"]["model"] or (GWAS["models"] or ["mlm"])[0]


def omics_link_inputs(wildcards=None):
    """Per dataset: the feature levels, the summary's QTL tables and its mapping's summary."""
    out = []
    for dataset in OMICS_DATASETS:
        out += expand(
            "results/omics/{dataset}/{name}",
            dataset=dataset,
            name=[
                "phenotypes.tsv",
                "features.tsv",
                "qtl_features.tsv",
                "cis.tsv",
                "trans.tsv",
            ],
        )
        mode = omics_mapping_mode(dataset)
        if mode != "none":
            out.append(f"results/omics/{dataset}/mapping/{mode}.json")
    return out


def omics_link_args(wildcards=None):
    """`breedomics omics link` options: the datasets with their mapping modes, omics.link."""
    link = OMICS["link"]
    datasets = ",".join(f"{d}:{omics_mapping_mode(d)}" for d in OMICS_DATASETS)
    args = (
        f"--datasets {shlex.quote(datasets)} --traits {shlex.quote(','.join(TRAITS))}"
        f" --r2 {link['r2']} --max-p {link['max_p']} --fdr {OMICS['fdr']}"
        f" --window {OMICS['cis_window']}"
    )
    if link.get("max_pair_p") is not None:
        args += f" --max-pair-p {link['max_pair_p']}"
    return args


# The summary page (report.smk).
def report_inputs(wildcards=None):
    """The files the page reads: every final output of the enabled stages (their jobs also
    write the PNGs and side tables it shows), and per GWAS model and trait the summary
    statistics and leads behind the Manhattan and QQ plots."""
    out = final_outputs(summary_page=False)
    if GENO["enabled"] and GWAS["enabled"]:
        out += expand(
            "results/gwas/{model}/{trait}.{model}.{kind}",
            model=GWAS["models"],
            trait=TRAITS,
            kind=["tsv.gz", "leads.tsv"],
        )
    return out


def report_config_yaml(wildcards=None):
    """The run's config as the run saw it (the schema's defaults filled in), as YAML."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def report_rule_patterns(wildcards=None):
    """`rule<TAB>benchmark pattern` of every rule: the page names benchmark files by rule."""
    return "".join(
        f"{r.name}\t{r.benchmark}\n" for r in workflow.rules if r.benchmark is not None
    )


def report_configfile_args(wildcards=None):
    """The config files the run was started with (the page's rerun command)."""
    return " ".join(
        f"--configfile-used {shlex.quote(str(f))}" for f in workflow.configfiles
    )
