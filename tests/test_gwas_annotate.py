"""GWAS lead annotation: favourable alleles, group frequencies, candidate genes, consequences.

Checked against independent truth: a direct count of genotype strings in the panel VCF,
a brute-force interval overlap, the simulated QTL effects of ``qtl.tsv`` and the missense
variants planted in the panel's gene models (``qtl_genes.tsv``) as ``bcftools csq`` sees them.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DATA, vcf_gt_strings

from breedomics.core import genotypes as gt
from breedomics.errors import UserError
from breedomics.gwas.annotate import (
    allele_frequencies,
    annotate_leads,
    candidate_genes,
    check_annotation,
    favourable_alleles,
    genotype_contigs,
    gff3_seqids,
    parse_directions,
    read_consequences,
    read_gff3_genes,
)
from breedomics.sheets import fasta_contigs

PANEL = TEST_DATA / "soybean" / "panel"


def test_favourable_allele_follows_direction():
    fav, is_eff = favourable_alleles(
        ["A", "A", "C", "C", "G"],
        ["T", "T", "G", "G", "T"],
        np.array([0.5, -0.5, 0.5, -0.5, 0.0]),
        ["increase", "increase", "decrease", "decrease", "increase"],
    )
    assert fav.tolist() == ["A", "T", "G", "C", ""]
    assert is_eff.tolist() == [True, False, False, True, False]


def test_favourable_allele_sign_matches_simulated_qtl():
    """Marginal effects of the larger simulated QTL give the allele the simulation favours."""
    qtl = pd.read_csv(PANEL / "qtl.tsv", sep="\t", dtype={"chrom": str})
    pheno = pd.read_csv(PANEL / "phenotypes.tsv", sep="\t", index_col=0)
    var, dos = gt.read_dosage(PANEL / "genotypes.vcf.gz", samples=list(pheno.index))
    col = {v: k for k, v in enumerate(var["id"])}
    big = qtl[qtl["effect"].abs() > 1.0]
    assert len(big) >= 10
    checked = 0
    for q in big.itertuples(index=False):
        x = dos[:, col[q.id]].astype(float)
        y = pheno[q.trait].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        beta = np.polyfit(x[ok], y[ok], 1)[0]
        alt = var["alt"].iloc[col[q.id]]
        ref = var["ref"].iloc[col[q.id]]
        if abs(beta) < 0.5:  # masked by linked QTL: no marginal signal to judge
            continue
        fav, _ = favourable_alleles([alt], [ref], np.array([beta]), [q.direction])
        truth = q.effect_allele if (q.effect > 0) == (q.direction == "increase") else ref
        assert fav[0] == truth, q.id
        checked += 1
    assert checked >= 8


def test_group_frequencies_equal_direct_count():
    sheet = pd.read_csv(PANEL / "samples.tsv", sep="\t")
    groups = dict(zip(sheet["sample"], sheet["group"], strict=True))
    var, dos = gt.read_dosage(PANEL / "genotypes.vcf.gz")
    pick = np.linspace(0, len(var) - 1, 25).astype(int)
    ids = set(var["id"].iloc[pick])
    samples, records = vcf_gt_strings(PANEL / "genotypes.vcf.gz", ids)
    freqs = allele_frequencies(dos[:, pick], samples, groups)
    assert list(freqs.columns) == ["all", *sorted(set(sheet["group"]))]
    for k, vid in enumerate(var["id"].iloc[pick]):
        for grp in freqs.columns:
            alt = called = 0
            for s, g in zip(samples, records[vid][2], strict=True):
                if grp != "all" and groups[s] != grp:
                    continue
                alleles = g.replace("|", "/").split("/")
                if "." in alleles:
                    continue
                alt += sum(a != "0" for a in alleles)
                called += len(alleles)
            assert freqs[grp].iloc[k] == pytest.approx(alt / called), (vid, grp)


def test_read_gff3_genes_panel():
    genes = read_gff3_genes(PANEL / "annotation.gff3")
    lines = [
        ln.split("\t")
        for ln in (PANEL / "annotation.gff3").read_text().splitlines()
        if not ln.startswith("#") and ln.split("\t")[2] == "gene"
    ]
    assert len(genes) == len(lines) > 100
    assert genes["gene_id"].iloc[0] == lines[0][8].split(";")[0].removeprefix("ID=gene:")
    assert (genes["end"] >= genes["start"]).all()
    assert set(genes["biotype"]) == {"protein_coding"}


def test_candidate_genes_equal_brute_force_overlap():
    genes = read_gff3_genes(PANEL / "annotation.gff3")
    rng = np.random.default_rng(3)
    n = 40
    chrom = rng.choice(sorted(set(genes["chrom"])), n)
    pos = rng.integers(1, 1_990_000, n)
    span = rng.integers(0, 60_000, (n, 2))
    leads = pd.DataFrame(
        {
            "chromosome": chrom,
            "base_pair_location": pos,
            "interval_start": pos - span[:, 0],
            "interval_end": pos + span[:, 1],
        }
    )
    window = 15_000
    got = candidate_genes(leads, genes, window)
    want = set()
    for i in range(n):
        lo = max(1, min(pos[i] - span[i, 0], pos[i] - window))
        hi = max(pos[i] + span[i, 1], pos[i] + window)
        for g in genes.itertuples():
            if g.chrom == chrom[i] and g.start <= hi and g.end >= lo:
                d = (
                    0
                    if g.start <= pos[i] <= g.end
                    else min(abs(g.start - pos[i]), abs(g.end - pos[i]))
                )
                want.add((i, g.gene_id, d))
    assert len(want) > 20
    assert set(zip(got["lead"], got["gene_id"], got["distance"], strict=True)) == want


def _csq_table(tmp_path):
    """bcftools csq of the panel (ids CHROM:POS:REF:ALT, as the workflow's genotypes)."""
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools not installed")
    out = tmp_path / "csq.tsv"
    cmd = (
        f"bcftools csq --samples - --local-csq -f {PANEL / 'reference.fa.gz'} "
        f"-g {PANEL / 'annotation.gff3'} -Ou {PANEL / 'genotypes.vcf.gz'} "
        f"| bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\t%BCSQ\\n' > {out}"
    )
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, capture_output=True)
    return read_consequences(out)


