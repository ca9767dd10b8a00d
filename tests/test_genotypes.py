"""breedomics.core.genotypes against plink2 and msprime truth.

A VCF is written from an msprime simulation (with missing calls, half calls,
haploid calls and a multi-allelic record), converted to a .bed by plink2, and
exported to additive 0/1/2 by ``plink2 --export A``; our readers of both the
VCF and the .bed, and ``write_bed`` round trips, must reproduce those numbers.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import pysam
import pytest

from breedomics.core.genotypes import (
    chromosome_blocks,
    iter_dosage_chunks,
    n_variants,
    read_dosage,
    read_samples,
    read_variant_ids,
    read_variants,
    write_bed,
)
from breedomics.core.workspace import WorkArrays
from breedomics.errors import UserError

pytestmark = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")

N_IND = 61  # not a multiple of 4: exercises .bed byte padding
BASES = np.array(list("ACGT"))


def _simulate(seed: int = 7):
    ts = msprime.sim_ancestry(
        N_IND,
        population_size=5000,
        sequence_length=1_200_000,
        recombination_rate=1e-8,
        random_seed=seed,
    )
    ts = msprime.sim_mutations(ts, rate=2e-8, model=msprime.BinaryMutationModel(), random_seed=seed)
    hap = ts.genotype_matrix().astype(np.int8)  # (sites, 2 * N_IND)
    pos = np.floor(ts.tables.sites.position).astype(np.int64) + 1
    keep = np.r_[True, np.diff(pos) > 0]
    return hap[keep], pos[keep]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("geno")
    rng = np.random.default_rng(11)
    hap, pos = _simulate()
    m = hap.shape[0]
    samples = [f"ind{i:03d}" for i in range(N_IND)]
    a0, a1 = hap[:, 0::2].T.copy(), hap[:, 1::2].T.copy()  # (n, m)
    truth = (a0 + a1).astype(np.float32)
    miss = rng.random(truth.shape) < 0.03
    half = (rng.random(truth.shape) < 0.01) & ~miss
    # haploid calls: the last 5 records are called haploid for all samples
    haploid_rows = set(range(m - 5, m))
    refs = rng.integers(0, 4, m)
    alts = (refs + rng.integers(1, 4, m)) % 4
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=1300000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    expected = truth.copy()
    for j in range(m):
        gts = []
        for i in range(N_IND):
            if j in haploid_rows:
                g = "." if miss[i, j] else str(a0[i, j])
                expected[i, j] = np.nan if miss[i, j] else 2.0 * a0[i, j]
            elif miss[i, j]:
                g = "./."
                expected[i, j] = np.nan
            elif half[i, j]:
                g = f"{a0[i, j]}/."
                expected[i, j] = np.nan
            else:
                g = f"{a0[i, j]}{'|' if j % 2 else '/'}{a1[i, j]}"
            gts.append(g)
        vid = "." if j % 7 == 0 else f"snp{j}"
        lines.append(
            f"1\t{pos[j]}\t{vid}\t{BASES[refs[j]]}\t{BASES[alts[j]]}\t.\tPASS\t.\tGT\t"
            + "\t".join(gts)
        )
    # one multi-allelic record, to be skipped by our reader and by plink2 (max-alleles 2)
    extra_pos = pos[-1] + 10
    lines.append(f"1\t{extra_pos}\tmulti\tA\tC,G\t.\tPASS\t.\tGT\t" + "\t".join(["0/2"] * N_IND))
    vcf_txt = tmp / "sim.vcf"
    vcf_txt.write_text("\n".join(lines) + "\n")
    vcf = str(tmp / "sim.vcf.gz")
    pysam.tabix_compress(str(vcf_txt), vcf, force=True)
    pysam.tabix_index(vcf, preset="vcf", force=True)

    prefix = str(tmp / "plink")
    subprocess.run(
        [
            "plink2",
            "--vcf",
            vcf,
            "--vcf-half-call",
            "missing",
            "--max-alleles",
            "2",
            "--set-missing-var-ids",
            "@:#:$r:$a",
            "--new-id-max-allele-len",
            "50",
            "--make-bed",
            "--out",
            prefix,
        ],
        check=True,
        capture_output=True,
    )
    bim = pd.read_csv(prefix + ".bim", sep="\t", header=None, dtype=str)
    raw = _export_alt(prefix, bim, tmp / "ref")
    return {
        "tmp": tmp,
        "vcf": vcf,
        "prefix": prefix,
        "samples": samples,
        "raw": raw,
        "bim": bim,
        "expected": expected,
        "m": m,
    }


def _export_alt(prefix: str, bim: pd.DataFrame, out: Path) -> np.ndarray:
    """plink2 --export A counting the ALT (bim column 5) allele."""
    allele_file = str(out) + ".alt.txt"
    bim[[1, 4]].to_csv(allele_file, sep="\t", header=False, index=False)
    subprocess.run(
        [
            "plink2",
            "--bfile",
            prefix,
            "--export",
            "A",
            "--export-allele",
            allele_file,
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    raw = pd.read_csv(str(out) + ".raw", sep="\t")
    return raw.iloc[:, 6:].to_numpy(dtype=np.float32)


def test_samples_and_variants(data):
    assert read_samples(data["vcf"]) == data["samples"]
    assert read_samples(data["prefix"]) == data["samples"]
    assert read_samples(data["prefix"] + ".bed") == data["samples"]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        vv = read_variants(data["vcf"])
    assert any("multi-allelic" in str(x.message) for x in w)
    vb = read_variants(data["prefix"])
    assert list(vv.columns) == ["chrom", "pos", "id", "ref", "alt"]
    assert len(vv) == len(vb) == data["m"] == n_variants(data["prefix"])
    pd.testing.assert_frame_equal(vv, vb)  # same IDs, and A1 == VCF ALT
    assert vv["pos"].dtype == np.int64


@pytest.mark.parametrize("source", ["vcf", "prefix"])
def test_dosage_matches_plink2(data, source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chunks = list(iter_dosage_chunks(data[source], chunk_size=333))
    assert all(d.dtype == np.float32 for _, d in chunks)
    assert [d.shape[1] for _, d in chunks][:-1] == [333] * (len(chunks) - 1)
    dos = np.concatenate([d for _, d in chunks], axis=1)
    idx = np.concatenate([df.index.to_numpy() for df, _ in chunks])
    np.testing.assert_array_equal(idx, np.arange(data["m"]))
    np.testing.assert_array_equal(dos, data["raw"])  # NaN positions equal too
    np.testing.assert_array_equal(dos, data["expected"])  # msprime truth + masks
    # reuse: PLINK chunks decoded into one work array, each equal to its fresh chunk
    pick = [data["samples"][i] for i in (5, 0, 3)]
    fresh = [d for _, d in iter_dosage_chunks(data[source], 333, pick)]
    reused = iter_dosage_chunks(data[source], 333, pick, reuse=True)
    arrays = []
    for (_, d), want in zip(reused, fresh, strict=True):
        np.testing.assert_array_equal(d, want)
        arrays.append(d)
    if source == "prefix":
        assert np.shares_memory(arrays[0], arrays[1])


@pytest.mark.parametrize("source", ["vcf", "prefix"])
def test_sample_subset_order(data, source):
    rng = np.random.default_rng(3)
    pick = rng.choice(N_IND, 17, replace=False)
    names = [data["samples"][i] for i in pick]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, dos = read_dosage(data[source], samples=names)
    np.testing.assert_array_equal(dos, data["raw"][pick])


def test_read_variant_ids_reads_only_those_rows(data):
    """Random access by id equals plink2's export of the same variants (scattered rows)."""
    var = read_variants(data["prefix"])
    rng = np.random.default_rng(5)
    cols = rng.choice(len(var), 40, replace=False)
    ids = list(var["id"].iloc[cols]) + ["absent"] + list(var["id"].iloc[cols[:3]])
    pick = rng.choice(N_IND, 13, replace=False)
    names = [data["samples"][i] for i in pick]
    v, dos = read_variant_ids(data["prefix"], ids, samples=names)
    want = np.r_[cols, cols[:3]]
    assert list(v["id"]) == list(var["id"].iloc[want])
    assert list(v.index) == list(want)  # global variant index
    np.testing.assert_array_equal(dos, data["raw"][np.ix_(pick, want)])
    chrom = str(var["chrom"].iloc[cols[0]])
    v2, _ = read_variant_ids(data["prefix"], ids, chromosomes={chrom})
    assert set(v2["chrom"]) == {chrom}
    assert read_variant_ids(data["vcf"], ids) is None  # no random access by id in a VCF


