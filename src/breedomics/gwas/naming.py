"""File names of a scan's per-trait outputs.

Every per-trait file of ``breedomics gwas run`` is ``<out>/<trait>.<model><suffix>``
(``.tsv.gz``, ``.leads.tsv``, ``.manhattan.png`` ...), with the trait name made safe for
file systems. The scan, the shards' gather, the report, the lead annotation and the
molecular-QTL stage (which names its features' files before the scan) all name files
through these functions, so they agree on every name.
"""

from __future__ import annotations

import os
import re

__all__ = ["safe_name", "trait_stem"]


def safe_name(name: str) -> str:
    """File-name-safe version of a trait name.

    Runs of characters other than letters, digits, ``.``, ``_`` and ``-`` become one
    ``_``; leading and trailing ``.``/``_`` are dropped; an empty result is ``trait``.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "trait"


def trait_stem(out_dir: str | os.PathLike, trait: str, model: str) -> str:
    """``<out_dir>/<safe trait>.<model>``: the common prefix of a trait's output files."""
    return os.path.join(str(out_dir), f"{safe_name(trait)}.{model}")
