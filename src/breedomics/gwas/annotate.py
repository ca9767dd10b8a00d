"""What a breeder acts on after a GWAS: favourable alleles, candidate genes, consequences.

For every lead variant of :mod:`~breedomics.gwas.clump`:

* the **favourable allele** -- the allele that moves the trait in the direction
  of selection (``increase``: the effect allele when ``beta > 0``, else the other
  allele; ``decrease``: the reverse) -- and its frequency in all genotyped
  accessions and in every group of the sample sheet, i.e. where to find donors
  and which groups still have room for gain;
* the **candidate genes**: genes of the GFF3 overlapping the lead's QTL interval
  (its clump span, widened to at least ``lead +- window``), with the distance
  from the lead to the gene (0 inside it);
* the **consequences** (``bcftools csq``, Danecek & McCarthy 2017,
  *Bioinformatics* 33:2037) of the lead and its clump members that fall in each
  candidate gene.
"""

from __future__ import annotations

import gzip
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.errors import UserError

__all__ = [
    "DIRECTIONS",
    "parse_directions",
    "lead_dosages",
    "annotate_scan",
    "read_groups",
    "read_checked_genes",
    "GENE_COLUMNS",
    "CANDIDATE_GENE_COLUMNS",
    "read_gff3_genes",
    "check_annotation",
    "gff3_seqids",
    "genotype_contigs",
    "favourable_alleles",
    "allele_frequencies",
    "candidate_genes",
    "read_consequences",
    "annotate_leads",
]

GENE_COLUMNS = ["chrom", "start", "end", "strand", "gene_id", "gene_name", "biotype"]
#: Per candidate gene, the columns :func:`annotate_leads` adds to its lead's (the page of
#: the run shows them as they are).
CANDIDATE_GENE_COLUMNS = (
    "gene_id",
    "gene_name",
    "biotype",
    "gene_start",
    "gene_end",
    "strand",
    "distance",
    "consequences",
)
#: Directions of selection of a trait.
DIRECTIONS = ("increase", "decrease")
#: GFF3 feature types taken as genes (Ensembl and NCBI spellings).
GENE_TYPES = {"gene", "ncRNA_gene", "pseudogene", "transposable_element_gene"}


def _open_text(path: str | Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path)


def read_gff3_genes(path: str | Path) -> pd.DataFrame:
    """Gene records of a GFF3 file (plain or gzipped).

    Parameters
    ----------
    path : str or Path
        GFF3 file; gene ids lose an Ensembl ``gene:`` prefix, the name falls
        back to the id and the biotype to ``biotype``/``gene_biotype``/``.``.

    Returns
    -------
    pandas.DataFrame
        :data:`GENE_COLUMNS`, 1-based inclusive ``start``/``end``, in file order.
    """
    rows = []
    with _open_text(path) as fh:
        for n, line in enumerate(fh, start=1):
            if line.startswith("##FASTA"):
                break
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n\r").split("\t")
            if len(f) != 9:
                raise UserError(f"GFF3 '{path}', line {n}: {len(f)} columns, expected 9.")
            if f[2] not in GENE_TYPES:
                continue
            attrs = {}
            for kv in f[8].split(";"):
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    attrs[k.strip()] = urllib.parse.unquote(v.strip())
            gid = attrs.get("ID", "")
            gid = gid[len("gene:") :] if gid.startswith("gene:") else gid
            if not gid:
                raise UserError(f"GFF3 '{path}', line {n}: gene without an ID attribute.")
            try:
                start, end = int(f[3]), int(f[4])
            except ValueError:
                raise UserError(f"GFF3 '{path}', line {n}: start/end are not integers.") from None
            biotype = (
                attrs.get("biotype")
                or attrs.get("gene_biotype")
                or (f[2] if f[2] != "gene" else ".")
            )
            rows.append((f[0], start, end, f[6], gid, attrs.get("Name", gid), biotype))
    genes = pd.DataFrame(rows, columns=GENE_COLUMNS)
    return genes.astype({"chrom": str, "start": np.int64, "end": np.int64})


def gff3_seqids(path: str | Path) -> list[str]:
    """Distinct sequence ids (column 1) of a GFF3 file, in order of appearance.

    Raises
    ------
    UserError
        If the file does not exist.
    """
    if not Path(path).exists():
        raise UserError(f"GFF3 '{path}' does not exist; fix genotypes.gff3/reference.gff3.")
    seen: dict[str, None] = {}
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith("##FASTA"):
                break
            if line.startswith("#") or not line.strip():
                continue
            seen.setdefault(line.split("\t", 1)[0], None)
    return list(seen)


