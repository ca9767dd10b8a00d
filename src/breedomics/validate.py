"""Check a whole run once: the config (:mod:`breedomics.config`), then every input it names.

The workflow (``workflow/rules/common.smk``) and ``breedomics check-inputs`` both call
:func:`validate_run`, so they accept and refuse the same runs, before any job starts.
Errors are short: the key, file or cell, the bad value, the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from breedomics import sheets
from breedomics.config import load_config, validate_config
from breedomics.errors import UserError

__all__ = ["RunInputs", "load_config", "validate_config", "validate_run"]


@dataclass
class RunInputs:
    """What :func:`validate_run` read: the sheets and the names the workflow plans with."""

    samples: pd.DataFrame
    units: pd.DataFrame | None = None
    contigs: dict[str, int | None] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)
    gs_traits: list[str] = field(default_factory=list)
    omics_datasets: list[str] = field(default_factory=list)
    #: Omics datasets whose kernels GS model ``mkgblup`` fits beside the GRM.
    gs_omics_layers: list[str] = field(default_factory=list)
    #: Derived growth-curve traits (``phenome.curves``) joined to the GWAS/GS phenotypes.
    curve_traits: list[str] = field(default_factory=list)
    #: Phenotype/covariate table -> (its sample ids, how many of them are in the sheet).
    phenotyped: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def has_reads(self) -> bool:
        """The run starts from reads (a unit sheet is given)."""
        return self.units is not None

    def summary(self) -> str:
        """One line of what the run will use."""
        parts = [f"{len(self.samples)} samples"]
        if self.units is not None:
            parts += [f"{len(self.units)} units", f"{len(self.contigs)} contigs"]
        if self.traits:
            parts.append(f"GWAS traits {', '.join(self.traits)}")
        if self.gs_traits:
            parts.append(f"GS traits {', '.join(self.gs_traits)}")
        if self.omics_datasets:
            parts.append(f"omics datasets {', '.join(self.omics_datasets)}")
        for path, (n, known) in self.phenotyped.items():
            note = "" if known == n else f" (the other {n - known} are not analysed)"
            parts.append(f"{Path(path).name}: {known} of its {n} samples in the sheet{note}")
        return ", ".join(parts)


def _check_reference(config: dict, has_reads: bool) -> None:
    """A FASTA is needed for reads, for the workflow's own calls and for gene models."""
    ref, geno = config["reference"], config["genotypes"]
    fasta = ref.get("fasta") or ""
    if not fasta:
        if has_reads:
            raise UserError(
                f"reference.fasta is empty but the run starts from reads (units "
                f"'{config['units']}'): set reference.fasta to the genome FASTA to align to."
            )
        if ref.get("gff3"):
            raise UserError(
                "reference.gff3 is set but reference.fasta is empty: gene models need the "
                "genome they are on; set reference.fasta or remove reference.gff3."
            )
    elif not has_reads and not Path(fasta).exists():
        raise UserError(
            f"reference.fasta '{fasta}' does not exist; fix the path or leave it empty."
        )
    if geno.get("gff3") and not (geno.get("reference") or fasta):
        raise UserError(
            "genotypes.gff3 is set but neither genotypes.reference nor reference.fasta is: "
            "give the FASTA of the genotypes' coordinates (genotypes.reference)."
        )


