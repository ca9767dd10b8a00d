"""The run's summary page: ``results/report/index.html`` (``breedomics report``).

One self-contained HTML file (images as ``data:`` URIs, CSS and a small hand-written
JavaScript inlined; nothing is fetched from the network) that answers, in order: the
collection and its QC, structure and diversity, the loci behind traits, breeding values,
molecular QTL, and how the run was made. Every section shows its plot, a sortable and
filterable table and a relative link to the TSV it came from.

Modules, one job each:

``fmt``         how every number on the page is written (one rule, see :func:`fmt.number`)
``collect``     the run's files as plain tables (TSV, ``bcftools stats``, benchmarks)
``plots``       inline SVG plots and inlined PNGs
``tables``      table HTML (escaped cells, sort keys, filter box, source link)
``blocks``      a run file's table with its link, notes, a stage's section frame
``html``        escaping and the page skeleton (CSS and JavaScript from ``assets``)
``assets``      the page's CSS and JavaScript
``checks``      the warning box: problems read off the tables
``stages``      which stages ran, and why the others did not
``collection``, ``structure``, ``loci``, ``breeding``, ``molecular``, ``provenance``
                the six sections
``build``       reads the run, assembles the sections, writes the page
``cli``         ``breedomics report``
"""

from __future__ import annotations

__all__ = ["ReportOptions", "build_report"]


def __getattr__(name: str):
    # build pulls in every section module: load it only when asked for
    if name in __all__:
        from breedomics.report import build

        return getattr(build, name)
    raise AttributeError(name)