def genotype_contigs(source: str, path: str) -> list[str]:
    """Contigs of a genotype input: VCF/BCF header (``source == 'vcf'``) or PLINK .bim.

    ``calls`` (the workflow's own calls, on the top-level reference) gives ``[]``.
    """
    if source == "plink":
        bim = pd.read_csv(path + ".bim", sep=r"\s+", header=None, usecols=[0], dtype=str)
        return list(dict.fromkeys(bim[0]))
    if source == "vcf":
        import pysam

        with pysam.VariantFile(path) as vf:
            return list(vf.header.contigs)
    return []


def check_annotation(
    gff3: str | Path,
    gff_contigs: Iterable[str],
    reference: str | Path,
    ref_contigs: Iterable[str],
    geno: str,
    geno_contigs: Iterable[str],
) -> None:
    """Stop with a clear message when the annotation, reference and genotypes disagree.

    Every GFF3 sequence must be a reference contig, and every genotyped
    chromosome must be one too (``bcftools csq`` looks its bases up); a
    mismatch usually means another assembly or naming (``chr1`` vs ``1``).

    Raises
    ------
    UserError
        Naming the first offending contig and examples of the other file's names.
    """
    ref = list(dict.fromkeys(ref_contigs))
    have = set(ref)
    for name in dict.fromkeys(gff_contigs):
        if name not in have:
            raise UserError(
                f"GFF3 '{gff3}': sequence '{name}' is not a contig of the genotypes' reference "
                f"'{reference}' (it has {', '.join(ref[:6])}{'...' if len(ref) > 6 else ''}). "
                f"The annotation belongs to another assembly or naming; set genotypes.gff3 "
                f"and genotypes.reference to files on the genotypes' coordinates."
            )
    from breedomics.genotypes.normalise import UNPLACED, alias_key, harmonise_chromosomes

    # aliases (chr01 -> 1) and unplaced names (0, Un) are resolved at entry by
    # `normalise-genotypes`; any other name is another assembly or naming
    names = list(dict.fromkeys(geno_contigs))
    try:
        mapped = harmonise_chromosomes(names, ref)[0]
    except UserError:  # none matches: reported below, name by name
        mapped = {}
    for name in names:
        if mapped.get(name) is not None or alias_key(name) in UNPLACED:
            continue
        if name not in have:
            raise UserError(
                f"Genotypes '{geno}': chromosome '{name}' is not a contig of the reference "
                f"'{reference}' (it has {', '.join(ref[:6])}{'...' if len(ref) > 6 else ''}); "
                f"set genotypes.reference to the assembly the genotypes were called on."
            )


