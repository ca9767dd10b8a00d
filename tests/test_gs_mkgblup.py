"""Multi-kernel GBLUP (``mkgblup``): the GRM plus a second kernel, in CV and ``gs predict``.

Truth: a trait simulated with a genomic and a second-kernel component
(``y = g_G + g_T + e``). The multi-kernel model recovers the part of the trait
that the GRM misses, so it predicts held-out samples better than GBLUP; its
predictions equal the BLUP formula ``sum_k s2_k K_k[c, t] P y`` computed
directly from the fitted variances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breedomics.cli import main
from breedomics.core.genotypes import write_bed
from breedomics.errors import UserError
from breedomics.gs.cv import kfold_folds, run_cv
from breedomics.gs.data import Genotypes
from breedomics.gs.mkgblup import MultiKernelGBLUP, read_kernels
from breedomics.gs.predict import fit_predict
from breedomics.testing.simulate_gs import simulate_population
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def sim():
    pop = simulate_population(GenomeSpec(n_samples=360, n_snps=1500, seed=17))
    geno = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    rng = np.random.default_rng(4)
    n = geno.n
    F = rng.standard_normal((n, 30)) @ rng.standard_normal((30, 200))  # e.g. expression
    F = (F - F.mean(0)) / F.std(0)
    KT = F @ F.T / F.shape[1]
    # effects of markers and features: g_G ~ N(0, 0.3 G), g_T ~ N(0, 0.5 K_T) exactly
    gG = geno.Z.astype(float) @ rng.normal(0, np.sqrt(0.3 / geno.scale), geno.p)
    gT = F @ rng.normal(0, np.sqrt(0.5 / F.shape[1]), F.shape[1])
    y = 5 + gG + gT + rng.normal(0, np.sqrt(0.3), n)
    pheno = pd.DataFrame({"y": y}, index=geno.samples)
    return geno, KT, pheno


def test_mkgblup_beats_gblup_when_a_second_kernel_carries_signal(sim):
    geno, KT, pheno = sim
    folds = kfold_folds(geno.samples, 5, seed=3)
    res = run_cv(geno, pheno, ["y"], ["gblup", "mkgblup"], folds,
                 options={"kernels": [("expr", KT)]})  # fmt: skip
    m = res.metrics[res.metrics["level"] == "repeat"].set_index("model")["pearson"]
    assert m["MK-GBLUP"] > m["GBLUP"] + 0.1, m
    vc = res.varcomp[res.varcomp["model"] == "MK-GBLUP"]
    assert set(vc["component"]) >= {"sigma2_G", "sigma2_expr", "sigma2_e", "h2_expr"}


def test_predictions_equal_the_blup_formula(sim):
    geno, KT, pheno = sim
    train, test = np.arange(300), np.arange(300, geno.n)
    X = np.ones((300, 1))
    y = pheno["y"].to_numpy()[train]
    p = fit_predict(MultiKernelGBLUP([("expr", KT)]), geno, train, y, X, test, np.ones((60, 1)))
    G = geno.grm()
    s2 = {r["component"]: r["estimate"] for r in p.varcomp}
    V = s2["sigma2_G"] * G[:300, :300] + s2["sigma2_expr"] * KT[:300, :300]
    V += s2["sigma2_e"] * np.eye(300)
    Vi = np.linalg.inv(V)
    one = X[:, 0]
    b = float(one @ Vi @ y / (one @ Vi @ one))  # GLS mean
    py = Vi @ (y - b)
    want = (s2["sigma2_G"] * G[300:, :300] + s2["sigma2_expr"] * KT[300:, :300]) @ py
    np.testing.assert_allclose(p.gebv, want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(p.phenotype, want + b, rtol=1e-6)


def test_cli_predict_with_kernel_table(sim, tmp_path, capsys):
    geno, KT, pheno = sim
    var = pd.DataFrame({"chrom": "1", "pos": np.arange(geno.p) + 1, "id": geno.markers,
                        "ref": "A", "alt": "C"})  # fmt: skip
    dos = (geno.Z + 2 * geno.freq.astype(np.float32)).round()
    write_bed(tmp_path / "g", var, [dos], geno.samples)
    pd.DataFrame(KT, index=geno.samples, columns=geno.samples).rename_axis("sample").to_csv(
        tmp_path / "expr.tsv", sep="\t"
    )
    pheno.rename_axis("sample").to_csv(tmp_path / "p.tsv", sep="\t")
    out = tmp_path / "pred"
    argv = ["gs", "predict", "--genotypes", str(tmp_path / "g"), "--phenotypes",
            str(tmp_path / "p.tsv"), "--model", "mkgblup", "--kernels", str(tmp_path / "expr.tsv"),
            "--out-dir", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    vc = pd.read_csv(out / "varcomp.tsv", sep="\t")
    assert {"sigma2_G", "sigma2_expr"} <= set(vc["component"])
    gebv = pd.read_csv(out / "gebv.tsv", sep="\t")
    assert len(gebv) == geno.n and gebv["y"].notna().all()
    # a kernel without every genotyped sample is refused, naming one
    short = pd.DataFrame(KT[:-1, :-1], index=geno.samples[:-1], columns=geno.samples[:-1])
    short.rename_axis("sample").to_csv(tmp_path / "short.tsv", sep="\t")
    with pytest.raises(UserError, match=geno.samples[-1]):
        read_kernels([tmp_path / "short.tsv"], geno.samples)


def test_layer_alone_is_single_kernel_reml_and_blup(sim):
    """``layer:expr`` (the kernel alone, no GRM): its variances equal the grid + Brent REML
    of the core's single-kernel solver (another algorithm than average information), and
    its predictions the BLUP formula ``s2 K[c, t] P y`` with that solver's ``P y``."""
    from breedomics.core.reml import KernelREML
    from breedomics.gs.models import make_model

    geno, KT, pheno = sim
    train, test = np.arange(300), np.arange(300, geno.n)
    y = pheno["y"].to_numpy()[train]
    model = make_model("layer:expr", {"kernels": [("expr", KT), ("other", np.eye(geno.n))]})
    assert model.name == "K-BLUP:expr"
    p = fit_predict(model, geno, train, y, np.ones((300, 1)), test, np.ones((60, 1)))
    s2 = {r["component"]: r["estimate"] for r in p.varcomp}
    assert "sigma2_G" not in s2
    ref = KernelREML(KT[:300, :300]).fit(y)
    np.testing.assert_allclose(s2["sigma2_expr"], ref.sigma_g, rtol=1e-4)
    np.testing.assert_allclose(s2["sigma2_e"], ref.sigma_e, rtol=1e-4)
    want = ref.sigma_g * KT[300:, :300] @ ref.py
    np.testing.assert_allclose(p.gebv, want, rtol=1e-4, atol=1e-6)


