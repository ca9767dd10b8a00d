"""GWAS lead -> omics feature links (breedomics.omics.link, ``breedomics omics link``).

A simulated inbred panel with LD along each chromosome carries three planted loci:

* ``g1`` drives metabolite ``M1``, which drives the field trait; ``g1`` also acts on
  the trait beside ``M1`` (a known share of its effect passes through ``M1``);
* ``g2`` acts on the trait directly (no feature has a QTL there);
* ``g3`` drives metabolite ``M3``, which has nothing to do with the trait;

plus metabolites that are noise. The leads are found by scans of the simulated data
(a least-squares scan here, the workflow's own commands in the CLI test), never
written in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from breedomics.core import genotypes as gt
from breedomics.errors import UserError
from breedomics.omics import link

N, PER_CHROM, N_CHROM = 1000, 120, 4
A_M1, B_M1, C_DIRECT = 0.8, 0.5, 0.2  # g1 -> M1, M1 -> trait, g1 -> trait directly
D_G2 = 0.5
#: share of g1's effect on the trait that passes through M1
TRUE_FRACTION = A_M1 * B_M1 / (A_M1 * B_M1 + C_DIRECT)


def _panel(rng: np.random.Generator):
    """Inbred lines (0/2) with LD: along a chromosome a line keeps the previous SNP's
    allele, except at a few lines (3 %) redrawn from the SNP's frequency."""
    blocks = []
    for _c in range(N_CHROM):
        h = np.empty((N, PER_CHROM), dtype=bool)
        h[:, 0] = rng.random(N) < rng.uniform(0.3, 0.7)
        for j in range(1, PER_CHROM):
            redraw = rng.random(N) < 0.03
            h[:, j] = np.where(redraw, rng.random(N) < rng.uniform(0.3, 0.7), h[:, j - 1])
        blocks.append(h)
    dos = np.hstack(blocks).astype(np.float64) * 2
    m = dos.shape[1]
    var = pd.DataFrame(
        {
            "chrom": np.repeat([str(c + 1) for c in range(N_CHROM)], PER_CHROM),
            "pos": np.tile(np.arange(PER_CHROM) * 10_000 + 5_000, N_CHROM),
            "id": [f"snp{i:04d}" for i in range(m)],
            "ref": "A",
            "alt": "G",
        }
    )
    samples = [f"L{i:04d}" for i in range(N)]
    return samples, var, dos


