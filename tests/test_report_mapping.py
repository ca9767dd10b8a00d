"""The molecular-QTL mapping at scale on the summary page (issue 14, acceptance 4), from
small hand-made result folders (as ``test_report_builder.py``); no workflow run.

Per dataset with ``results/omics/<dataset>/mapping/<mode>.json`` the page shows the
mode's numbers and its strongest results. Every number is recomputed here from the
tables written (pandas on ``cis.tsv``, ``cis_independent.tsv``, the Parquet pairs) and
looked up on the page written by the number rule: the counts under the mode's heading,
the rows of the tables in their order (strongest first, capped, with the count of the
rest and the file). The JSON's own counts are deliberately wrong, so a page that
repeated them instead of counting the tables would fail. A dataset without mapping/,
or whose tables are missing, gets no block or a note; the page is still built.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report_builder import _config, _genotypes_and_census, _page, _text, _tsv

from breedomics.report.fmt import number

pytest.importorskip("pyarrow")

CAP = 20  # rows of the strongest leads / pairs the page shows


def _command(mode: str, dataset: str, *extra: str) -> str:
    return (
        f"/x/breedomics omics map --mode {mode} --geno results/genotypes/genotypes "
        f"--pheno results/omics/{dataset}/phenotypes.tsv --out results/omics/{dataset}/mapping "
        + " ".join(extra)
    )


def _json(path: Path, mode: str, dataset: str, *extra: str, **counts) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {"mode": mode, "command": _command(mode, dataset, *extra), **counts}
    path.write_text(json.dumps(summary, indent=1))


def _cis_table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``cis.tsv`` rows of ``n`` features (tensorQTL's columns), some with tiny q."""
    pb = np.sort(rng.uniform(0, 1, n)) ** 4
    rng.shuffle(pb)
    return pd.DataFrame(
        {
            "phenotype_id": [f"gene{i:03d}" for i in range(n)],
            "num_var": rng.integers(5, 400, n),
            "variant_id": [f"1:{1000 + 37 * i}:A:G" for i in range(n)],
            "tss_distance": rng.integers(-250_000, 250_000, n),
            "af": rng.uniform(0.05, 0.5, n).round(6),
            "pval_nominal": (pb * rng.uniform(0.01, 0.5, n)).round(12),
            "slope": rng.normal(0, 0.5, n).round(6),
            "slope_se": rng.uniform(0.05, 0.2, n).round(6),
            "pval_perm": (pb + 1 / 1001).clip(0, 1).round(6),
            "pval_beta": pb,
            "qval": (pb * 3).clip(0, 1),
            "pval_nominal_threshold": 1e-4,
        }
    )


def _pairs(rng: np.random.Generator, n: int, features: int, nominal: bool) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "phenotype_id": [f"met{int(i):02d}" for i in rng.integers(0, features, n)],
            "variant_id": [f"{1 + i % 3}:{500 * i}:C:T" for i in rng.integers(0, 3 * n, n)],
            "p": 10 ** -rng.uniform(5, 20, n),
            "slope": rng.normal(0, 0.4, n).astype(np.float32),
            "slope_se": rng.uniform(0.02, 0.1, n).astype(np.float32),
            "r2": rng.uniform(0.05, 0.3, n).astype(np.float32),
            "af": rng.uniform(0.01, 0.9, n).astype(np.float32),
        }
    )
    if nominal:
        df["tss_distance"] = rng.integers(-1000, 1000, n)
        return df.rename(columns={"p": "pval_nominal"})
    return df.rename(columns={"p": "pval", "slope": "b", "slope_se": "b_se"})


def _parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def _block(html: str, dataset: str, mode: str) -> str:
    """The HTML of one mode's part: its heading up to the next heading."""
    head = f"<h4>{dataset}: QTL mapping at scale ({mode})</h4>"
    assert html.count(head) == 1, head
    start = html.index(head) + len(head)
    end = re.search(r"<h[234]\b|</section>", html[start:])
    return html[start : start + end.start()]


def _facts(block: str) -> dict[str, str]:
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block)
    return {htmllib.unescape(k): htmllib.unescape(v) for k, v in pairs}


