"""Building blocks of the simulators (:mod:`breedomics.testing`) against their model.

Each block is checked on a large draw against the closed form it is meant to follow:
the Balding-Nichols mean and variance, Hardy-Weinberg genotype counts, the heritability
of additive phenotypes, the entry-mean heritability of a balanced trial. The simulators'
shared :class:`~breedomics.testing.spec.GenomeSpec` fills their defaults and refuses
what a simulator cannot honour.
"""

from __future__ import annotations

import numpy as np
import pytest

from breedomics.errors import UserError
from breedomics.testing.genomes import (
    balding_nichols,
    binomial_genotypes,
    even_split,
    variant_table,
)
from breedomics.testing.simulate_gs import simulate_population
from breedomics.testing.simulate_gwas import iter_balding_nichols
from breedomics.testing.spec import GenomeSpec
from breedomics.testing.traits import additive_phenotype, signed_effect, variance_scale
from breedomics.testing.trials import entry_mean_h2, plot_values, rcbd_records


@pytest.mark.parametrize(("total", "parts"), [(10, 3), (3, 5), (1200, 7), (0, 2)])
def test_even_split(total, parts):
    sizes = even_split(total, parts)
    assert sizes.sum() == total and len(sizes) == parts
    assert sizes.max() - sizes.min() <= 1 and np.all(np.diff(sizes) <= 0)


def test_variant_table_alleles_differ_and_cover_all_bases():
    v = variant_table("3", np.arange(1, 2001) * 10, np.random.default_rng(1))
    assert list(v.columns) == ["chrom", "pos", "id", "ref", "alt"]
    assert (v["ref"] != v["alt"]).all()
    assert set(v["ref"]) == set(v["alt"]) == set("ACGT")
    assert v["id"].iloc[4] == "3_50" and v["pos"].dtype == np.int64


def test_balding_nichols_mean_and_variance():
    """Beta(p(1-F)/F, (1-p)(1-F)/F): mean p, variance F p (1 - p)."""
    rng = np.random.default_rng(2)
    p = np.array([0.1, 0.3, 0.5, 0.8])
    fst = 0.15
    f = np.stack([balding_nichols(p, fst, 1, rng)[0] for _ in range(20000)])
    np.testing.assert_allclose(f.mean(axis=0), p, atol=0.005)
    np.testing.assert_allclose(f.var(axis=0), fst * p * (1 - p), rtol=0.05)


def test_binomial_genotypes_follow_hardy_weinberg():
    rng = np.random.default_rng(3)
    g = binomial_genotypes(np.full((200000, 1), 0.3), rng)[:, 0]
    assert g.dtype == np.float32
    counts = np.bincount(g.astype(int), minlength=3) / len(g)
    np.testing.assert_allclose(counts, [0.49, 0.42, 0.09], atol=0.004)


def test_additive_phenotype_has_the_target_heritability():
    rng = np.random.default_rng(4)
    g = rng.normal(0, 3, 200000)
    y = additive_phenotype(g, 0.4, rng, mean=100)
    assert abs(y.mean() - 100) < 0.05
    assert g.var() / y.var() == pytest.approx(0.4, abs=0.005)


def test_signed_effect_explains_its_share():
    rng = np.random.default_rng(5)
    x = rng.binomial(2, 0.3, 5000).astype(float)
    x -= x.mean()
    signs = set()
    for _ in range(20):
        b = signed_effect(x, 0.2, rng)
        assert (b * x).var() == pytest.approx(0.2, rel=1e-12)
        signs.add(np.sign(b))
    assert signs == {-1.0, 1.0}
    assert (x * variance_scale(x, 3.0)).var() == pytest.approx(3.0, rel=1e-12)


def test_trial_entry_means_have_the_entry_mean_heritability():
    """Across genotypes, var(entry mean) = var_g + var_ge/E + var_e/(E R): environment and
    block effects are shared by every genotype and cancel."""
    rng = np.random.default_rng(6)
    n, ne, nr, var_g, var_ge, var_e = 6000, 4, 3, 1.0, 0.5, 2.0
    g = rng.normal(0, np.sqrt(var_g), n)
    genos = np.array([f"G{i}" for i in range(n)])
    rec, index = rcbd_records(genos, np.array(["a", "b", "c", "d"]), nr)
    assert len(rec) == n * ne * nr and rec["rep"].nunique() == nr
    y, eff = plot_values(g, index, ne, nr, 2.0, 0.5, var_ge, var_e, 50.0, rng)
    means = np.bincount(index[0], weights=y) / (ne * nr)
    h2 = entry_mean_h2(var_g, var_ge, var_e, ne, nr)
    assert g.var() / means.var() == pytest.approx(h2, abs=0.02)
    assert eff["ge"].var() == pytest.approx(var_ge, rel=0.03)
    resid = y - 50.0 - eff["env"][index[1]] - eff["rep"][index[1], index[2]] - g[index[0]]
    resid -= eff["ge"][index[0], index[1]]
    assert resid.var() == pytest.approx(var_e, rel=0.02)


def test_genome_spec_fills_the_simulators_defaults_and_keeps_what_is_set():
    spec = GenomeSpec(n_samples=50, n_chrom=2, seed=7)
    got = spec.resolve("sim", n_samples=300, n_snps=None, n_chrom=10, maf_min=0.05)
    assert got == GenomeSpec(n_samples=50, n_chrom=2, maf_min=0.05, seed=7)
    assert got.n_snps is None  # optional: "all markers"


def test_genome_spec_refuses_unset_required_and_untaken_fields():
    with pytest.raises(UserError, match=r"sim needs GenomeSpec field\(s\) \['n_snps'\]"):
        GenomeSpec(n_samples=5).resolve("sim", required=("n_samples", "n_snps"))
    with pytest.raises(UserError, match=r"does not take GenomeSpec field\(s\) \['ne'\]"):
        simulate_population(GenomeSpec(n_samples=20, n_snps=50, ne=1000))
    # the Balding-Nichols stream checks when it is first read
    with pytest.raises(UserError, match=r"needs GenomeSpec field\(s\) \['n_snps'\]"):
        next(iter_balding_nichols(GenomeSpec(n_samples=20)))
