"""One input check (validate_run) for the workflow and check-inputs; `breedomics init`.

Config errors are a few lines naming the key, the bad value and the fix (never the
schema), the same from `snakemake` and from `breedomics check-inputs`, and stop a run
before any job. A run from genotypes needs no reference and never reads a unit sheet.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import PANEL, TEST_DATA, need_panel, panel_config, run_workflow

from breedomics import validate
from breedomics.cli import main
from breedomics.errors import UserError


def _panel_cfg(**sections) -> dict:
    need_panel("phenotypes.tsv")
    cfg = panel_config(PANEL, **sections)
    assert "reference" not in cfg  # a run from genotypes without gene models needs none
    return cfg


def _cli(*argv: str) -> subprocess.CompletedProcess:
    """``breedomics <argv>`` in this process (the command line's own entry point)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _check_inputs(cfg: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "my-run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return _cli("check-inputs", "--config", str(path))


def _short(msg: str, *needles: str) -> None:
    assert len(msg.strip().splitlines()) <= 5, msg
    assert "$schema" not in msg and "additionalProperties" not in msg, msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"


def test_genotype_only_run_needs_no_reference_and_no_units(tmp_path):
    cfg = _panel_cfg(gwas={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv")})
    cfg["units"] = str(tmp_path / "no-such-units.tsv")  # reads need a reference...
    with pytest.raises(UserError, match="reference.fasta is empty but the run starts from reads"):
        validate.validate_run(copy.deepcopy(cfg))
    cfg["units"] = ""  # ...and without reads no unit sheet is read and no reference needed
    run = validate.validate_run(cfg)
    assert run.units is None and run.traits == ["yield", "height"]
    assert len(run.samples) == 272
    # the schema's defaults filled in: gwas on, GS and omics off, permutations set
    assert cfg["gs"]["enabled"] is False and cfg["omics"]["enabled"] is False
    assert cfg["gwas"]["permutations"] == 1000 and cfg["reference"]["fasta"] == ""
    proc = _check_inputs(_panel_cfg(), tmp_path)
    assert proc.returncode == 0 and "OK: 272 samples" in proc.stdout, proc.stderr


def test_reads_need_a_reference():
    cfg = {
        "samples": str(TEST_DATA / "soybean" / "samples.tsv"),
        "units": str(TEST_DATA / "soybean" / "units.tsv"),
    }
    with pytest.raises(UserError) as err:
        validate.validate_run(cfg)
    _short(str(err.value), "reference.fasta", "units")


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (lambda c: c["gwas"].update(threshold="permutations"), ["gwas.threshold", "meff"]),
        (lambda c: c["genotypes"].update(min_maf=0.7), ["genotypes.min_maf", "0.7", "0.5"]),
        (lambda c: c["gwas"].update(phenotype="x.tsv"), ["gwas.phenotype", "unknown key"]),
        (lambda c: c.update(gwass={}), ["'gwass'", "unknown key"]),
        (lambda c: c["gwas"].update(phenotypes="my phenos.tsv"), ["gwas.phenotypes", "path"]),
        (lambda c: c.update(directions={"yeild": "increase"}), ["directions", "yeild"]),
        (lambda c: c["gwas"].update(threshold="permutation", permutations=0), ["permutations"]),
        (lambda c: c.pop("samples"), ["'samples'", "missing"]),
        (
            lambda c: c.setdefault("calling", {}).update(refine={"enabled": True, "error": 0.7}),
            ["calling.refine.error", "0.7"],
        ),
    ],
)
def test_bad_config_is_a_short_message(edit, needles, tmp_path):
    cfg = _panel_cfg(gwas={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv")})
    edit(cfg)
    with pytest.raises(UserError) as err:
        validate.validate_run(copy.deepcopy(cfg))
    _short(str(err.value), *needles)
    # check-inputs says the same thing
    proc = _check_inputs(cfg, tmp_path)
    assert proc.returncode == 1
    _short(proc.stderr, *needles)
    assert str(err.value).splitlines()[0].split(": ", 1)[-1] in proc.stderr


def test_omics_link_model_must_be_a_gwas_model():
    cfg = _panel_cfg(
        gwas={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv"), "models": ["mlm"]},
        omics={"enabled": True, "datasets": {"metab": {"path": str(PANEL / "metabolites.tsv")}},
               "link": {"model": "glm"}},
    )  # fmt: skip
    with pytest.raises(UserError) as err:
        validate.validate_run(copy.deepcopy(cfg))
    _short(str(err.value), "omics.link.model", "'glm'", "gwas.models")
    cfg["omics"]["link"]["model"] = "mlm"
    assert validate.validate_run(cfg).omics_datasets == ["metab"]


def test_workflow_refuses_bad_config_before_any_job(tmp_path):
    cfg = _panel_cfg(gwas={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv")})
    cfg["gwas"]["models"] = ["mlm", "emmax"]
    proc = run_workflow(tmp_path / "run", cfg, extra=["-n"])
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    line = next(x for x in text.splitlines() if "breedomics input error" in x)
    assert "gwas.models.1" in line and "'emmax'" in line and "mlm-p3d" in line, text
    assert "$schema" not in text and "properties" not in text, text[-3000:]
    assert not (tmp_path / "run" / "results").exists()


def test_genotype_samples_must_be_in_the_sheet(tmp_path):
    sheet = pd.read_csv(PANEL / "samples.tsv", sep="\t")
    sheet.iloc[1:].to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    cfg = _panel_cfg()
    cfg["samples"] = str(tmp_path / "samples.tsv")
    with pytest.raises(UserError) as err:
        validate.validate_run(cfg)
    _short(str(err.value), sheet["sample"].iloc[0], "genotypes.path", "samples.tsv")


def test_phenotype_ids_written_differently_stop_check_inputs(tmp_path):
    """check-inputs reads the phenotype table's ids: two written with a space and in
    lower case stop the run before any job, naming the table and the sheet's ids."""
    ph = pd.read_csv(PANEL / "phenotypes.tsv", sep="\t", dtype=str)
    first, second = ph["sample"].iloc[0], ph["sample"].iloc[1]
    ph.loc[0, "sample"] = first[:2] + " " + first[2:]
    ph.loc[1, "sample"] = second.lower() if second.lower() != second else second.upper()
    path = tmp_path / "phenotypes.tsv"
    ph.to_csv(path, sep="\t", index=False)
    proc = _check_inputs(_panel_cfg(gwas={"enabled": True, "phenotypes": str(path)}), tmp_path)
    assert proc.returncode != 0
    _short(proc.stderr, str(path), "2 sample id(s)", repr(first), "exactly as in the genotype")
    # ids that are plainly not in the sheet: the OK line says how many of the table's are
    ph.loc[0, "sample"], ph.loc[1, "sample"] = "NOT_GENOTYPED_1", "NOT_GENOTYPED_2"
    ph.to_csv(path, sep="\t", index=False)
    proc = _check_inputs(_panel_cfg(gwas={"enabled": True, "phenotypes": str(path)}), tmp_path)
    assert proc.returncode == 0, proc.stderr
    n = len(ph)
    assert f"phenotypes.tsv: {n - 2} of its {n} samples in the sheet (the other 2" in proc.stdout


# --- breedomics init ---------------------------------------------------------------


def _init(*args: str) -> subprocess.CompletedProcess:
    return _cli("init", *args)


def test_init_from_vcf_writes_a_valid_folder(tmp_path):
    need_panel("phenotypes.tsv", "trials.tsv")
    out = tmp_path / "my-run"
    proc = _init(
        "--species", "rice", "--genotypes", str(PANEL / "genotypes.vcf.gz"),
        "--phenotypes", str(PANEL / "phenotypes.tsv"), "--trials", str(PANEL / "trials.tsv"),
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["genotypes"]["source"] == "vcf" and cfg["units"] == ""
    assert cfg["genome"]["mating"] == "inbred"  # from the rice preset
    assert cfg["gs"]["trial_columns"]["replicate"] == "block"  # found in the header
    header = subprocess.run(
        ["bcftools", "query", "-l", str(PANEL / "genotypes.vcf.gz")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    sheet = pd.read_csv(out / "samples.tsv", sep="\t")
    assert list(sheet["sample"]) == header and set(sheet["species"]) == {"rice"}
    run = validate.validate_run(copy.deepcopy(cfg))
    assert run.traits == ["yield", "height"] and run.gs_traits
    assert "check-inputs" in (out / "README.md").read_text()
    # the rice preset's clumping distance (long LD) reaches the GWAS command
    assert cfg["gwas"]["clump_kb"] == 1000
    dry = run_workflow(tmp_path / "dry", cfg, extra=["-n", "-p", "--forcerun", "run_gwas"])
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "--clump-r2 0.1 --clump-kb 1000" in dry.stdout, dry.stdout[-3000:]
    # a second init does not overwrite it
    again = _init("--species", "rice", "--genotypes", str(PANEL / "genotypes.vcf.gz"),
                  "--out", str(out))  # fmt: skip
    assert again.returncode == 1 and "exists" in again.stderr


def test_init_refuses_bad_input_and_writes_nothing(tmp_path):
    need_panel()
    bad = tmp_path / "pheno.tsv"
    bad.write_text("sample\tplant height\nGMG1_001\t1\n")
    out = tmp_path / "my-run"
    proc = _init("--species", "soybean", "--genotypes", str(PANEL / "genotypes.vcf.gz"),
                 "--phenotypes", str(bad), "--out", str(out))  # fmt: skip
    assert proc.returncode == 1
    _short(proc.stderr, "plant height", str(bad), "e.g. to 'plant_height'")
    assert not out.exists() or not any(out.iterdir())
    proc = _init("--species", "minpig", "--units", "u.tsv", "--out", str(out))
    assert proc.returncode == 1 and "--samples" in proc.stderr
    # genotype sample names that cannot be ids: all named, with a rename that works
    vcf = tmp_path / "spaces.vcf"
    vcf.write_text(
        '##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA1\tWilliams 82\tB2\tJack 2\n"
        "1\t10\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\t1/1\t0/1\n"
    )
    proc = _init("--species", "soybean", "--genotypes", str(vcf), "--out", str(out))
    assert proc.returncode == 1 and (not out.exists() or not any(out.iterdir()))
    _short(proc.stderr, "2 sample name(s)", "'Williams 82', 'Jack 2'", str(vcf))
    fix = re.search(r"`(bcftools query .*?)` then `(bcftools reheader .*?)`", proc.stderr)
    subprocess.run(" && ".join(fix.groups()), shell=True, check=True, cwd=tmp_path)
    assert "-o renamed.vcf " in fix.group(2)  # a plain VCF in, a plain VCF out
    renamed = subprocess.run(["bcftools", "query", "-l", str(tmp_path / "renamed.vcf")],
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert renamed == ["A1", "Williams_82", "B2", "Jack_2"]


# --- config/README.md documents every key with the schema's default ----------------


def _schema_leaves(node: dict, prefix: str, defs: dict, out: dict) -> None:
    for key, sub in node.get("properties", {}).items():
        if "$ref" in sub:
            sub = {**defs[sub["$ref"].rsplit("/", 1)[1]], **sub}
        name = f"{prefix}{key}"
        out[name] = sub
        _schema_leaves(sub, f"{name}.", defs, out)
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            _schema_leaves(extra, f"{name}.*.", defs, out)


def _documented() -> dict[str, str]:
    """key (dotted, from the section) -> its default cell, from the README's key tables."""
    text = (Path(__file__).resolve().parents[1] / "config" / "README.md").read_text()
    rows: dict[str, str] = {}
    section, header = "", ""
    for line in text.splitlines():
        if line.startswith("## "):
            found = re.match(r"## `(\w+)`", line)
            section = f"{found.group(1)}." if found else ""
            if found:  # a section in prose (e.g. directions) counts as documented
                rows.setdefault(found.group(1), "")
        elif line.startswith("Per dataset (`omics.datasets.<name>`)"):
            section = "omics.datasets.*."
        if not line.startswith("|"):
            header = ""
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not header:
            header = cells[0]
            continue
        if header != "key" or set(cells[0]) <= set("-"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        defaults = cells[1].split(", ") if len(names) > 1 else [cells[1]]
        first = names[0]
        for i, n in enumerate(names):
            if n.startswith("."):
                n = first.rsplit(".", 1)[0] + n
            rows[section + n] = defaults[i] if len(defaults) == len(names) else ""
    return rows


def _parse_default(cell: str):
    cell = cell.replace("`", "").strip()
    try:
        value = yaml.safe_load(cell)
    except yaml.YAMLError:
        return cell
    try:  # YAML 1.1 reads 1e-6 as text
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def test_config_readme_documents_every_key_with_its_default():
    from breedomics.sheets import load_schema

    schema = load_schema("config")
    leaves: dict[str, dict] = {}
    _schema_leaves(schema, "", schema["definitions"], leaves)
    docs = _documented()
    undocumented = [
        k
        for k in leaves
        if "properties" not in leaves[k]  # sections and groups: their keys are listed
        and k not in docs
        and not any(k.startswith(f"{d}.") for d in docs)
    ]
    assert not undocumented, f"config/README.md lacks {undocumented}"
    wrong = []
    for key, cell in docs.items():
        sub = leaves.get(key)
        if sub is None or "default" not in sub or "properties" in sub or not cell:
            continue
        if cell.startswith("(") or ":" in cell:  # "(required)", or described in words
            continue
        if _parse_default(cell) != sub["default"]:
            wrong.append((key, cell, sub["default"]))
    assert not wrong, f"defaults in config/README.md differ from the schema: {wrong}"
