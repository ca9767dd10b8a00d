"""Ancestry proportions of admixed lines vs simulation truth; CV choice of K."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from breedomics.census.admixture import admixture, fit_admixture
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_landraces, write_plink
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    genome = GenomeSpec(n_groups=4, n_chrom=10, chrom_length=2_000_000, missing_rate=0.01, seed=5)
    p = simulate_landraces(genome, lines_per_group=40, n_admixed=20, n_duplicates=0)
    return p, write_plink(p, tmp_path_factory.mktemp("adm") / "lr")


def test_admixed_proportions_and_k(panel):
    p, prefix = panel
    qtab, cv, fits = admixture(prefix, p.samples, 3, 5, inbred=True, folds=2, max_snps=5000)
    assert cv.loc[cv["chosen"], "K"].item() == 4, cv
    assert cv["converged"].all()
    # log-likelihood increases with K
    assert np.all(np.diff(cv["loglik"]) > 0)
    best = qtab[qtab["best"]]
    q = best[[f"Q{i}" for i in range(1, 5)]].to_numpy()
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-9)
    truth = p.truth[[c for c in p.truth.columns if c.startswith("q_")]].to_numpy()
    _, col = linear_sum_assignment(-(truth.T @ q))
    q = q[:, col]
    adm = (p.truth["kind"] == "admixed").to_numpy()
    rmse = np.sqrt(np.mean((q[adm] - truth[adm]) ** 2))
    assert rmse <= 0.05, rmse
    # pure lines are assigned to their own group
    assert (q[~adm].argmax(axis=1) == truth[~adm].argmax(axis=1)).all()


def test_diploid_model_on_simple_mixture():
    """Two diverged populations and F1-like 50:50 individuals, diploid model."""
    rng = np.random.default_rng(4)
    m = 3000
    pa, pb = rng.beta(0.5, 0.5, m), rng.beta(0.5, 0.5, m)
    q_true = np.r_[np.ones(40), np.zeros(40), np.full(20, 0.5), rng.uniform(0, 1, 20)]
    pi = q_true[:, None] * pa + (1 - q_true[:, None]) * pb
    g = rng.binomial(2, pi).astype(float)
    g[rng.random(g.shape) < 0.02] = np.nan
    fit = fit_admixture(g, 2, c=2)
    q = fit.q[:, 0] if np.corrcoef(fit.q[:, 0], q_true)[0, 1] > 0 else fit.q[:, 1]
    assert np.sqrt(np.mean((q - q_true) ** 2)) < 0.02


def test_bad_k(panel):
    p, prefix = panel
    with pytest.raises(UserError, match="number of samples"):
        admixture(prefix, p.samples[:4], 2, 6, inbred=True)
    with pytest.raises(UserError, match="exceeds the number of samples"):
        fit_admixture(np.zeros((3, 20)), 5)