def _check_genotypes(
    config: dict, has_reads: bool, schema_dir: Path | None, check_files: bool = True
) -> None:
    geno = config["genotypes"]
    if geno["source"] == "calls" and geno["enabled"] and not has_reads:
        raise UserError(
            "genotypes.source is 'calls' but the config has no 'units' sheet: give the "
            "reads (units) or set genotypes.source to 'vcf' or 'plink' with genotypes.path."
        )
    sheet = sheets.load_samples(geno["samples"], schema_dir) if geno.get("samples") else None
    if geno["source"] == "calls" or not geno["enabled"]:
        return
    sheets.check_genotype_path(geno["source"], geno["path"])
    if not check_files:
        return
    # genotype QC reads the groups and sexes of every genotyped sample from the sheet
    from breedomics.core.genotypes import read_samples

    ids = read_samples(geno["path"])
    if sheet is None:
        sheet = sheets.load_samples(config["samples"], schema_dir)
    missing = [s for s in ids if s not in sheet.index]
    if missing:
        from breedomics.core.phenotypes import id_scheme_hint

        name = geno.get("samples") or config["samples"]
        raise UserError(
            f"genotypes.path '{geno['path']}' has {len(missing)} sample(s) that are not in "
            f"the sample sheet '{name}': {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}. Add them to the sheet "
            "(`breedomics init` writes one from the genotypes)"
            f"{id_scheme_hint(list(sheet.index), missing)}."
        )