def test_planted_missense_variants_found_by_csq(tmp_path):
    csq = _csq_table(tmp_path)
    truth = pd.read_csv(PANEL / "qtl_genes.tsv", sep="\t", dtype={"chrom": str})
    var = gt.read_variants(PANEL / "genotypes.vcf.gz").set_index("id")
    planted = truth[truth["planted"] == "missense"]
    assert len(planted) >= 20
    for row in planted.itertuples(index=False):
        v = var.loc[row.id]
        vid = f"{v.chrom}:{v.pos}:{v.ref}:{v.alt}"
        hit = csq[(csq["variant_id"] == vid) & (csq["gene"] == row.gene_id)]
        assert hit["consequence"].tolist() == ["missense"], vid
        aa = hit["amino_acid_change"].iloc[0]
        assert ">" in aa and aa.split(">")[0][-1] != aa.split(">")[1][-1]
    # every QTL placed in a gene gets a consequence in that gene
    for row in truth.itertuples(index=False):
        v = var.loc[row.id]
        vid = f"{v.chrom}:{v.pos}:{v.ref}:{v.alt}"
        assert row.gene_id in set(csq.loc[csq["variant_id"] == vid, "gene"]), vid


def test_annotate_leads_joins_genes_and_consequences(tmp_path):
    csq = _csq_table(tmp_path)
    genes = read_gff3_genes(PANEL / "annotation.gff3")
    truth = pd.read_csv(PANEL / "qtl_genes.tsv", sep="\t", dtype={"chrom": str})
    var = gt.read_variants(PANEL / "genotypes.vcf.gz").set_index("id")
    row = truth[truth["planted"] == "missense"].iloc[0]
    v = var.loc[row.id]
    vid = f"{v.chrom}:{v.pos}:{v.ref}:{v.alt}"
    leads = pd.DataFrame(
        {
            "qtl": ["QTL1", "QTL2"],
            "lead_variant": [vid, "1:5:A:C"],
            "chromosome": [v.chrom, "1"],
            "base_pair_location": [v.pos, 5],
            "effect_allele": [v.alt, "C"],
            "other_allele": [v.ref, "A"],
            "beta": [-2.0, 1.0],
            "p_value": [1e-9, 1e-8],
            "interval_start": [v.pos, 5],
            "interval_end": [v.pos, 5],
            "clumped_variants": ["", ""],
        }
    )
    freqs = pd.DataFrame({"all": [0.25, 0.5], "G1": [0.0, 1.0]})
    out = annotate_leads(leads, "height", "mlm", "decrease", freqs, genes, csq, window=0)
    first = out[out["qtl"] == "QTL1"]
    assert first["gene_id"].tolist() == [row.gene_id]
    assert first["distance"].tolist() == [0]
    assert first["consequences"].iloc[0].startswith(f"{vid}:missense:")
    # decrease + negative beta: the effect (ALT) allele is favourable, at the ALT frequency
    assert first["favourable_allele"].iloc[0] == v.alt
    assert first["favourable_allele_frequency"].iloc[0] == 0.25
    assert first["favourable_allele_frequency.G1"].iloc[0] == 0.0
    second = out[out["qtl"] == "QTL2"]
    assert len(second) == 1 and pd.isna(second["gene_id"].iloc[0])
    assert second["favourable_allele"].iloc[0] == "A"
    assert second["favourable_allele_frequency"].iloc[0] == 0.5


