"""Genotype files as labs send them: normalisation at entry and the order check of the CLIs.

The normaliser's decisions are checked against hand-made truth (a small table of
records with known quirks) and against the planted quirks of the messy test set
(``test-data/soybean/messy/quirks.tsv``); its output against the same file cleaned with
bcftools alone; the CLIs' order check by the message they print (at most 5 lines, naming
the file and the variant) and by stopping before any output is written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TEST_DATA, vcf_gt_strings

from breedomics.census._common import Groups
from breedomics.census.ld import ld_partial, pair_r2_blocks
from breedomics.core.genotypes import check_genotype_order, write_bed
from breedomics.errors import UserError
from breedomics.genotypes.normalise import (
    alias_key,
    decide,
    harmonise_chromosomes,
    natural_key,
    normalise_genotypes,
)

MESSY = TEST_DATA / "soybean" / "messy"
PANEL_REF = TEST_DATA / "soybean" / "panel" / "reference.fa.gz"
#: The messy set's chromosome names and the panel reference's (written by hand).
RENAME = {"chr01": "1", "Chr1": "1", "Chr2": "2", "10": "10"}


def need_messy():
    if not (MESSY / "genotypes.vcf.gz").exists() or not PANEL_REF.exists():
        pytest.skip(f"{MESSY} missing: run scripts/make_messy_test_data.py")


# --------------------------------------------------------------------------- names
def test_aliases_and_natural_order():
    assert {alias_key(n) for n in ("chr01", "Chr1", "1", "CHROMOSOME_1", "chr1")} == {"1"}
    assert alias_key("chrM") == alias_key("MT") == "MT"
    names = ["chr10", "chr2", "chrX", "chr1", "scaffold_10", "scaffold_2"]
    assert sorted(names, key=natural_key) == [
        "chr1", "chr2", "chr10", "scaffold_2", "scaffold_10", "chrX",
    ]  # fmt: skip


def test_harmonise_against_reference():
    mapping, why, order = harmonise_chromosomes(
        ["chr01", "Chr2", "10", "0", "chrUn", "scaffold_9"], ["1", "2", "10", "Pt"]
    )
    assert mapping == {"chr01": "1", "Chr2": "2", "10": "10", "0": None, "chrUn": None,
                       "scaffold_9": None}  # fmt: skip
    assert why["0"].startswith("unplaced") and why["chrUn"].startswith("unplaced")
    assert "not a contig of the reference" in why["scaffold_9"]
    assert order == ["1", "2", "10", "Pt"]
    # without a reference: one spelling per chromosome, natural order
    mapping, _, order = harmonise_chromosomes(["chr10", "chr2", "Chr2", "chr1"])
    assert mapping["Chr2"] == "chr2" and order == ["chr1", "chr2", "chr10"]
    with pytest.raises(UserError, match="none of the genotypes' chromosomes"):
        harmonise_chromosomes(["LG01", "LG02"], ["1", "2"])
    # a fallback reference the genotypes are not on is ignored
    mapping, _, order = harmonise_chromosomes(["LG02", "LG01"], ["1", "2"], strict=False)
    assert mapping == {"LG02": "LG02", "LG01": "LG01"} and order == ["LG01", "LG02"]
    # the presets' species prefixes are aliases of the plain numbers (soybean Wm82 'Gm01'
    # is Phytozome's 'Chr01' and Ensembl Plants' '1'; rice 'Os01', pig 'SSC1')
    mapping, _, _ = harmonise_chromosomes(["Chr01", "2", "chr03", "scaffold_21"],
                                          ["Gm01", "Gm02", "Gm03", "scaffold_21"])  # fmt: skip
    assert mapping == {"Chr01": "Gm01", "2": "Gm02", "chr03": "Gm03",
                       "scaffold_21": "scaffold_21"}  # fmt: skip
    assert alias_key("Os12") == "12" and alias_key("SSC1") == "1" and alias_key("sscX") == "X"
    assert alias_key("chrA01") == "A01" and alias_key("osmium") == "OSMIUM"  # not a prefix


def test_genotypes_mostly_off_the_reference_stop(tmp_path):
    """A file on another assembly's names (here linkage groups) with a few markers on a
    scaffold the reference shares: normalisation stops naming both sets of names, where
    it went on with the scaffold's markers alone."""
    fa = tmp_path / "ref.fa"
    fa.write_text("".join(f">{c}\n{'ACGT' * 30}\n" for c in ("Gm01", "Gm02", "scaffold_21")))
    subprocess.run(["samtools", "faidx", str(fa)], check=True)
    chrom = ["LG1"] * 6 + ["LG2"] * 6 + ["scaffold_21"] * 2
    pos = [10 * (i + 1) for i in range(6)] * 2 + [5, 15]
    prefix = _write_plink(tmp_path, "lg", chrom, pos)
    with pytest.raises(UserError) as err:
        normalise_genotypes(prefix, tmp_path / "out.vcf.gz", tmp_path / "t.tsv", fa)
    msg = str(err.value)
    assert "12 of its 14 variants" in msg and "LG1, LG2" in msg and "Gm01, Gm02" in msg
    assert "rename-chrs" in msg and not (tmp_path / "out.vcf.gz").exists()
    # mostly on the reference: the few others are set aside as before
    chrom = ["Gm01"] * 6 + ["Gm02"] * 6 + ["LG9"] * 2
    prefix = _write_plink(tmp_path, "ok", chrom, pos)
    changes = normalise_genotypes(prefix, tmp_path / "ok.vcf.gz", tmp_path / "ok.tsv", fa)
    assert (changes["category"] == "unplaced").sum() == 2