def _check_phenotype_ids(config: dict, samples: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Stop when the phenotype or covariate tables name samples of the sheet only apart
    from case, spaces or underscores (they would be dropped as not genotyped); return each
    table's number of ids and how many of them the sheet has."""
    from breedomics.core import tables
    from breedomics.core.phenotypes import check_near_matches

    paths = [
        config[stage].get(key)
        for stage, key in (("gwas", "phenotypes"), ("gwas", "covariates"),
                           ("gs", "phenotypes"), ("gs", "covariates"))
    ]  # fmt: skip
    cohort = list(samples.index)
    known = set(cohort)
    counts = {}
    for path in dict.fromkeys(p for p in paths if p and Path(p).is_file()):
        ids = tables.read_table(path, "Phenotype table", unique_ids=False)
        if "sample" in ids.columns:
            check_near_matches(ids["sample"].tolist(), cohort, path, "the sample sheet")
            counts[path] = (len(ids), int(ids["sample"].isin(known).sum()))
    return counts


def _gwas_traits(config: dict) -> list[str]:
    gwas = config["gwas"]
    if not gwas["enabled"]:
        return []
    if not gwas["phenotypes"]:
        curves = config.get("phenome", {}).get("curves", {})
        if curves.get("path") and "gwas" in (curves.get("join") or []):
            return []  # the growth-curve traits are the GWAS traits (_curve_traits)
        raise UserError(
            "gwas.enabled is true but gwas.phenotypes is empty: give the phenotype table "
            "(a 'sample' column, then one column per trait), join growth-curve traits "
            "(phenome.curves with join: [gwas]) or set gwas.enabled: false."
        )
    if gwas["threshold"] == "permutation" and gwas["permutations"] < 1:
        raise UserError(
            "gwas.threshold is 'permutation' but gwas.permutations is 0: set it (e.g. 1000)."
        )
    traits = sheets.trait_names(gwas["phenotypes"])
    if gwas["covariates"]:
        sheets.trait_names(gwas["covariates"], what="Covariate table")
    return traits


def _gs_traits(config: dict) -> list[str]:
    gs, geno = config["gs"], config["genotypes"]
    if not (geno["enabled"] and gs["enabled"]):
        return []
    if gs["trials"]:
        covs = (gs.get("spatial") or {}).get("covariates") or []
        traits = sheets.trial_traits(
            gs["trials"], gs["trial_columns"], gs["traits"] or None, covariates=covs
        )
    else:
        table = gs["phenotypes"] or config["gwas"]["phenotypes"]
        if not table:
            raise UserError(
                "gs is enabled but gs.phenotypes, gs.trials and gwas.phenotypes are all "
                "empty: give a phenotype table or trial records, or set gs.enabled: false."
            )
        traits = sheets.trait_names(table)
        bad = [t for t in gs["traits"] if t not in traits]
        if bad:
            raise UserError(
                f"gs.traits names {bad[0]!r}, which is not a column of {table} "
                f"({', '.join(traits)}); fix the name or remove it."
            )
        traits = list(gs["traits"]) or traits
    if gs["covariates"]:
        sheets.trait_names(gs["covariates"], what="Covariate table")
    return traits


def _curve_traits(config: dict, known: list[str]) -> list[str]:
    """``<name>_<trait>`` of ``phenome.curves`` (its series' columns checked), or none."""
    cur = config.get("phenome", {}).get("curves", {})
    if not cur.get("path"):
        return []
    from breedomics.core import tables

    path = cur["path"]
    if not Path(path).exists():
        raise UserError(
            f"phenome.curves.path '{path}' does not exist; fix the path or leave it empty."
        )
    header = tables.read_table(path, "growth series").columns
    for key, name in cur["columns"].items():
        if name and name not in header:
            raise UserError(
                f"{path}: phenome.curves.columns.{key} names {name!r}, which is not a column "
                f"(the header has {', '.join(header)}); fix the name or the header."
            )
    traits = [f"{cur['name']}_{t}" for t in cur["traits"]]
    clash = [t for t in traits if t in known]
    if clash:
        raise UserError(
            f"phenome.curves trait {clash[0]!r} is already a GWAS or GS trait; choose another "
            "phenome.curves.name."
        )
    return traits


def _check_weights(config: dict, gs_traits: list[str], curve_traits: list[str]) -> None:
    """``gs.selection.weights`` name GS traits (curve-derived ones when joined to gs)."""
    if not gs_traits:
        return
    join = config.get("phenome", {}).get("curves", {}).get("join") or []
    known = gs_traits + (curve_traits if "gs" in join else [])
    for t in config["gs"]["selection"]["weights"]:
        if t not in known:
            raise UserError(
                f"gs.selection.weights names {t!r}, which is not a GS trait "
                f"({', '.join(known)}); fix the name or remove it."
            )


def _check_directions(config: dict, known: list[str]) -> None:
    if not (config["gwas"]["enabled"] or config["gs"]["enabled"]):
        return
    unknown = [t for t in config["directions"] if t not in known]
    if unknown:
        raise UserError(
            f"Config 'directions' names trait '{unknown[0]}', which is not a GWAS or GS "
            f"trait ({', '.join(known) or 'none'}); fix the name or remove it."
        )


def _check_annotation(config: dict) -> None:
    """GWAS gene models, their reference and the genotypes must share contig names."""
    geno, ref = config["genotypes"], config["reference"]
    gff3 = geno.get("gff3") or ("" if geno.get("reference") else ref.get("gff3") or "")
    if not (config["gwas"]["enabled"] and gff3):
        return
    from breedomics.gwas import annotate

    fasta = geno.get("reference") or ref["fasta"]
    annotate.check_annotation(
        gff3,
        annotate.gff3_seqids(gff3),
        fasta,
        sheets.fasta_contigs(fasta),
        geno["path"],
        annotate.genotype_contigs(geno["source"], geno["path"]),
    )


def _omics_datasets(config: dict) -> list[str]:
    omics = config["omics"]
    if not (config["genotypes"]["enabled"] and omics["enabled"]):
        return []
    from breedomics.omics.features import check_dataset_name

    if not omics["datasets"]:
        raise UserError(
            "omics is enabled but omics.datasets is empty: add a dataset (name: {path: "
            "feature table}) or set omics.enabled: false."
        )
    for name, ds in omics["datasets"].items():
        check_dataset_name(name)
        if not Path(ds["path"]).exists():
            raise UserError(
                f"omics dataset '{name}': feature table '{ds['path']}' does not exist; "
                f"fix omics.datasets.{name}.path."
            )
        sheet = ds.get("injections")
        if sheet and not Path(sheet).exists():
            raise UserError(
                f"omics dataset '{name}': injection sheet '{sheet}' does not exist; "
                f"fix omics.datasets.{name}.injections (or remove it: no drift correction)."
            )
    link_model = omics["link"]["model"]
    gwas = config["gwas"]
    if link_model and gwas["enabled"] and link_model not in gwas["models"]:
        raise UserError(
            f"omics.link.model is '{link_model}', which gwas.models does not run "
            f"({', '.join(gwas['models'])}); add it there or leave omics.link.model empty "
            "(the first of gwas.models)."
        )
    return list(omics["datasets"])


def _gs_omics_layers(config: dict, datasets: list[str]) -> list[str]:
    """The omics layers of ``mkgblup`` (``gs.omics_layers``, default every dataset)."""
    gs = config["gs"]
    wanted = {*gs["models"], *gs["predict_models"], gs["selection"]["model"]}
    if not (config["genotypes"]["enabled"] and gs["enabled"] and "mkgblup" in wanted):
        return []
    if not datasets:
        raise UserError(
            "gs model mkgblup fits omics kernels beside the GRM, but no omics dataset is "
            "enabled: set omics.enabled: true with omics.datasets, or drop mkgblup from "
            "gs.models / gs.predict_models / gs.selection.model."
        )
    layers = list(gs["omics_layers"]) or datasets
    unknown = [name for name in layers if name not in datasets]
    if unknown:
        raise UserError(
            f"gs.omics_layers names '{unknown[0]}', which is not an omics dataset "
            f"({', '.join(datasets)}); fix the name or remove it."
        )
    return layers


def validate_run(
    config: dict,
    schema_dir: Path | None = None,
    source: str = "config",
    check_files: bool = True,
) -> RunInputs:
    """Validate a run's config and every input it names; return what was read.

    A run starts from reads (``units`` given: sample and unit sheets, FASTQ headers,
    the reference and its GFF3 and sex chromosomes are checked) or from genotypes
    (``units`` empty: the unit sheet is never read, and a reference is needed only
    for gene models). Then the GWAS, genomic-selection and omics inputs of the
    enabled stages: trait names, covariate tables, ``directions``, trial columns,
    annotation vs. genotype contigs, omics feature tables, the growth series of
    ``phenome.curves`` (its columns; derived trait names not clashing).

    Parameters
    ----------
    config : dict
        The config (validated and completed with the schema defaults in place).
    schema_dir : pathlib.Path, optional
        The workflow's schema folder (default: the checkout's ``workflow/schemas``).
    source : str
        The config file, named in messages.
    check_files : bool
        Also open every FASTQ (first record and gzip header) and check the genotype
        file's samples and the gene models' contigs. The main Snakemake process does;
        the job processes a cluster run starts (one per job) read the same files after
        it and skip these reads.

    Returns
    -------
    RunInputs

    Raises
    ------
    UserError
        The first problem found, in a few lines naming the key, file or cell and the fix.
    """
    validate_config(config, source, schema_dir)
    has_reads = bool(config.get("units"))
    _check_reference(config, has_reads)
    if has_reads:
        samples, units, contigs = sheets.load_all(config, schema_dir, check_files=check_files)
    else:
        samples, units, contigs = sheets.load_samples(config["samples"], schema_dir), None, {}
    _check_genotypes(config, has_reads, schema_dir, check_files)
    traits = _gwas_traits(config)
    phenotyped = _check_phenotype_ids(config, samples) if check_files else {}
    gs_traits = _gs_traits(config)
    curve_traits = _curve_traits(config, traits + gs_traits)
    _check_weights(config, gs_traits, curve_traits)
    _check_directions(config, list(dict.fromkeys(traits + gs_traits + curve_traits)))
    if check_files:
        _check_annotation(config)
    datasets = _omics_datasets(config)
    return RunInputs(
        samples=samples,
        units=units,
        contigs=contigs,
        traits=traits,
        gs_traits=gs_traits,
        omics_datasets=datasets,
        gs_omics_layers=_gs_omics_layers(config, datasets),
        curve_traits=curve_traits,
        phenotyped=phenotyped,
    )
