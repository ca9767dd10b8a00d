"""Calibration of the mixed models in a structured population with known QTL.

A Balding-Nichols panel (4 groups, Fst 0.1, 20,000 unlinked SNPs on 10
chromosomes) carries traits made of 10 QTL, a polygenic background and a
group effect (stratification). With this many independent SNPs the genomic
inflation factor is estimated to about +-0.02, so the check is sharp:
exact MLM, MLM with LOCO and MLM-P3D must keep lambda in [0.95, 1.08], while
the GLM without PCs is inflated (showing that the structure is real) and
the GLM with PCs is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.core.grm import eigh_psd, top_pcs
from breedomics.gwas.phenotypes import add_pcs, prepare
from breedomics.gwas.pvalues import inflation_lambda
from breedomics.gwas.results import read_sumstats
from breedomics.gwas.scan import GenotypeSource, ScanConfig, build_grm, scan
from breedomics.testing.simulate_gwas import iter_balding_nichols, simulate_traits
from breedomics.testing.spec import GenomeSpec

N, M = 300, 20000


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lambda")
    chunks = list(
        iter_balding_nichols(
            GenomeSpec(n_samples=N, n_groups=4, n_snps=M, seed=3), fst=0.1, spacing=50_000
        )
    )
    vs, ds = zip(*chunks, strict=True)
    var = pd.concat(vs, ignore_index=True)
    dos = np.hstack(ds)
    samples = [f"A{i:03d}" for i in range(N)]
    groups = np.repeat(np.arange(4), N // 4)
    ph, qtl = simulate_traits(
        dos, var, n_traits=3, n_qtl=10, h2_qtl=0.3, h2_poly=0.3,
        groups=groups, group_var=0.15, seed=4,
    )  # fmt: skip
    ph.index = samples
    write_bed(tmp / "g", var, [dos], samples)
    data = prepare(samples, ph)
    src = GenotypeSource(str(tmp / "g"), data.samples)
    grm, _ = build_grm(src, loco=True)
    return tmp, data, src, grm


def _lambdas(res):
    return [inflation_lambda(read_sumstats(r.path)["neg_log_10_p_value"].to_numpy()) for r in res]


@pytest.mark.parametrize(
    "model,loco", [("mlm", False), ("mlm", True), ("mlm-p3d", False)], ids=["exact", "loco", "p3d"]
)
def test_mixed_models_keep_lambda_near_one(panel, model, loco):
    tmp, data, src, grm = panel
    res = scan(src, data, tmp / f"{model}{loco}", ScanConfig(model=model, loco=loco), grm=grm)
    lams = _lambdas(res)
    assert all(0.95 <= lam <= 1.08 for lam in lams), lams
    for r in res:
        # genetic + group variance is captured (with 300 samples and 20,000 unlinked SNPs
        # the GRM is close to I off the structure axes, so the split is weakly identified)
        assert r.null.pve > 0.3


def test_glm_is_inflated_without_pcs_and_corrected_with_pcs(panel):
    tmp, data, src, grm = panel
    raw = _lambdas(scan(src, data, tmp / "glm", ScanConfig(model="glm")))
    assert min(raw) > 1.3, raw
    with_pcs = add_pcs(data, top_pcs(eigh_psd(grm.matrix()), 3))
    adj = _lambdas(scan(src, with_pcs, tmp / "glmpc", ScanConfig(model="glm")))
    assert all(0.95 <= lam <= 1.12 for lam in adj), adj
