"""Load and validate the run's inputs (sample sheet, unit sheet, reference) once, up front.

Every problem found here stops the run before any job starts, with a message that
names the file, the line and the fix: a breeding lab with hundreds of accessions
should learn about a typo in line 212 of its sheet in one second, not after the
first hundred alignment jobs.
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections.abc import Iterable
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from breedomics.core import phenotypes, tables
from breedomics.errors import UserError

#: Default schema folder when running from a checkout (workflow/schemas).
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"

_GZIP_MAGIC = b"\x1f\x8b"


#: libyaml's parser when PyYAML has it: the schemas are read at every Snakemake start
#: (one per cluster job), and the pure-Python parser takes ~0.2 s for them.
_SCHEMA_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(name: str, schema_dir: Path | None = None) -> dict:
    """Read ``<name>.schema.yaml`` from the workflow's schema folder."""
    path = Path(schema_dir or SCHEMA_DIR) / f"{name}.schema.yaml"
    with open(path) as fh:
        return yaml.load(fh, Loader=_SCHEMA_LOADER)  # noqa: S506 - a safe loader


def _read_tsv(path: Path, what: str) -> pd.DataFrame:
    """A sheet as stripped text cells (``""`` for empty), via the core table reader.

    CSV or TSV, gzipped, BOM, CRLF and padded cells are accepted
    (:func:`breedomics.core.tables.read_table`); ``attrs["lines"]`` holds the
    file line of each row for messages.
    """
    return tables.read_table(path, what)


def _line(df: pd.DataFrame, i: int) -> int:
    """File line of row ``i`` of a sheet read by :func:`_read_tsv`."""
    lines = df.attrs.get("lines") or []
    return lines[i] if len(lines) == len(df) else i + 2


def _validate_rows(df: pd.DataFrame, schema: dict, path: Path, what: str) -> None:
    """Validate each row against the JSON schema; report file, line and column."""
    missing = [c for c in schema.get("required", []) if c not in df.columns]
    if missing:
        raise UserError(
            f"{what} '{path}' lacks column(s) {', '.join(missing)}; its header has "
            f"{', '.join(df.columns)}. Add the column(s) (tab- or comma-separated)."
        )
    validator = jsonschema.Draft202012Validator(schema)
    for i, row in enumerate(df.to_dict(orient="records")):
        record = {k: v for k, v in row.items() if v != "" or k in schema.get("required", [])}
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
        if errors:
            err = errors[0]
            column = err.path[0] if err.path else "?"
            value = row.get(column, "")
            hint = schema.get("properties", {}).get(column, {}).get("description", "")
            raise UserError(
                f"{what} '{path}', line {_line(df, i)}, column '{column}': value {value!r} is not "
                f"valid ({err.message}). {hint}".strip()
            )


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for v in values:
        if v in seen and v not in dups:
            dups.append(v)
        seen.add(v)
    return dups


def load_samples(path: str | Path, schema_dir: Path | None = None) -> pd.DataFrame:
    """Read and validate the sample sheet; return it indexed by sample id."""
    path = Path(path)
    df = _read_tsv(path, "Sample sheet")
    if df.empty:
        raise UserError(f"Sample sheet '{path}' has a header but no samples: add one row each.")
    if "sex" not in df.columns:
        df["sex"] = "NA"
    df["sex"] = df["sex"].replace({"": "NA", "male": "M", "female": "F", "U": "NA"})
    _validate_rows(df, load_schema("samples", schema_dir), path, "Sample sheet")
    dups = _duplicates(df["sample"])
    if dups:
        lines = [str(_line(df, i)) for i, s in enumerate(df["sample"]) if s == dups[0]]
        raise UserError(
            f"Sample sheet '{path}': sample id '{dups[0]}' appears on lines "
            f"{', '.join(lines)}; ids must be unique (rename or merge the rows)."
        )
    return df.set_index("sample", drop=False)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def read_head(path: Path, where: str, what: str, n: int) -> bytes:
    """The first ``n`` bytes of a unit's input file; a UserError (``where``: the sheet,
    line and column) if it is missing or empty. ``what``: e.g. ``"FASTQ "`` or ``""``."""
    if not path.exists():
        raise UserError(
            f"{where}: {what}'{path}' does not exist (relative paths are relative "
            f"to the unit sheet's folder). Fix the path or copy the file there."
        )
    if path.stat().st_size == 0:
        raise UserError(f"{where}: {what}'{path}' is empty. Re-transfer it.")
    with open(path, "rb") as fh:
        return fh.read(n)


