"""The summary page's builder on small hand-made result folders (issue 16); no workflow run.

* a run with only genotypes and census: the page has those sections and states, for every
  other stage, that it did not run and why (switched off, or no tables yet), not a crash;
* every text from a file is escaped (a sample named ``<script>...&``), no URL of the
  network anywhere, images only as ``data:`` URIs;
* the number rule (``fmt.number``) against hand-written cases, tables keep the file's
  value as their sort key, long tables are cut with a note;
* the Manhattan thinning keeps every variant with p < 1e-3 and every lead;
* ``bcftools stats`` parsing, benchmark files named by the rules' patterns (constrained
  wildcards included), the warning checks, and ``breedomics report`` on the command line.

The page of the default run in a browser: ``test_report.py``.
"""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from breedomics.cli import main as cli
from breedomics.report import checks
from breedomics.report.build import ReportOptions, render_report
from breedomics.report.collect import (
    RunFiles,
    Table,
    benchmark_rule,
    read_bcftools_stats,
    read_benchmarks,
)
from breedomics.report.fmt import number
from breedomics.report.loci import KEEP_NEGLOGP, manhattan_points, qq_points
from breedomics.report.tables import render_table

EVIL = "<script>alert(1)</script>&x"


def _tsv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def _config(root: Path, **sections) -> Path:
    cfg = {
        "samples": "samples.tsv",
        "genome": {"mating": "inbred"},
        "genotypes": {"enabled": True, "source": "vcf", "path": "panel.vcf.gz"},
        "census": {"enabled": True},
        "gwas": {"enabled": False},
        "gs": {"enabled": False},
        "omics": {"enabled": False},
    }
    cfg.update(sections)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _genotypes_and_census(results: Path) -> list[str]:
    """A tiny run: sample QC of 6 accessions (one removed, one named EVIL), PCA, Fst."""
    samples = ["A1", "A2", "B1", "B2", EVIL, "C1"]
    groups = ["A", "A", "B", "B", "B", "C"]
    _tsv(
        results / "genotypes/qc/summary.tsv",
        ["what", "input", "kept"],
        [["samples", 6, 5], ["variants", 100, 90]],
    )
    qc_rows = []
    for s in samples:
        removed = s == "C1"
        qc_rows.append(
            [
                s,
                100,
                0.5 if removed else 1,
                0.2 if s == "B2" else 0,
                1,
                0,
                "",
                "NA",
                "NA",
                "removed" if removed else "kept",
                "call_rate 0.500 < 0.8" if removed else "",
            ]
        )
    _tsv(
        results / "genotypes/qc/sample_qc.tsv",
        [
            "sample",
            "n_variants",
            "call_rate",
            "het_rate",
            "inbreeding_f",
            "x_called",
            "x_het_rate",
            "sex_reported",
            "sex_inferred",
            "status",
            "reason",
        ],
        qc_rows,
    )
    _tsv(
        results / "genotypes/qc/variants_removed.tsv",
        ["chrom", "pos", "id", "ref", "alt", "call_rate", "maf", "hwe_p", "reason"],
        [[1, i, f"1:{i}:A:G", "A", "G", 1, 0, "", "maf 0.0000 < 0.01"] for i in range(10)],
    )
    _tsv(
        results / "census/pca.tsv",
        ["sample", "group", "PC1", "PC2"],
        [[s, g, 0.1 * i, -0.05 * i] for i, (s, g) in enumerate(zip(samples, groups, strict=True))][
            :5
        ],
    )
    _tsv(
        results / "census/fst.tsv",
        ["group1", "group2", "n_snps", "fst", "se"],
        [["A", "B", 90, 0.25, 0.01]],
    )
    return samples


def _page(tmp_path: Path, config: Path, **kw) -> str:
    return render_report(
        ReportOptions(
            results=tmp_path / "results",
            out=tmp_path / "results/report/index.html",
            config=config,
            probe_tools=False,
            **kw,
        )
    )