# --------------------------------------------------------------------------- decisions
def _scan_table(rows):
    """rows: (chrom, pos, id, ref, alt, genotypes as 0/1/2/None list)."""
    from breedomics.genotypes.normalise import _hash_columns

    out = []
    for chrom, pos, vid, ref, alt, g in rows:
        d = np.array([np.nan if x is None else x for x in g], dtype=np.float32)[:, None]
        called = ~np.isnan(d)
        af = np.nansum(d) / (2 * called.sum())
        n_alt = 0 if alt == "." else len(alt.split(","))
        h = _hash_columns(d, np.array([alt < ref]))[0]
        out.append((chrom, pos, vid, ref, alt, n_alt, called.mean(), af, h))
    return pd.DataFrame(out, columns=["chrom", "pos", "id", "ref", "alt", "n_alt", "call_rate",
                                      "alt_freq", "gt_hash"])  # fmt: skip


HAND = [
    ("chr02", 500, "a", "A", "G", [0, 1, 2, 2]),  # kept, renamed to 2
    ("chr01", 300, "b", "C", "T", [0, 1, 2, 0]),  # kept
    ("Chr1", 300, "b2", "T", "C", [2, 1, 0, 2]),  # swapped copy of b: removed (identical)
    ("chr01", 100, "c", "A", "G,T", [0, 1, 2, 2]),  # multi-allelic: removed
    ("0", 0, "d", "A", "C", [0, 1, 2, 2]),  # unplaced
    ("chr01", 0, "e", "G", "T", [0, 1, 2, 2]),  # position 0
    ("chr10", 50, "f", "A", "C", [0, None, 2, 2]),  # conflict: lower call rate
    ("chr10", 50, "g", "A", "T", [0, 0, 2, 2]),  # conflict: kept with `best`
    ("chr10", 60, "h", "AT", "T", [0, 0, 2, 2]),  # indel: removed
    ("chr10", 70, ".", "A", "C", [0, 0, 2, 1]),  # missing id
    ("chr10", 80, "a", "A", "C", [0, 2, 2, 1]),  # duplicate id
]


