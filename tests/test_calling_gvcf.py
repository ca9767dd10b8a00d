"""breedomics fill-gvcf-indels (calling.mode incremental): the merged per-sample gVCF
records that bcftools call genotypes, with every sample's likelihoods for every allele.
The end-to-end check (two batches against one joint run) is in test_workflow.py."""

from __future__ import annotations

import io

from breedomics.calling.gvcf import fill_line, fill_stream

FMT = "PL:DP:SP:ADF:ADR:AD"


def _rec(pos, ref, alt, info, *samples):
    return ["c1", str(pos), ".", ref, alt, "0", ".", info, FMT, *samples]


def test_indel_sample_without_values_takes_its_own_record():
    """A sample with no indel candidate of its own (its record at the position is a SNP
    site, not a block, so bcftools merge leaves it missing) gets its reference and <*>
    likelihoods, depth and reference reads; INFO/DP and INFO/AD become the sums, and the
    sample counts as one of the reference in INFO/QS (per-sample qualities sum to 1)."""
    indel = _rec(10, "A", "AT,<*>", "INDEL;DP=12;AD=0,12,0;QS=0.25,0.75,0",
                 "255,36,0,255,36,255:12:0:0,6,0:0,6,0:0,12,0", ".:.:.:.:.:.")  # fmt: skip
    snp = _rec(10, "A", "<*>", "DP=20;AD=20,0",
               "0,36,255:12:0:6,0:6,0:12,0", "0,24,200:8:0:4,0:4,0:8,0")  # fmt: skip
    assert fill_line(indel, [snp]) == 1
    pl, dp, sp, adf, adr, ad = indel[10].split(":")
    # alleles A, AT, <*>: AT and <*> both take the sample's <*> likelihood
    assert pl.split(",") == ["0", "24", "200", "24", "200", "200"]
    assert (dp, sp, ad) == ("8", "0", "8,0,0")
    assert (adf, adr) == ("0,0,0", "0,0,0")
    info = dict(item.partition("=")[::2] for item in indel[7].split(";"))
    assert info["DP"] == "20" and info["AD"] == "8,12,0"
    assert info["QS"] == "1.25,0.75,0"


def test_block_sample_takes_unseen_allele_likelihoods():
    """A sample whose reference block bcftools merge expanded has PL for the reference and
    <*> only: the new allele takes <*>'s values; an allele absent from a carrier's own
    record (here <*>) gets the cap 255."""
    rec = _rec(5, "AA", "<*>,AAGA", "INDEL;DP=7",
               "0,21,197,.,.,.:7:.:.:.:.", "255,.,.,21,.,0:7:0:0,.,2:0,.,5:0,.,7")  # fmt: skip
    assert fill_line(rec, []) == 2
    assert rec[9].split(":")[0].split(",") == ["0", "21", "197", "21", "197", "197"]
    assert rec[9].split(":")[5] == "7,0,0"  # a block's reads are reference reads
    assert rec[10].split(":")[0].split(",") == ["255", "255", "255", "21", "255", "0"]
    assert rec[10].split(":")[5] == "0,0,7"


def test_stream_passes_headers_and_blocks_through():
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
    block = "\t".join(["c1", "1", ".", "A", "<*>", ".", ".", "END=9", "PL:DP", "0,30,255:10"])
    out = io.StringIO()
    n_records, n_filled = fill_stream(iter([header, block + "\n"]), out.write)
    assert out.getvalue() == header + block + "\n"
    assert (n_records, n_filled) == (0, 0)


def test_indel_sample_without_any_values_stays_missing():
    """No values at the indel and none in its own record either (no coverage): left
    missing, for bcftools call to call ./."""
    indel = _rec(10, "A", "AT,<*>", "INDEL;DP=12;AD=0,12,0",
                 "255,36,0,255,36,255:12:0:0,6,0:0,6,0:0,12,0", ".:.:.:.:.:.")  # fmt: skip
    snp = _rec(10, "A", "<*>", "DP=12;AD=12,0", "0,36,255:12:0:6,0:6,0:12,0", ".:.:.:.:.:.")
    assert fill_line(indel, [snp]) == 0
    assert indel[10] == ".:.:.:.:.:."
