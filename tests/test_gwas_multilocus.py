"""FarmCPU-style multi-locus model against MLM on simulated QTL (power, false discoveries).

Panels of 300 inbred lines are simulated with msprime (four demes exchanging
migrants, 3,000 SNPs in LD blocks on 10 chromosomes); each trait has 10 QTL
explaining half of the variance, a polygenic background and a group effect,
and both models use 3 PCs. A significant variant within 250 kb of a QTL
detects it; other significant variants are false discoveries (clustered
into loci). Per trait the multi-locus model must find more true QTL than
the exact MLM at Bonferroni 0.05, and at the same number of false
discoveries as the MLM it must find at least as many QTL (more in total),
the comparison of Liu et al. (2016). A trait without QTL must make FarmCPU
say that it found no pseudo-QTN, and return exactly the GLM.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.core.grm import eigh_psd, top_pcs
from breedomics.gwas.farmcpu import FarmCPUConfig, run_farmcpu
from breedomics.gwas.phenotypes import add_pcs, prepare
from breedomics.gwas.results import read_sumstats
from breedomics.gwas.scan import GenotypeSource, ScanConfig, build_grm, scan
from breedomics.testing.gwas_power import discoveries, discovery_curve, power_at_fd
from breedomics.testing.simulate_gwas import simulate_structured, simulate_traits
from breedomics.testing.spec import GenomeSpec

WINDOW = 250_000
SEEDS = (1, 2)


def _panel(tmp, seed):
    g = simulate_structured(
        GenomeSpec(n_samples=300, n_snps=3000, n_chrom=10, seed=seed), segments=10
    )
    ph, qtl = simulate_traits(
        g.dosage, g.variants, n_traits=3, n_qtl=10, h2_qtl=0.5, h2_poly=0.2,
        groups=g.groups, group_var=0.1, min_qtl_distance=2 * WINDOW, seed=seed,
    )  # fmt: skip
    ph.index = g.samples
    ph["null_trait"] = np.random.default_rng(seed).normal(size=len(g.samples))
    write_bed(tmp / f"g{seed}", g.variants, [g.dosage], g.samples)
    data = prepare(g.samples, ph)
    src = GenotypeSource(str(tmp / f"g{seed}"), data.samples)
    grm, _ = build_grm(src, loco=False)
    data = add_pcs(data, top_pcs(eigh_psd(grm.matrix()), 3))
    return data, src, grm, qtl


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("farmcpu")
    out = []
    for seed in SEEDS:
        data, src, grm, qtl = _panel(tmp, seed)
        mlm = scan(src, data, tmp / f"mlm{seed}", ScanConfig(model="mlm"), grm=grm)
        glm = scan(src, data, tmp / f"glm{seed}", ScanConfig(model="glm"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            farm = run_farmcpu(src, data, tmp / f"farm{seed}", ScanConfig(model="farmcpu"))
        out.append(
            {
                "data": data,
                "src": src,
                "qtl": qtl,
                "mlm": {r.trait: r for r in mlm},
                "glm": {r.trait: r for r in glm},
                "farmcpu": {r.trait: r for r in farm},
                "warnings": [str(w.message) for w in caught],
            }
        )
    return out


def test_multilocus_finds_more_qtl_at_equal_or_fewer_false_discoveries(runs):
    thr = -np.log10(0.05 / 3000)
    table = []
    totals = {"mlm": [0, 0, 0], "farmcpu": [0, 0, 0]}
    for seed, run in zip(SEEDS, runs, strict=True):
        for trait in ("trait1", "trait2", "trait3"):
            q = run["qtl"][run["qtl"]["trait"] == trait]
            res = {}
            for model in ("mlm", "farmcpu"):
                ss = read_sumstats(run[model][trait].path)
                res[model] = (discoveries(ss, q, thr, WINDOW), discovery_curve(ss, q, WINDOW))
            budget = res["mlm"][0]["false_loci"]
            row = {"seed": seed, "trait": trait}
            for model in ("mlm", "farmcpu"):
                d, curve = res[model]
                matched = power_at_fd(curve, budget)
                totals[model][0] += d["true_found"]
                totals[model][1] += d["false_loci"]
                totals[model][2] += matched
                row[model] = (d["true_found"], d["false_loci"], matched)
            table.append(row)
            # at the MLM's own number of false discoveries FarmCPU finds at least as many QTL
            assert row["farmcpu"][2] >= row["mlm"][2], row
    report = "\n".join(
        f"seed {r['seed']} {r['trait']}: MLM found/false/at-equal-FD {r['mlm']}, "
        f"FarmCPU {r['farmcpu']}"
        for r in table
    )
    n_qtl = 10 * len(table)
    print(
        f"\n{report}\npower MLM {totals['mlm'][0] / n_qtl:.2f} (false {totals['mlm'][1]}), "
        f"FarmCPU {totals['farmcpu'][0] / n_qtl:.2f} (false {totals['farmcpu'][1]})"
    )
    assert totals["farmcpu"][0] > totals["mlm"][0], report
    assert totals["farmcpu"][2] > totals["mlm"][2], report


def test_no_pseudo_qtn_is_said_and_result_is_the_glm(runs):
    for run in runs:
        fc = run["farmcpu"]["null_trait"]
        assert fc.extra["n_pseudo_qtns"] == 0
        assert any("found no pseudo-QTN" in n for n in fc.notes)
        assert any("'null_trait'" in w and "found no pseudo-QTN" in w for w in run["warnings"])
        a = read_sumstats(fc.path)
        b = read_sumstats(run["glm"]["null_trait"].path)
        np.testing.assert_allclose(a["neg_log_10_p_value"], b["neg_log_10_p_value"], rtol=1e-12)
        # traits with QTL do get pseudo-QTNs
        assert run["farmcpu"]["trait1"].extra["n_pseudo_qtns"] > 0


def test_pseudo_qtn_statistics_are_from_the_joint_model(runs):
    run = runs[0]
    fc = run["farmcpu"]["trait1"]
    pq = fc.extra["pseudo_qtns"]
    data, src = run["data"], run["src"]
    _v, x = src.extract_ids(pq["variant_id"].tolist())
    w = data.covariates.to_numpy()
    y = data.traits["trait1"].to_numpy()
    design = np.column_stack([w, x])
    coef, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - design.shape[1]
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * rss[0] / df)
    k = w.shape[1]
    np.testing.assert_allclose(pq["beta"], coef[k:], rtol=1e-8)
    np.testing.assert_allclose(pq["standard_error"], se[k:], rtol=1e-8)
    ss = read_sumstats(fc.path).set_index("variant_id")
    np.testing.assert_allclose(
        ss.loc[pq["variant_id"], "beta"], coef[k:], rtol=1e-5
    )  # written with 6 significant digits
    assert FarmCPUConfig().max_qtn is None  # default bound: round(sqrt(n) / sqrt(log10 n))
    assert 0 < len(pq) <= round(np.sqrt(300) / np.sqrt(np.log10(300)))
