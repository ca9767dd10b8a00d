"""``breedomics init``: a working config folder for a lab's own data.

From a species preset (``config/presets/<species>.yaml``) and the lab's files, it writes
``<out>/config.yaml`` (the whole config of the run: what it does not set comes from the
schema's defaults), a sample sheet with the genotyped samples when only genotypes are
given (ids from the VCF/BCF header or the ``.fam``), and ``<out>/README.md`` saying what
to check and edit. The folder is validated with :func:`breedomics.validate.validate_run`,
the workflow's own check, before the command reports success.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import pandas as pd
import yaml

from breedomics.core import genotypes as gt
from breedomics.errors import UserError

#: The checkout's species presets.
PRESETS = Path(__file__).resolve().parents[2] / "config" / "presets"

#: ``--species`` -> the ``species`` column of the sample sheet.
SPECIES = {"soybean": "soybean", "rice": "rice", "minpig": "pig"}

#: Preset sections copied into the new config (the genome and, for reads, calling).
_PRESET_KEYS = ("genome", "trimming", "calling", "filtering")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--species", required=True, choices=sorted(SPECIES), help="preset")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--genotypes",
        metavar="FILE",
        help="genotypes to start from: a bgzipped VCF, a BCF or a PLINK bed/bim/fam prefix",
    )
    src.add_argument("--units", metavar="FILE", help="unit sheet of FASTQ files to start from")
    parser.add_argument(
        "--samples",
        metavar="FILE",
        help="sample sheet (sample, species, group, sex); default with --genotypes: one "
        "written from the genotypes' sample ids",
    )
    parser.add_argument(
        "--phenotypes", metavar="FILE", help="phenotype table (sample + one column per trait)"
    )
    parser.add_argument(
        "--trials", metavar="FILE", help="plot records of field trials (genomic selection)"
    )
    parser.add_argument("--reference", metavar="FASTA", help="genome FASTA (needed with --units)")
    parser.add_argument("--gff3", metavar="FILE", help="gene models on the reference")
    parser.add_argument("--out", required=True, metavar="DIR", help="config folder to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing config")


def _existing(path: str | None, option: str) -> str:
    """The absolute path of a file the user gave (the workflow may run from elsewhere)."""
    if not path:
        return ""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise UserError(f"{option} '{path}' does not exist; give the path of an existing file.")
    return str(p)


def _genotype_input(path: str) -> tuple[str, str, list[str]]:
    """(source, absolute path or PLINK prefix, sample ids) of a genotype file."""
    fmt = gt.genotype_format(path)
    if fmt == "plink":
        prefix = str(Path(gt.plink_prefix(path)).expanduser().resolve())
        return "plink", prefix, gt.read_samples(prefix)
    return "vcf", _existing(path, "--genotypes"), gt.read_samples(path)


def _load_preset(species: str) -> dict:
    path = PRESETS / f"{species}.yaml"
    if not path.exists():
        raise UserError(
            f"species preset '{path}' is missing: run breedomics init from a checkout "
            "of the repository (pip install -e .)."
        )
    with open(path) as fh:
        return yaml.safe_load(fh)


def _write_samples(path: Path, ids: list[str], species: str) -> None:
    """A sample sheet of the genotyped samples: one group, sex unknown (edit both)."""
    pd.DataFrame({"sample": ids, "species": species, "group": "all", "sex": "NA"}).to_csv(
        path, sep="\t", index=False
    )


#: Column names of the design roles of trial records, as labs name them (first found wins).
_TRIAL_ROLES = {
    "genotype": ("genotype", "line", "accession", "entry", "sample", "gid", "variety"),
    "environment": ("environment", "env", "location", "site", "trial", "year"),
    "replicate": ("replicate", "rep", "replication"),
    "block": ("block", "incomplete_block", "iblock"),
    "plot": ("plot", "plot_id"),
    # plot coordinates: with both, the spatial model (gs.spatial)
    "row": ("row", "range"),
    "col": ("col", "column"),
}


def _trial_columns(path: str) -> dict[str, str]:
    """``gs.trial_columns`` from the header of a trial table (case-insensitive names)."""
    with open(path, encoding="utf-8-sig") as fh:
        first = fh.readline().rstrip("\r\n")
    header = [c.strip() for c in first.split("\t" if "\t" in first else ",")]
    lower = {c.lower(): c for c in header}
    found = {}
    for role, names in _TRIAL_ROLES.items():
        col = next((lower[n] for n in names if n in lower), "")
        if not col and role in ("genotype", "environment"):
            raise UserError(
                f"--trials '{path}', line 1: no {role} column (looked for "
                f"{', '.join(names)}; the header has {', '.join(header)}); rename the column."
            )
        found[role] = col
    if not found["replicate"] and found["block"]:
        # a lone 'block' column is the complete block (replicate) of an RCBD
        found["replicate"], found["block"] = found["block"], ""
    return found


def _check_sample_ids(path: str, ids: list[str]) -> None:
    """Stop, naming every one, when genotype sample names cannot be sample ids (they
    reach file paths and command lines: the sample sheet's pattern), with the rename."""
    import re

    from breedomics.sheets import load_schema

    pattern = re.compile(load_schema("samples")["properties"]["sample"]["pattern"])
    bad = [s for s in ids if not pattern.match(s)]
    if bad:
        # reheader keeps the input's format: name the output alike
        suffix = next((e for e in (".vcf.gz", ".vcf.bgz", ".bcf") if path.endswith(e)), ".vcf")
        renamed = "renamed" + suffix
        raise UserError(
            f"{path}: {len(bad)} sample name(s) cannot be sample ids: "
            f"{', '.join(map(repr, bad[:10]))}{' ...' if len(bad) > 10 else ''}. An id starts "
            "with a letter or digit, then letters, digits, '.', '_' or '-' (it reaches file "
            "paths and command lines). Rename them in the genotype file, e.g. spaces to '_': "
            f"`bcftools query -l {path} | tr ' ' '_' > names.txt` then `bcftools reheader "
            f"-s names.txt -o {renamed} {path}` (PLINK: edit the .fam), and rename them "
            "alike in the phenotype tables"
        )


def build_config(args: argparse.Namespace, out: Path) -> tuple[dict, list[str] | None]:
    """The new config, and the genotype sample ids when a sheet must be written for them."""
    preset = _load_preset(args.species)
    config: dict = {k: copy.deepcopy(preset[k]) for k in _PRESET_KEYS if k in preset}
    ids = None
    if args.genotypes:
        source, path, geno_ids = _genotype_input(args.genotypes)
        if not args.samples:
            _check_sample_ids(path, geno_ids)
        config["genotypes"] = {"enabled": True, "source": source, "path": path}
        for key in ("trimming", "calling", "filtering"):
            config.pop(key, None)
        if args.samples:
            config["samples"] = _existing(args.samples, "--samples")
        else:
            config["samples"] = str(out / "samples.tsv")
            ids = geno_ids
        config["units"] = ""
    else:
        if not args.samples:
            raise UserError("--units needs --samples: the sample sheet its samples are in.")
        if not args.reference:
            raise UserError("--units needs --reference: the genome FASTA the reads align to.")
        config["samples"] = _existing(args.samples, "--samples")
        config["units"] = _existing(args.units, "--units")
        config["genotypes"] = {"enabled": True, "source": "calls"}
    if args.gff3 and not args.reference:
        raise UserError("--gff3 needs --reference: the genome FASTA of the gene models.")
    config["reference"] = {
        "fasta": _existing(args.reference, "--reference"),
        "gff3": _existing(args.gff3, "--gff3"),
    }
    pheno = _existing(args.phenotypes, "--phenotypes")
    trials = _existing(args.trials, "--trials")
    config["census"] = {"enabled": True}
    config["gwas"] = {"enabled": bool(pheno), "phenotypes": pheno, "models": ["mlm"]}
    config["gwas"].update(preset.get("gwas", {}))  # the species' clumping distance
    config["directions"] = {}
    config["gs"] = {"enabled": bool(pheno or trials), "trials": trials, "models": ["gblup"]}
    if trials:
        config["gs"]["trial_columns"] = _trial_columns(trials)
    config["omics"] = {"enabled": False}
    order = ["samples", "units", "reference", "genome", "trimming", "calling", "filtering"]
    order += ["genotypes", "census", "gwas", "directions", "gs", "omics"]
    return {k: config[k] for k in order if k in config}, ids


_HEADER = """\
# breedomics run config written by `breedomics init --species {species}`.
# It is the whole config: keys it does not set take the defaults of
# workflow/schemas/config.schema.yaml (every key: config/README.md).
# Check: breedomics check-inputs --config {config}
# Run from the repository root: snakemake --cores N --configfile {config}
"""


_README = """\
# Run config for {species}

Written by `breedomics init`. Files:

- `config.yaml`: the run's config. It is the whole config: keys it does not set take the
  defaults of `workflow/schemas/config.schema.yaml` (all keys: `config/README.md`).
{sheet_line}
What to check and edit before the first run:

1. The sample sheet (`{samples}`): `group` (populations, breeds or families: the census
   compares them) and `sex` (M/F/NA; needed when `genome.sex_chromosomes` is set).
2. `genome` in `config.yaml`: `mating` ({mating} from the preset) and the sex chromosomes.
3. `genotypes`: quality-control thresholds and `impute` (`beagle`, or `mean` for a quick
   first look).
4. `gwas` (enabled: {gwas}): `models`, `pcs`, `threshold`; `directions` of selection per
   trait (increase/decrease).
5. `gs` (enabled: {gs}): `models`, `folds`, `repeats`; with trial records, the column
   names in `gs.trial_columns`.
6. `census`: set `enabled: false` to skip the germplasm census.

Then, from the repository root:

```bash
breedomics check-inputs --config {config}
snakemake --cores {cores} --configfile {config}   # the cores of this machine
# on a SLURM cluster: snakemake --profile cluster --configfile {config} (docs/cluster.md)
```
"""


def run(args: argparse.Namespace) -> int:
    """``breedomics init``."""
    from breedomics.validate import validate_run

    out = Path(args.out).expanduser().resolve()
    target = out / "config.yaml"
    if target.exists() and not args.force:
        raise UserError(f"'{target}' exists; choose another --out or add --force.")
    config, ids = build_config(args, out)
    sheet = out / "samples.tsv"
    if ids is not None and sheet.exists() and not args.force:
        raise UserError(f"'{sheet}' exists; pass it as --samples, or add --force to replace it.")
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "README.md", target.with_suffix(".yaml.tmp")]
    if ids is not None:
        written.append(out / "samples.tsv")
        _write_samples(out / "samples.tsv", ids, SPECIES[args.species])
    sheet_line = (
        f"- `samples.tsv`: the {len(ids)} samples of the genotypes (group `all`, sex NA).\n"
        if ids is not None
        else ""
    )
    (out / "README.md").write_text(
        _README.format(
            species=args.species,
            sheet_line=sheet_line,
            samples=config["samples"],
            mating=config.get("genome", {}).get("mating", "outbred"),
            gwas=str(config["gwas"]["enabled"]).lower(),
            gs=str(config["gs"]["enabled"]).lower(),
            config=target,
            cores=os.cpu_count() or 1,
        )
    )
    text = _HEADER.format(species=args.species, config=target)
    text += yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    try:
        inputs = validate_run(copy.deepcopy(config), source=str(tmp))
    except UserError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise UserError(f"{exc}\n(nothing written: fix the input and run init again)") from None
    tmp.replace(target)
    print(f"wrote {target}: {inputs.summary()}", file=sys.stderr)
    print(f"next: edit it (see {out / 'README.md'}), then", file=sys.stderr)
    print(f"  breedomics check-inputs --config {target}", file=sys.stderr)
    print(f"  snakemake --cores {os.cpu_count() or 1} --configfile {target}", file=sys.stderr)
    return 0
