"""Write the ploidy and sex files that make the callers respect sex chromosomes.

Males carry one X and one Y, females two X and no Y. Calling male X as diploid
invents heterozygotes; calling female Y at all invents genotypes from mismapped
reads. bcftools reads a ploidy file plus a sample->sex file; freebayes reads a
per-sample copy-number map.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from breedomics.errors import UserError
from breedomics.sheets import load_samples


def _parse_par(values: list[str]) -> list[tuple[int, int]]:
    out = []
    for v in values:
        try:
            start, end = (int(x) for x in v.split("-"))
        except ValueError as exc:
            raise UserError(f"PAR '{v}' must be START-END (1-based, inclusive).") from exc
        if end < start:
            raise UserError(f"PAR '{v}': end is before start.")
        out.append((start, end))
    return sorted(out)


def _complement(length: int, pars: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """1-based inclusive intervals of a contig outside the pseudo-autosomal regions."""
    out, pos = [], 1
    for s, e in pars:
        if s > pos:
            out.append((pos, s - 1))
        pos = max(pos, e + 1)
    if pos <= length:
        out.append((pos, length))
    return out


def ploidy_table(
    x: str | None, y: str | None, lengths: dict[str, int], pars: list[tuple[int, int]]
) -> list[tuple[str, int, int, str, int]]:
    """(contig, start, end, sex, ploidy) rows in bcftools ``--ploidy-file`` semantics."""
    rows = []
    if x:
        for s, e in _complement(lengths[x], pars):
            rows.append((x, s, e, "M", 1))
    if y:
        rows.append((y, 1, lengths[y], "M", 1))
        rows.append((y, 1, lengths[y], "F", 0))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", required=True, help="sample sheet (TSV with sample, sex)")
    parser.add_argument("--fai", required=True, help="reference .fai (contig lengths)")
    parser.add_argument("--x", default="", help="name of the X chromosome, if any")
    parser.add_argument("--y", default="", help="name of the Y chromosome, if any")
    parser.add_argument("--par", action="append", default=[], help="X PAR START-END (1-based)")
    parser.add_argument("--ploidy-out", required=True, help="bcftools --ploidy-file to write")
    parser.add_argument("--sexes-out", required=True, help="bcftools call -S file to write")
    parser.add_argument("--cnv-out", required=True, help="freebayes --cnv-map file to write")


def run(args: argparse.Namespace) -> int:
    samples = load_samples(args.samples)
    lengths: dict[str, int] = {}
    with open(args.fai) as fh:
        for line in fh:
            name, length = line.split("\t")[:2]
            lengths[name] = int(length)
    for key, name in (("X", args.x), ("Y", args.y)):
        if name and name not in lengths:
            raise UserError(f"{key} chromosome '{name}' is not in the reference ({args.fai}).")
    pars = _parse_par(args.par)
    rows = ploidy_table(args.x or None, args.y or None, lengths, pars)
    if rows:
        unknown = samples.index[samples["sex"] == "NA"].tolist()
        if unknown:
            raise UserError(
                f"Sample sheet '{args.samples}': sample(s) {', '.join(unknown[:10])} have no "
                f"sex (M/F) but the genome has sex chromosomes; fill in the 'sex' column."
            )
    Path(args.ploidy_out).write_text(
        "".join(f"{c}\t{s}\t{e}\t{sx}\t{p}\n" for c, s, e, sx, p in rows) + "*\t*\t*\t*\t2\n"
    )
    # Unknown sex only occurs without sex chromosomes, where it has no effect.
    Path(args.sexes_out).write_text(
        "".join(
            f"{s}\t{'M' if sx == 'M' else 'F'}\n"
            for s, sx in zip(samples.index, samples["sex"], strict=True)
        )
    )
    cnv = []
    for sample, sex in zip(samples.index, samples["sex"], strict=True):
        for c, s, e, sx, p in rows:
            if sx == sex:
                cnv.append(f"{c}\t{s - 1}\t{e}\t{sample}\t{p}\n")
    Path(args.cnv_out).write_text("".join(cnv))
    print(f"wrote {len(rows)} ploidy rule(s) for {len(samples)} samples")
    return 0
