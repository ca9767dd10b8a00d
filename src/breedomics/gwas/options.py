"""Options of the GWAS report stage, kept apart from :mod:`breedomics.gwas.report` so that
the jobs that do not report (``gwas kinship``, shards) need not import its plotting,
clumping and p-value code."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReportOptions"]


@dataclass
class ReportOptions:
    """Options of the report stage."""

    alpha: float = 0.05
    threshold: str = "bonferroni"  # bonferroni | meff | permutation
    clump_p2: float = 0.01
    clump_r2: float = 0.1
    clump_kb: float = 250.0
    plots: bool = True
