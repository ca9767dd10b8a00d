"""Multi-trait GBLUP: REML against GEMMA's mvLMM, BLUP with missing records."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.gs.data import Genotypes
from breedomics.gs.gblup import GBLUP
from breedomics.gs.mtgblup import MultiTraitGBLUP
from breedomics.testing.simulate_gs import simulate_population
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense algebra in one BLAS thread: on a shared, loaded machine extra
    threads spin and slow these tests down by an order of magnitude."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


GEMMA = shutil.which("gemma")


def _simulate(n=500, seed=3, rg=0.7):
    pop = simulate_population(GenomeSpec(n_samples=n, n_snps=2000, seed=seed))
    geno = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    K = geno.grm()
    m = np.trace(K) / n
    rng = np.random.default_rng(seed)
    vg = np.array([0.5, 0.4])
    Vg = rg * np.sqrt(np.outer(vg, vg))
    np.fill_diagonal(Vg, vg)
    Vg /= m
    Ve = np.array([[0.5, 0.1], [0.1, 0.6]])
    w, U = np.linalg.eigh(K)
    Lk = U * np.sqrt(np.maximum(w, 0))
    G = Lk @ rng.standard_normal((n, 2)) @ np.linalg.cholesky(Vg).T
    E = rng.standard_normal((n, 2)) @ np.linalg.cholesky(Ve).T
    return pop, geno, G, G + E + np.array([1.0, 2.0])


def _matrix_after(log, key, t):
    lines = log.split(key, 1)[1].strip().splitlines()[:t]
    rows = [[float(x) for x in ln.split()] for ln in lines]
    M = np.zeros((t, t))
    for i, r in enumerate(rows):
        M[i, : len(r)] = r
    return np.tril(M) + np.tril(M, -1).T


@pytest.mark.skipif(GEMMA is None, reason="gemma not installed")
def test_mt_reml_matches_gemma_mvlmm(tmp_path):
    pop, geno, G, Y = _simulate()
    mt = MultiTraitGBLUP(["a", "b"]).fit(geno, np.arange(geno.n), Y)
    assert mt.reml["converged"]
    m = pop.markers
    prefix = str(tmp_path / "p")
    write_bed(
        prefix,
        pd.DataFrame(
            {
                "chrom": m["chrom"].astype(str),
                "pos": np.arange(len(m)) + 1,
                "id": m["id"],
                "ref": "A",
                "alt": "C",
            }
        ),
        [pop.dosage.astype(np.float32)],
        pop.samples,
    )
    fam = pd.read_csv(prefix + ".fam", sep="\t", header=None)
    fam[5], fam[6] = Y[:, 0], Y[:, 1]
    fam.to_csv(prefix + ".fam", sep="\t", header=False, index=False)
    subprocess.run(
        [GEMMA, "-bfile", prefix, "-gk", "1", "-o", "kin"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    kin = tmp_path / "output" / "kin.cXX.txt"
    subprocess.run(
        [GEMMA, "-bfile", prefix, "-k", str(kin), "-lmm", "1", "-n", "1", "2", "-o", "mv"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    log = (tmp_path / "output" / "mv.log.txt").read_text()
    vg_gemma = _matrix_after(log, "REMLE estimate for Vg in the null model:", 2)
    ve_gemma = _matrix_after(log, "REMLE estimate for Ve in the null model:", 2)
    se_ve_gemma = _matrix_after(log.split("REMLE estimate for Ve")[1], "se(Ve):", 2)
    # GEMMA's centred kinship is proportional to VanRaden's G: rescale Vg
    ratio = np.trace(geno.grm()) / np.trace(np.loadtxt(kin))
    np.testing.assert_allclose(mt.Ve, ve_gemma, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(mt.Vg * ratio, vg_gemma, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(mt.reml["se_Ve"], se_ve_gemma, rtol=0.1)
    vc = mt.varcomp_table().set_index(["trait", "component"])["estimate"]
    rg_gemma = vg_gemma[0, 1] / np.sqrt(vg_gemma[0, 0] * vg_gemma[1, 1])
    assert vc[("a:b", "r_g")] == pytest.approx(rg_gemma, abs=1e-3)
    # single-trait special case: diagonal h2 within 0.05 of the univariate REML
    st = GBLUP().fit(geno, np.arange(geno.n), Y[:, 0])
    assert vc[("a", "h2")] == pytest.approx(st.fit_.h2, abs=0.05)


def test_mt_blup_with_missing_records_and_gain():
    pop, geno, G, Y = _simulate(n=600, seed=5, rg=0.8)
    n = geno.n
    rng = np.random.default_rng(1)
    val = rng.choice(n, 150, replace=False)
    Ym = Y.copy()
    Ym[val, 0] = np.nan  # trait a masked on validation, correlated trait b still observed
    mt = MultiTraitGBLUP(["a", "b"]).fit(geno, np.arange(n), Ym)
    pred = mt.predict(np.arange(n))
    # closed-form BLUP with the fitted (Vg, Ve): Cov(g, y_obs) V_obs^-1 (y_obs - X b)
    K = geno.grm()
    Vg, Ve = mt.Vg, mt.Ve
    obs = np.isfinite(Ym).T.reshape(-1)
    V = (np.kron(Vg, K) + np.kron(Ve, np.eye(n)))[np.ix_(obs, obs)]
    X = np.kron(np.eye(2), np.ones((n, 1)))[obs]
    y = Ym.T.reshape(-1)[obs]
    Vi = np.linalg.inv(V)
    b = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    g_cf = (np.kron(Vg, K)[:, obs] @ Vi @ (y - X @ b)).reshape(2, n).T
    np.testing.assert_allclose(pred, g_cf, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mt.beta[0], b, rtol=1e-6)
    # the correlated record helps: MT beats single-trait GBLUP on the masked trait
    train = np.setdiff1d(np.arange(n), val)
    st = GBLUP().fit(geno, train, Y[train, 0])
    acc_st = np.corrcoef(st.predict(val), G[val, 0])[0, 1]
    acc_mt = np.corrcoef(pred[val, 0], G[val, 0])[0, 1]
    assert acc_mt > acc_st + 0.03, (acc_mt, acc_st)