@pytest.mark.parametrize("policy", ["best", "drop"])
def test_decisions_on_hand_made_records(policy):
    plan, changes, order = decide(_scan_table(HAND), ["1", "2", "10"], policy, "keep")
    kept = plan.loc[plan["keep"], "id"].tolist()
    expect = ["a", "b", "g", ".", "a"] if policy == "best" else ["a", "b", ".", "a"]
    assert kept == expect
    assert order == ["1", "2", "10"]
    got = {(r.id, r.action, r.category) for r in changes.itertuples()}
    want = {
        ("b2", "removed", "duplicate_identical"),
        ("c", "removed", "multiallelic"),
        ("d", "set_aside", "unplaced"),
        ("e", "set_aside", "position_0"),
        ("f", "removed", "duplicate_conflict"),
        ("h", "removed", "not_snp"),
        (".", "renamed_id", "missing_id"),
        ("a", "renamed_id", "duplicate_id"),  # the second 'a' only
        ("a", "renamed_chrom", "chrom_alias"),
        ("b", "renamed_chrom", "chrom_alias"),
    } | {(i, "renamed_chrom", "chrom_alias") for i in ("g", ".", "a")}
    if policy == "drop":
        want = (want - {("g", "renamed_chrom", "chrom_alias")}) | {
            ("g", "removed", "duplicate_conflict")
        }
    assert got == want
    ids = plan.loc[plan["keep"], "new_id"].tolist()
    assert "10:70:A:C" in ids and "10:80:A:C" in ids and len(set(ids)) == len(ids)
    assert (changes["reason"].str.len() > 10).all()
    if policy == "best":  # the reason says why g won
        r = changes[(changes["id"] == "f")]["reason"].iloc[0]
        assert "g (chr10:50)" in r and "call rate 1.0000 vs 0.7500" in r


def test_position_ids_name_every_variant():
    plan, changes, _ = decide(_scan_table(HAND), ["1", "2", "10"], "best", "position")
    kept = plan[plan["keep"]]
    assert (kept["new_id"] == kept["new_chrom"] + ":" + kept["pos"].astype(str) + ":"
            + kept["ref"] + ":" + kept["alt"]).all()  # fmt: skip
    renamed = changes[changes["action"] == "renamed_id"]
    assert len(renamed) == plan["keep"].sum()  # every kept id changed here


