"""Omics kernels for genomic prediction (``omics kernel`` -> ``gs cv --models mkgblup``).

Truths: the kernel is ``Z Z' / m`` of the standardised features, computed here
independently with pandas (missing values at the feature mean, zero rows for
genotyped samples without data); on a trait simulated through the features
(``y = g_G + F b + e``), GBLUP plus the feature kernel predicts held-out samples
better than GBLUP alone (Westhues et al. 2017), and a sample without features
is predicted from its genomic part only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breedomics.cli import main
from breedomics.core.genotypes import write_bed
from breedomics.errors import UserError
from breedomics.omics.kernel import feature_kernel
from breedomics.testing.simulate_gs import simulate_population
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def test_kernel_is_the_standardised_crossproduct():
    rng = np.random.default_rng(2)
    samples = [f"s{i}" for i in range(12)]
    f = pd.DataFrame(rng.normal(size=(9, 5)), index=samples[:9], columns=list("abcde"))
    f.iloc[2, 1] = np.nan
    f["e"] = 3.0  # constant: no information, left out
    f.loc["other"] = 1.0  # not genotyped: left out
    k = feature_kernel(f, samples)
    z = f.loc[samples[:9], list("abcd")]
    z = (z - z.mean()) / z.std(ddof=1)
    z = z.fillna(0.0).to_numpy()
    want = z @ z.T / 4
    assert list(k.index) == samples and list(k.columns) == samples
    np.testing.assert_allclose(k.iloc[:9, :9].to_numpy(), want, rtol=1e-12, atol=1e-12)
    assert (k.iloc[9:].to_numpy() == 0).all() and (k.iloc[:, 9:].to_numpy() == 0).all()
    assert np.linalg.eigvalsh(k.to_numpy()).min() > -1e-10
    with pytest.raises(UserError, match="no feature that varies"):
        feature_kernel(f[["e"]], samples)


def test_mediated_trait_gains_from_the_omics_kernel(tmp_path, capsys):
    pop = simulate_population(GenomeSpec(n_samples=300, n_snps=1200, seed=5))
    n = len(pop.samples)
    rng = np.random.default_rng(8)
    dos = pop.dosage.astype(float)
    z = (dos - dos.mean(0)) / np.maximum(dos.std(0), 1e-9)
    # 150 features: partly heritable (through markers), partly environmental
    F = z @ rng.normal(0, 0.02, (z.shape[1], 150)) + rng.normal(size=(n, 150))
    g = z @ rng.normal(0, np.sqrt(0.3 / z.shape[1]), z.shape[1])
    y = 10 + g + F @ rng.normal(0, np.sqrt(0.5 / 150), 150) + rng.normal(0, 0.5, n)
    no_omics = pop.samples[-30:]  # genotyped, no features
    m = dos.shape[1]
    ids = [f"m{i}" for i in range(m)]
    var = pd.DataFrame({"chrom": "1", "pos": np.arange(m) + 1, "id": ids, "ref": "A", "alt": "C"})
    write_bed(tmp_path / "g", var, [pop.dosage], pop.samples)
    feats = pd.DataFrame(F, index=pop.samples, columns=[f"f{j}" for j in range(150)])
    feats.drop(index=no_omics).rename_axis("sample").to_csv(tmp_path / "expr.tsv", sep="\t")
    pd.DataFrame({"y": y}, index=pop.samples).rename_axis("sample").to_csv(
        tmp_path / "p.tsv", sep="\t"
    )
    kernel = tmp_path / "expr.kernel.tsv"
    argv = ["omics", "kernel", "--features", str(tmp_path / "expr.tsv"),
            "--geno", str(tmp_path / "g"), "--out", str(kernel)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    k = pd.read_csv(kernel, sep="\t", index_col=0)
    assert (k.loc[no_omics].to_numpy() == 0).all()
    cv = tmp_path / "cv"
    argv = ["gs", "cv", "--genotypes", str(tmp_path / "g"), "--phenotypes", str(tmp_path / "p.tsv"),
            "--models", "gblup,mkgblup", "--kernels", str(kernel), "--folds", "5",
            "--repeats", "1", "--no-plot", "--out-dir", str(cv)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    summ = pd.read_csv(cv / "cv_summary.tsv", sep="\t")
    r = summ[summ["level"] == "repeat"].set_index("model")["pearson_mean"]
    assert r["MK-GBLUP"] > r["GBLUP"] + 0.1, r
    vc = pd.read_csv(cv / "cv_varcomp.tsv", sep="\t")
    h2 = vc[(vc["model"] == "MK-GBLUP") & (vc["component"] == "h2_expr")]["estimate"]
    assert 0.2 < h2.mean() < 0.8, h2  # the simulated share is about 0.5 / 1.05
    # the samples without features are predicted (from the genomic part)
    pred = pd.read_csv(cv / "cv_predictions.tsv", sep="\t")
    mk = pred[(pred["model"] == "MK-GBLUP") & pred["sample_id"].isin(no_omics)]
    assert len(mk) == len(no_omics) and mk["predicted"].notna().all()


def test_mkgblup_layers_are_checked_before_the_run():
    from breedomics.validate import _gs_omics_layers

    def config(models, layers=(), selection="gblup"):
        gs = {"enabled": True, "models": models, "predict_models": ["gblup"],
              "selection": {"model": selection}, "omics_layers": list(layers)}  # fmt: skip
        return {"genotypes": {"enabled": True}, "gs": gs}

    assert _gs_omics_layers(config(["gblup"]), []) == []
    assert _gs_omics_layers(config(["mkgblup"]), ["expr", "met"]) == ["expr", "met"]
    assert _gs_omics_layers(config(["gblup"], ["met"], "mkgblup"), ["expr", "met"]) == ["met"]
    with pytest.raises(UserError, match="no omics dataset is enabled"):
        _gs_omics_layers(config(["mkgblup"]), [])
    with pytest.raises(UserError, match="gs.omics_layers names 'rna'"):
        _gs_omics_layers(config(["mkgblup"], ["rna"]), ["expr"])