def test_cv_reports_each_layer_alone_g_alone_and_combined(sim):
    """The trait is G + expression: each part alone predicts less than both together;
    the layer alone, lacking the genomic part, less than MK-GBLUP."""
    geno, KT, pheno = sim
    folds = kfold_folds(geno.samples, 5, seed=3)
    res = run_cv(geno, pheno, ["y"], ["gblup", "mkgblup", "layer:expr"], folds,
                 options={"kernels": [("expr", KT)]})  # fmt: skip
    m = res.metrics[res.metrics["level"] == "repeat"].set_index("model")["pearson"]
    assert set(m.index) == {"GBLUP", "MK-GBLUP", "K-BLUP:expr"}
    assert m["MK-GBLUP"] > max(m["GBLUP"], m["K-BLUP:expr"]) + 0.03, m
    # the expression kernel carries the larger share (0.5 vs 0.3): alone it beats G alone
    assert m["K-BLUP:expr"] > m["GBLUP"], m


def test_unknown_layer_is_named():
    from breedomics.gs.models import make_model, parse_models

    assert parse_models("gblup,layer:expr") == ["gblup", "layer:expr"]
    with pytest.raises(UserError, match=r"names no --kernels table \(given: expr\)"):
        make_model("layer:metab", {"kernels": [("expr", np.eye(3))]})