# --------------------------------------------------------------------------- messy set
def clean_with_tools(messy: str, ref: str, out, tmp, policy: str = "drop") -> None:
    """The messy VCF cleaned with bcftools alone (the truth the normaliser must match).

    Biallelic SNPs off position 0 and chromosome 0, chromosomes renamed by the hand-written
    map, contigs of the reference, sorted; copies at one position with the same alleles and
    genotypes (REF/ALT swapped with genotypes mirrored counts as the same) keep the first,
    other records sharing a position are dropped (``policy`` drop); ids CHROM:POS:REF:ALT.
    """
    assert policy == "drop"

    def bcf(*args):
        subprocess.run(["bcftools", *map(str, args)], check=True, capture_output=True)

    bcf("view", "-m2", "-M2", "-v", "snps", "-e", 'POS=0 || CHROM="0"', messy, "-Ov",
        "-o", tmp / "s1.vcf")  # fmt: skip
    # the file declares no contigs, so `bcftools annotate --rename-chrs` refuses it: rename
    # the CHROM column as text; the reference's contig lines come next
    with open(tmp / "s1.vcf") as src, open(tmp / "s2.vcf", "w") as dst:
        for line in src:
            if not line.startswith("#"):
                chrom, rest = line.split("\t", 1)
                line = f"{RENAME[chrom]}\t{rest}"
            dst.write(line)
    bcf("reheader", "--fai", f"{ref}.fai", "-o", tmp / "s3.vcf", tmp / "s2.vcf")
    q = subprocess.run(
        ["bcftools", "query", "-f", "%CHROM\t%POS\t%ID\t%REF\t%ALT[\t%GT]\n", tmp / "s3.vcf"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    groups: dict[tuple, list] = {}
    for line in q.splitlines():
        f = line.split("\t")
        groups.setdefault((f[0], f[1]), []).append(f)
    mirror = str.maketrans("01", "10")
    drop = []
    for recs in groups.values():
        distinct = []
        for f in recs:
            same = [
                d for d in distinct
                if (d[3:5] == f[3:5] and d[5:] == f[5:])
                or (d[3:5] == f[4:2:-1] and d[5:] == [g.translate(mirror) for g in f[5:]])
            ]  # fmt: skip
            (drop.append(f[2]) if same else distinct.append(f))
        if len(distinct) > 1:
            drop += [d[2] for d in distinct]
    (tmp / "drop.txt").write_text("".join(f"{i}\n" for i in drop) or "none\n")
    bcf("sort", "-Ov", "-o", tmp / "s4.vcf", tmp / "s3.vcf")
    bcf("view", "-e", f"ID=@{tmp / 'drop.txt'}", tmp / "s4.vcf", "-Ov", "-o", tmp / "s5.vcf")
    bcf("annotate", "--set-id", "%CHROM:%POS:%REF:%FIRST_ALT", tmp / "s5.vcf", "-Oz", "-o", out)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True)


def _records(path):
    samples, recs = vcf_gt_strings(path)
    return samples, list(recs.items())


def test_messy_vcf_equals_bcftools_cleaning(tmp_path):
    need_messy()
    clean = tmp_path / "clean.vcf.gz"
    clean_with_tools(str(MESSY / "genotypes.vcf.gz"), str(PANEL_REF), clean, tmp_path)
    out = tmp_path / "norm.vcf.gz"
    table = tmp_path / "changes.tsv"
    normalise_genotypes(MESSY / "genotypes.vcf.gz", out, table, PANEL_REF, "drop", "position")
    assert _records(out) == _records(clean)
    # ids too (vcf_gt_strings keys by position): and the file passes the CLIs' check
    ids = subprocess.run(["bcftools", "query", "-f", "%ID\n", out], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    ids_clean = subprocess.run(["bcftools", "query", "-f", "%ID\n", clean], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
    assert ids == ids_clean
    check_genotype_order(out)


def test_planted_quirks_have_their_rows(tmp_path):
    """Every planted quirk of the messy set is a row with the expected action (VCF and PLINK)."""
    need_messy()
    quirks = pd.read_csv(MESSY / "quirks.tsv", sep="\t", dtype=str)
    expected = {"removed": {"removed"}, "set aside": {"set_aside"},
                "id CHROM:POS:REF:ALT": {"renamed_id"}, "id made unique": {"renamed_id"},
                "kept (best)": set()}  # fmt: skip
    outs = {}
    for name, src in (("vcf", MESSY / "genotypes.vcf.gz"), ("plink", MESSY / "genotypes")):
        out = tmp_path / f"{name}.vcf.gz"
        changes = normalise_genotypes(src, out, tmp_path / f"{name}.tsv", PANEL_REF, "best")
        outs[name] = out
        for q in quirks.itertuples():
            if name == "plink" and q.quirk in ("multi-allelic site", "indel"):
                continue
            rows = changes[(changes["chrom"] == q.chrom) & (changes["pos"].astype(str) == q.pos)
                           & (changes["id"] == q.id)]  # fmt: skip
            acts = set(rows["action"]) - {"renamed_chrom"}
            assert acts == expected[q.expected], (name, q)
        # every other change is a chromosome alias
        planted = set(zip(quirks["chrom"], quirks["pos"], quirks["id"], strict=True))
        keys = zip(changes["chrom"], changes["pos"].astype(str), changes["id"], strict=True)
        other = changes[[k not in planted for k in keys]]
        assert set(other["action"]) == {"renamed_chrom"}
        assert set(other["chrom"]) == {"chr01", "Chr1", "Chr2"}
    # a PLINK set and the VCF it came from normalise to the same records
    assert _records(outs["vcf"]) == _records(outs["plink"])


# --------------------------------------------------------------------------- order check
def _write_plink(tmp_path, name, chrom, pos, ids=None):
    rng = np.random.default_rng(1)
    n, m = 12, len(pos)
    table = pd.DataFrame({"chrom": chrom, "pos": pos, "id": ids or [f"snp{i}" for i in range(m)],
                          "ref": "A", "alt": "G"})  # fmt: skip
    dos = rng.integers(0, 3, size=(n, m)).astype(np.float32)
    return write_bed(tmp_path / name, table, [dos], [f"s{i}" for i in range(n)])


BAD = {
    "duplicate": (["1"] * 4, [100, 200, 200, 300], "snp2", "same position as snp1"),
    "unsorted": (["1"] * 4, [100, 300, 200, 400], "snp2", "not sorted by position"),
    "split": (["1", "2", "1", "2"], [100, 100, 200, 200], "snp2", "starts again"),
    "unplaced": (["1", "1", "0", "0"], [100, 200, 0, 0], "snp2", "position 0"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_order_check_names_file_and_variant(tmp_path, case):
    chrom, pos, variant, what = BAD[case]
    prefix = _write_plink(tmp_path, case, chrom, pos)
    with pytest.raises(UserError) as err:
        check_genotype_order(prefix)
    msg = str(err.value)
    assert len(msg.splitlines()) <= 5
    assert prefix in msg and variant in msg and what in msg and "normalise-genotypes" in msg


def _cli(capsys, *args):
    from breedomics.cli import main

    t0 = time.perf_counter()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err, time.perf_counter() - t0


@pytest.mark.parametrize("case", ["duplicate", "unsorted", "unplaced"])
def test_gwas_and_census_stop_before_computing(tmp_path, case, capsys):
    """The issue's crashes: `gwas run`, the census and `gs cv` stop at once, write nothing."""
    chrom, pos, variant, what = BAD[case]
    prefix = _write_plink(tmp_path, case, chrom, pos)
    pheno = tmp_path / "pheno.tsv"
    pheno.write_text("sample\ty\n" + "".join(f"s{i}\t{i % 5}\n" for i in range(12)))
    groups = tmp_path / "groups.tsv"
    groups.write_text("sample\tgroup\n" + "".join(f"s{i}\tg{i % 2}\n" for i in range(12)))
    runs = [
        ("gwas", "run", "--geno", prefix, "--pheno", pheno, "--model", "glm",
         "--out", tmp_path / "gwas"),
        ("census", "ld-decay", "--geno", prefix, "--groups", groups, "--out", tmp_path / "ld"),
        ("gwas", "kinship", "--geno", prefix, "--pheno", pheno, "--out", tmp_path / "k.npz"),
        ("gs", "cv", "--genotypes", prefix, "--phenotypes", pheno, "--models", "gblup",
         "--out-dir", tmp_path / "gs"),
    ]  # fmt: skip
    for args in runs:
        code, err, took = _cli(capsys, *args)
        assert code == 1, (args, err)
        assert 1 <= len(err.strip().splitlines()) <= 5, err
        assert prefix in err and variant in err and what in err
        assert "normalise-genotypes" in err and took < 10
    assert not any(tmp_path.glob("gwas*/*")) and not list(tmp_path.glob("ld*"))
    assert not (tmp_path / "k.npz").exists() and not (tmp_path / "gs").exists()


# --------------------------------------------------------------------------- LD at distance 0
def test_ld_decay_tolerates_two_snps_at_one_position(tmp_path):
    """Fed directly (no check), duplicate positions no longer crash np.bincount; the pairs at
    distance 0 are left out and every other pair counted, as a brute-force sum says."""
    rng = np.random.default_rng(7)
    n, m = 40, 30
    pos = np.sort(rng.choice(np.arange(1, 60_000, 50), m, replace=False))
    pos[5] = pos[4]  # the case: two SNPs at one position
    pos[12] = pos[11]
    x = rng.integers(0, 3, size=(n, m)).astype(np.float32)
    x[:, 5] = x[:, 4]  # a perfect duplicate (r2 = 1 at distance 0)
    table = pd.DataFrame({"chrom": "1", "pos": pos, "id": [f"v{i}" for i in range(m)],
                          "ref": "A", "alt": "G"})  # fmt: skip
    prefix = write_bed(tmp_path / "dup", table, [x], [f"s{i}" for i in range(n)])
    groups = Groups([f"s{i}" for i in range(n)], np.array(["all"] * n, dtype=object), ["all"])
    part = ld_partial(prefix, groups, max_dist=20_000, bin_size=5000, min_maf=0.0,
                      min_samples=5, chunk_size=7)  # fmt: skip
    r = np.corrcoef(x.astype(np.float64).T)
    i, j = np.triu_indices(m, 1)
    d = pos[j] - pos[i]
    keep = (d > 0) & (d <= 20_000)
    b = (d[keep] - 1) // 5000
    np.testing.assert_array_equal(part["cnts"][0], np.bincount(b, minlength=4))
    np.testing.assert_allclose(part["sums"][0], np.bincount(b, r[i, j][keep] ** 2, minlength=4))
    z = np.ones((3, 3)) / np.sqrt(3)
    for dist, _ in pair_r2_blocks(z, np.ones(3, bool), np.array([10, 10, 20]), 0, 100):
        assert (dist > 0).all()


def test_generator_reproduces_the_committed_set(tmp_path):
    need_messy()
    panel = tmp_path / "soybean" / "panel"
    panel.mkdir(parents=True)
    for f in ("genotypes.vcf.gz", "samples.tsv", "phenotypes.tsv"):
        shutil.copy(TEST_DATA / "soybean" / "panel" / f, panel / f)
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_messy_test_data.py"),
                    "--outdir", str(tmp_path)], check=True, capture_output=True)  # fmt: skip
    for f in ("genotypes.vcf.gz", "genotypes.bed", "genotypes.bim", "genotypes.fam",
              "quirks.tsv"):  # fmt: skip
        got = (tmp_path / "soybean" / "messy" / f).read_bytes()
        assert got == (MESSY / f).read_bytes(), f


@pytest.mark.parametrize(
    "chrom, pos",
    [(["1", "1", "2", "2"], [100, 200, 50, 300]), (["2", "2", "1", "1"], [100, 300, 200, 400]),
     (["1", "1", "1", "1"], [100, 300, 200, 400])],
    ids=["in_order", "chromosomes_swapped", "positions_swapped"],
)  # fmt: skip
def test_output_is_what_bcftools_sort_gives(tmp_path, chrom, pos):
    """Records in order are written straight (no sort pass); others sorted: either way
    the output's records are those `bcftools sort` makes of it, and it is indexed."""
    import pysam
    import pysam.bcftools

    prefix = _write_plink(tmp_path, "p", chrom, pos)
    out = tmp_path / "n.vcf.gz"
    normalise_genotypes(prefix, out, tmp_path / "t.tsv", ids="position")
    resorted = tmp_path / "s.vcf.gz"
    pysam.bcftools.sort("-Oz", "-o", str(resorted), str(out), catch_stdout=False)

    def records(path):
        with pysam.VariantFile(str(path)) as vf:
            return [str(r) for r in vf]

    assert records(out) == records(resorted) and len(records(out)) == 4
    with pysam.VariantFile(str(out)) as vf:
        assert len(list(vf.fetch("1"))) == chrom.count("1")  # the tabix index works