def test_chromosome_access_reads_the_same_chunks(data, tmp_path):
    """Chromosome blocks, and a stream of some chromosomes that reads only their rows,
    equal the whole stream filtered with numpy, chunk by chunk (same boundaries): with a
    chromosome split over two blocks, wanted chromosomes side by side, and two wanted
    ones around a small unwanted one inside one chunk (rows 384-511)."""
    var = read_variants(data["prefix"])
    m = len(var)
    cuts = [0, 434, 444, m // 2, 3 * m // 4, m]
    labels = ["1", "x", "2", "3", "2"]
    var["chrom"] = np.repeat(labels, np.diff(cuts))
    prefix = write_bed(tmp_path / "multi", var, [data["raw"]], data["samples"])
    names, starts, counts = chromosome_blocks(prefix, chunk_rows=97)
    assert names.tolist() == labels
    assert starts.tolist() == cuts[:-1] and counts.tolist() == np.diff(cuts).tolist()
    full = list(iter_dosage_chunks(prefix, chunk_size=128))
    pick = [4, 9, 20]
    names = [data["samples"][i] for i in pick]
    for wanted in ({"2"}, {"1", "2"}, {"x", "2"}, {"3"}, {"absent"}):
        got = list(iter_dosage_chunks(prefix, 128, names, chromosomes=wanted))
        expect = []
        for v, d in full:
            sel = v["chrom"].isin(wanted).to_numpy()
            if sel.any():
                expect.append((v[sel], d[np.ix_(pick, sel)]))
        assert len(got) == len(expect)
        for (v1, d1), (v2, d2) in zip(got, expect, strict=True):
            pd.testing.assert_frame_equal(v1, v2)
            np.testing.assert_array_equal(d1, d2)


def test_write_bed_roundtrip(data):
    tmp = data["tmp"]
    out = str(tmp / "ours")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_bed(out, None, iter_dosage_chunks(data["vcf"], chunk_size=500), data["samples"])
    # byte-identical genotypes to plink2's own conversion
    assert Path(out + ".bed").read_bytes() == Path(data["prefix"] + ".bed").read_bytes()
    bim = pd.read_csv(out + ".bim", sep="\t", header=None, dtype=str)
    np.testing.assert_array_equal(_export_alt(out, bim, tmp / "ours_raw"), data["raw"])
    # explicit variant table + bare arrays, a subset of samples
    vt, dos = read_dosage(data["prefix"])
    sub = [0, 5, 9, 60]
    out2 = str(tmp / "ours2")
    write_bed(out2, vt, [dos[sub, :1000], dos[sub, 1000:]], [data["samples"][i] for i in sub])
    _, back = read_dosage(out2)
    np.testing.assert_array_equal(back, data["raw"][sub])


def test_bad_input(data, tmp_path):
    with pytest.raises(UserError, match="nosuch"):
        next(iter_dosage_chunks(data["prefix"], samples=["ind000", "nosuch"]))
    with pytest.raises(UserError, match="neither"):
        read_samples(tmp_path / "missing_prefix")
    # truncated .bed
    for ext in (".bim", ".fam"):
        shutil.copy(data["prefix"] + ext, tmp_path / f"trunc{ext}")
    (tmp_path / "trunc.bed").write_bytes(Path(data["prefix"] + ".bed").read_bytes()[:-3])
    with pytest.raises(UserError, match="truncated"):
        next(iter_dosage_chunks(tmp_path / "trunc"))
    with pytest.raises(UserError, match=r"\[0, 2\]"):
        write_bed(
            tmp_path / "bad",
            read_variants(data["prefix"]).iloc[:1],
            [np.full((2, 1), 3.0)],
            ["a", "b"],
        )


@pytest.mark.parametrize("compress", ["plain", "bgzip"])
def test_duplicate_vcf_sample_names_are_named(tmp_path, compress):
    """A check variety genotyped twice under one name: htslib refuses the header (cyvcf2:
    "cannot parse VCF header"); the message names the repeated sample and the fix."""
    vcf = tmp_path / "dup.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tWilliams_82\tB\tWilliams_82\n"
        "1\t10\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\t1/1\t0/1\n"
    )
    if compress == "bgzip":
        subprocess.run(["bgzip", str(vcf)], check=True)
        vcf = tmp_path / "dup.vcf.gz"
    with pytest.raises(UserError, match=r"'Williams_82' appear more than once.*reheader"):
        read_samples(vcf)


