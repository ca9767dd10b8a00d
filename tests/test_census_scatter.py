"""Per-chromosome scatter of the census: gathered results equal the unscattered ones.

On the soybean test panel (272 accessions, 12,000 SNPs on 10 chromosomes, four
groups and admixed lines) diversity (genome-wide and windows), LD decay and ROH
are computed once over the whole genome and once per shard (one per chromosome,
and small chromosomes packed together), then gathered; the tables must agree to
floating precision. The shard plan keeps unsafe chromosome names out of paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DATA

from breedomics.census import diversity as dv
from breedomics.census import ld, roh
from breedomics.census._common import load_groups
from breedomics.census.scatter import (
    plan_shards,
    read_partials,
    shard_chroms,
    write_partial,
)
from breedomics.cli import main
from breedomics.core.genotypes import (
    chromosome_blocks,
    iter_dosage_chunks,
    read_samples,
    write_bed,
)
from breedomics.errors import UserError

PANEL = TEST_DATA / "soybean" / "panel"


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    src = PANEL / "genotypes.vcf.gz"
    if not src.exists():
        pytest.skip("test-data/soybean/panel missing: run scripts/make_test_data.py")
    root = tmp_path_factory.mktemp("scatter")
    prefix = write_bed(root / "panel", None, iter_dosage_chunks(src), read_samples(src))
    groups = load_groups(prefix, PANEL / "samples.tsv")
    return root, prefix, groups


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal to floating precision: sums are added in another order when scattered, and
    Tajima's D near 0 is a difference of two sums of thousands of terms (hence atol)."""
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=1e-11,
        atol=1e-11, check_dtype=False,
    )  # fmt: skip


def _plans(prefix, root):
    """One shard per chromosome; and 3-chromosome packs, gathered in reverse order."""
    per_chrom = plan_shards(prefix, min_snps=1000)
    packed = plan_shards(prefix, min_snps=3000)
    out = []
    for name, plan in (("per_chrom", per_chrom), ("packed", packed)):
        path = root / f"{name}.tsv"
        plan.to_csv(path, sep="\t", index=False)
        shards = list(dict.fromkeys(plan["shard"]))
        out.append((path, shards, plan["chrom"].tolist()))
    # reverse gather order: the gather must restore genome order itself
    out[1] = (out[1][0], out[1][1][::-1], out[1][2])
    return out


def test_plan_of_the_panel(panel):
    root, prefix, _ = panel
    per_chrom = plan_shards(prefix, min_snps=1000)
    assert per_chrom["shard"].tolist() == [str(c) for c in range(1, 11)]
    assert per_chrom["n_snps"].sum() == 12000
    packed = plan_shards(prefix, min_snps=3000)
    assert packed["shard"].tolist() == ["_small_001"] * 3 + ["_small_002"] * 3 + [
        "_small_003"
    ] * 3 + ["_small_004"]
    assert packed.groupby("shard")["n_snps"].sum().iloc[:3].min() >= 3000
    # the .bim is read in chunks: blocks spanning chunk boundaries are merged; the VCF
    # (parsed whole) gives the same blocks
    for src, rows in ((prefix, 7), (PANEL / "genotypes.vcf.gz", 7)):
        names, starts, counts = chromosome_blocks(src, chunk_rows=rows)
        assert names.tolist() == per_chrom["chrom"].tolist()
        assert counts.tolist() == per_chrom["n_snps"].tolist()
        assert starts.tolist() == np.r_[0, np.cumsum(counts)[:-1]].tolist()


def test_shard_stream_vcf_equals_plink(panel):
    """A shard read from the VCF (filtered stream) matches the PLINK rows read directly."""
    _, prefix, groups = panel
    vcf = PANEL / "genotypes.vcf.gz"
    chunks = [
        list(iter_dosage_chunks(src, 500, groups.samples[:5], ["3", "7"])) for src in (vcf, prefix)
    ]
    got = [pd.concat([v for v, _ in c]) for c in chunks]
    pd.testing.assert_frame_equal(got[0][["chrom", "pos"]], got[1][["chrom", "pos"]])
    a, b = (np.concatenate([d for _, d in c], axis=1) for c in chunks)
    np.testing.assert_array_equal(a, b)
    assert set(got[1]["chrom"]) == {"3", "7"} and got[1].index[0] > 0


def test_diversity_gathered_equals_unscattered(panel):
    root, prefix, groups = panel
    genome, windows = dv.diversity(prefix, groups, inbred=True, window=100_000)
    for plan, shards, order in _plans(prefix, root):
        parts = []
        for sh in shards:
            part = dv.diversity_partial(
                prefix, groups, inbred=True, window=100_000, chroms=shard_chroms(plan, sh),
                chunk_size=700,
            )  # fmt: skip
            path = write_partial(part, root / plan.stem / sh / "diversity.json", "diversity")
            parts.append(path)
        comb = dv.combine_diversity(read_partials(parts, "diversity"), order)
        g2, w2 = dv.diversity_tables(comb, groups)
        _frames_equal(genome, g2)
        _frames_equal(windows, w2)
    # the genome-wide pi is the per-site sum over the total length, not a mean of
    # per-chromosome values: check against the windows' own sums
    spans = windows.groupby("chrom", sort=False)["stop"].max()
    assert genome["sequence_length"].iloc[0] < spans.sum() + 1
    per_chrom_pi = windows.assign(w=windows["pi"] * (windows["stop"] - windows["start"] + 1))
    total = per_chrom_pi.groupby("group", sort=False)["w"].sum()
    np.testing.assert_allclose(
        genome.set_index("group")["pi"] * genome["sequence_length"].iloc[0], total, rtol=1e-9
    )