def test_annotation_on_other_assembly_is_refused():
    soy = TEST_DATA / "soybean"
    vcf = str(PANEL / "genotypes.vcf.gz")
    with pytest.raises(UserError, match="sequence 'Gm01' is not a contig"):
        check_annotation(
            soy / "annotation.gff3",
            gff3_seqids(soy / "annotation.gff3"),
            PANEL / "reference.fa.gz",
            fasta_contigs(PANEL / "reference.fa.gz"),
            vcf,
            genotype_contigs("vcf", vcf),
        )
    # the panel's chromosomes 1-3 are aliases of the soybean test reference's Gm01-Gm03
    # (soybean's prefix); its chromosome 4 is not a contig there
    with pytest.raises(UserError, match="chromosome '4' is not a contig"):
        check_annotation(
            soy / "annotation.gff3",
            gff3_seqids(soy / "annotation.gff3"),
            soy / "reference.fa.gz",
            fasta_contigs(soy / "reference.fa.gz"),
            vcf,
            genotype_contigs("vcf", vcf),
        )
    check_annotation(  # the panel's own files agree
        PANEL / "annotation.gff3",
        gff3_seqids(PANEL / "annotation.gff3"),
        PANEL / "reference.fa.gz",
        fasta_contigs(PANEL / "reference.fa.gz"),
        vcf,
        genotype_contigs("vcf", vcf),
    )


def test_directions_parsed_and_unknown_trait_refused():
    assert parse_directions(["height=decrease"], ["yield", "height"]) == {
        "yield": "increase",
        "height": "decrease",
    }
    with pytest.raises(UserError, match="trait 'weight'"):
        parse_directions(["weight=decrease"], ["yield", "height"])
    with pytest.raises(UserError, match="TRAIT=increase"):
        parse_directions(["height=down"], ["yield", "height"])


def test_trait_without_leads_gives_header_only(tmp_path):
    from breedomics.gwas.clump import LEAD_COLUMNS

    leads = pd.DataFrame(columns=["trait", *LEAD_COLUMNS])
    genes = read_gff3_genes(PANEL / "annotation.gff3")
    freqs = allele_frequencies(np.zeros((3, 0)), ["a", "b", "c"], {"a": "G1", "b": "G2"})
    out = annotate_leads(leads, "yield", "glm", "increase", freqs, genes, None, 1000)
    assert len(out) == 0
    assert {
        "favourable_allele",
        "favourable_allele_frequency.G1",
        "gene_id",
        "consequences",
    } <= set(out.columns)