@pytest.mark.parametrize("n_samples", [1, 7, 1002])
def test_compiled_bed_decoder_reads_every_2_bit_code(n_samples, monkeypatch):
    """The compiled decoder of large blocks against the PLINK 1 bit layout written out by
    hand (sample s in bits 2(s%4)..2(s%4)+1 of byte s//4: 00 -> 2, 01 missing, 10 -> 1,
    11 -> 0), with all samples, a reordered subset, and padding bits set in the last byte."""
    from breedomics.core import genotypes as gt
    from breedomics.core._bedcodec import decode_bed_into

    rng = np.random.default_rng(n_samples)
    n_var, nbytes = 131, (n_samples + 3) // 4
    block = rng.integers(0, 256, size=(n_var, nbytes), dtype=np.uint8)
    codes = (block[:, np.arange(n_samples) // 4] >> (2 * (np.arange(n_samples) % 4))) & 3
    truth = np.array([2.0, np.nan, 1.0, 0.0], dtype=np.float32)[codes.T]
    for idx in (None, rng.permutation(n_samples)[: max(1, n_samples // 2)]):
        want = truth if idx is None else truth[idx]
        pos = np.arange(n_samples) if idx is None else idx
        out = np.empty((len(pos), n_var), dtype=np.float32)
        decode_bed_into(block, pos.astype(np.int64), gt._CODE_TO_DOSAGE, out)
        np.testing.assert_array_equal(out, want)
        # and the public path, which picks the compiled decoder from a block size on
        for threshold in (0, 1 << 40):
            monkeypatch.setattr(gt, "_COMPILED_DECODE_MIN", threshold)
            np.testing.assert_array_equal(gt._decode_bed(block, n_samples, idx), want)
            # into reused work arrays: a second, different block overwrites the first
            work = WorkArrays()
            first = gt._decode_bed(block[::-1], n_samples, idx, work=work)
            again = gt._decode_bed(block, n_samples, idx, work=work)
            assert np.shares_memory(first, again)
            np.testing.assert_array_equal(again, want)