def _text(html: str) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def test_genotypes_and_census_only_states_the_stages_that_did_not_run(tmp_path):
    _genotypes_and_census(tmp_path / "results")
    html = _page(tmp_path, _config(tmp_path))
    text = _text(html)
    # the sections it has, with the numbers of the tables
    assert "Genotype QC" in text and "Principal components" in text
    assert re.search(r"accessions in\s+6\s+passed QC\s+5\s+removed\s+1", text)
    # every other stage: did not run, and why
    for why in (
        "GWAS did not run: switched off in the config (`gwas.enabled: false`)",
        "Genomic selection did not run: switched off in the config (`gs.enabled: false`)",
        "Molecular QTL did not run: switched off in the config (`omics.enabled: false`)",
        "Reads to calls did not run: no unit sheet (`units` empty)",
    ):
        assert why in text, why
    assert text.count("Did not run:") >= 4  # in the sections too (reads, loci, GS, omics)
    # the warning box lists the removed accession and the heterozygous inbred line
    assert "1 of 6 accessions removed at sample QC (call_rate: 1): C1" in text
    assert "B2 (0.2)" in text


def test_enabled_stage_without_tables_says_it_has_not_run_yet(tmp_path):
    _genotypes_and_census(tmp_path / "results")
    html = _page(tmp_path, _config(tmp_path, gwas={"enabled": True, "phenotypes": "p.tsv"}))
    assert "GWAS did not run: switched on, but its tables are not in results/gwas/" in _text(html)


def test_drift_correction_block_in_the_molecular_section(tmp_path):
    """A metabolite dataset with drift/ (drift.json, drift_report.tsv, drift.png): its
    QC RSD and batch R2 before/after, the removed features counted by reason and the
    plot inlined; a dataset without drift/ gets no block."""
    import base64
    import json

    results = tmp_path / "results"
    _genotypes_and_census(results)
    for d in ("met", "expr"):
        _tsv(results / f"omics/{d}/summary.tsv", ["n_features_tested", "n_significant_features"],
             [[40, 3]])  # fmt: skip
    drift = results / "omics/met/drift"
    drift.mkdir(parents=True)
    summary = {"samples": 272, "qc": 35, "blanks": 6, "batches": ["B1", "B2", "B3"],
               "features": 53, "kept": 49, "batch_r2_before": 0.281438,
               "batch_r2_after": 0.014009, "median_qc_rsd_before": 0.349057,
               "median_qc_rsd_after": 0.030311}  # fmt: skip
    (drift / "drift.json").write_text(json.dumps(summary))
    reasons = ["", "missing in 0.636 of samples > 0.2", "blank ratio 1.14 < 3",
               "blank ratio 0.82 < 3", "QC RSD 0.41 > 0.3; blank ratio 2 < 3"]  # fmt: skip
    _tsv(drift / "drift_report.tsv", ["feature_id", "status", "reason"],
         [[f"m{i}", "removed" if r else "kept", r] for i, r in enumerate(reasons)])  # fmt: skip
    png = _png(drift / "drift.png")
    cfg = {"enabled": True, "datasets": {"met": {"path": "m.tsv"}, "expr": {"path": "e.bed"}}}
    html = _page(tmp_path, _config(tmp_path, omics=cfg))
    text = _text(html)
    assert text.count("Drift correction (QC-RLSC)") == 1
    assert "272 samples, 35 QC pools, 6 blanks in 3 batches" in text
    assert "features kept 49 of 53" in text
    rsd = f"median QC RSD before -> after {number(0.349057)} -> {number(0.030311)}"
    assert rsd in text
    assert f"batch R2 before -> after {number(0.281438)} -> {number(0.014009)}" in text
    for why, k in (("blank ratio", 2), ("missing", 1), ("QC RSD, blank ratio", 1)):
        assert f"removed: {why} {k}" in text
    assert "data:image/png;base64," + base64.b64encode(png).decode() in html


