"""Variant calling: workflow overhead, and accuracy against plain bcftools on truth sets.

Overhead (default): runs the reads-to-VCF workflow on one species' test data
(``snakemake --cores N``) and then the same tool invocations (fastp, bwa mem, samtools,
bcftools mpileup/call, norm, filter) written out as a single bash script, on the same
inputs, in the same process tree and on the same machine; prints both wall times, the
overhead ratio (goal: under 15%) and throughput in read pairs per core-second.

Accuracy (``--accuracy``): for each truth set and coverage, the workflow's PASS set
(``all.pass.vcf.gz``) beside plain ``bcftools mpileup -a AD,DP | bcftools call -mv`` on
BAMs made with the tools' defaults (fastp defaults + bwa mem + samtools markdup), both
scored genotype-aware against the truth (``breedomics.calling.evalcalls``): F1 of SNPs and
indels over all samples, inbred and outbred samples, inside and outside repeats.
Truth sets: ``dwgsim:<depth>`` (reads by ``scripts/make_dwgsim_truth.py`` on its
repeat-rich 2 Mb genome, 4 inbred + 4 outbred samples, made here), ``dwgsimN<k>:<depth>``
(the same kind of genome, ``--panel-mb`` Mb, k outbred animals of one breed: a
skim-sequencing panel, ``make_dwgsim_truth.py --samples k``) and the project's own
``soybean``/``rice``/``pig`` test data (15x, ``scripts/make_test_data.py``). With
``--set calling.refine.enabled=true`` the table has the workflow's PASS set with and
without the genotype refinement (the same hard filter applied to ``all.filtered.vcf.gz``)
and the refinement's CPU time is printed.

Incremental calling (``--incremental``): the CPU cost of adding ``--add`` (4) samples to a
panel of ``--panel`` (100) called with ``calling.mode: incremental``, as a ratio to
recalling all of them jointly (simulated dwgsim panel, ``--panel-mb`` Mb; goal < 0.15).

Usage: python bench/varcall.py [--species soybean] [--cores 2] [--keep DIR]
       python bench/varcall.py --incremental [--panel 100 --add 4 --panel-mb 0.5] [--keep DIR]
       python bench/varcall.py --accuracy [--sets dwgsim:15,dwgsim:6,soybean,pig]
              [--set trimming.cut_right=true ...] [--keep DIR]
       python bench/varcall.py --accuracy --sets dwgsim:6,dwgsimN40:6 \
              --set calling.refine.enabled=true --keep DIR
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
                f"--length_required {t.get('min_length', 50)} "
                f"{'--cut_right ' if t.get('cut_right') else ''}"
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


# --------------------------------------------------------------------------- accuracy

#: Features of ``reference_features.bed`` that make up the repeat stratum.
REPEAT_KINDS = ("repeat", "microsatellite", "homopolymer", "segdup")


def default_tools_script(units: pd.DataFrame, ref: Path, out: Path, cores: int) -> str:
    """Plain calling with the tools' defaults, as a bash script writing ``out/plain.vcf.gz``.

    fastp (defaults), bwa mem, samtools fixmate/sort/merge/markdup, then
    ``bcftools mpileup -a AD,DP | bcftools call -mv`` over all BAMs (one job per contig,
    ``cores`` at a time, concatenated: the same records as one genome-wide run).
    """
    q = shlex.quote
    lines = ["set -euo pipefail", f"mkdir -p {q(str(out))}", f"cd {q(str(out))}"]
    lines.append(f"[ -e genome.fa.bwt ] || {{ gzip -dcf {q(str(ref))} > genome.fa"
                 " && samtools faidx genome.fa && bwa index genome.fa 2> /dev/null; }")  # fmt: skip
    bams = []
    for sample, grp in units.reset_index(drop=True).groupby("sample", sort=False):
        unit_bams = []
        for row in grp.itertuples():
            p = f"{sample}.{row.unit}"
            rg = f"@RG\\tID:{p}\\tSM:{sample}\\tPL:ILLUMINA"
            lines.append(
                f"fastp -i {q(row.fq1)} -I {q(row.fq2)} -o {p}_1.fq.gz -O {p}_2.fq.gz "
                f"-j {p}.json -h {p}.html -w {cores} 2> /dev/null"
            )
            lines.append(
                f"bwa mem -t {cores} -R '{rg}' genome.fa {p}_1.fq.gz {p}_2.fq.gz 2> /dev/null"
                f" | samtools fixmate -m -u - - | samtools sort -@ {cores} -o {p}.bam -"
                f" && rm {p}_1.fq.gz {p}_2.fq.gz"
            )
            unit_bams.append(f"{p}.bam")
        lines.append(f"samtools merge -f -@ {cores} -o {sample}.m.bam {' '.join(unit_bams)}")
        lines.append(
            f"samtools markdup -@ {cores} {sample}.m.bam {sample}.bam && samtools index "
            f"{sample}.bam && rm {sample}.m.bam {' '.join(unit_bams)}"
        )
        bams.append(f"{sample}.bam")
    lines += [
        f"printf '%s\\n' {' '.join(bams)} > bams.txt",
        f"cut -f1 genome.fa.fai | xargs -P {cores} -I{{}} sh -c "
        '\'bcftools mpileup -f genome.fa -a AD,DP -r "$1" -Ou -b bams.txt 2> /dev/null'
        ' | bcftools call -mv -Oz -o "call.$1.vcf.gz"\' _ {}',
        "bcftools concat $(cut -f1 genome.fa.fai | sed 's/^/call./; s/$/.vcf.gz/')"
        " -Oz -o plain.vcf.gz && tabix -p vcf plain.vcf.gz && rm call.*.vcf.gz",
    ]
    return "\n".join(lines) + "\n"


def dwgsim_panel(name: str) -> int:
    """Panel size of a ``dwgsimN<k>[:<depth>]`` set (0: the 4 inbred + 4 outbred set)."""
    stem = name.split(":")[0]
    return int(stem[len("dwgsimN") :]) if stem.startswith("dwgsimN") else 0


def truth_set(name: str, base: Path, dwgsim_mb: float = 2.0, panel_mb: float = 0.5) -> dict:
    """Files of truth set ``name`` (``dwgsim:<depth>`` of ``dwgsim_mb`` Mb, ``dwgsimN<k>:<depth>``
    -- k outbred animals of one breed on ``panel_mb`` Mb -- or a species of test-data/)."""
    if name.startswith("dwgsim"):
        depth = float(name.split(":")[1]) if ":" in name else 15.0
        panel = dwgsim_panel(name)
        size = panel_mb if panel else dwgsim_mb
        d = base / f"{name.split(':')[0]}-data-{size:g}mb"
        units = d / f"units_{depth:g}x.tsv"
        if not units.exists():
            subprocess.run(
                [sys.executable, str(REPO / "scripts/make_dwgsim_truth.py"), "--outdir", str(d),
                 "--depth", f"{depth:g}", "--size-mb", f"{size:g}",
                 *(["--samples", str(panel)] if panel else [])],
                check=True,
            )  # fmt: skip
        mating = "outbred"  # a mixed panel: its outbred animals are heterozygous
    else:
        d, units, mating = REPO / "test-data" / name, REPO / "test-data" / name / "units.tsv", ""
    bed = base / f"{name.replace(':', '_')}-{d.name}.repeats.bed"
    feats = pd.read_csv(d / "reference_features.bed", sep="\t", header=None)
    feats = feats[feats[3].str.split(":").str[0].isin(REPEAT_KINDS)].sort_values([0, 1])
    feats[[0, 1, 2]].to_csv(bed, sep="\t", header=False, index=False)
    sheet = pd.read_csv(d / "samples.tsv", sep="\t", dtype=str)
    if name.startswith("dwgsim"):
        groups = dict(zip(sheet["sample"], sheet["group"], strict=True))
    else:
        with open(REPO / "config/presets" / f"test-{name}.yaml") as fh:
            mating = yaml.safe_load(fh)["genome"]["mating"]
        groups = dict.fromkeys(sheet["sample"], mating)
    return {"name": name, "dir": d, "samples": d / "samples.tsv", "units": units,
            "fasta": d / "reference.fa.gz", "truth": d / "truth.vcf.gz", "repeats": bed,
            "groups": groups, "mating": mating}  # fmt: skip


def set_config(ts: dict, overrides: dict) -> dict:
    """Workflow config of a truth set: reads to the PASS set, no genotype stage."""
    if ts["name"].startswith("dwgsim"):
        cfg = {"samples": str(ts["samples"]), "units": str(ts["units"]),
               "reference": {"fasta": str(ts["fasta"])},
               "genome": {"mating": ts["mating"]}, "calling": {"region_size": 250000}}  # fmt: skip
    else:
        with open(REPO / "config/presets" / f"test-{ts['name']}.yaml") as fh:
            cfg = yaml.safe_load(fh)
        cfg["samples"], cfg["units"] = str(ts["samples"]), str(ts["units"])
        cfg["reference"] = {"fasta": str(ts["fasta"])}
    cfg["genotypes"] = {"enabled": False}
    for key, value in overrides.items():
        node = cfg
        *path, last = key.split(".")
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    return cfg


def score(ts: dict, calls: Path, all_filters: bool = False) -> pd.DataFrame:
    """F1 etc. per stratum (all, repeat, nonrepeat) x group (all, inbred, outbred) x type."""
    from breedomics.calling.evalcalls import evaluate, group_table

    rows = []
    strata = {
        "all": {},
        "repeat": {"targets": ts["repeats"]},
        "nonrepeat": {"targets": ts["repeats"], "exclude_targets": True},
    }
    for stratum, kw in strata.items():
        df = evaluate(ts["truth"], calls, ts["fasta"], all_filters=all_filters, **kw)
        groups = dict(ts["groups"])
        tab = pd.concat([group_table(df, dict.fromkeys(groups, "all")), group_table(df, groups)])
        tab.insert(0, "stratum", stratum)
        rows.append(tab)
    return pd.concat(rows, ignore_index=True)


def run_accuracy(args: argparse.Namespace, base: Path, env: dict) -> int:
    """Workflow PASS set vs plain bcftools per truth set; prints and writes the table."""
    from breedomics.sheets import load_samples, load_units

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    snakefile = Path(args.snakefile) if args.snakefile else REPO / "workflow/Snakefile"
    tables = []
    for name in args.sets.split(","):
        ts = truth_set(name, base, args.dwgsim_mb, args.panel_mb)
        size = args.panel_mb if dwgsim_panel(name) else args.dwgsim_mb
        tag = name.replace(":", "_") + (f"_{size:g}mb" if "dwgsim" in name else "")
        plain_dir = base / f"{tag}-plain"
        if not (plain_dir / "plain.vcf.gz").exists():
            units = load_units(str(ts["units"]), load_samples(str(ts["samples"])))
            script = base / f"{tag}-plain.sh"
            script.write_text(default_tools_script(units, ts["fasta"], plain_dir, args.cores))
            t0 = time.perf_counter()
            subprocess.run(["bash", str(script)], check=True, env=env)
            print(f"{name}: plain bcftools {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        wf_dir = base / f"{tag}-workflow{args.label}"
        wf_dir.mkdir(parents=True, exist_ok=True)
        (wf_dir / "config.yaml").write_text(yaml.safe_dump(set_config(ts, overrides)))
        t0 = time.perf_counter()
        subprocess.run(
            ["snakemake", "results/calls/all.pass.vcf.gz", "-s", str(snakefile), "-d",
             str(wf_dir), "--configfile", str(wf_dir / "config.yaml"), "--cores",
             str(args.cores), "--workflow-profile", "none", "--quiet", "all"],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"{name}: workflow {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        sets = {"plain bcftools": plain_dir / "plain.vcf.gz",
                "workflow PASS": wf_dir / "results/calls/all.pass.vcf.gz"}  # fmt: skip
        cfg = set_config(ts, overrides)
        if cfg.get("calling", {}).get("refine", {}).get("enabled"):
            # calling.refine on: the PASS set is refined; the unrefined one is the same
            # hard filter (rule hardfilter_calls) applied to the filtered calls
            unrefined = wf_dir / "unrefined.pass.vcf.gz"
            subprocess.run(
                ["bcftools", "view", "-f", "PASS,.", "-m2", "-M2", "-v", "snps,indels", "-i",
                 "INFO/AC>0", "-Oz", "-o", str(unrefined),
                 str(wf_dir / "results/calls/all.filtered.vcf.gz")],
                check=True, env=env,
            )  # fmt: skip
            sets = {"plain bcftools": sets["plain bcftools"], "workflow unrefined": unrefined,
                    "workflow refined": sets["workflow PASS"]}  # fmt: skip
            bench = wf_dir / "benchmarks/calls/refine_calls.tsv"
            cpu = pd.read_csv(bench, sep="\t")["cpu_time"].iloc[0]
            print(f"{name}: refine_calls {cpu:.1f} CPU-s", file=sys.stderr)
        for label, vcf in sets.items():
            tab = score(ts, vcf)
            tab.insert(0, "callset", label)
            tab.insert(0, "truth_set", name)
            tables.append(tab)
    res = pd.concat(tables, ignore_index=True)
    out = base / f"accuracy{args.label}.tsv"
    res.to_csv(out, sep="\t", index=False, float_format="%.4f")
    wide = res.pivot_table(index=["truth_set", "callset", "group"],
                           columns=["type", "stratum"], values="f1", sort=False)  # fmt: skip
    wide = wide[[c for c in [("SNP", "all"), ("SNP", "repeat"), ("SNP", "nonrepeat"),
                             ("INDEL", "all"), ("INDEL", "repeat"), ("INDEL", "nonrepeat")]
                 if c in wide.columns]]  # fmt: skip
    wide.columns = [f"{t} F1 {s}" for t, s in wide.columns]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(wide.round(4).to_string())
    print(f"(all counts: {out})")
    return 0


def _cpu(cmd: str, env: dict) -> float:
    """CPU seconds (user + system) of the bash command ``cmd`` and its children."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["bash", "-c", f"set -euo pipefail; {cmd}"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def run_incremental(args: argparse.Namespace, base: Path, env: dict) -> int:
    """Cost of adding ``--add`` samples to a called panel of ``--panel`` (calling.mode
    incremental) as a ratio to recalling all of them jointly (calling.mode joint).

    A dwgsim panel of panel + add outbred animals on ``--panel-mb`` Mb is aligned (bwa mem,
    samtools sort: not counted, the same in both modes) and split into the workflow's
    calling regions (``breedomics make-regions``, ``--region-size``). Then, with the
    commands of the workflow's rules and their CPU seconds summed: the joint recall of all
    (call_variants_region per region over every BAM), the first panel's gVCFs
    (call_sample_gvcf, done before the new samples come), and the addition: the new samples'
    gVCFs and candidate lists (list_gvcf_candidates) plus merge_gvcfs_region per region
    over every gVCF. Goal: under 0.15. The steps from all.raw.bcf on are the same in both
    modes and left out.
    """
    from breedomics.calling.gvcf import GVCF_BANDS
    from breedomics.calling.gvcf_merge import candidate_filter

    n_all = args.panel + args.add
    ts = truth_set(f"dwgsimN{n_all}:{args.depth:g}", base, panel_mb=args.panel_mb)
    work = base / "incremental"
    work.mkdir(exist_ok=True)
    q = shlex.quote
    fa = work / "genome.fa"
    if not (work / "genome.fa.bwt").exists():
        subprocess.run(f"gzip -dcf {q(str(ts['fasta']))} > {fa} && samtools faidx {fa}"
                       f" && bwa index {fa} 2> /dev/null", shell=True, check=True)  # fmt: skip
    from breedomics.sheets import load_samples, load_units

    units = load_units(str(ts["units"]), load_samples(str(ts["samples"])))
    samples = list(dict.fromkeys(units["sample"]))[:n_all]
    jobs = []
    for row in units[units["sample"].isin(samples)].itertuples():
        bam = work / f"{row.sample}.bam"
        if not bam.exists():
            rg = f"@RG\\tID:{row.sample}\\tSM:{row.sample}\\tPL:ILLUMINA"
            jobs.append(
                f"bwa mem -R '{rg}' {fa} {q(row.fq1)} {q(row.fq2)} 2> /dev/null"
                f" | samtools sort -o {bam} - 2> /dev/null && samtools index {bam}"
            )
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(args.cores) as pool:
        for job in pool.map(lambda c: subprocess.run(c, shell=True, check=True), jobs):
            job.check_returncode()
    regions = work / "regions"
    shutil.rmtree(regions, ignore_errors=True)
    subprocess.run(["breedomics", "make-regions", "--fasta", str(fa), "--target-size",
                    str(args.region_size), "--max-jobs", "200", "--min-gap", "50",
                    "--outdir", str(regions)],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    beds = sorted(regions.glob("region_*.bed"))
    (work / "ploidy.txt").write_text("*\t*\t*\t*\t2\n")
    (work / "sexes.txt").write_text("".join(f"{s}\tF\n" for s in samples))
    pileup = ("bcftools mpileup -f {fa} -p -q 20 -Q 13 -d 250"
              " -a FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP,FORMAT/SP,INFO/AD")  # fmt: skip
    pileup = pileup.format(fa=fa)
    call = f"bcftools call -m -v -a GQ --ploidy-file {work}/ploidy.txt -S {work}/sexes.txt"
    bams = " ".join(str(work / f"{s}.bam") for s in samples)

    def gvcf(s: str) -> float:
        out, cands = work / f"{s}.g.bcf", work / f"{s}.candidates.tsv.gz"
        return _cpu(f"{pileup} -m 1 -g {GVCF_BANDS} -Ob -o {out} {work / f'{s}.bam'}"
                    f" && bcftools index -f {out}"
                    f" && bcftools query -i {q(candidate_filter(2))} -f '%CHROM\\t%POS\\n' {out}"
                    f" | bgzip -c > {cands} && tabix -f -s1 -b2 -e2 {cands}", env)  # fmt: skip

    def merges(label: str) -> float:
        gvcfs = " ".join(str(work / f"{s}.g.bcf") for s in samples)
        cands = " ".join(str(work / f"{s}.candidates.tsv.gz") for s in samples)
        tmp = work / "merge-work"
        return sum(
            _cpu(f"rm -rf {tmp} && mkdir {tmp} && breedomics merge-gvcfs --gvcfs {gvcfs}"
                 f" --candidates {cands} --regions {bed} --fasta {fa}"
                 f" --ploidy {work}/ploidy.txt --sexes {work}/sexes.txt --workdir {tmp}"
                 f" --out {work}/{label}.{bed.stem}.bcf", env)
            for bed in beds
        )  # fmt: skip

    joint = sum(
        _cpu(f"{pileup} -R {bed} -Ou {bams} | {call} -Ob -o {work}/joint.{bed.stem}.bcf", env)
        for bed in beds
    )
    first = sum(gvcf(s) for s in samples[: args.panel])
    added = sum(gvcf(s) for s in samples[args.panel :])
    merged = merges("incremental")
    add = added + merged
    print(f"panel              {args.panel} + {args.add} outbred animals, {args.panel_mb:g} Mb,"
          f" {args.depth:g}x; {len(beds)} calling regions")  # fmt: skip
    print(f"joint recall       {joint:.1f} CPU s (call_variants_region x {len(beds)},"
          f" {n_all} BAMs)")  # fmt: skip
    print(f"first panel gVCFs  {first:.1f} CPU s ({args.panel} call_sample_gvcf)")
    print(f"adding {args.add}           {add:.1f} CPU s ({args.add} call_sample_gvcf {added:.1f}"
          f" + merge_gvcfs_region x {len(beds)} {merged:.1f})")  # fmt: skip
    print(f"incremental/joint  {add / joint:.3f}  (goal < 0.15)")
    sites, conc = _agreement(work, beds, fa, env)
    print(f"agreement          {sites}; genotype concordance at the shared sites {conc:.5f}")
    return 0


def _agreement(work: Path, beds: list[Path], fa: Path, env: dict) -> tuple[str, float]:
    """The joint run's raw records (split, normalised) that the incremental one has, and
    the genotype concordance at the records both have."""
    calls = {}
    for label in ("joint", "incremental"):
        files = " ".join(str(work / f"{label}.{bed.stem}.bcf") for bed in beds)
        out = subprocess.run(
            f"bcftools concat {files} -Ou | bcftools norm -f {fa} -m -any -Ou"
            " | bcftools query -f '%CHROM:%POS:%REF:%ALT\\t[%GT,]\\n'",
            shell=True, check=True, env=env, capture_output=True, text=True,
        ).stdout  # fmt: skip
        calls[label] = dict(line.split("\t") for line in out.splitlines())
    joint, incr = calls["joint"], calls["incremental"]
    shared = joint.keys() & incr.keys()
    same = total = 0
    for key in shared:
        a, b = joint[key].split(","), incr[key].split(",")
        same += sum(x == y for x, y in zip(a, b, strict=True))
        total += len(a)
    text = f"{len(shared)} of the joint run's {len(joint)} records ({len(incr)} incremental)"
    return text, same / max(total, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--species", default="soybean", choices=["soybean", "rice", "pig"])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", help="keep the run folders here instead of a temp dir")
    ap.add_argument("--accuracy", action="store_true", help="accuracy vs plain bcftools")
    ap.add_argument(
        "--sets",
        default="dwgsim:15,dwgsim:6,soybean,pig",
        help="truth sets for --accuracy (dwgsim:<depth> or a test-data species)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="workflow config override for --accuracy, e.g. trimming.cut_right=true",
    )
    ap.add_argument("--dwgsim-mb", type=float, default=2.0, help="dwgsim genome size (Mb)")
    ap.add_argument(
        "--panel-mb", type=float, default=0.5, help="genome size (Mb) of dwgsimN<k> panels"
    )
    ap.add_argument(
        "--incremental", action="store_true",
        help="cost of adding --add samples to a called panel of --panel (calling.mode "
        "incremental) as a ratio to recalling all jointly",
    )  # fmt: skip
    ap.add_argument("--panel", type=int, default=100, help="--incremental: samples called first")
    ap.add_argument("--add", type=int, default=4, help="--incremental: samples added")
    ap.add_argument("--depth", type=float, default=6, help="--incremental: read depth")
    ap.add_argument(
        "--region-size", type=int, default=100000, help="--incremental: calling region size"
    )
    ap.add_argument("--label", default="", help="suffix of the workflow run folders/table")
    ap.add_argument("--snakefile", help="Snakefile to run (default: this checkout's)")
    args = ap.parse_args()
    if args.incremental:
        base = Path(args.keep or tempfile.mkdtemp(prefix="bench-varcall-"))
        base.mkdir(parents=True, exist_ok=True)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        rc = run_incremental(args, base, dict(os.environ, PATH=path))
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        return rc
    if args.accuracy:
        base = Path(args.keep or tempfile.mkdtemp(prefix="bench-varcall-"))
        base.mkdir(parents=True, exist_ok=True)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        env = dict(os.environ, PATH=path, SLURM_CONF=os.devnull)
        rc = run_accuracy(args, base, env)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        return rc

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
