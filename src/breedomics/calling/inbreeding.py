"""Per-sample inbreeding from genotype likelihoods, and the inbred lines of a panel.

A germplasm collection can mix inbred lines (cultivars, landraces of a selfing crop,
inbred strains) with outbred or segregating accessions. ``bcftools call`` gives every
sample the same diploid Hardy-Weinberg prior, so a line's homozygous ALT genotype with
a couple of erroneous REF reads (or a paralog's reads) comes out heterozygous. The
inbreeding coefficient F of each sample, estimated jointly with the allele frequencies
from the genotype likelihoods (ngsF; Vieira et al. 2013, *Genome Res* 23:1852), tells
the lines apart: a line has F near 1 over the whole genome, an outbred animal near 0
(or the Wahlund excess of a structured panel, well below 1).

A sample is called a line when its F is at least ``min_f`` *and* it was observed at
enough polymorphic sites to tell: the number of heterozygous genotypes expected of it
under Hardy-Weinberg (the sum of 2pq over the sites where it has reads) is at least
``min_expected_het``. With 100 expected and F >= 0.95, at most ~5 heterozygotes were
seen where an outbred sample would show ~100; a handful of sites in a short genome, or
one run of homozygosity, cannot pass an outbred sample for a line.

``breedomics estimate-inbreeding`` writes the table (one row per sample) and the list
of lines, which the workflow uses to genotype the lines' heterozygous calls as
homozygous (``calling.inbred_het``) and to model them as one haplotype in the
refinement (:mod:`breedomics.calling.refine`).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.calling.likelihoods import biallelic, likelihood_tag, likelihoods
from breedomics.errors import UserError

__all__ = [
    "allele_frequencies",
    "inbred_lines",
    "inbreeding_coefficients",
    "inbreeding_table",
    "line_het_steps",
    "read_diploid_likelihoods",
]

#: Defaults of the line call (``calling.lines``).
MIN_F = 0.95
MIN_EXPECTED_HET = 100.0
#: At most this many records are read (thinned evenly over the file).
MAX_F_SITES = 20000


def allele_frequencies(gl: np.ndarray, ploidy: np.ndarray, n_iter: int = 20) -> np.ndarray:
    """ALT allele frequency per site by EM on genotype likelihoods.

    Parameters
    ----------
    gl : ndarray, shape (M, N, 3)
        Genotype likelihoods (any scale per genotype); for a haploid sample the first
        two entries are the likelihoods of allele 0 and 1.
    ploidy : ndarray, shape (N,)
        0, 1 or 2 haplotypes per sample.
    n_iter : int
        EM iterations from 0.5 (the Hardy-Weinberg genotype prior of Li 2011,
        *Bioinformatics* 27:2987, the frequency estimate of ``bcftools call -m``).

    Returns
    -------
    ndarray, shape (M,)
        Frequencies clipped to [1e-4, 1 - 1e-4].
    """
    dip = gl[:, ploidy == 2, :]
    hap = gl[:, ploidy == 1, :2]
    n_alleles = 2 * dip.shape[1] + hap.shape[1]
    p = np.full(gl.shape[0], 0.5)
    if n_alleles == 0:
        return p
    for _ in range(n_iter):
        q = 1.0 - p
        w = dip * np.stack([q * q, 2 * p * q, p * p], axis=1)[:, None, :]
        w /= w.sum(axis=2, keepdims=True)
        wh = hap * np.stack([q, p], axis=1)[:, None, :]
        wh /= wh.sum(axis=2, keepdims=True)
        alt = (w[:, :, 1] + 2 * w[:, :, 2]).sum(axis=1) + wh[:, :, 1].sum(axis=1)
        p = np.clip(alt / n_alleles, 1e-4, 1 - 1e-4)
    return p


def inbreeding_coefficients(gl: np.ndarray, p: np.ndarray, n_iter: int = 50) -> np.ndarray:
    """Per-sample inbreeding coefficient F from genotype likelihoods by EM.

    The genotype prior of a sample is ``(1 - F) HWE(p) + F (1 - p, 0, p)`` (ngsF,
    Vieira et al. 2013, *Genome Res* 23:1852); F is updated as the mean posterior
    probability that a genotype is identical by descent, from F = 0.5.

    Parameters
    ----------
    gl : ndarray, shape (M, N, 3)
        Diploid genotype likelihoods.
    p : ndarray, shape (M,)
        ALT allele frequencies.
    n_iter : int
        EM iterations.

    Returns
    -------
    ndarray, shape (N,)
    """
    if gl.shape[0] == 0:
        return np.zeros(gl.shape[1])
    hwe, ibd = _model_likelihoods(gl, p)
    f = np.full(gl.shape[1], 0.5)
    for _ in range(n_iter):
        a = f * ibd
        f = (a / np.maximum(a + (1 - f) * hwe, 1e-300)).mean(axis=0)
    return f


def _model_likelihoods(gl: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood of each (site, sample) under Hardy-Weinberg at ``p`` and under identity
    by descent (``(1 - p, 0, p)``): the two parts of the ngsF genotype prior."""
    q = 1.0 - p
    hwe = (gl * np.stack([q * q, 2 * p * q, p * p], axis=1)[:, None, :]).sum(axis=2)
    ibd = (gl * np.stack([q, np.zeros_like(p), p], axis=1)[:, None, :]).sum(axis=2)
    return hwe, ibd