def _table(block: str, table_id: str) -> tuple[list[str], list[list[str]]]:
    """Header texts and cell texts of the table ``table_id``."""
    m = re.search(rf'<table class="data" id="{table_id}".*?</table>', block, flags=re.S)
    assert m, table_id
    head = [htmllib.unescape(h) for h in re.findall(r"<th\b[^>]*>(.*?)</th>", m.group(0))]
    rows = [
        [htmllib.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        for tr in re.findall(r"<tr>(.*?)</tr>", m.group(0).split("</thead>")[1], flags=re.S)
    ]
    return head, rows


def _shown(df: pd.DataFrame, cols: list[str]) -> list[list[str]]:
    """The rows as the page writes them: identifiers as text, numbers by the rule."""
    ids = {"phenotype_id", "variant_id"}
    return [
        [str(r[c]) if c in ids else number(float(r[c])) for c in cols] for _, r in df.iterrows()
    ]


@pytest.fixture
def mapped(tmp_path):
    """A run with three mapped datasets (cis_independent, trans, cis_nominal), one mapped
    without its tables, and one not mapped at scale."""
    rng = np.random.default_rng(14)
    results = tmp_path / "results"
    _genotypes_and_census(results)
    names = ("expr", "met", "nom", "lost", "plain")
    for d in names:
        _tsv(results / f"omics/{d}/summary.tsv", ["n_features_tested", "n_significant_features"],
             [[30, 3]])  # fmt: skip
    # expr: cis then independent signals, at FDR 0.1 (not omics map's default)
    base = results / "omics/expr/mapping"
    cis = _cis_table(rng, 33)
    base.mkdir(parents=True)
    cis.to_csv(base / "cis.tsv", sep="\t", index=False)
    sig = cis[cis["qval"] <= 0.1]
    ind = sig.drop(columns=["qval", "pval_nominal_threshold"]).assign(rank=1)
    second = ind.head(3).assign(rank=2, variant_id=lambda d: d["variant_id"] + "x")
    ind = pd.concat([ind, second.assign(pval_beta=second["pval_beta"] * 2)])
    ind.to_csv(base / "cis_independent.tsv", sep="\t", index=False)
    _json(base / "cis_independent.json", "cis_independent", "expr", "--window 250000",
          "--fdr 0.1", "--nperm 1000", features_mapped=1, cis_qtl=999,
          independent_signals=999, dof=254, seconds=1.5)  # fmt: skip
    # met: trans pairs below 1e-4 (more than the page shows)
    trans = _pairs(rng, 31, 8, nominal=False)
    _parquet(trans, results / "omics/met/mapping/trans.parquet")
    _json(results / "omics/met/mapping/trans.json", "trans", "met", "--pval-threshold",
          "0.0001", "--exclude-cis", pairs=999, seconds=0.3)  # fmt: skip
    _tsv(results / "omics/met/phenotypes.tsv", ["sample", *[f"met{i:02d}" for i in range(11)]],
         [["A1", *range(11)]])  # fmt: skip
    # nom: every cis pair, one file per chromosome
    nom = _pairs(rng, 40, 12, nominal=True)
    for chrom, part in nom.groupby(nom["variant_id"].str.split(":").str[0]):
        _parquet(part, results / f"omics/nom/mapping/cis_nominal/{chrom}.parquet")
    _json(results / "omics/nom/mapping/cis_nominal.json", "cis_nominal", "nom", seconds=2)
    # lost: the JSON of a cis run whose table is gone
    _json(results / "omics/lost/mapping/cis.json", "cis", "lost", cis_qtl=4)
    datasets = {d: {"path": f"{d}.tsv"} for d in names}
    html = _page(tmp_path, _config(tmp_path, omics={"enabled": True, "datasets": datasets}))
    return html, cis, ind, trans, nom


def test_cis_leads_and_independent_signals(mapped):
    html, cis, ind, _, _ = mapped
    block = _block(html, "expr", "cis_independent")
    f = _facts(block)
    assert f["features tested"] == number(len(cis))
    assert f["variant-feature pairs tested (cis windows)"] == number(int(cis["num_var"].sum()))
    nv = cis["num_var"]
    assert f["cis variants per feature, median (range)"] == (
        f"{number(float(nv.median()))} ({number(int(nv.min()))}-{number(int(nv.max()))})"
    )
    n_sig = int((cis["qval"] <= 0.1).sum())
    assert 0 < n_sig < len(cis) and n_sig != 999
    assert f["features with a cis QTL (q <= 0.1)"] == number(n_sig)
    assert f["window, permutations"] == "+-250000 bp, 1000"
    assert f["independent cis signals"] == number(len(ind))
    multi = int((ind["phenotype_id"].value_counts() > 1).sum())
    assert multi == 3 and f["features with 2 or more signals"] == number(multi)
    assert f["degrees of freedom"] == "254"
    # the strongest leads: by pval_beta, capped, the rest said and the file linked
    head, rows = _table(block, "cis-leads-expr")
    assert head == ["feature", "variant", "distance to TSS (bp)", "slope", "nominal p",
                    "permutation p", "beta p", "q"]  # fmt: skip
    cols = ["phenotype_id", "variant_id", "tss_distance", "slope", "pval_nominal",
            "pval_perm", "pval_beta", "qval"]  # fmt: skip
    top = cis.sort_values(["pval_beta", "pval_nominal"], kind="stable").head(CAP)
    assert rows == _shown(top, cols)
    assert f"The first {CAP} of {len(cis)} rows; all of them are in the file." in _text(block)
    assert 'href="../omics/expr/mapping/cis.tsv"' in block
    # the signals table: every signal (fewer than the cap), strongest first
    head, rows = _table(block, "cis-signals-expr")
    assert [r[0] for r in rows] == list(
        ind.sort_values(["pval_beta", "pval_nominal"], kind="stable")["phenotype_id"]
    )
    assert sorted(r[1] for r in rows) == sorted(number(int(k)) for k in ind["rank"])


def test_trans_pairs(mapped):
    html, _, _, trans, _ = mapped
    block = _block(html, "met", "trans")
    f = _facts(block)
    assert f["trans pairs with p < 0.0001"] == number(len(trans))
    assert f["features with a trans pair"] == number(trans["phenotype_id"].nunique())
    assert f["variants in a trans pair"] == number(trans["variant_id"].nunique())
    assert f["features in the phenotype table"] == "11"
    assert f["cis pairs"] == "left out"
    head, rows = _table(block, "trans-pairs-met")
    assert head == ["feature", "variant", "p", "slope", "slope SE", "r2", "allele frequency"]
    top = trans.sort_values("pval", kind="stable").head(CAP)
    assert rows == _shown(top, ["phenotype_id", "variant_id", "pval", "b", "b_se", "r2", "af"])
    more = len(trans) - CAP
    assert f"{more} more pairs in omics/met/mapping/trans.parquet." in _text(block)


def test_cis_nominal_pairs(mapped):
    html, _, _, _, nom = mapped
    block = _block(html, "nom", "cis_nominal")
    f = _facts(block)
    assert f["variant-feature pairs tested (cis windows)"] == number(len(nom))
    assert f["features tested"] == number(nom["phenotype_id"].nunique())
    assert f["variants tested"] == number(nom["variant_id"].nunique())
    _, rows = _table(block, "cis-nominal-pairs-nom")
    top = nom.sort_values("pval_nominal").head(CAP)
    cols = ["phenotype_id", "variant_id", "tss_distance", "slope", "pval_nominal"]
    assert rows == _shown(top, cols)


def test_missing_tables_and_unmapped_datasets(mapped, tmp_path):
    html = mapped[0]
    # a JSON without its table: a note, no numbers, the page built
    block = _block(html, "lost", "cis")
    assert "omics/lost/mapping/cis.tsv is missing: no cis leads to show." in _text(block)
    assert "features tested" not in _facts(block)
    # no mapping/ folder: no block at all
    assert "plain: QTL mapping at scale" not in html
    # a run without any mapping at scale (an older run): no block, no failure
    older = tmp_path / "older"
    _genotypes_and_census(older / "results")
    _tsv(older / "results/omics/expr/summary.tsv", ["n_features_tested"], [[30]])
    cfg = {"enabled": True, "datasets": {"expr": {"path": "e.tsv"}}}
    html = _page(older, _config(older, omics=cfg))
    assert "Molecular QTL" in html and "QTL mapping at scale" not in html


def test_settings_from_the_command_line():
    from breedomics.report.mapping import command_option

    cmd = "breedomics omics map --mode trans --fdr=0.2 --exclude-cis --pval-threshold 1e-06"
    assert command_option(cmd, "--fdr") == "0.2"
    assert command_option(cmd, "--pval-threshold") == "1e-06"
    assert command_option(cmd, "--exclude-cis") is True
    assert command_option(cmd, "--window") is None
    assert command_option(cmd + " --fdr 0.3", "--fdr") == "0.3"  # the last one, as argparse
