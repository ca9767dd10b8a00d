"""Impute missing genotypes with Beagle 5, robust to the small contigs of draft genomes.

Beagle refuses a contig that holds a single marker ("Window has only one
position"), which every crop assembly with unplaced scaffolds has. Contigs with
fewer than ``--min-markers`` markers are therefore passed through unimputed (their
missing genotypes are replaced by the marker mean in the Python stages), the rest
is imputed in one Beagle run, and both are put back together in reference order.
Beagle: Browning, Zhou & Browning (2018), Am J Hum Genet 103:338.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from breedomics.errors import UserError


def _run(cmd: list[str], log: list[str], env: dict | None = None) -> None:
    log.append("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log.append(proc.stdout[-4000:] + proc.stderr[-4000:])
    if proc.returncode != 0:
        print("\n".join(log))
        raise UserError(
            f"{cmd[0]} failed (exit {proc.returncode}){_cause(proc.stdout + proc.stderr)};"
            " the whole output is in the log above."
        )


def _cause(text: str) -> str:
    """The line of a tool's output that says why it failed (a Java exception's message,
    an error line), with the fix of the known ones; or ""."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found = next(
        (ln for ln in lines if ln.startswith("Exception") or "Exception:" in ln),
        next((ln for ln in lines if ln.lower().startswith(("error", "[e::"))), ""),
    )
    if not found:
        return ""
    hint = ""
    if "inconsistent number of alleles" in found:
        hint = (
            ". A sample has haploid and diploid calls on one contig: write every call of a"
            " sample with one ploidy (inbred lines: '1' as '1/1', '0' as '0/0')"
        )
    return f": {found[:500]}{hint}"


def marker_counts(vcf: str) -> list[tuple[str, int]]:
    """(contig, number of records) in header order, from the index."""
    out = subprocess.run(["bcftools", "index", "-s", vcf], capture_output=True, text=True)
    if out.returncode != 0:
        raise UserError(
            f"{vcf}: cannot read its index ({out.stderr.strip()}); index it with 'tabix -p vcf'."
        )
    rows = []
    for line in out.stdout.splitlines():
        contig, _length, n = line.split("\t")[:3]
        rows.append((contig, int(n)))
    return rows


def impute(
    vcf: str,
    out_vcf: str,
    threads: int,
    mem_mb: int,
    seed: int,
    min_markers: int = 3,
    separate: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    burnin: int = 3,
    iterations: int = 12,
    ne: int | None = None,
) -> dict[str, int]:
    """Impute ``vcf`` into ``out_vcf`` (bgzipped, indexed); return contig counts by fate.

    Beagle requires each sample to have one ploidy throughout a run, so contigs in
    ``separate`` (the X chromosome: haploid in males, diploid in females) get a run
    of their own, and contigs in ``skip`` (Y: haploid in males, absent in females)
    are passed through unimputed. ``burnin`` and ``iterations`` are Beagle's sampling
    iterations (its defaults: 3 and 12). ``ne`` fixes the effective population size
    (Beagle's ``ne=``, with ``em=false``); by default Beagle estimates it (and the allele
    mismatch rate) in each window, which is most of its time at few iterations.
    """
    if shutil.which("beagle") is None:
        raise UserError(
            "beagle is not on PATH: install the Debian package 'beagle' or use "
            "--use-conda (envs/beagle.yaml), or set genotypes.impute: mean."
        )
    counts = marker_counts(vcf)
    small = [c for c, n in counts if 0 < n < min_markers or (n > 0 and c in skip)]
    runs = [[c for c, n in counts if n >= min_markers and c not in separate + skip]]
    runs += [[c] for c, n in counts if n >= min_markers and c in separate and c not in skip]
    runs = [r for r in runs if r]
    big = [c for r in runs for c in r]
    log: list[str] = []
    env = dict(os.environ, _JAVA_OPTIONS=f"-Xmx{max(512, int(mem_mb * 0.85))}m")
    with tempfile.TemporaryDirectory(dir=Path(out_vcf).parent) as tmp:
        parts = []
        for i, contigs in enumerate(runs):
            sub = f"{tmp}/run{i}.vcf.gz"
            _run(["bcftools", "view", "-t", ",".join(contigs), "-Oz", "-o", sub, vcf], log)
            beagle = ["beagle", f"gt={sub}", f"out={tmp}/imputed{i}", f"nthreads={threads}"]
            sampling = [f"seed={seed}", f"burnin={burnin}", f"iterations={iterations}"]
            if ne is not None:
                sampling += [f"ne={ne}", "em=false"]
            _run([*beagle, *sampling], log, env=env)
            parts.append(f"{tmp}/imputed{i}.vcf.gz")
        if small:
            sub = f"{tmp}/small.vcf.gz"
            _run(["bcftools", "view", "-t", ",".join(small), "-Oz", "-o", sub, vcf], log)
            parts.append(sub)
        if not parts:
            raise UserError(f"{vcf}: no markers to impute.")
        for p in parts:
            _run(["bcftools", "index", "-f", p], log)
        merged = f"{tmp}/merged.bcf"
        _run(["bcftools", "concat", "-a", "-Ob", "-o", merged, *parts], log)
        _run(["bcftools", "sort", "-T", tmp, "-Oz", "-o", f"{tmp}/final.vcf.gz", merged], log)
        _run(["tabix", "-f", "-p", "vcf", f"{tmp}/final.vcf.gz"], log)
        os.replace(f"{tmp}/final.vcf.gz.tbi", out_vcf + ".tbi")
        os.replace(f"{tmp}/final.vcf.gz", out_vcf)
    print("\n".join(log))
    print(
        f"imputed {len(big)} contig(s) with Beagle; passed {len(small)} contig(s) with "
        f"< {min_markers} markers through unimputed: {','.join(small[:20])}"
    )
    return {"imputed": len(big), "unimputed": len(small)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vcf", help="bgzipped, indexed VCF of biallelic SNPs")
    parser.add_argument("--out", required=True, help="imputed VCF (.vcf.gz) to write")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mem-mb", type=int, default=4000, help="Java heap budget")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--min-markers", type=int, default=3, help="contigs with fewer markers pass unimputed"
    )
    parser.add_argument(
        "--separate", action="append", default=[], help="contig imputed alone (X chromosome)"
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="contig not imputed (Y chromosome)"
    )
    parser.add_argument("--burnin", type=int, default=3, help="Beagle burn-in iterations")
    parser.add_argument("--iterations", type=int, default=12, help="Beagle phasing iterations")
    parser.add_argument(
        "--ne",
        type=int,
        default=None,
        help="fixed effective population size (Beagle ne=, em=false); default: estimated",
    )


def run(args: argparse.Namespace) -> int:
    if not str(args.out).endswith(".vcf.gz"):
        raise UserError(f"--out {args.out}: must end in .vcf.gz")
    separate = tuple(c for c in args.separate if c)
    skip = tuple(c for c in args.skip if c)
    if args.burnin < 1 or args.iterations < 1:
        raise UserError("--burnin and --iterations must be at least 1")
    if args.ne is not None and args.ne < 1:
        raise UserError(f"--ne {args.ne}: the effective population size must be at least 1")
    impute(
        args.vcf, args.out, args.threads, args.mem_mb, args.seed, args.min_markers, separate,
        skip, burnin=args.burnin, iterations=args.iterations, ne=args.ne,
    )  # fmt: skip
    return 0