def test_ld_gathered_equals_unscattered(panel):
    root, prefix, groups = panel
    bins, summary = ld.ld_decay(prefix, groups, max_dist=200_000, bin_size=10_000)
    for plan, shards, _ in _plans(prefix, root):
        parts = [
            write_partial(
                ld.ld_partial(prefix, groups, 200_000, 10_000, chroms=shard_chroms(plan, sh)),
                root / plan.stem / sh / "ld_decay.json",
                "ld-decay",
            )
            for sh in shards
        ]
        b2, s2 = ld.ld_tables(ld.combine_ld(read_partials(parts, "ld-decay")), groups)
        _frames_equal(bins, b2)
        _frames_equal(summary, s2)
    assert (summary["n_pairs"] > 0).all()


def test_roh_gathered_equals_unscattered(panel):
    root, prefix, groups = panel
    per, seg = roh.runs_of_homozygosity(prefix, groups.samples, min_length=300_000)
    assert len(seg) > 100
    for plan, shards, _ in _plans(prefix, root):
        parts = [
            write_partial(
                roh.roh_partial(prefix, groups.samples, 300_000, chroms=shard_chroms(plan, sh)),
                root / plan.stem / sh / "roh.json",
                "roh",
            )
            for sh in shards
        ]
        p2, s2 = roh.roh_tables(roh.combine_roh(read_partials(parts, "roh")), groups.samples)
        _frames_equal(per, p2)
        _frames_equal(seg, s2)
    # F_ROH is over the whole genome length, not a mean of per-chromosome F_ROH
    assert (per["genome_bp"] == per["genome_bp"].iloc[0]).all()
    np.testing.assert_allclose(per["f_roh"], per["roh_bp"] / per["genome_bp"])


def test_cli_scatter_gather_writes_the_same_tables(panel):
    root, prefix, _ = panel
    out = root / "cli"
    sheet = str(PANEL / "samples.tsv")

    def census(*args):  # in this process: a Python start-up per job would dominate
        assert main(["census", *map(str, args)]) == 0

    plan = out / "shards.tsv"
    census("shards", "--geno", prefix, "--out", plan, "--min-snps", 1000)
    shards = pd.read_csv(plan, sep="\t", dtype=str)["shard"].unique()
    common = ["--geno", prefix, "--groups", sheet, "--inbred", "--window", 50_000, "--no-plot"]
    census("diversity", *common, "--out", out / "full")
    parts = []
    for sh in shards:
        census("diversity", *common, "--out", out / sh, "--shards", plan, "--shard", sh)
        parts.append(out / f"{sh}.json")
    census("diversity", *common, "--out", out / "gathered", "--shards", plan, "--gather", *parts)
    for suffix in (".tsv", ".windows.tsv"):
        a = pd.read_csv(f"{out / 'full'}{suffix}", sep="\t")
        b = pd.read_csv(f"{out / 'gathered'}{suffix}", sep="\t")
        _frames_equal(a, b)


def test_plan_packs_unsafe_and_rejects_bad_names(tmp_path):
    rng = np.random.default_rng(1)

    def fileset(chroms, name):
        v = pd.DataFrame(
            {"chrom": chroms, "pos": np.arange(1, len(chroms) + 1) * 100,
             "id": [f"s{i}" for i in range(len(chroms))], "ref": "A", "alt": "G"}
        )  # fmt: skip
        d = rng.integers(0, 3, (4, len(chroms))).astype(np.float32)
        return write_bed(tmp_path / name, v, [d], ["a", "b", "c", "d"])

    chroms = ["chr1"] * 5 + ["gi|7|scaf"] * 2 + ["scafA"] * 2 + ["_x"] * 1 + ["chr2"] * 5
    plan = plan_shards(fileset(chroms, "ok"), min_snps=4)
    assert plan["shard"].tolist() == ["chr1", "_small_001", "_small_001", "_small_002", "chr2"]
    with pytest.raises(UserError, match="characters outside"):
        plan_shards(fileset(["chr1", "bad;rm"], "bad"), min_snps=1)
    with pytest.raises(UserError, match="two separate blocks"):
        plan_shards(fileset(["chr1", "chr2", "chr1"], "split"), min_snps=1)


def test_partials_round_trip_exactly(tmp_path):
    obj = {
        "x": np.array([0.1, np.nan, 1e-300, -np.inf]),
        "n": np.array([1, 2], dtype=np.int64),
        "t": pd.DataFrame({"chrom": ["1", "2"], "v": [1 / 3, 2 / 3]}),
        "k": 3,
    }
    back = read_partials([write_partial(obj, tmp_path / "p.json", "demo")], "demo")[0]
    np.testing.assert_array_equal(back["x"], obj["x"])
    assert back["n"].dtype == np.int64 and back["k"] == 3
    pd.testing.assert_frame_equal(back["t"], obj["t"], check_exact=True)
    with pytest.raises(UserError, match="not 'roh'"):
        read_partials([tmp_path / "p.json"], "roh")