def check_fastq_header(path: Path, sheet: Path, line: int, column: str) -> None:
    """Fail early if a FASTQ is missing, empty, not gzip, or does not start like FASTQ.

    Truncation in the middle of a file can only be found by reading it all; the
    trimming rule tests the whole gzip stream before using it.
    """
    where = f"Unit sheet '{sheet}', line {line}, column '{column}'"
    magic = read_head(path, where, "FASTQ ", 2)
    if magic != _GZIP_MAGIC:
        raise UserError(
            f"{where}: '{path}' is not gzip-compressed. Compress it with "
            f"'gzip' or 'bgzip' and point the sheet at the .gz file."
        )
    try:
        with gzip.open(path, "rt") as fh:
            first = fh.readline()
    except (OSError, EOFError) as exc:
        raise UserError(
            f"{where}: '{path}' is a damaged gzip file ({exc}). Re-transfer it."
        ) from exc
    if not first.startswith("@"):
        raise UserError(
            f"{where}: '{path}' does not look like FASTQ (first line does not start with '@')."
        )


def load_units(
    path: str | Path,
    samples: pd.DataFrame,
    schema_dir: Path | None = None,
    check_files: bool = True,
) -> pd.DataFrame:
    """Read and validate the unit sheet against the sample sheet.

    FASTQ paths are made absolute (relative paths resolve against the sheet's folder),
    so the workflow can run from any working directory.
    """
    path = Path(path)
    df = _read_tsv(path, "Unit sheet")
    if df.empty:
        raise UserError(
            f"Unit sheet '{path}' has no units: add one row per sequencing unit "
            f"(sample, unit, fq1, fq2 or bam, platform, library_type)."
        )
    _check_unit_kinds(df, path)
    _validate_rows(df, load_schema("units", schema_dir), path, "Unit sheet")
    keys = list(zip(df["sample"], df["unit"], strict=True))
    dups = _duplicates(keys)
    if dups:
        s, u = dups[0]
        raise UserError(
            f"Unit sheet '{path}': unit '{u}' of sample '{s}' is listed twice; "
            f"give each lane its own unit id."
        )
    known = set(samples.index)
    for i, s in enumerate(df["sample"]):
        if s not in known:
            raise UserError(
                f"Unit sheet '{path}', line {_line(df, i)}: sample '{s}' is not in the sample "
                f"sheet. Add it there or remove its units."
            )
    without = sorted(known - set(df["sample"]))
    if without:
        raise UserError(
            f"Sample sheet lists {len(without)} sample(s) with no unit in '{path}': "
            f"{', '.join(without[:10])}. Add their units (FASTQ or BAM/CRAM) or remove "
            f"them from the sample sheet."
        )
    mixed = df.groupby("sample")["library_type"].nunique()
    mixed = mixed[mixed > 1]
    if len(mixed):
        raise UserError(
            f"Unit sheet '{path}': sample '{mixed.index[0]}' mixes wgs and gbs units; "
            f"split it into two samples (duplicates are marked for wgs only)."
        )
    base = path.resolve().parent
    for col in UNIT_FILES:
        df[col] = [str(_resolve(base, v)) if v else "" for v in df[col]]
    df["line"] = [_line(df, i) for i in range(len(df))]
    fastq = df[df["bam"] == ""]
    if check_files:
        for row in fastq.itertuples():
            for col in ("fq1", "fq2"):
                check_fastq_header(Path(getattr(row, col)), path, row.line, col)
        same = fastq[fastq["fq1"] == fastq["fq2"]]
        if len(same):
            raise UserError(
                f"Unit sheet '{path}': fq1 and fq2 are the same file for sample "
                f"'{same.iloc[0]['sample']}'."
            )
    twice = _duplicates(v for v in df["bam"] if v)
    if twice:
        lines = [str(n) for n, v in zip(df["line"], df["bam"], strict=True) if v == twice[0]]
        raise UserError(
            f"Unit sheet '{path}': alignment '{twice[0]}' is listed on lines "
            f"{', '.join(lines)}; give each file once."
        )
    df["entry"] = ["fastq" if not v else "" for v in df["bam"]]
    df["decode_with"] = ""
    return df.set_index(["sample", "unit"], drop=False).sort_index()


