"""Progress lines of long stages (issue 16): the reporter, and real stages that use it.

The reporter (:class:`breedomics.core.progress.Progress`) runs on a fake clock, so every
line is known exactly: units done of the total, percentage (floored), rate since the
start, time left at that rate, at most one line per interval and a final line. Then a
small GWAS scan and a small GS cross-validation run with ``BREEDOMICS_PROGRESS_SECONDS=0``
(a line at every update): their lines count up to the total, and the scan's results are
byte for byte those of a run without progress lines.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.core.progress import (
    DEFAULT_INTERVAL,
    ENV_VAR,
    Progress,
    format_duration,
    format_rate,
    progress_interval,
    track,
)

LINE = re.compile(r"^\[progress\] (?P<label>.+?): (?P<done>\d+)/(?P<total>\d+) (?P<unit>\w+)")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def reporter(total, interval=30.0, label="gwas scan yield", unit="variants"):
    clock, lines = Clock(), []
    prog = Progress(total, label, unit, interval=interval, clock=clock, write=lines.append)
    return prog, clock, lines


def test_lines_count_rate_and_time_left_exactly():
    prog, clock, lines = reporter(480000)
    clock.now += 10
    prog.update(120000)  # 10 s after the start: within the interval, no line
    assert lines == []
    clock.now += 20
    prog.update(120000)  # 30 s: 240000 in 30 s = 8000/s, 240000 left = 30 s
    assert lines == ["[progress] gwas scan yield: 240000/480000 variants (50%), 8000/s, ~30 s left"]
    clock.now += 29
    prog.update(60000)  # 29 s after the last line: none
    clock.now += 1
    prog.update(60000)  # 60 s: 360000 in 60 s = 6000/s, 120000 left = 20 s
    assert lines[1:] == [
        "[progress] gwas scan yield: 360000/480000 variants (75%), 6000/s, ~20 s left"
    ]
    clock.now += 20
    prog.update(120000)  # 20 s after the last line: none
    assert len(lines) == 2
    prog.close()  # 480000 in 80 s = 6000/s
    prog.close()  # once only
    assert lines[2:] == [
        "[progress] gwas scan yield: 480000/480000 variants (100%), 6000/s, done in 80 s"
    ]


def test_percentage_is_floored_and_slow_work_in_minutes_and_hours():
    prog, clock, lines = reporter(3, interval=0, label="gs cv", unit="fits")
    clock.now += 600
    prog.update(1)  # 1 fit in 600 s: 2 left need 1200 s = 20 min
    clock.now += 4800
    prog.update(1)  # 2 fits in 5400 s: 1 left needs 2700 s = 45 min
    assert lines == [
        "[progress] gs cv: 1/3 fits (33%), 0.00167/s, ~20 min left",
        "[progress] gs cv: 2/3 fits (66%), 0.00037/s, ~45 min left",
    ]
    prog, clock, lines = reporter(101, interval=0, label="x", unit="fits")
    clock.now += 60
    prog.update(1)  # 100 left at 1/60 per s: 6000 s = 1.67 h
    assert lines == ["[progress] x: 1/101 fits (0%), 0.0167/s, ~1.7 h left"]


def test_interval_zero_writes_every_update_and_no_rate_before_time_passes():
    prog, clock, lines = reporter(10, interval=0, label="omics", unit="features")
    prog.update(5)  # no time has passed: no rate, no time left
    clock.now += 2.5
    prog.update(0)
    prog.update(5)
    assert lines == [
        "[progress] omics: 5/10 features (50%)",
        "[progress] omics: 5/10 features (50%), 2/s, ~2.5 s left",
        "[progress] omics: 10/10 features (100%), 4/s, ~0.0 s left",
    ]


def test_unknown_total_and_formatting():
    prog, clock, lines = reporter(None, interval=0, label="chunks", unit="variants")
    clock.now += 10
    prog.update(1200)
    assert lines == ["[progress] chunks: 1200 variants, 120/s"]
    rates = (41000.4, 999.6, 123.4, 12.34, 0.05123, 0.00001234)
    assert [format_rate(r) for r in rates] == [
        "41000",
        "1000",
        "123",
        "12.3",
        "0.0512",
        "0.0000123",
    ]
    assert [format_duration(s) for s in (4.24, 42.4, 89.4, 1020, 5399, 5400, 9000)] == [
        "4.2 s",
        "42 s",
        "89 s",
        "17 min",
        "90 min",
        "1.5 h",
        "2.5 h",
    ]


def test_track_counts_each_item_after_its_loop_body():
    clock, lines = Clock(), []
    prog = Progress(6, "t", "variants", interval=0, clock=clock, write=lines.append)
    seen = []
    for item in track([[1, 2], [3, 4, 5], [6]], prog, len):
        assert prog.done == sum(len(s) for s in seen)  # not counted before its body ran
        seen.append(item)
        clock.now += 1
    assert seen == [[1, 2], [3, 4, 5], [6]]
    assert [m["done"] for m in map(LINE.match, lines)] == ["2", "5", "6", "6"]
    assert lines[-1].endswith("6/6 variants (100%), 2/s, done in 3.0 s")


def test_with_block_writes_the_final_line_unless_it_fails():
    clock, lines = Clock(), []
    with Progress(2, "ok", "fits", interval=30, clock=clock, write=lines.append) as prog:
        prog.update(2)
    assert lines == ["[progress] ok: 2/2 fits (100%), done in 0.0 s"]
    lines.clear()
    with pytest.raises(RuntimeError):
        with Progress(2, "fails", "fits", clock=clock, write=lines.append) as prog:
            raise RuntimeError("boom")
    assert lines == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, DEFAULT_INTERVAL), ("0", 0.0), ("2.5", 2.5), ("-1", DEFAULT_INTERVAL),
     ("soon", DEFAULT_INTERVAL), ("nan", DEFAULT_INTERVAL), ("", DEFAULT_INTERVAL)],
)  # fmt: skip
def test_interval_from_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, value)
    assert progress_interval() == expected
    assert Progress(1, "x").interval == expected


def test_default_writes_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, "0")
    Progress(4, "to stderr", "fits").update(4)
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("[progress] to stderr: 4/4 fits (100%)")


# --- real stages ------------------------------------------------------------------------


def progress_lines(err: str, label_start: str) -> list[re.Match]:
    return [
        m for m in map(LINE.match, err.splitlines()) if m and m["label"].startswith(label_start)
    ]


@pytest.fixture(scope="module")
def gwas_panel(tmp_path_factory):
    from breedomics.testing.simulate_gwas import simulate_structured, simulate_traits
    from breedomics.testing.spec import GenomeSpec

    tmp = tmp_path_factory.mktemp("progress_gwas")
    g = simulate_structured(
        GenomeSpec(n_samples=120, n_snps=1500, n_chrom=3, seed=3), segments=3, inbred=False
    )
    ph, _q = simulate_traits(g.dosage, g.variants, n_traits=2, groups=g.groups, seed=4)
    ph.index = g.samples
    write_bed(tmp / "g", g.variants, [g.dosage], g.samples)
    return tmp, g, ph


def _scan(tmp, g, ph, out: str):
    from breedomics.gwas.phenotypes import prepare
    from breedomics.gwas.scan import GenotypeSource, ScanConfig, scan

    data = prepare(g.samples, ph, None)
    src = GenotypeSource(str(tmp / "g"), data.samples, chunk_size=400)
    scan(src, data, tmp / out, ScanConfig(model="glm", maf=0.0, chunk_size=400))
    return src


def test_gwas_scan_reports_every_variant_and_same_results(gwas_panel, monkeypatch, capsys):
    tmp, g, ph = gwas_panel
    monkeypatch.setenv(ENV_VAR, "0")
    src = _scan(tmp, g, ph, "with")
    lines = progress_lines(capsys.readouterr().err, "gwas scan (glm, 2 traits")
    total = len(g.variants)
    assert src.n_scanned == total
    done = [int(m["done"]) for m in lines]
    assert len(lines) >= 4, lines  # 1500 variants in chunks of 400 (and chromosome runs)
    assert all(int(m["total"]) == total and m["unit"] == "variants" for m in lines)
    assert done == sorted(done) and done[-1] == total
    assert lines[-1].string.split(", ")[-1].startswith("done in ")
    # the scan's numbers do not depend on progress lines
    monkeypatch.setenv(ENV_VAR, "3600")
    _scan(tmp, g, ph, "without")
    assert progress_lines(capsys.readouterr().err, "gwas scan")[:-1] == []  # only the final
    for t in ph.columns:
        name = f"{t}.glm.tsv.gz"
        assert (tmp / "with" / name).read_bytes() == (tmp / "without" / name).read_bytes()


def test_gwas_scan_of_a_chromosome_subset_counts_its_variants(gwas_panel, monkeypatch, capsys):
    from breedomics.gwas.scan import GenotypeSource

    tmp, g, _ph = gwas_panel
    chrom = str(g.variants["chrom"].iloc[0])
    src = GenotypeSource(str(tmp / "g"), list(g.samples), chunk_size=400, chromosomes=[chrom])
    assert src.n_scanned == int((g.variants["chrom"].astype(str) == chrom).sum())
    assert src.n_scanned < src.n_variants


def test_gs_cv_reports_fits_and_mcmc_iterations(monkeypatch, capsys):
    from breedomics.gs.cv import kfold_folds, run_cv
    from breedomics.gs.data import Genotypes
    from breedomics.testing.simulate_gs import simulate_population
    from breedomics.testing.spec import GenomeSpec

    pop = simulate_population(GenomeSpec(n_samples=120, n_snps=400, n_chrom=2, seed=5))
    geno = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    rng = np.random.default_rng(1)
    g = (pop.dosage - pop.dosage.mean(axis=0)) @ rng.normal(0, 0.1, pop.dosage.shape[1])
    pheno = pd.DataFrame({"y": g + rng.normal(0, g.std(), len(g))}, index=pop.samples)
    folds = kfold_folds(pop.samples, 3, repeats=1, seed=2)
    monkeypatch.setenv(ENV_VAR, "0")
    options = {"mcmc": {"n_iter": 300, "burn_in": 100}}
    run_cv(geno, pheno, ["y"], ["gblup", "bayesc"], folds, options=options)
    err = capsys.readouterr().err
    cv = progress_lines(err, "gs cv (gblup, bayesc; 1 trait, 1 x 3 folds)")
    assert [int(m["done"]) for m in cv] == [1, 2, 3, 4, 5, 6, 6]  # 3 folds x 2 models + final
    assert all(int(m["total"]) == 6 and m["unit"] == "fits" for m in cv)
    mcmc = progress_lines(err, "BayesC MCMC")
    finals = [m for m in mcmc if "done in" in m.string]
    assert len(finals) == 3  # one chain per fold
    assert all(int(m["done"]) == int(m["total"]) == 300 for m in finals)
    assert all(m["unit"] == "iterations" for m in mcmc)
    assert len(mcmc) <= 3 * 101  # about 100 updates per chain, not one per iteration
