"""Workflow overhead against the same tools run as one plain shell script.

Runs the reads-to-VCF workflow on one species' test data (``snakemake --cores N``) and
then the same tool invocations (fastp, bwa mem, samtools, bcftools mpileup/call,
norm, filter) written out as a single bash script, on the same inputs, in the same
process tree and on the same machine; prints both wall times, the overhead ratio
(goal: under 15%) and throughput in read pairs per core-second.

Usage: python bench/varcall.py [--species soybean] [--cores 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def count_pairs(fq: str) -> int:
    with gzip.open(fq, "rb") as fh:
        return sum(1 for _ in fh) // 4


def plain_script(cfg: dict, units: pd.DataFrame, cores: int, out: Path) -> str:
    """The workflow's tool calls, one after another, as a bash script."""
    q = shlex.quote
    ref = out / "genome.fa"
    lines = [
        "set -euo pipefail",
        f"mkdir -p {q(str(out))}",
        f"gzip -dc {q(cfg['reference']['fasta'])} > {ref}",
        f"samtools faidx {ref} && samtools dict -o {out}/genome.dict {ref}",
        f"bwa index {ref} 2> /dev/null",
    ]
    t = cfg.get("trimming", {})
    bams = []
    for sample, grp in units.reset_index(drop=True).groupby("sample", sort=False):
        unit_bams = []
        for row in grp.itertuples():
            p = f"{out}/{sample}.{row.unit}"
            lines.append(
                f"fastp -i {q(row.fq1)} -I {q(row.fq2)} -o {p}_1.fq.gz -O {p}_2.fq.gz "
                f"--adapter_fasta {REPO}/resources/adapters/illumina.fa --detect_adapter_for_pe "
                f"--length_required {t.get('min_length', 50)} --cut_right "
                f"--json {p}.json --html {p}.html --thread {min(cores, 2)} 2> /dev/null"
            )
            rg = f"@RG\\tID:{sample}.{row.unit}\\tSM:{sample}\\tPL:ILLUMINA"
            lines.append(
                f"bwa mem -t {cores} -R '{rg}' {ref} {p}_1.fq.gz {p}_2.fq.gz 2> /dev/null "
                f"| samtools fixmate -m -u - - | samtools sort -@ {cores} -o {p}.bam - 2> /dev/null"
            )
            unit_bams.append(f"{p}.bam")
        lines.append(f"samtools merge -f -@ {cores} -o {out}/{sample}.m.bam {' '.join(unit_bams)}")
        lines.append(
            f"samtools markdup -@ {cores} {out}/{sample}.m.bam {out}/{sample}.bam "
            f"&& samtools index {out}/{sample}.bam"
        )
        lines.append(f"samtools stats {out}/{sample}.bam > {out}/{sample}.stats")
        bams.append(f"{out}/{sample}.bam")
    lines += [
        f"bcftools mpileup --threads {cores} -f {ref} -q 20 -Q 20 "
        f"-a FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP,FORMAT/SP,INFO/AD -Ou {' '.join(bams)} "
        f"2> /dev/null | bcftools call -m -v -Ou 2> /dev/null "
        f"| bcftools norm -f {ref} -m -any -Ou 2> /dev/null "
        f"| bcftools filter -m+ -s LowQual -e 'QUAL<30' -Oz -o {out}/all.vcf.gz",
        f"tabix -p vcf {out}/all.vcf.gz",
        f"bcftools view -f PASS -m2 -M2 -Oz -o {out}/all.pass.vcf.gz {out}/all.vcf.gz",
        f"bcftools stats {out}/all.pass.vcf.gz > {out}/stats.txt",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--species", default="soybean", choices=["soybean", "rice", "pig"])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", help="keep the run folders here instead of a temp dir")
    args = ap.parse_args()

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-varcall-"))
    base.mkdir(parents=True, exist_ok=True)
    with open(REPO / "config" / "presets" / f"test-{args.species}.yaml") as fh:
        cfg = yaml.safe_load(fh)
    for key in ("samples", "units"):
        cfg[key] = str(REPO / cfg[key])
    cfg["reference"]["fasta"] = str(REPO / cfg["reference"]["fasta"])
    cfg["reference"]["gff3"] = str(REPO / cfg["reference"]["gff3"])
    # Compare like with like: reads to the filtered VCF and its stats, no genotype stage.
    cfg["genotypes"] = {"enabled": False}
    from breedomics.sheets import load_samples, load_units

    units = load_units(cfg["units"], load_samples(cfg["samples"]))
    pairs = sum(count_pairs(fq) for fq in units["fq1"])

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    wf_dir = base / "workflow"
    shutil.rmtree(wf_dir, ignore_errors=True)
    wf_dir.mkdir()
    (wf_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/calls/all.pass.vcf.gz", "results/qc/bcftools/all.pass.stats.txt"]
    targets += [f"results/qc/samtools/{s}.stats.txt" for s in units["sample"].unique()]
    t0 = time.perf_counter()
    subprocess.run(
        ["snakemake", *targets, "-s", str(REPO / "workflow/Snakefile"), "-d", str(wf_dir),
         "--configfile", str(wf_dir / "config.yaml"), "--cores", str(args.cores),
         "--workflow-profile", "none", "--quiet", "all"],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    t_wf = time.perf_counter() - t0

    sh_dir = base / "plain"
    shutil.rmtree(sh_dir, ignore_errors=True)
    script = base / "plain.sh"
    script.write_text(plain_script(cfg, units, args.cores, sh_dir))
    t0 = time.perf_counter()
    subprocess.run(["bash", str(script)], check=True, env=env)
    t_sh = time.perf_counter() - t0

    print(f"species            {args.species}")
    print(f"read pairs         {pairs}")
    print(f"cores              {args.cores}")
    print(f"workflow wall s    {t_wf:.1f}")
    print(f"plain script s     {t_sh:.1f}")
    print(f"overhead ratio     {t_wf / t_sh:.3f}  (goal < 1.15)")
    print(
        f"pairs/core-second  workflow {pairs / (t_wf * args.cores):.0f}, "
        f"plain {pairs / (t_sh * args.cores):.0f}"
    )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
