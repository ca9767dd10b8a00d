"""bench/compare_results.py: the check that a refactoring changes no result (issue 13)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("compare_results", REPO / "bench/compare_results.py")
compare_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_results)


def _folder(root: Path, value: str, extra: bool = False) -> Path:
    (root / "gwas").mkdir(parents=True)
    (root / "gwas/summary.tsv").write_text(f"trait\tbeta\tp\nyield\t{value}\t1e-300\n")
    with gzip.open(root / "gwas/hits.tsv.gz", "wt") as fh:
        fh.write("id\tp\nrs1\tnan\n")
    (root / "gwas/manhattan.png").write_bytes(b"\x89PNG" + value.encode())  # not compared
    (root / "gwas/timing.tsv").write_text(f"s\n{value}\n")  # wall clock: not compared
    if extra:
        (root / "gwas/extra.tsv").write_text("a\n1\n")
    return root


def test_equal_within_tolerance_and_differences_named(tmp_path):
    a = _folder(tmp_path / "a", "0.123456789012")
    same = _folder(tmp_path / "b", "0.123456789012" + "4")  # 4e-13 apart
    assert compare_results.compare(a, same) == []

    off = _folder(tmp_path / "c", "0.123456799012", extra=True)  # 1e-8 apart, one more file
    problems = compare_results.compare(a, off)
    assert problems == [
        f"only in {tmp_path / 'c'}: gwas/extra.tsv",
        "gwas/summary.tsv: line 2, field 2: '0.123456789012' vs '0.123456799012'",
    ]
    assert compare_results.main([str(a), str(off)]) == 1
    assert compare_results.main([str(a), str(off), "--tol", "1e-6"]) == 1  # the extra file
    assert compare_results.main([str(a), str(same)]) == 0


def test_cells():
    eq = compare_results.cells_equal
    assert eq("nan", "NaN", 1e-10) and eq("inf", "inf", 1e-10) and not eq("inf", "-inf", 1)
    assert eq("1e6", "1000000.0001", 1e-10)  # relative above magnitude 1
    assert not eq("1e-9", "2e-9", 1e-10) and eq("1e-11", "2e-11", 1e-10)  # absolute below
    assert not eq("A", "B", 1.0)