#: Path columns of the unit sheet (absolute after loading; "" when empty).
UNIT_FILES = ("fq1", "fq2", "bam", "reference")


def _check_unit_kinds(df: pd.DataFrame, path: Path) -> None:
    """Each unit gives reads (fq1 and fq2) or an alignment (bam), never both or neither."""
    if not ({"fq1", "fq2"} <= set(df.columns) or "bam" in df.columns):
        raise UserError(
            f"Unit sheet '{path}' has neither fq1 and fq2 columns (FASTQ) nor a bam column "
            f"(BAM/CRAM); its header has {', '.join(df.columns)}. Add them."
        )
    for col in UNIT_FILES:
        if col not in df.columns:
            df[col] = ""
    for i, row in enumerate(df.itertuples()):
        where = f"Unit sheet '{path}', line {_line(df, i)}"
        reads = [c for c in ("fq1", "fq2") if getattr(row, c)]
        if row.bam and reads:
            raise UserError(
                f"{where}: unit '{row.unit}' of sample '{row.sample}' gives both FASTQ "
                f"({reads[0]}) and an alignment (bam). Keep one; if both hold reads, give "
                f"each its own row and unit id."
            )
        if not row.bam and len(reads) == 1:
            missing = "fq2" if reads == ["fq1"] else "fq1"
            raise UserError(
                f"{where}, column '{missing}': unit '{row.unit}' of sample '{row.sample}' "
                f"has {reads[0]} but no {missing}; the workflow aligns paired-end reads: "
                f"give both files."
            )
        if not row.bam and not reads:
            raise UserError(
                f"{where}: unit '{row.unit}' of sample '{row.sample}' has no input: give "
                f"fq1 and fq2 (gzipped FASTQ) or bam (a BAM or CRAM file)."
            )
        if row.reference and not str(row.bam).lower().endswith(".cram"):
            raise UserError(
                f"{where}, column 'reference': a reference is given, but unit '{row.unit}' "
                f"is not a CRAM; the column names the FASTA a CRAM was made on. Empty it."
            )


def inspect_alignment_units(
    units: pd.DataFrame,
    samples: pd.DataFrame,
    config: dict,
    path: str | Path,
    check_files: bool = True,
) -> pd.DataFrame:
    """Choose the route of each BAM/CRAM unit (:mod:`breedomics.alignments`)."""
    from breedomics import alignments

    known = set(samples.index)
    ref = Path(config["reference"]["fasta"])
    for key, row in units[units["bam"] != ""].iterrows():
        unit = alignments.inspect_unit(
            Path(row["bam"]),
            Path(row["reference"]) if row["reference"] else None,
            ref,
            row["sample"],
            known,
            Path(path),
            int(row["line"]),
            check_files=check_files,
        )
        units.loc[key, "entry"] = unit.route
        units.loc[key, "decode_with"] = unit.decode_with
    return units


def fasta_contigs(path: str | Path) -> dict[str, int | None]:
    """Contig names (and lengths when a .fai exists) of a plain or gzipped FASTA."""
    path = Path(path)
    if not path.exists():
        raise UserError(
            f"Reference FASTA '{path}' does not exist: fix reference.fasta in the config."
        )
    fai = Path(str(path) + ".fai")
    if fai.exists() and fai.stat().st_mtime >= path.stat().st_mtime:
        out: dict[str, int | None] = {}
        with open(fai) as fh:
            for line in fh:
                name, length = line.split("\t")[:2]
                out[name] = int(length)
        return out
    opener = gzip.open if open(path, "rb").read(2) == _GZIP_MAGIC else open
    out = {}
    try:
        with opener(path, "rb") as fh:
            for line in fh:
                if line.startswith(b">"):
                    name = line[1:].split()[0].decode() if line[1:].strip() else ""
                    if not name:
                        raise UserError(
                            f"Reference FASTA '{path}' has a header line without a name."
                        )
                    if name in out:
                        raise UserError(f"Reference FASTA '{path}' has contig '{name}' twice.")
                    out[name] = None
    except (OSError, EOFError) as exc:
        raise UserError(f"Reference FASTA '{path}' cannot be read ({exc}).") from exc
    if not out:
        raise UserError(f"Reference FASTA '{path}' has no '>' header lines: is it FASTA?")
    return out