def test_every_text_is_escaped_and_nothing_comes_from_the_network(tmp_path):
    _genotypes_and_census(tmp_path / "results")
    html = _page(tmp_path, _config(tmp_path))
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;x" in html
    # the only scripts are the page's own (one block), no src= anywhere
    assert html.count("<script") == 1 and not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"https?://", html)
    for src in re.findall(r'<img[^>]*\bsrc="([^"]*)"', html):
        assert src.startswith("data:image/png;base64,")
    # links to the tables are relative to the page
    assert 'href="../genotypes/qc/sample_qc.tsv"' in html
    assert 'href="../census/pca.tsv"' in html


def test_empty_results_folder_gives_a_page_not_a_crash(tmp_path):
    (tmp_path / "results").mkdir()
    html = _page(tmp_path, _config(tmp_path))
    assert "Genotype QC and imputation did not run: switched on, but its tables" in _text(html)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("272", "272"),
        ("8488.0", "8488"),
        ("1.19956e+06", "1199560"),
        ("19255.7", "19256"),
        ("0.997353", "0.9974"),
        ("14.3", "14.3"),
        ("2.12241e-11", "2.12e-11"),
        ("0.000476", "0.000476"),
        ("-0.0312345", "-0.03123"),
        ("0", "0"),
        ("NA", "NA"),
        ("nan", "NA"),
        ("", ""),
        ("G1", "G1"),
    ],
)
def test_number_rule(value, text):
    assert number(value) == text


def test_table_keeps_file_values_as_sort_keys_and_cuts_long_tables():
    t = Table(["sample", "group", "pi"], [[str(1000 + i), "7", f"{i / 3:.8f}"] for i in range(30)])
    html = render_table(t, "t1", source="../x.tsv", max_rows=25)
    assert html.count("<tr>") == 26  # header + 25 rows
    assert "The first 25 of 30 rows" in html
    # ids stay text (no number formatting), numbers show the rule and sort by the file value
    assert "<td>1000</td>" in html and "<td>7</td>" in html
    assert '<td class="num" data-v="0.33333333">0.3333</td>' in html
    assert '<th class="num"' in html and '<th class="text"' in html
    assert "no rows" in render_table(Table(["a"], []), "t2", empty="no rows")