def read_diploid_likelihoods(
    vcf_in: Path, only_pass: bool = False, max_sites: int = MAX_F_SITES
) -> tuple[np.ndarray, list[str]]:
    """Likelihoods (M x N x 3, each row scaled to max 1) of biallelic records where every
    sample's call is diploid, thinned evenly to at most ``max_sites``; and the samples.

    Raises :class:`UserError` when the file cannot be read or has no likelihoods.
    """
    from cyvcf2 import VCF

    vcf_in = Path(vcf_in)
    if not vcf_in.exists():
        raise UserError(f"{vcf_in}: no such file (the calls to estimate inbreeding from).")
    try:
        vcf = VCF(str(vcf_in))
    except Exception as exc:  # noqa: BLE001 - cyvcf2 raises plain exceptions
        raise UserError(f"{vcf_in}: cannot read as VCF/BCF ({exc}).") from exc
    tag = likelihood_tag(vcf.raw_header)
    if tag is None:
        vcf.close()
        raise UserError(
            f"{vcf_in}: no FORMAT/PL or FORMAT/GL (genotype likelihoods): use the calls "
            f"of bcftools call or freebayes, before any step that drops them."
        )
    samples = list(vcf.samples)
    n = len(samples)
    kept: list[np.ndarray] = []
    stride = 1
    for k, v in enumerate(vcf):
        if k % stride or not biallelic(v, only_pass):
            continue
        gl, plo = likelihoods([v], n, tag)
        if (plo == 2).all():
            kept.append(gl[0].astype(np.float32))
        if len(kept) >= 2 * max_sites:
            kept, stride = kept[::2], stride * 2
    vcf.close()
    if not kept:
        return np.zeros((0, n, 3)), samples
    gl = np.stack(kept[:: max(1, len(kept) // max_sites)]).astype(np.float64)
    gl /= gl.max(axis=2, keepdims=True)
    return gl, samples


def inbreeding_table(
    gl: np.ndarray, samples: list[str], min_f: float = MIN_F,
    min_expected_het: float = MIN_EXPECTED_HET,
) -> pd.DataFrame:  # fmt: skip
    """Inbreeding coefficient of each sample and whether it is an inbred line.

    Parameters
    ----------
    gl : ndarray, shape (M, N, 3)
        Diploid genotype likelihoods (:func:`read_diploid_likelihoods`).
    samples : list of str
        Sample ids, in the order of ``gl``'s second axis.
    min_f, min_expected_het : float
        A line has ``f >= min_f`` and ``expected_het >= min_expected_het``.

    Returns
    -------
    DataFrame
        ``sample``, ``sites`` (sites where the sample has reads), ``expected_het`` (sum
        of 2pq over them), ``observed_het`` (posterior heterozygous genotypes under the
        sample's F), ``f`` and ``line`` (bool).
    """
    n = len(samples)
    if gl.shape[0] == 0:
        zero = np.zeros(n)
        f = zero
        sites = expected = observed = zero
    else:
        p = allele_frequencies(gl, np.full(n, 2))
        f = inbreeding_coefficients(gl, p)
        q = 1.0 - p
        informative = gl.min(axis=2) < 1.0 - 1e-9  # flat likelihoods: no reads
        sites = informative.sum(axis=0)
        expected = (informative * (2 * p * q)[:, None]).sum(axis=0)
        # posterior probability of a heterozygote under the sample's F prior
        hwe, ibd = _model_likelihoods(gl, p)
        het = (1 - f) * gl[:, :, 1] * (2 * p * q)[:, None]
        observed = (het / ((1 - f) * hwe + f * ibd) * informative).sum(axis=0)
    return pd.DataFrame({
        "sample": samples, "sites": np.asarray(sites, dtype=np.int64),
        "expected_het": np.round(expected, 2), "observed_het": np.round(observed, 2),
        "f": np.round(f, 4), "line": inbred_lines(f, expected, min_f, min_expected_het),
    })  # fmt: skip


def inbred_lines(
    f: np.ndarray, expected_het: np.ndarray, min_f: float = MIN_F,
    min_expected_het: float = MIN_EXPECTED_HET,
) -> np.ndarray:  # fmt: skip
    """Boolean mask of the samples taken for inbred lines (see the module documentation)."""
    return (np.asarray(f) >= min_f) & (np.asarray(expected_het) >= min_expected_het)


def line_het_steps(how: str, lines_file: str | None, tag: str = "PL") -> str:
    """bcftools steps (a pipe from ``|``) that resolve the heterozygous calls of lines.

    Parameters
    ----------
    how : {"homozygous", "missing", "keep"}
        ``homozygous``: the likelier homozygote by the call's likelihoods (1/1 where
        PL(1/1) < PL(0/0), else 0/0); ``missing``: ``./.``; ``keep``: no step ("").
    lines_file : str or None
        File of the lines' sample ids (``estimate-inbreeding --lines-out``); ``None``:
        every sample is a line (``genome.mating: inbred``). An empty file: the calls pass
        through unchanged.
    tag : {"PL", "GL"}
        The calls' likelihoods: ``PL`` (bcftools, phred: lower is likelier) or ``GL``
        (freebayes, log10: higher is likelier).
    """
    if how == "keep":
        return ""
    if how not in ("homozygous", "missing"):
        raise ValueError(f"line_het_steps: unknown treatment {how!r}")
    het = 'GT="het"' if lines_file is None else f'GT[@{lines_file}]="het"'
    if how == "missing":
        steps = f"bcftools +setGT -Ou - -- -t q -n . -i {shlex.quote(het)}"
    else:
        if tag not in ("PL", "GL"):
            raise ValueError(f"line_het_steps: likelihood tag must be PL or GL, not {tag!r}")
        cmp = "<" if tag == "PL" else ">"
        to_alt = f"{het} & FMT/{tag}[:2] {cmp} FMT/{tag}[:0]"
        steps = (
            f"bcftools +setGT -Ou - -- -t q -n c:1/1 -i {shlex.quote(to_alt)}"
            f" | bcftools +setGT -Ou - -- -t q -n c:0/0 -i {shlex.quote(het)}"
        )
    if lines_file is None:
        return f"| {steps}"
    return f"| if [ -s {shlex.quote(lines_file)} ]; then {steps}; else cat; fi"


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``estimate-inbreeding`` options."""
    parser.add_argument("vcf", type=Path, help="calls with FORMAT/PL (bcftools call) or GL")
    parser.add_argument("--out", type=Path, required=True, help="per-sample table (TSV)")
    parser.add_argument(
        "--lines-out", type=Path, help="the samples taken for inbred lines, one per line"
    )
    parser.add_argument(
        "--min-f", type=float, default=MIN_F,
        help=f"a line's least inbreeding coefficient (default {MIN_F}; above 1: no lines)",
    )  # fmt: skip
    parser.add_argument(
        "--min-expected-het", type=float, default=MIN_EXPECTED_HET,
        help="a line's least number of heterozygous sites expected under Hardy-Weinberg "
        f"(default {MIN_EXPECTED_HET:g})",
    )  # fmt: skip
    parser.add_argument("--only-pass", action="store_true", help="PASS records only")


def run(args: argparse.Namespace) -> int:
    """Write the inbreeding table (and the lines) of ``args.vcf``."""
    if args.min_f < 0 or args.min_expected_het < 0:
        raise UserError("estimate-inbreeding: --min-f and --min-expected-het must be >= 0.")
    gl, samples = read_diploid_likelihoods(args.vcf, args.only_pass)
    tab = inbreeding_table(gl, samples, args.min_f, args.min_expected_het)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tab.to_csv(tmp, sep="\t", index=False)
    tmp.replace(args.out)
    lines = tab.loc[tab["line"], "sample"].tolist()
    if args.lines_out is not None:
        args.lines_out.parent.mkdir(parents=True, exist_ok=True)
        args.lines_out.write_text("".join(f"{s}\n" for s in lines))
    print(
        f"estimate-inbreeding: {len(samples)} samples, {gl.shape[0]} sites; "
        f"{len(lines)} inbred lines (F >= {args.min_f:g}, >= {args.min_expected_het:g} "
        f"expected heterozygous sites): {', '.join(lines) or 'none'}"
    )
    return 0