_CONTIG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._|-]{0,199}$")


def check_reference(config: dict) -> dict[str, int | None]:
    """Check contig names are safe and agree with the GFF3 and the sex chromosome keys."""
    ref = config["reference"]["fasta"]
    contigs = fasta_contigs(ref)
    for name in contigs:
        if not _CONTIG.match(name):
            raise UserError(
                f"Reference FASTA '{ref}': contig name '{name}' has characters that are "
                f"unsafe in file names and region strings; rename it (letters, digits, "
                f"'.', '_', '-', '|')."
            )
    sex = config.get("genome", {}).get("sex_chromosomes", {}) or {}
    for key in ("X", "Y"):
        name = sex.get(key) or ""
        if name and name not in contigs:
            raise UserError(
                f"Config genome.sex_chromosomes.{key} is '{name}', but the reference "
                f"'{ref}' has no such contig (it has {', '.join(list(contigs)[:8])}...). "
                f"Use the reference's name for the {key} chromosome or leave it empty."
            )
    gff = config["reference"].get("gff3") or ""
    if gff:
        gff_path = Path(gff)
        if not gff_path.exists():
            raise UserError(f"GFF3 '{gff}' (reference.gff3 in the config) does not exist.")
        opener = gzip.open if open(gff_path, "rb").read(2) == _GZIP_MAGIC else open
        with opener(gff_path, "rt") as fh:
            for n, line in enumerate(fh, start=1):
                if line.startswith("##FASTA"):
                    break
                if not line.strip() or line.startswith("#"):
                    continue
                seqid = line.split("\t", 1)[0]
                if seqid not in contigs:
                    raise UserError(
                        f"GFF3 '{gff}', line {n}: sequence '{seqid}' is not a contig of the "
                        f"reference '{ref}'. The annotation belongs to another assembly or "
                        f"uses other contig names (e.g. 'chr1' vs '1'); use matching files."
                    )
    return contigs


def check_sexes(config: dict, samples: pd.DataFrame, path: str) -> None:
    """Samples need a known sex when the genome has sex chromosomes to call haploid."""
    sex = config.get("genome", {}).get("sex_chromosomes", {}) or {}
    if not (sex.get("X") or sex.get("Y")):
        return
    unknown = samples.index[samples["sex"] == "NA"].tolist()
    if unknown:
        raise UserError(
            f"Sample sheet '{path}': sample(s) {', '.join(unknown[:10])} have no sex (M/F), "
            f"but genome.sex_chromosomes is set, so X/Y ploidy depends on it. Fill in the "
            f"'sex' column."
        )


def check_genotype_path(source: str, path: str) -> None:
    """The genotype file a run starts from must exist (VCF/BCF, or a PLINK prefix)."""
    if not path:
        raise UserError(
            f"genotypes.source is '{source}' but genotypes.path is empty: set it to your "
            f"{'bgzipped VCF/BCF' if source == 'vcf' else 'PLINK bed/bim/fam prefix'}."
        )
    if source == "plink":
        missing = [ext for ext in (".bed", ".bim", ".fam") if not Path(path + ext).exists()]
        if missing:
            raise UserError(
                f"genotypes.path '{path}': PLINK file(s) {', '.join(path + m for m in missing)} "
                f"do not exist; give the prefix of an existing bed/bim/fam set."
            )
    elif not Path(path).exists():
        raise UserError(f"genotypes.path '{path}' does not exist; fix the path in the config.")


_TRAIT = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def _check_names(names: list[str], what: str, path: Path) -> None:
    """Trait names become file names: each must be a safe identifier."""
    for name in names:
        if not _TRAIT.match(name):
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()).strip("_")
            if safe and not safe[0].isalpha():
                safe = f"t_{safe}"
            hint = f", e.g. to {safe!r}" if safe and _TRAIT.match(safe) else ""
            raise UserError(
                f"{what} '{path}', line 1: column name {name!r} is not a safe identifier "
                f"(a letter, then letters, digits, '_', '.', '-'); rename it{hint}."
            )


