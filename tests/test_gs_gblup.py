"""GBLUP/rrBLUP: REML against GEMMA, marker back-solving against Henderson's MME."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.gs.data import Genotypes, read_genotypes
from breedomics.gs.gblup import GBLUP
from breedomics.testing.simulate_gs import simulate_population, simulate_trait
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense algebra in one BLAS thread: on a shared, loaded machine extra
    threads spin and slow these tests down by an order of magnitude."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


GEMMA = shutil.which("gemma")


def _write_plink(tmp_path, pop, y):
    prefix = str(tmp_path / "panel")
    m = pop.markers
    variants = pd.DataFrame(
        {
            "chrom": m["chrom"].astype(str),
            "pos": np.arange(len(m)) + 1,
            "id": m["id"],
            "ref": "A",
            "alt": "C",
        }
    )
    write_bed(prefix, variants, [pop.dosage.astype(np.float32)], pop.samples)
    fam = pd.read_csv(prefix + ".fam", sep="\t", header=None)
    fam[5] = ["NA" if not np.isfinite(v) else f"{v:.10g}" for v in y]
    fam.to_csv(prefix + ".fam", sep="\t", header=False, index=False)
    return prefix


def _gemma_null(tmp_path, prefix, cov=None):
    """Run gemma -gk 1 then -lmm 1; return (pve, se_pve, log-likelihood)."""
    out = tmp_path / "output"
    subprocess.run(
        [GEMMA, "-bfile", prefix, "-gk", "1", "-o", "kin"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    cmd = [GEMMA, "-bfile", prefix, "-k", str(out / "kin.cXX.txt"), "-lmm", "1", "-o", "lmm"]
    if cov is not None:
        cmd += ["-c", cov]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    log = (out / "lmm.log.txt").read_text()

    def grab(key):
        return float(re.search(re.escape(key) + r"\s*=\s*(\S+)", log).group(1))

    return (
        grab("pve estimate in the null model"),
        grab("se(pve) in the null model"),
        grab("REMLE log-likelihood in the null model"),
    )


@pytest.mark.skipif(GEMMA is None, reason="gemma not installed")
@pytest.mark.parametrize("h2,with_cov", [(0.3, False), (0.6, True)])
def test_reml_h2_matches_gemma(tmp_path, h2, with_cov):
    pop = simulate_population(GenomeSpec(n_samples=450, n_snps=3000, seed=11 if with_cov else 12))
    tr = simulate_trait(pop.dosage, h2, n_qtl=400, seed=3)
    rng = np.random.default_rng(5)
    y = tr["y"] + 10.0
    cov = None
    if with_cov:
        x1 = rng.normal(size=pop.dosage.shape[0])
        sex = rng.integers(0, 2, pop.dosage.shape[0]).astype(float)
        y = y + 0.8 * x1 - 0.5 * sex
        cov_path = tmp_path / "cov.txt"
        np.savetxt(cov_path, np.column_stack([np.ones_like(x1), x1, sex]), fmt="%.10g")
        cov = str(cov_path)
    # a few unphenotyped candidates: GEMMA drops them, we predict them
    y[:20] = np.nan
    prefix = _write_plink(tmp_path, pop, y)
    pve, se_pve, ll = _gemma_null(tmp_path, prefix, cov)

    geno = read_genotypes(prefix)  # through breedomics.core.genotypes (PLINK reader)
    assert geno.n == 450
    ph = np.isfinite(y)
    train = np.flatnonzero(ph)
    X = np.ones((train.size, 1))
    if with_cov:
        X = np.column_stack([X, x1[train], sex[train]])
    model = GBLUP().fit(geno, train, y[train], X)
    fit = model.fit_
    assert abs(fit.h2 - pve) < 0.01
    # same likelihood, same optimum: in practice agreement is ~1e-5
    assert abs(fit.h2 - pve) < 1e-3
    assert abs(fit.loglik - ll) < 0.05
    # average-information SE vs GEMMA's observed-information SE of the PVE
    assert fit.se_h2 == pytest.approx(se_pve, rel=0.15)
    if with_cov:
        assert fit.beta[1] == pytest.approx(0.8, abs=0.15)
        assert fit.beta[2] == pytest.approx(-0.5, abs=0.25)
    # GEBVs for everyone, incl. the 20 unphenotyped candidates
    gebv = model.predict(np.arange(geno.n))
    pev, rel = model.reliability(np.arange(geno.n))
    assert np.all((rel >= 0) & (rel <= 1))
    assert rel[:20].mean() < rel[20:].mean()  # no own record -> lower reliability
    # candidates' GEBVs equal the closed form s2g K_ct V^-1 (y - X b), V from GEMMA-equal REML
    K = geno.grm()
    V = fit.sigma_g * K[np.ix_(train, train)] + fit.sigma_e * np.eye(train.size)
    resid = y[train] - X @ fit.beta
    g_cf = fit.sigma_g * K[:20][:, train] @ np.linalg.solve(V, resid)
    np.testing.assert_allclose(gebv[:20], g_cf, rtol=1e-6, atol=1e-8)
    assert np.corrcoef(gebv[:20], tr["g"][:20])[0, 1] > 0


def test_rrblup_backsolve_equals_marker_mme():
    """GBLUP GEBVs == Z a from back-solved effects == Henderson's marker-model MME."""
    pop = simulate_population(GenomeSpec(n_samples=320, n_snps=600, seed=21))
    tr = simulate_trait(pop.dosage, 0.5, n_qtl=100, seed=4)
    geno = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    n = geno.n
    train = np.arange(40, n)  # first 40: genotyped, never phenotyped
    rng = np.random.default_rng(2)
    cov = rng.normal(size=n)
    X = np.column_stack([np.ones(n), cov])
    y = tr["y"] + 2.0 * cov
    model = GBLUP().fit(geno, train, y[train], X[train])
    f = model.fit_
    allidx = np.arange(n)
    g_gblup = model.predict(allidx)
    g_rr = model.predict_markers(allidx)

    # independent truth: marker-model mixed-model equations (Henderson 1984),
    # lambda = s2e / s2a with s2a = s2g / (2 sum pq)
    Z = geno.Z.astype(np.float64)
    Zt, Xt = Z[train], X[train]
    s2a = f.sigma_g / geno.scale
    lam = f.sigma_e / s2a
    p, q = Z.shape[1], X.shape[1]
    C = np.block([[Xt.T @ Xt, Xt.T @ Zt], [Zt.T @ Xt, Zt.T @ Zt + lam * np.eye(p)]])
    rhs = np.concatenate([Xt.T @ y[train], Zt.T @ y[train]])
    sol = np.linalg.solve(C, rhs)
    b_mme, a_mme = sol[:q], sol[q:]
    g_mme = Z @ a_mme

    assert np.corrcoef(g_gblup, g_rr)[0, 1] >= 0.9999
    assert np.corrcoef(g_gblup, g_mme)[0, 1] >= 0.9999
    np.testing.assert_allclose(g_gblup, g_mme, atol=1e-4 * np.std(g_mme))
    np.testing.assert_allclose(model.marker_effect_vector(), a_mme, atol=1e-4 * np.abs(a_mme).max())
    np.testing.assert_allclose(f.beta, b_mme, rtol=1e-4, atol=1e-6)

    # PEV of GEBVs from the inverse MME: PEV(Z a) = s2e Z C^aa Z'
    Cinv = np.linalg.inv(C)
    Caa = Cinv[q:, q:]
    pev_mme = f.sigma_e * np.einsum("ij,jk,ik->i", Z, Caa, Z)
    pev, rel = model.reliability(allidx)
    np.testing.assert_allclose(pev, pev_mme, rtol=1e-4, atol=1e-8)


def test_constant_and_tiny_traits_are_user_errors(tmp_path):
    from breedomics.core.phenotypes import check_trait
    from breedomics.errors import UserError

    with pytest.raises(UserError, match="constant"):
        check_trait(np.full(10, 3.0), "height", "pheno.tsv")
    with pytest.raises(UserError, match="non-missing"):
        check_trait(np.array([1.0, np.nan, np.nan]), "height", "pheno.tsv")