def test_manhattan_keeps_strong_variants_and_leads(tmp_path):
    rng = np.random.default_rng(1)
    n = 20000
    p = rng.uniform(size=n)
    p[[100, 15000]] = [1e-12, 1e-6]
    df = pd.DataFrame(
        {
            "chromosome": np.repeat(["1", "2"], n // 2),
            "base_pair_location": np.tile(np.arange(1, n // 2 + 1) * 100, 2),
            "p_value": p,
            "variant_id": [f"v{i}" for i in range(n)],
        }
    )
    df["neg_log_10_p_value"] = -np.log10(df["p_value"])
    leads = Table(
        ["qtl", "lead_variant", "chromosome", "base_pair_location", "p_value", "interval_start"],
        [["QTL1", "v100", "1", "10100", "1e-12", "9000"]],
    )
    pts, chroms = manhattan_points(df, leads, 500)
    strong = set(df.loc[df["neg_log_10_p_value"] >= KEEP_NEGLOGP, "variant_id"])
    drawn = {q.variant for q in pts}
    assert strong <= drawn
    assert len(drawn) <= len(strong) + 500 + 1
    assert [q.variant for q in pts if q.lead] == ["v100"]
    assert chroms == [("1", 100.0, 1000000.0), ("2", 100.0, 1000000.0)]
    # QQ: ranks 1..500 then spread; the k-th point is the k-th smallest p
    qq = qq_points(df["neg_log_10_p_value"].to_numpy())
    assert qq[0] == (1, pytest.approx(12.0))
    assert qq[-1][0] == n
    ranks = [r for r, _ in qq]
    assert ranks == sorted(set(ranks))


PSC_HEADER = (
    "# PSC\t[2]id\t[3]sample\t[4]nRefHom\t[5]nNonRefHom\t[6]nHets\t[7]nTransitions"
    "\t[8]nTransversions\t[9]nIndels\t[10]average depth\t[11]nSingletons\t[12]nHapRef"
    "\t[13]nHapAlt\t[14]nMissing"
)
BCFTOOLS_STATS = f"""\
# This file was produced by bcftools stats
# SN, Summary numbers:
# SN\t[2]id\t[3]key\t[4]value
SN\t0\tnumber of samples:\t2
SN\t0\tnumber of records:\t10
# TSTV\t[2]id\t[3]ts\t[4]tv\t[5]ts/tv\t[6]ts (1st ALT)\t[7]tv (1st ALT)\t[8]ts/tv (1st ALT)
TSTV\t0\t6\t3\t2.00\t6\t3\t2.00
{PSC_HEADER}
PSC\t0\tS1\t5\t3\t1\t2\t1\t0\t20.0\t0\t0\t0\t1
PSC\t0\tS2\t4\t1\t0\t1\t0\t0\t4.0\t0\t0\t0\t5
"""


def test_bcftools_stats_and_call_set_warnings(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text(BCFTOOLS_STATS)
    stats = read_bcftools_stats(path)
    assert stats["SN"].columns == ["key", "value"]
    assert stats["TSTV"].records()[0]["ts"] == "6"
    psc = stats["PSC"]
    assert psc.column("sample") == ["S1", "S2"]
    assert psc.column("average depth") == ["20.0", "4.0"]
    warn = checks.call_set_warnings(psc, 10, "inbred", None)
    assert any(w.startswith("Low depth: S2 (4x)") for w in warn), warn
    assert any("S2 (0.5)" in w for w in warn), warn  # 5 of 10 genotypes missing
    assert any("S1 (0.25 of non-reference calls)" in w for w in warn), warn


def test_outcrossed_accession_of_an_inbred_panel_is_warned():
    """calls/inbreeding.tsv: under genome.mating inbred an accession with F under 0.9 is
    named (its hets no longer show in the call set); an outbred panel gets no warning."""
    tab = Table(
        ["sample", "sites", "expected_het", "observed_het", "f", "line"],
        [
            ["L1", "900", "300", "0.5", "0.998", "True"],
            ["X7", "900", "300", "160", "0.47", "False"],
        ],
    )
    warn = checks.inbreeding_warnings(tab, "inbred")
    assert len(warn) == 1 and "X7 (F 0.47)" in warn[0] and "L1" not in warn[0]
    assert checks.inbreeding_warnings(tab, "outbred") == []


@pytest.mark.parametrize(
    ("inbred_het", "fate"),
    [(None, "resolved to the likelier homozygote"), ("missing", "set missing"), ("keep", "kept")],
)
def test_lines_of_an_outbred_panel_are_named_with_their_hets_fate(tmp_path, inbred_het, fate):
    """The call-set part names the lines estimate_inbreeding found and says what
    calling.inbred_het did with their heterozygous calls (default: homozygous)."""
    from breedomics.report.collection import _call_part
    from breedomics.report.context import Context

    results = tmp_path / "results"
    (results / "qc/bcftools").mkdir(parents=True)
    (results / "qc/bcftools/all.pass.stats.txt").write_text(BCFTOOLS_STATS)
    (results / "calls").mkdir()
    (results / "calls/inbreeding.tsv").write_text(
        "sample\tsites\texpected_het\tobserved_het\tf\tline\n"
        "S1\t900\t300\t0.4\t0.999\tTrue\nS2\t900\t300\t250\t0.1\tFalse\n"
    )
    calling = {} if inbred_het is None else {"inbred_het": inbred_het}
    ctx = Context(RunFiles(results, tmp_path), {"genome": {"mating": "outbred"},
                  "calling": calling}, {})  # fmt: skip
    html = _call_part(ctx)
    assert "1 of 2 samples are inbred lines" in html and "S1;" in html
    assert f"heterozygous calls were {fate} (calling.inbred_het)" in html
    # an outbred panel's lines are no warning
    assert not any("inbreeding coefficient" in w for w in ctx.warnings)


def test_sex_mismatch_and_mislabelled_group_are_warned():
    qc = Table(
        ["sample", "het_rate", "sex_reported", "sex_inferred", "status", "reason"],
        [["P1", "0.3", "M", "F", "kept", ""], ["P2", "0.3", "F", "F", "kept", ""]],
    )
    warn = checks.sample_qc_warnings(qc, "outbred")
    assert warn == [
        "Sex mismatch (reported vs. inferred from X heterozygosity) in 1 accession(s): P1 "
        "(sample_qc.tsv)."
    ]
    rows = [[f"A{i}", "A", "0.99", "0.01"] for i in range(6)]
    rows += [[f"B{i}", "B", "0.02", "0.98"] for i in range(6)]
    rows.append(["B6", "B", "0.97", "0.03"])  # labelled B, all A
    best = Table(["sample", "group", "Q1", "Q2"], rows)
    assert checks.admixture_outliers(best) == [("B6", "B", "A")]


def test_benchmarks_named_by_the_rules_patterns(tmp_path):
    patterns = {
        "run_gwas": "benchmarks/gwas/{model}.tsv",
        "annotate_gwas": "benchmarks/gwas/annotate.{model}.tsv",
        "summarise_omics": "benchmarks/omics/{dataset,[A-Za-z][A-Za-z0-9_.-]{0,63}}.summarise.tsv",
    }
    assert benchmark_rule("benchmarks/gwas/mlm.tsv", patterns) == "run_gwas"
    assert benchmark_rule("benchmarks/gwas/annotate.mlm.tsv", patterns) == "annotate_gwas"
    assert benchmark_rule("benchmarks/omics/expr.summarise.tsv", patterns) == "summarise_omics"
    assert benchmark_rule("benchmarks/trim/S1.L1.tsv", patterns) == "trim/S1"
    head = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for name, s, rss in (("mlm", 2.5, 100), ("farmcpu", 1.5, 300), ("annotate.mlm", 1, 50)):
        (tmp_path / "gwas").mkdir(exist_ok=True)
        (tmp_path / "gwas" / f"{name}.tsv").write_text(
            head + f"{s}\t0:00:02\t{rss}\t0\t0\t0\t0\t0\t0\t1\n"
        )
    table = read_benchmarks(tmp_path, patterns)
    rec = {r["rule"]: r for r in table.records()}
    assert rec["run_gwas"]["jobs"] == "2"
    assert float(rec["run_gwas"]["total_s"]) == pytest.approx(4.0)
    assert float(rec["run_gwas"]["max_rss_mb"]) == pytest.approx(300)
    assert rec["annotate_gwas"]["jobs"] == "1"
    assert table.rows[0][0] == "run_gwas"  # slowest first


def test_command_line_writes_the_page_and_reports_errors(tmp_path, capsys):
    _genotypes_and_census(tmp_path / "results")
    out = tmp_path / "results/report/index.html"
    argv = ["report", "--results", str(tmp_path / "results"), "--out", str(out)]
    rc = cli([*argv, "--config", str(_config(tmp_path)), "--no-tool-versions"])
    assert rc == 0 and out.is_file()
    assert "<!DOCTYPE html>" in out.read_text()
    assert not list(out.parent.glob("*.tmp"))
    rc = cli(["report", "--results", str(tmp_path / "nope"), "--out", str(out)])
    assert rc == 1
    assert "Results folder" in capsys.readouterr().err


# ------------------------------------------------------------------ spatial trial model
def _png(path: Path) -> bytes:
    """A 2 x 1 RGB PNG written by hand (signature, IHDR, IDAT, IEND)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00" + bytes([255, 0, 0, 0, 0, 255])
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _spatial_run(results: Path) -> bytes:
    """GS tables of a run whose trials have coordinates: the block model's and the
    spatial model's (phenome/spatial/), with one outlier plot named EVIL."""
    _genotypes_and_census(results)
    _tsv(results / "gs/cv/cv_summary.tsv", ["trait", "model", "level", "pearson_mean",
         "pearson_sd"], [["yield", "GBLUP", "fold", 0.41, 0.05]])  # fmt: skip
    comps = ["trait", "component", "estimate", "se"]
    _tsv(results / "gs/blue/varcomp.tsv", comps,
         [["yield", "s2G", 29.0, 3.0], ["yield", "H2_cullis", 0.5123, ""]])  # fmt: skip
    _tsv(results / "gs/blue/outliers.tsv", ["plot", "genotype", "trait", "outlier"],
         [["PBLOCK", "G9", "yield", "True"]])  # fmt: skip
    sp = results / "phenome/spatial"
    _tsv(sp / "heritability.tsv",
         ["environment", "trait", "model", "H2", "n_genotypes", "ed_genotype"],
         [["E1", "yield", "spatial", 0.695555, 272, 189.190879],
          ["E2", "yield", "block", 0.61, 270, ""]])  # fmt: skip
    _tsv(sp / "varcomp_met.tsv", comps,
         [["yield", "s2G", 29.2915, 3.11], ["yield", "s2GE", 10.407, 1.33],
          ["yield", "H2_cullis", 0.812677, ""]])  # fmt: skip
    _tsv(sp / "varcomp.tsv", ["environment", "trait", "component", "term", "variance", "ed"],
         [["E1", "yield", "f(row)", "f(row)", 0.5, 3.25]])  # fmt: skip
    cols = ["plot", "genotype", "environment", "block", "trait", "observed", "fitted",
            "residual", "studentised", "p_holm", "outlier", "dropped"]  # fmt: skip
    row = [EVIL, "G1", "E1", 1, "yield", 150.0, 110.0, 40.0, 6.12, 2e-6, "True", "False"]
    _tsv(sp / "outliers.tsv", cols, [row])
    return _png(sp / "field_map.png")


def test_spatial_results_replace_the_block_model_on_the_page(tmp_path):
    """With plot coordinates in the config and results/phenome/spatial/, the breeding
    section shows the spatial model's numbers (read back from the files here), its
    outlier (escaped, warned) and the field map as a data: URI of the PNG's bytes."""
    import base64

    png = _spatial_run(tmp_path / "results")
    gs = {"enabled": True, "trials": "trials.tsv",
          "trial_columns": {"row": "row", "col": "col"}}  # fmt: skip
    html = _page(tmp_path, _config(tmp_path, gs=gs))
    text = _text(html)
    assert "Trials: spatial model (SpATS) and heritability" in text
    assert "The GS phenotypes are the spatial model 's BLUEs" in text
    assert "H² across trials (Cullis), yield " + number("0.812677") in text
    assert "0.695555" in html and "189.190879" in html  # per-trial H2 and ED_g
    assert "E2" in text and "10.407" in html  # a block-model trial; the GxE variance
    # the outlier: escaped, in the warning box with its file and the drop setting
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;x" in html
    assert "phenome/spatial/outliers.tsv; kept: gs.drop_outliers is off" in text
    assert "PBLOCK" not in text  # the block model's outliers are not the ones used
    # the block model for comparison only
    assert "its BLUEs are not the GS phenotypes" in text
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]*)"', html)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    assert uri in srcs
    assert not re.search(r"https?://", html)
    # without coordinates in the config: the block model, as before
    html = _page(tmp_path, _config(tmp_path, gs={"enabled": True, "trials": "trials.tsv"}))
    text = _text(html)
    assert "Trials: spatial model" not in text and uri not in html
    assert "The GS phenotypes are the block model 's BLUEs" in text and "PBLOCK" in text