def _causal(dos: np.ndarray, chrom: int) -> int:
    """The most polymorphic SNP of the middle third of a chromosome."""
    lo = chrom * PER_CHROM + PER_CHROM // 3
    mid = np.arange(lo, lo + PER_CHROM // 3)
    p = dos[:, mid].mean(axis=0) / 2
    return int(mid[np.argmax(np.minimum(p, 1 - p))])


def _std(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(11)
    samples, var, dos = _panel(rng)
    g1, g2, g3 = _causal(dos, 0), _causal(dos, 1), _causal(dos, 2)
    x1, x2, x3 = _std(dos[:, g1]), _std(dos[:, g2]), _std(dos[:, g3])
    met = {
        "M1": A_M1 * x1 + 0.6 * rng.normal(size=N),
        "M3": A_M1 * x3 + 0.6 * rng.normal(size=N),
    }
    for k in range(8):
        met[f"N{k}"] = rng.normal(size=N)
    met = pd.DataFrame(met, index=samples)
    trait = B_M1 * met["M1"] + C_DIRECT * x1 + D_G2 * x2 + 0.3 * rng.normal(size=N)
    traits = pd.DataFrame({"yield": trait.to_numpy()}, index=samples)
    traits.iloc[:20, 0] = np.nan  # unphenotyped lines
    return {
        "samples": samples,
        "variants": var,
        "dosage": dos,
        "causal": {"g1": var["id"][g1], "g2": var["id"][g2], "g3": var["id"][g3]},
        "metabolites": met.iloc[:-10],  # 10 lines without metabolite data
        "traits": traits,
    }


def _scan(dos: np.ndarray, y: pd.Series, samples: list[str]) -> np.ndarray:
    """Least-squares p-value of every SNP for ``y`` (samples with a value)."""
    ok = y.reindex(samples).notna().to_numpy()
    g = dos[ok] - dos[ok].mean(axis=0)
    v = y.reindex(samples).to_numpy()[ok]
    v = v - v.mean()
    r = (g.T @ v) / np.sqrt((g * g).sum(axis=0) * (v @ v))
    dof = ok.sum() - 2
    t = r * np.sqrt(dof / (1 - r * r))
    return 2 * stats.t.sf(np.abs(t), dof)


def _tables(sim, tmp_path):
    """GWAS leads (best Bonferroni-significant SNP per chromosome), QTL leads (each
    feature's significant genome-wide lead) from scans, and the PLINK set."""
    samples, var, dos = sim["samples"], sim["variants"], sim["dosage"]
    alpha = 0.05 / len(var)
    p = _scan(dos, sim["traits"]["yield"], samples)
    leads = []
    for _c, idx in var.groupby("chrom").groups.items():
        i = idx[np.argmin(p[idx])]
        if p[i] <= alpha:
            leads.append({"trait": "yield", "gwas_variant": var["id"][i], "gwas_p": f"{p[i]:.6g}"})
    rows = []
    for f in sim["metabolites"].columns:
        pf = _scan(dos, sim["metabolites"][f], samples)
        i = int(np.argmin(pf))
        if pf[i] <= alpha:
            rows.append(
                {
                    "dataset": "met",
                    "feature": f,
                    "qtl_variant": var["id"][i],
                    "qtl_p": f"{pf[i]:.6g}",
                    "qtl_q": np.nan,
                    "cis_or_trans": "unpositioned",
                    "source": "scan",
                }  # fmt: skip
            )
    geno = gt.write_bed(tmp_path / "geno", var, [dos], samples)
    return pd.DataFrame(leads), pd.DataFrame(rows, columns=link.QTL_COLUMNS), geno


def test_links_mediated_locus_only(sim, tmp_path):
    leads, qtl, geno = _tables(sim, tmp_path)
    var, dos = sim["variants"], sim["dosage"]
    col = {v: i for i, v in enumerate(var["id"])}
    chrom = dict(zip(var["id"], var["chrom"], strict=True))
    # the scans found the planted loci: GWAS leads on chromosomes 1 and 2, QTL of M1, M3
    assert sorted(chrom[v] for v in leads["gwas_variant"]) == ["1", "2"]
    assert {"M1", "M3"} <= set(qtl["feature"])
    links = link.link_loci(
        leads, qtl, sim["traits"], {"met": sim["metabolites"]}, geno, link.LinkOptions()
    )
    assert list(links.columns) == link.LINK_COLUMNS
    # the mediated locus links to M1, and only to it; the direct locus to nothing
    assert list(links["feature"]) == ["M1"]
    row = links.iloc[0]
    assert row["gwas_chromosome"] == "1" and chrom[row["qtl_variant"]] == "1"
    assert abs(row["mediated_fraction"] - TRUE_FRACTION) < 0.2
    assert row["lead_effect_given_feature"] < row["lead_effect"]
    assert row["feature_trait_r"] > 0 and row["feature_trait_p"] < 1e-10
    # r2 is the squared correlation of the two variants' dosages
    expect = np.corrcoef(dos[:, col[row["gwas_variant"]]], dos[:, col[row["qtl_variant"]]])[0, 1]
    assert row["ld_r2"] == pytest.approx(expect**2, abs=1e-9)
    assert row["ld_r2"] >= 0.8
    # feature-trait statistics over the samples with both
    both = sim["traits"]["yield"].dropna().index.intersection(sim["metabolites"].index)
    r, p = stats.pearsonr(sim["metabolites"].loc[both, "M1"], sim["traits"].loc[both, "yield"])
    assert row["n_samples"] == len(both) == N - 30
    assert row["feature_trait_r"] == pytest.approx(r) and row["feature_trait_p"] == pytest.approx(p)
    # a lead on M1's chromosome but not in LD with its QTL lead: no link
    on1 = np.flatnonzero(var["chrom"].to_numpy() == "1")
    r2 = np.array([np.corrcoef(dos[:, i], dos[:, col[row["qtl_variant"]]])[0, 1] ** 2 for i in on1])
    far = pd.DataFrame({"trait": ["yield"], "gwas_variant": [var["id"][on1[np.argmin(r2)]]],
                        "gwas_p": ["1e-3"]})  # fmt: skip
    assert r2.min() < 0.8
    assert link.link_loci(far, qtl, sim["traits"], {"met": sim["metabolites"]}, geno).empty
    # M1 predicts the trait at the direct locus too: only the LD requirement keeps it out
    g2 = leads.loc[leads["gwas_variant"].map(chrom) == "2"]
    assert link.link_loci(g2, qtl, sim["traits"], {"met": sim["metabolites"]}, geno).empty
    forced = qtl.assign(qtl_variant=np.where(qtl["feature"] == "M1", g2["gwas_variant"].iloc[0],
                                             qtl["qtl_variant"]))  # fmt: skip
    out = link.link_loci(g2, forced, sim["traits"], {"met": sim["metabolites"]}, geno)
    assert list(out["feature"]) == ["M1"]


def test_unrelated_metabolite_fails_the_trait_test(sim, tmp_path):
    """M3 shares its locus with a (hypothetical) lead at g3 but does not predict the trait."""
    leads, qtl, geno = _tables(sim, tmp_path)
    g3 = sim["causal"]["g3"]
    at_g3 = pd.DataFrame({"trait": ["yield"], "gwas_variant": [g3], "gwas_p": ["0.5"]})
    pairs, v, d, smp = link.colocalise(at_g3, qtl, geno, 0.8)
    assert list(pairs["feature"]) == ["M3"]  # colocalised ...
    res = link.associate(pairs, sim["traits"], {"met": sim["metabolites"]}, v, d, smp)
    # ... but unrelated to the trait (a null correlation: a strict max_p, so that the
    # test's own false-positive rate is 0.1 %, not the 5 % of the default)
    opts = link.LinkOptions(max_p=1e-3)
    assert res["feature_trait_p"].iloc[0] > opts.max_p
    both = link.link_loci(
        pd.concat([leads, at_g3]), qtl, sim["traits"], {"met": sim["metabolites"]}, geno, opts
    )
    assert "M3" not in set(both["feature"]) and "M1" in set(both["feature"])
    # a stricter LD threshold than any pair's r2 removes every link
    strict = link.LinkOptions(r2=1.0 + 1e-9)
    assert link.link_loci(leads, qtl, sim["traits"], {"met": sim["metabolites"]}, geno,
                          strict).empty  # fmt: skip


def test_ld_r2_matches_corrcoef():
    rng = np.random.default_rng(5)
    d = rng.binomial(2, rng.uniform(0.1, 0.9, 30), size=(200, 30)).astype(float)
    d[:, 1] = np.where(rng.random(200) < 0.1, 2 - d[:, 0], d[:, 0])
    a, b = rng.integers(0, 30, 50), rng.integers(0, 30, 50)
    expect = np.array([np.corrcoef(d[:, i], d[:, j])[0, 1] ** 2 for i, j in zip(a, b, strict=True)])
    assert np.allclose(link.ld_r2(d, a, b), expect)


def test_feature_trait_stats_mediation():
    """Full mediation: the lead's effect vanishes given the feature; none: it stays."""
    rng = np.random.default_rng(3)
    g = rng.binomial(2, 0.4, 2000).astype(float)
    f = g + rng.normal(size=2000)
    full = link.feature_trait_stats(2 * f + rng.normal(size=2000), f, g)
    assert full["mediated_fraction"] == pytest.approx(1.0, abs=0.05)
    assert full["lead_effect"] == pytest.approx(2.0, abs=0.15)
    y = 1.5 * g + rng.normal(size=2000)
    other = rng.normal(size=2000)
    none = link.feature_trait_stats(y, other, g)
    assert abs(none["mediated_fraction"]) < 0.05 and none["feature_trait_p"] > 0.001
    assert none["n_samples"] == 2000


def test_pair_leads_one_per_feature_and_window():
    pos = pd.DataFrame({"id": ["a", "b", "c", "d"], "chrom": ["1", "1", "1", "2"],
                        "pos": [100, 5_000, 900_000, 100]})  # fmt: skip
    pairs = pd.DataFrame({"phenotype_id": ["F"] * 4 + ["G"],
                          "variant_id": ["a", "b", "c", "d", "b"],
                          "pval": [1e-9, 1e-12, 1e-7, 1e-8, 1e-6]})  # fmt: skip
    got = link.pair_leads(pairs, pos, window=100_000)
    assert sorted(zip(got["phenotype_id"], got["variant_id"], strict=True)) == [
        ("F", "b"), ("F", "c"), ("F", "d"), ("G", "b")
    ]  # fmt: skip


def test_cli_link_on_workflow_outputs(sim, tmp_path):
    """`gwas run`, `omics prepare`, the feature scan, `omics summarise`, `omics map --mode
    trans` and `omics link`, in process, on the simulated panel."""
    from breedomics.cli import main

    samples, var, dos = sim["samples"], sim["variants"], sim["dosage"]
    geno = gt.write_bed(tmp_path / "geno", var, [dos], samples)
    pheno = tmp_path / "pheno.tsv"
    sim["traits"].rename_axis("sample").to_csv(pheno, sep="\t", na_rep="NA")
    met = tmp_path / "met.tsv"
    sim["metabolites"].rename_axis("sample").to_csv(met, sep="\t", float_format="%.6g")
    gw = tmp_path / "gwas" / "glm"
    om = tmp_path / "omics" / "met"

    def gwas_glm(pheno_file: Path, out: Path, *extra: str) -> list[str]:
        return [
            "gwas", "run", "--geno", geno, "--pheno", str(pheno_file), "--model", "glm",
            "--pcs", "0", "--no-plots", *extra, "--allow-unmatched", "--out", str(out),
        ]  # fmt: skip

    # the workflow's steps, in this process: the trait GWAS, the features prepared, their
    # QTL scan and summary, and the mapping at scale (trans)
    steps = [
        gwas_glm(pheno, gw),
        ["omics", "prepare", "--features", str(met), "--geno", geno, "--transform", "none",
         "--hidden-factors", "0", "--out", str(om)],
        gwas_glm(om / "phenotypes.tsv", om / "qtl", "--no-meff"),
        ["omics", "summarise", "--features", str(om / "features.tsv"), "--qtl-dir",
         str(om / "qtl"), "--model", "glm", "--geno", geno, "--out", str(om)],
        ["omics", "map", "--mode", "trans", "--geno", geno, "--pheno", str(om / "phenotypes.tsv"),
         "--features", str(om / "features.tsv"), "--covariates", str(om / "covariates.tsv"),
         "--out", str(om / "mapping")],
    ]  # fmt: skip
    for argv in steps:
        assert main(argv) == 0, argv

    def link_cli(out: Path, *extra: str) -> int:
        """``breedomics omics link`` on these outputs, in this process."""
        return main(
            ["omics", "link", "--gwas-dir", str(gw), "--model", "glm", "--traits", "yield",
             "--pheno", str(pheno), "--geno", geno, "--omics-dir", str(om.parent),
             *extra, "--out", str(out)]
        )  # fmt: skip

    out = tmp_path / "links.tsv"
    assert link_cli(out, "--datasets", "met:trans") == 0
    links = pd.read_csv(out, sep="\t", dtype={"gwas_chromosome": str})
    assert list(links.columns) == link.LINK_COLUMNS
    # the clumped leads of chromosome 1 (long-range LD) all link to M1, nothing else links
    assert set(links["feature"]) == {"M1"} and set(links["gwas_chromosome"]) == {"1"}
    assert (links["ld_r2"] >= 0.8).all() and (links["feature_trait_p"] <= 0.05).all()
    row = links.loc[links["gwas_p"].astype(float).idxmin()]
    assert set(row["sources"].split(",")) == {"summary_lead", "summary_trans", "mapping_trans"}
    assert abs(row["mediated_fraction"] - TRUE_FRACTION) < 0.2
    # a threshold no feature-trait correlation passes: the header only
    none = tmp_path / "none.tsv"
    assert link_cli(none, "--datasets", "met", "--max-p", "1e-300") == 0
    assert none.read_text().rstrip("\n").split("\t") == link.LINK_COLUMNS


def test_read_mapping_cis_leads(tmp_path):
    """cis leads at q <= fdr, and every independent signal, from `omics map` tables."""
    m = tmp_path / "ds" / "mapping"
    m.mkdir(parents=True)
    cis = pd.DataFrame(
        {
            "phenotype_id": ["A", "B", "C"],
            "variant_id": ["v1", "v2", "v3"],
            "pval_nominal": [1e-12, 1e-3, 1e-8],
            "qval": [1e-9, 0.4, 0.01],
        }
    )
    cis.to_csv(m / "cis.tsv", sep="\t", index=False)
    ind = pd.DataFrame(
        {"phenotype_id": ["A", "A"], "variant_id": ["v1", "v9"], "pval_nominal": [1e-12, 1e-6]}
    )
    ind.to_csv(m / "cis_independent.tsv", sep="\t", index=False)
    got = link.read_mapping_qtl(tmp_path / "ds", "ds", "cis", "unused", link.LinkOptions())
    assert list(got.columns) == link.QTL_COLUMNS
    assert list(got["feature"]) == ["A", "C"] and set(got["cis_or_trans"]) == {"cis"}
    assert got["qtl_p"].astype(float).tolist() == [1e-12, 1e-8]
    strict = link.read_mapping_qtl(
        tmp_path / "ds", "ds", "cis_independent", "unused", link.LinkOptions(fdr=1e-3)
    )
    assert sorted(zip(strict["feature"], strict["qtl_variant"], strict["source"], strict=True)) == [
        ("A", "v1", "mapping_cis"),
        ("A", "v1", "mapping_cis_independent"),
        ("A", "v9", "mapping_cis_independent"),
    ]
    with pytest.raises(UserError, match="cis.tsv is missing"):
        link.read_mapping_qtl(tmp_path / "none", "x", "cis", "unused", link.LinkOptions())
