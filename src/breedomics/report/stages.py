"""Which stages of the run produced results, and for those that did not, why (the config
switched them off, or their tables are not in ``results/`` yet)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from breedomics.report.collect import RunFiles

__all__ = ["STAGES", "Stage", "stages"]

#: Stage key -> (name on the page, the file that shows it ran).
STAGES = {
    "reads": ("reads to calls", "qc/bcftools/all.pass.stats.txt"),
    "genotypes": ("genotype QC and imputation", "genotypes/qc/summary.tsv"),
    "census": ("census", ""),
    "gwas": ("GWAS", ""),
    "gs": ("genomic selection", ""),
    "omics": ("molecular QTL", ""),
}


@dataclass(frozen=True)
class Stage:
    """A stage: its name, whether its results are there, and if not, why."""

    key: str
    name: str
    ran: bool
    why: str = ""

    @property
    def title(self) -> str:
        """The name starting a sentence (``GWAS`` stays ``GWAS``)."""
        return self.name[:1].upper() + self.name[1:]


def _enabled(config: Mapping, section: str, default: bool) -> bool:
    sub = config.get(section)
    return bool(sub.get("enabled", default)) if isinstance(sub, Mapping) else default


def _off(key: str) -> str:
    return f"switched off in the config (`{key}: false`)"


def stages(run: RunFiles, config: Mapping) -> dict[str, Stage]:
    """Every stage's status, in page order."""
    geno_on = _enabled(config, "genotypes", True)
    missing = "switched on, but its tables are not in {} (the stage has not run yet)"
    out: dict[str, Stage] = {}

    def add(key: str, on: bool, why_off: str, found: bool, where: str) -> None:
        name = STAGES[key][0]
        if not on:
            out[key] = Stage(key, name, False, why_off)
        elif not found:
            out[key] = Stage(key, name, False, missing.format(where))
        else:
            out[key] = Stage(key, name, True)

    reads_on = bool(config.get("units"))
    add(
        "reads",
        reads_on,
        "no unit sheet (`units` empty): the run started from genotypes",
        run.exists(STAGES["reads"][1]),
        "results/qc/bcftools/",
    )
    add(
        "genotypes",
        geno_on,
        _off("genotypes.enabled"),
        run.exists(STAGES["genotypes"][1]),
        "results/genotypes/qc/",
    )
    for key in ("census", "gwas", "gs", "omics"):
        default = key == "census"
        on = geno_on and _enabled(config, key, default)
        why = _off("genotypes.enabled") if not geno_on else _off(f"{key}.enabled")
        found = {
            "census": lambda: bool(run.glob("census/*.tsv")),
            "gwas": lambda: bool(run.glob("gwas/*/summary.*.tsv")),
            "gs": lambda: run.exists("gs/cv/cv_summary.tsv") or run.exists("gs/selection.tsv"),
            "omics": lambda: bool(run.glob("omics/*/summary.tsv")),
        }[key]()
        add(key, on, why, found, f"results/{key}/")
    return out