def favourable_alleles(
    effect: Sequence[str], other: Sequence[str], beta: np.ndarray, direction: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The allele that moves each trait in its direction of selection.

    Parameters
    ----------
    effect, other : sequence of str
        Effect (counted) and other allele of each variant.
    beta : numpy.ndarray
        Effect of one more copy of the effect allele.
    direction : sequence of str
        ``increase`` or ``decrease`` per variant.

    Returns
    -------
    allele : numpy.ndarray of str
        Favourable allele (empty string when ``beta`` is 0 or NaN).
    is_effect : numpy.ndarray of bool
        True where the favourable allele is the effect allele.
    """
    beta = np.asarray(beta, dtype=float)
    sign = np.where(np.asarray(direction) == "decrease", -1.0, 1.0)
    signed = beta * sign
    is_effect = signed > 0
    allele = np.where(is_effect, np.asarray(effect, dtype=object), np.asarray(other, dtype=object))
    allele = np.where(np.isfinite(signed) & (signed != 0), allele, "")
    return allele.astype(str), is_effect


def allele_frequencies(
    dosage: np.ndarray, samples: Sequence[str], groups: Mapping[str, str]
) -> pd.DataFrame:
    """Frequency of the counted (ALT) allele overall and per group, missing calls skipped.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n_samples, n_variants)`` ALT dosages 0/1/2, NaN for missing.
    samples : sequence of str
        Sample ids of the rows.
    groups : mapping
        Sample -> group; samples without a group count only in ``all``.

    Returns
    -------
    pandas.DataFrame
        One row per variant, columns ``all`` then each group in sorted order.
    """
    d = np.asarray(dosage, dtype=float)
    grp = np.array([groups.get(s, "") for s in samples], dtype=object)
    names = sorted({g for g in grp if g})
    out = {}
    for name, mask in [("all", np.ones(len(grp), dtype=bool))] + [(g, grp == g) for g in names]:
        sub = d[mask]
        called = np.isfinite(sub)
        n = called.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(n > 0, np.nansum(sub, axis=0) / (2.0 * n), np.nan)
    return pd.DataFrame(out)


def _search_interval(leads: pd.DataFrame, window: int) -> tuple[np.ndarray, np.ndarray]:
    pos = leads["base_pair_location"].to_numpy(np.int64)
    lo = np.minimum(leads["interval_start"].to_numpy(np.int64), pos - window)
    hi = np.maximum(leads["interval_end"].to_numpy(np.int64), pos + window)
    return np.maximum(lo, 1), hi


def candidate_genes(leads: pd.DataFrame, genes: pd.DataFrame, window: int) -> pd.DataFrame:
    """Genes overlapping each lead's QTL interval (clump span widened to ``lead +- window``).

    Parameters
    ----------
    leads : pandas.DataFrame
        ``chromosome, base_pair_location, interval_start, interval_end`` per lead.
    genes : pandas.DataFrame
        :func:`read_gff3_genes` output.
    window : int
        Minimum half-width (bp) of the searched interval around the lead.

    Returns
    -------
    pandas.DataFrame
        ``lead`` (row position in ``leads``), ``search_start``, ``search_end``,
        the gene columns and ``distance`` (bp from the lead to the gene, 0 inside
        it), sorted by lead then distance.
    """
    lo, hi = _search_interval(leads, window)
    pos = leads["base_pair_location"].to_numpy(np.int64)
    chrom = leads["chromosome"].astype(str).to_numpy()
    by_chrom = {c: g for c, g in genes.groupby("chrom", sort=False)}
    parts = []
    for i in range(len(leads)):
        g = by_chrom.get(chrom[i])
        if g is None:
            continue
        hit = g[(g["start"].to_numpy() <= hi[i]) & (g["end"].to_numpy() >= lo[i])]
        if hit.empty:
            continue
        hit = hit.copy()
        dist = np.maximum.reduce(
            [hit["start"].to_numpy() - pos[i], pos[i] - hit["end"].to_numpy(), np.zeros(len(hit))]
        )
        hit.insert(0, "lead", i)
        hit.insert(1, "search_start", lo[i])
        hit.insert(2, "search_end", hi[i])
        hit["distance"] = dist.astype(np.int64)
        parts.append(hit)
    cols = ["lead", "search_start", "search_end", *GENE_COLUMNS, "distance"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)[cols]
    return out.sort_values(["lead", "distance", "start"], kind="stable").reset_index(drop=True)


def read_consequences(path: str | Path) -> pd.DataFrame:
    """Parse ``bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\t%BCSQ\\n'`` output.

    Returns
    -------
    pandas.DataFrame
        One row per (variant, consequence): ``variant_id`` (``CHROM:POS:REF:ALT``),
        ``consequence``, ``gene``, ``transcript``, ``biotype``, ``strand``,
        ``amino_acid_change``, ``dna_change``; variants without a consequence
        (``.``) are left out.
    """
    cols = ["chrom", "pos", "ref", "alt", "bcsq"]
    tab = pd.read_csv(path, sep="\t", header=None, names=cols, dtype=str, comment=None)
    tab = tab[tab["bcsq"].notna() & (tab["bcsq"] != ".")]
    fields = [
        "consequence",
        "gene",
        "transcript",
        "biotype",
        "strand",
        "amino_acid_change",
        "dna_change",
    ]
    rows = []
    for r in tab.itertuples(index=False):
        vid = f"{r.chrom}:{r.pos}:{r.ref}:{r.alt}"
        for entry in r.bcsq.split(","):
            if entry.startswith("@"):  # haplotype back-reference (not with --local-csq)
                continue
            f = entry.split("|")
            rows.append([vid, *(f + [""] * (len(fields) - len(f)))[: len(fields)]])
    return pd.DataFrame(rows, columns=["variant_id", *fields])


def _members(lead: pd.Series) -> list[str]:
    ids = [str(lead["lead_variant"])]
    extra = lead.get("clumped_variants")
    if isinstance(extra, str) and extra:
        ids += [v for v in extra.split(",") if v and v != ids[0]]
    return ids


def annotate_leads(
    leads: pd.DataFrame,
    trait: str,
    model: str,
    direction: str,
    freqs: pd.DataFrame,
    genes: pd.DataFrame | None,
    consequences: pd.DataFrame | None,
    window: int,
) -> pd.DataFrame:
    """One row per lead and candidate gene (one row with empty gene columns if none).

    Parameters
    ----------
    leads : pandas.DataFrame
        ``<trait>.<model>.leads.tsv`` rows.
    trait, model, direction : str
        Trait, GWAS model and direction of selection (``increase``/``decrease``).
    freqs : pandas.DataFrame
        :func:`allele_frequencies` of the leads' effect alleles, same row order.
    genes : pandas.DataFrame or None
        :func:`read_gff3_genes` output (None: no annotation).
    consequences : pandas.DataFrame or None
        :func:`read_consequences` output (None: not predicted).
    window : int
        See :func:`candidate_genes`.

    Returns
    -------
    pandas.DataFrame
        Lead columns, favourable allele and its frequency overall
        (``favourable_allele_frequency``) and per group
        (``favourable_allele_frequency.<group>``), the searched interval, gene
        columns, ``distance`` and ``consequences`` (``variant_id:consequence:
        amino_acid_change`` of lead and clump members in that gene, ``;``-joined).
    """
    leads = leads.reset_index(drop=True)
    fav, is_eff = favourable_alleles(
        leads["effect_allele"].astype(str),
        leads["other_allele"].astype(str),
        leads["beta"].to_numpy(float),
        [direction] * len(leads),
    )
    base = pd.DataFrame(
        {
            "trait": trait,
            "model": model,
            "qtl": leads["qtl"],
            "lead_variant": leads["lead_variant"],
            "chromosome": leads["chromosome"].astype(str),
            "base_pair_location": leads["base_pair_location"],
            "effect_allele": leads["effect_allele"],
            "other_allele": leads["other_allele"],
            "beta": leads["beta"],
            "p_value": leads["p_value"],
            "direction": direction,
            "favourable_allele": fav,
        }
    )
    f = freqs.reset_index(drop=True).to_numpy(float)
    fav_f = np.where(is_eff[:, None], f, 1.0 - f)
    fav_f[fav == ""] = np.nan
    for k, name in enumerate(freqs.columns):
        col = "favourable_allele_frequency" + ("" if name == "all" else f".{name}")
        base[col] = np.round(fav_f[:, k], 6)
    lo, hi = _search_interval(leads, window)
    base["search_start"], base["search_end"] = lo, hi
    if genes is None or genes.empty or leads.empty:
        cand = pd.DataFrame(columns=["lead", *CANDIDATE_GENE_COLUMNS])
    else:
        cand = candidate_genes(leads, genes, window).rename(
            columns={"start": "gene_start", "end": "gene_end"}
        )
        csq_by_lead = []
        for i, gid, gname in zip(cand["lead"], cand["gene_id"], cand["gene_name"], strict=True):
            if consequences is None or consequences.empty:
                csq_by_lead.append("")
                continue
            ids = set(_members(leads.iloc[int(i)]))
            hit = consequences[
                consequences["variant_id"].isin(ids) & consequences["gene"].isin({gid, gname})
            ]
            csq_by_lead.append(
                ";".join(
                    f"{v}:{c}" + (f":{a}" if a else "")
                    for v, c, a in zip(
                        hit["variant_id"], hit["consequence"], hit["amino_acid_change"], strict=True
                    )
                )
            )
        cand["consequences"] = csq_by_lead
        cand = cand[["lead", *CANDIDATE_GENE_COLUMNS]]
    out = base.join(cand.set_index(cand["lead"].astype(np.int64)).drop(columns="lead"), how="left")
    for c in ("gene_start", "gene_end", "distance"):
        out[c] = out[c].astype("Int64")
    return out.reset_index(drop=True)


def parse_directions(items: list[str], traits: list[str]) -> dict[str, str]:
    """``trait=direction`` pairs -> dict over ``traits`` (default ``increase``)."""
    out = dict.fromkeys(traits, "increase")
    for item in items:
        trait, sep, d = item.partition("=")
        if not sep or d not in DIRECTIONS:
            raise UserError(f"--direction {item!r}: expected TRAIT=increase or TRAIT=decrease")
        if trait not in out:
            raise UserError(
                f"direction given for trait {trait!r}, which is not analysed "
                f"(traits: {', '.join(traits)}); fix the name in 'directions' of the config."
            )
        out[trait] = d
    return out


def lead_dosages(geno: str, ids: list[str]) -> tuple[list[str], np.ndarray]:
    """ALT dosages ``(n_samples, n_ids)`` of the given variant ids (first occurrence of
    each id, in order), all samples of ``geno``.

    Raises
    ------
    UserError
        If a variant is not in the genotypes.
    """
    from breedomics.core import genotypes as gt

    samples = gt.read_samples(geno)
    want = {v: k for k, v in enumerate(dict.fromkeys(ids))}
    out = np.full((len(samples), len(want)), np.nan, dtype=np.float32)
    found = np.zeros(len(want), dtype=bool)
    if want:
        for var, dos in gt.iter_dosage_chunks(geno, chunk_size=20000):
            hit = var["id"].isin(want).to_numpy()
            if hit.any():
                cols = [want[v] for v in var["id"].to_numpy()[hit]]
                out[:, cols] = dos[:, hit]
                found[cols] = True
    if not found.all():
        miss = [v for v, k in want.items() if not found[k]]
        raise UserError(f"lead variant(s) {', '.join(miss[:5])} are not in genotypes '{geno}'.")
    return samples, out


def annotate_scan(
    folder: str,
    model: str,
    traits: list[str],
    geno: str,
    groups: Mapping[str, str],
    directions: Mapping[str, str],
    genes: pd.DataFrame | None = None,
    consequences: pd.DataFrame | None = None,
    window: int = 20000,
) -> dict[str, str]:
    """Annotate the leads of every trait of a scan folder (``breedomics gwas annotate``).

    Reads ``<folder>/<trait>.<model>.leads.tsv``, computes the leads' favourable-allele
    frequencies in all samples and per group (dosages count the ALT allele, the last field
    of ``CHROM:POS:REF:ALT`` ids; frequencies of leads whose effect allele is REF are
    mirrored), and writes ``<trait>.<model>.candidates.tsv`` (:func:`annotate_leads`).

    Parameters
    ----------
    folder : str
        The scan's output folder.
    model : str
    traits : list of str
    geno : str
        Genotypes of the scan (PLINK prefix or VCF/BCF).
    groups : mapping
        Sample -> group (the sample sheet).
    directions : mapping
        Trait -> ``increase`` / ``decrease``.
    genes, consequences : pandas.DataFrame, optional
        :func:`read_gff3_genes` and :func:`read_consequences` outputs.
    window : int
        Minimum half-width (bp) of the searched interval.

    Returns
    -------
    dict
        Trait -> path of the candidates table written.
    """
    from breedomics.gwas.naming import trait_stem

    if window < 0:
        raise UserError(f"--window must be >= 0, got {window}")
    leads = {}
    for t in traits:
        path = trait_stem(folder, t, model) + ".leads.tsv"
        if not os.path.exists(path):
            raise UserError(f"lead table '{path}' does not exist: run the GWAS of {t!r} first.")
        leads[t] = pd.read_csv(path, sep="\t", dtype={"chromosome": str})
    ids = [v for tab in leads.values() for v in tab["lead_variant"].astype(str)]
    samples, dos = lead_dosages(geno, ids)
    col = {v: k for k, v in enumerate(dict.fromkeys(ids))}
    written = {}
    for t, tab in leads.items():
        sel = [col[v] for v in tab["lead_variant"].astype(str)]
        freqs = allele_frequencies(dos[:, sel], samples, groups)
        alt = tab["lead_variant"].astype(str).str.rsplit(":", n=1).str[-1].to_numpy()
        flip = tab["effect_allele"].astype(str).to_numpy() != alt
        freqs.loc[flip, :] = 1.0 - freqs.loc[flip, :].to_numpy()
        out = annotate_leads(tab, t, model, directions[t], freqs, genes, consequences, window)
        dest = trait_stem(folder, t, model) + ".candidates.tsv"
        out.to_csv(dest + ".tmp", sep="\t", index=False, na_rep="NA", float_format="%.6g")
        os.replace(dest + ".tmp", dest)
        written[t] = dest
    return written


def read_groups(path: str) -> dict[str, str]:
    """Sample -> group of a sample sheet (which must have a ``group`` column)."""
    from breedomics.core import tables

    sheet = tables.read_table(path, "Sample sheet")
    if "group" not in sheet.columns:
        raise UserError(f"Sample sheet '{path}' has no 'group' column.")
    return dict(zip(sheet["sample"], sheet["group"], strict=True))


def read_checked_genes(gff3: str, reference: str | None, geno: str) -> pd.DataFrame:
    """:func:`read_gff3_genes`, checked against the reference and the genotypes' chromosomes
    (:func:`check_annotation`) when the reference is given."""
    genes = read_gff3_genes(gff3)
    if reference:
        from breedomics.core import genotypes as gt
        from breedomics.sheets import fasta_contigs

        geno_chroms = gt.read_variants(geno)["chrom"].astype(str)
        check_annotation(
            gff3, genes["chrom"], reference, fasta_contigs(reference), geno, geno_chroms
        )
    return genes