def trait_names(
    path: str | Path, what: str = "Phenotype table", *, numeric: bool | None = None
) -> list[str]:
    """Trait (column) names of a phenotype table: a ``sample`` id column, then one column each.

    The table is read as every stage reads it (:mod:`breedomics.core.phenotypes`:
    CSV or TSV, gzipped, BOM, CRLF, padded cells), so its shape, its sample
    ids and (with ``numeric``) every value are checked here, before any job.
    ``numeric`` defaults to True except for a covariate table (``what``
    starting with "Covariate"), whose text columns are categorical. Trait
    names become file names, so they must be safe identifiers.
    """
    path = Path(path)
    if numeric is None:
        numeric = not what.lower().startswith("covariate")
    if numeric:
        names = phenotypes.read_traits(path, what=what)[1]
    else:
        names = list(phenotypes.read_covariates(path, what=what).columns)
    _check_names(names, what, path)
    return names


#: Column names of plot layout (lower case): never taken as traits without ``gs.traits``.
LAYOUT_NAMES = frozenset({"row", "col", "column", "range", "block", "rep", "replicate", "plot"})


def trial_traits(
    path: str | Path,
    design: dict[str, str],
    traits: list[str] | None = None,
    covariates: list[str] | None = None,
) -> list[str]:
    """Trait columns of a multi-environment trial table (plot records).

    ``design`` maps roles (genotype, environment, replicate, block, plot, row, col) to
    column names; every named column must exist, and so must the plot ``covariates``
    (``gs.spatial.covariates``); the traits are the remaining columns (or ``traits``,
    each of which must be one of them). Trait names become file
    names, so they must be safe identifiers. The table is read as the GS stage
    reads it (:mod:`breedomics.core.tables`), so its shape and trait values are
    checked here, before any job.
    """
    path = Path(path)
    what = "Trial table"
    table = tables.read_table(path, what)
    header = list(table.columns)
    for col in covariates or []:
        if col not in header:
            raise UserError(
                f"{what} '{path}', line 1: no column {col!r} (gs.spatial.covariates); "
                f"the header has {', '.join(header)}."
            )
    used = [c for c in design.values() if c] + list(covariates or [])
    for role, col in design.items():
        if col and col not in header:
            raise UserError(
                f"{what} '{path}', line 1: no column {col!r} (gs.trial_columns.{role}); "
                f"the header has {', '.join(header)}."
            )
    rest = [c for c in header if c not in used]
    layout = [c for c in rest if c.lower() in LAYOUT_NAMES]
    if layout and not traits:
        raise UserError(
            f"{what} '{path}', line 1: column {layout[0]!r} looks like a field-layout column, "
            "not a trait. Map it in gs.trial_columns (row, col, block, replicate, plot), "
            "or list the trait columns in gs.traits."
        )
    if traits:
        bad = [t for t in traits if t not in rest]
        if bad:
            raise UserError(
                f"gs.traits names {bad[0]!r}, which is not a trait column of {what} "
                f"'{path}' ({', '.join(rest) or 'none'})."
            )
        rest = list(traits)
    if not rest:
        raise UserError(f"{what} '{path}' has no trait columns besides the design columns.")
    tables.to_numeric(table, rest, label="trait")
    _check_names(rest, what, path)
    return rest


def load_all(config: dict, schema_dir: Path | None = None, check_files: bool = True):
    """Validate everything a run needs; return (samples, units, contigs)."""
    samples = load_samples(config["samples"], schema_dir)
    units = load_units(config["units"], samples, schema_dir, check_files=check_files)
    contigs = check_reference(config)
    units = inspect_alignment_units(units, samples, config, config["units"], check_files)
    check_sexes(config, samples, config["samples"])
    return samples, units, contigs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default="config/config.yaml",
        help="the run's config YAML, as given to snakemake --configfile (paths in it are "
        "relative to the folder snakemake runs in: run this from there too)",
    )
    parser.add_argument("--schemas", default=None, help="schema folder (default: workflow/schemas)")
    parser.add_argument(
        "--no-fastq", action="store_true", help="do not open the FASTQ files (faster)"
    )


def run(args: argparse.Namespace) -> int:
    """``breedomics check-inputs``: the workflow's own input check (``validate_run``)."""
    from breedomics.validate import load_config, validate_run

    schema_dir = Path(args.schemas) if args.schemas else None
    config = load_config(args.config, schema_dir)
    inputs = validate_run(config, schema_dir, source=args.config, check_files=not args.no_fastq)
    print(f"OK: {inputs.summary()}")
    return 0
