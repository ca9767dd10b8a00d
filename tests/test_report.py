"""The summary page of the default run, ``results/report/index.html`` (issue 16).

Acceptance 2: the page's numbers are the run's. Fifteen numbers are recomputed from the
run's files, mostly from the rawest one (accessions passed from ``sample_qc.tsv``, lambda
from the p-values of the summary statistics, the top lead as the smallest p, its
favourable allele's frequency in a group from the imputed VCF, GBLUP accuracy as the mean
over the CV folds, Ti/Tv by counting the PASS SNPs...), written by the page's number rule
(``fmt.number``, itself checked on hand-written cases in test_report_builder.py), and
found in the page where they belong (the key figures under their heading, the cells of
their table).

Acceptance 1 and 4: the page in headless Chromium (Debian ``chromium`` and
``chromium-driver``, Python ``selenium``; skipped with the reason when missing) with the
network cut off (host resolver mapped to nothing, offline network conditions, and no
``http(s)://`` in the page): under 10 MB, loaded in under 5 s (navigation timing), every
image decodes, every table has its rows (those of its file where it shows a whole file),
a click on a Manhattan point selects its locus's lead in the lead table, headers sort and
the box filters, no JavaScript error in the console; a full-page screenshot is written to
``$BREEDOMICS_ARTIFACTS`` (default: the test's temporary folder).

The run is the default run of ``test_slurm.py`` (``slurm_local_reference``).
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import shutil
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import test_slurm  # noqa: F401 - registers the default run this module reuses
import yaml
from scipy import stats

from breedomics.report.fmt import number as shown  # checked on hand cases in test_report_builder

pytestmark = pytest.mark.workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MAX_BYTES = 10_000_000
MAX_LOAD_MS = 5000


class Page(HTMLParser):
    """The page's tables (by id: header, rows of cell texts, row attributes) and key
    figures (heading -> {what: value}), read with the standard library's parser."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self.facts: dict[str, dict[str, str]] = {}
        self.headings: list[str] = []
        self.section_ids: list[str] = []
        self._table: dict | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._fact: list[str] | None = None
        self._dt = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section_ids.append(a.get("id", ""))
        elif tag in ("h3", "h4"):
            self._heading = []
        elif tag == "table" and "data" in (a.get("class") or "").split():
            self._table = {"header": [], "rows": [], "attrs": [], "data_rows": a.get("data-rows")}
            self.tables[a["id"]] = self._table
        elif tag == "tr" and self._table is not None:
            self._table["attrs"].append(a)
            self._table["rows"].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag in ("dt", "dd"):
            self._fact = []

    def handle_endtag(self, tag):
        if tag in ("h3", "h4") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None
        elif tag == "table":
            if self._table is not None:  # the header row is not a data row
                self._table["header"] = self._table["rows"].pop(0)
                self._table["attrs"].pop(0)
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table["rows"][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "dt" and self._fact is not None:
            self._dt = "".join(self._fact).strip()
            self._fact = None
        elif tag == "dd" and self._fact is not None:
            where = self.headings[-1] if self.headings else ""
            self.facts.setdefault(where, {})[self._dt] = "".join(self._fact).strip()
            self._fact = None

    def handle_data(self, data):
        for buf in (self._heading, self._cell, self._fact):
            if buf is not None:
                buf.append(data)

    def column(self, table_id: str, name: str) -> list[str]:
        t = self.tables[table_id]
        i = t["header"].index(name)
        return [r[i] for r in t["rows"]]

    def row(self, table_id: str, attr: str, value: str) -> dict[str, str]:
        t = self.tables[table_id]
        for a, r in zip(t["attrs"], t["rows"], strict=True):
            if a.get(attr) == value:
                return dict(zip(t["header"], r, strict=True))
        raise KeyError(f"no row with {attr}={value} in {table_id}")


# --- the run and its page ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run(background) -> Path:
    """The default run's folder (test_slurm's local reference run)."""
    root, _rules, _threads = background.result("slurm_local_reference")
    return root


@pytest.fixture(scope="module")
def config(run) -> dict:
    with open(run / "config" / "config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def index(run) -> Path:
    path = run / "results" / "report" / "index.html"
    assert path.is_file(), "the default target has no results/report/index.html"
    return path


@pytest.fixture(scope="module")
def page(index) -> Page:
    return Page(index.read_text(encoding="utf-8"))


def _tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NA", "nan"])


def _vcf_record(path: Path, variant: str) -> tuple[list[str], list[str]]:
    """(sample names, the record's fields) of one variant id, read as plain text."""
    samples: list[str] = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                samples = line.rstrip("\n").split("\t")[9:]
            elif not line.startswith("#"):
                f = line.rstrip("\n").split("\t")
                if f[2] == variant:
                    return samples, f
    raise KeyError(variant)


# --- acceptance 2: the page's numbers are the run's ---------------------------------------


def test_collection_numbers(run, config, page):
    res = run / "results"
    qc = _tsv(res / "genotypes/qc/sample_qc.tsv")
    facts = page.facts["Genotype QC"]
    # 1-2: accessions in and passed, counted in the per-sample table
    assert facts["accessions in"] == shown(len(qc))
    assert facts["passed QC"] == shown(int((qc["status"] == "kept").sum()))
    # 3: variants in the genotype file, counted in the file itself
    with gzip.open(run / config["genotypes"]["path"], "rt") as fh:
        n_in = sum(1 for line in fh if not line.startswith("#"))
    assert facts["variants in the file"] == shown(n_in)
    # 4: variants kept, the lines of the kept-sites list
    n_kept = sum(1 for line in open(res / "genotypes/qc/sites_keep.tsv") if line.strip())
    assert facts["variants kept"] == shown(n_kept)
    # 5: Ti/Tv of the PASS SNPs, counted in the VCF
    ts = tv = 0
    with gzip.open(res / "calls/all.pass.vcf.gz", "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            ref, alt = line.split("\t", 5)[3:5]
            if len(ref) == 1 and len(alt) == 1:
                if {ref, alt} in ({"A", "G"}, {"C", "T"}):
                    ts += 1
                else:
                    tv += 1
    assert page.facts["Call set (reads to VCF)"]["Ti/Tv (PASS SNPs)"] == shown(ts / tv)
    # every accession has its row in the sample table
    assert sorted(page.column("sample-qc", "sample")) == sorted(qc["sample"])


def test_structure_numbers(run, page):
    res = run / "results"
    # 6: duplicate clusters, counted from the pairs
    pairs = _tsv(res / "census/duplicates.tsv")
    facts = page.facts["Duplicate accessions"]
    assert facts["duplicate clusters"] == shown(pairs["cluster"].nunique())
    # 7: Fst of the first pair of groups, in the Fst table
    fst = _tsv(res / "census/fst.tsv").iloc[0]
    rows = zip(
        page.column("fst", "group1"),
        page.column("fst", "group2"),
        page.column("fst", "fst"),
        strict=True,
    )
    assert (fst["group1"], fst["group2"], shown(fst["fst"])) in set(rows)


def test_gwas_numbers(run, config, page):
    res = run / "results"
    model, trait = config["gwas"]["models"][0], "height"
    sumstats = _tsv(res / f"gwas/{model}/{trait}.{model}.tsv.gz")
    facts = page.facts[f"{trait} — {model}"]
    # 8: lambda, the median chi-square of the p-values over its null median
    chi2 = stats.chi2.isf(sumstats["p_value"], 1)
    lam = statistics.median(chi2) / stats.chi2.ppf(0.5, 1)
    assert facts["lambda"] == shown(lam)
    # 9: the top lead: the variant with the smallest p
    top = sumstats.loc[sumstats["p_value"].idxmin()]
    assert facts["top lead"] == f"{top['variant_id']} (p {shown(top['p_value'])})"
    # 10: its favourable allele (from the effect's sign and the trait's direction) and
    # its frequency in a group, counted in the imputed genotypes
    up = config.get("directions", {}).get(trait, "increase") == "increase"
    fav = top["effect_allele"] if (top["beta"] > 0) == up else top["other_allele"]
    samples, rec = _vcf_record(res / "genotypes/imputed.vcf.gz", top["variant_id"])
    sheet = _tsv(run / config["genotypes"]["samples"]).set_index("sample")["group"]
    group = sorted(set(sheet))[2]
    alleles = [
        rec[3] if a == "0" else rec[4]
        for s, gt in zip(samples, rec[9:], strict=True)
        if sheet.get(s) == group
        for a in re.split(r"[/|]", gt.split(":")[0])
        if a != "."
    ]
    freq = sum(a == fav for a in alleles) / len(alleles)
    row = page.row(f"leads-{trait}-{model}", "data-lead", top["variant_id"])
    assert row["favourable_allele"] == fav
    assert row[f"favourable_allele_frequency.{group}"] == shown(freq)


def test_breeding_and_omics_numbers(run, config, page):
    res = run / "results"
    # 11: GBLUP accuracy, the mean Pearson r over the validation folds
    m = _tsv(res / "gs/cv/cv_metrics.tsv")
    folds = m[(m["model"] == "GBLUP") & (m["trait"] == "yield") & (m["level"] == "fold")]
    facts = page.facts["Prediction accuracy (cross-validation)"]
    assert facts["GBLUP accuracy, yield"] == shown(folds["pearson"].mean())
    # 12: the entry-mean heritability of the trials
    vc = _tsv(res / "gs/blue/varcomp.tsv")
    h2 = vc[(vc["trait"] == "yield") & (vc["component"] == "H2_cullis")]["estimate"].iloc[0]
    assert page.facts["Trials: BLUEs and heritability"]["H² (Cullis), yield"] == shown(h2)
    # 13: the first selected candidate (best rank among the selected)
    sel = _tsv(res / "gs/selection.tsv")
    chosen = sel[sel["selected"].astype(str) == "True"].sort_values("rank")
    assert page.facts["Selection"]["first selected"] == chosen["sample_id"].iloc[0]
    assert page.facts["Selection"]["selected"] == shown(len(chosen))
    # 14: expression features with a QTL: q-value at or below the FDR
    feats = _tsv(res / "omics/expression/qtl_features.tsv")
    n_sig = int((feats["q_value"] <= config["omics"]["fdr"]).sum())
    assert page.facts["expression"]["with a QTL (q <= FDR)"] == shown(n_sig)


def test_provenance_numbers(run, page):
    # 15: the peak memory of any job, from the benchmark files
    peak = 0.0
    for path in (run / "benchmarks").rglob("*.tsv"):
        if path.name != "build_report.tsv":  # written after the page
            peak = max(peak, float(_tsv(path)["max_rss"].iloc[0]))
    assert page.facts["Run time and memory per rule"]["peak memory"].endswith(f"({shown(peak)} MB)")
    assert page.section_ids == [
        "collection",
        "structure",
        "loci",
        "breeding",
        "omics",
        "provenance",
    ]


# --- acceptance 1 and 4: the page in a browser without network -----------------------------


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium without network (skipped, with the reason, when missing)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium/chromedriver not installed (Debian: chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium not installed (pip install selenium)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: nothing to fetch
        "--no-proxy-server",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_network_conditions(
        offline=True, latency=0, download_throughput=0, upload_throughput=0
    )
    yield driver
    driver.quit()


def _screenshot(driver, path: Path) -> Path:
    """The whole page (beyond the window) as a PNG."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _click(driver, element) -> None:
    """A real mouse click at the element's centre (scrolled into view first)."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    ActionChains(driver).move_to_element(element).click().perform()


def test_page_renders_offline(browser, index, page, run, tmp_path):
    from selenium.webdriver.common.by import By

    text = index.read_text(encoding="utf-8")
    assert index.stat().st_size < MAX_BYTES, f"{index.stat().st_size / 1e6:.1f} MB"
    assert not re.findall(r"https?://", text), "the page names a network URL"
    browser.get_log("browser")  # empty the log
    browser.get(index.resolve().as_uri())
    timing = browser.execute_script(
        "var t = performance.getEntriesByType('navigation')[0];"
        "return [t.loadEventEnd - t.startTime, t.domContentLoadedEventEnd - t.startTime];"
    )
    assert 0 < timing[0] < MAX_LOAD_MS, f"page loaded in {timing[0]:.0f} ms"

    # every image decodes
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    assert len(images) >= 5
    bad = [alt for alt, done, width in images if not done or width <= 0]
    assert not bad, f"images that do not decode: {bad}"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.plot")) >= 15

    # every table has its rows; whole files have all of theirs
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.data')).map("
        "t => [t.id, t.tBodies[0].rows.length, +t.getAttribute('data-rows')]);"
    )
    assert len(tables) >= 25
    empty = [tid for tid, n, declared in tables if n == 0 or n != declared]
    assert not empty, f"tables without their rows: {empty}"
    n_rows = dict((tid, n) for tid, n, _ in tables)
    res = run / "results"
    assert n_rows["sample-qc"] == len(_tsv(res / "genotypes/qc/sample_qc.tsv"))
    assert n_rows["selection"] == len(_tsv(res / "gs/selection.tsv"))
    assert n_rows["fst"] == len(_tsv(res / "census/fst.tsv"))

    # a click on a Manhattan point selects its locus's lead in the lead table
    plot = browser.find_element(By.CSS_SELECTOR, "svg.manhattan")
    table_id = plot.get_attribute("data-leads")
    leads = plot.find_elements(By.CSS_SELECTOR, "circle.lead")
    assert len(leads) >= 2
    info = browser.find_element(By.ID, plot.get_attribute("id") + "-info")
    before = info.text

    def selected() -> list[str]:
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tr.selected'))"
            ".map(r => r.getAttribute('data-lead'));",
            table_id,
        )

    assert selected() == []
    first = leads[0].get_attribute("data-lead")
    _click(browser, leads[0])
    assert selected() == [first]
    assert first in info.text and info.text != before
    # a point that is not a lead: the lead of its chromosome is selected
    second = leads[1].get_attribute("data-lead")
    chrom = second.split(":")[0]
    assert chrom != first.split(":")[0]
    point = browser.execute_script(
        "var pts = Array.from(arguments[0].querySelectorAll('g.pts circle'))"
        ".filter(c => c.getAttribute('data-v').split(':')[0] === arguments[1]);"
        "return pts[Math.floor(pts.length / 2)];",
        plot,
        chrom,
    )
    _click(browser, point)
    assert selected() == [second], info.text

    # a click on a chromosome's name zooms onto it, a second click zooms out
    names = plot.find_elements(By.CSS_SELECTOR, "text.chrom")
    _click(browser, names[0])
    hidden = browser.execute_script(
        "return Array.from(arguments[0].querySelectorAll('g.pts circle'))"
        ".filter(c => c.style.display === 'none').length;",
        plot,
    )
    assert hidden > 0 and plot.get_attribute("data-zoom") == "zoomed"
    browser.find_element(By.ID, plot.get_attribute("id") + "-reset").click()
    assert plot.get_attribute("data-zoom") == ""

    # headers sort, the box filters
    table = browser.find_element(By.ID, "selection")
    rank = table.find_element(By.XPATH, ".//th[normalize-space()='rank']")
    rank.click()
    rank.click()  # descending
    first_rank = table.find_element(By.CSS_SELECTOR, "tbody tr td").text
    assert first_rank == str(n_rows["selection"])
    box = browser.find_element(By.CSS_SELECTOR, "input.filter[data-table='sample-qc']")
    box.send_keys("GMG3_")
    want = sum("gmg3_" in " ".join(r).lower() for r in page.tables["sample-qc"]["rows"])
    shown_rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#sample-qc tbody tr'))"
        ".filter(r => !r.hidden).length;"
    )
    assert shown_rows == want > 0

    # no JavaScript error, no blocked request
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe

    artefacts = Path(os.environ.get("BREEDOMICS_ARTIFACTS") or tmp_path)
    shot = _screenshot(browser, artefacts / "report-index.png")
    assert shot.stat().st_size > 10_000
    print(
        f"page {index.stat().st_size / 1e6:.2f} MB, loaded in {timing[0]:.0f} ms "
        f"(DOM ready {timing[1]:.0f} ms), screenshot {shot}"
    )
