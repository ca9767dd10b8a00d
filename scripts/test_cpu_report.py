#!/usr/bin/env python3
"""Where the test suite's CPU time goes: sums a ``BREEDOMICS_TEST_CPU`` log.

On 2 cores the suite's wall time is about its CPU time over 2 (background runs fill the
idle core), so the budget of ``make test`` is a CPU budget. Run the suite with
``BREEDOMICS_TEST_CPU=/tmp/cpu.log pytest -q``, then ``python scripts/test_cpu_report.py
/tmp/cpu.log``: CPU seconds (user + system) per background run and per test module,
counting each test's own CPU, its tracked commands (``tests/conftest.py::popen_tracked``)
and its other child processes.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path


def read_log(path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """(CPU seconds by owner of tracked commands, CPU seconds by test outside them)."""
    tracked: dict[str, float] = defaultdict(float)
    tests: dict[str, float] = defaultdict(float)
    since_last_test = 0.0  # tracked commands that ended during the current test
    for line in path.read_text().splitlines():
        parts = line.split(" ", 4)
        if parts[0] == "test" and len(parts) == 5:
            own, kids, nodeid = float(parts[1]), float(parts[2]), parts[4]
            # the test's children include the tracked commands reaped meanwhile
            tests[nodeid] += own + max(kids - since_last_test, 0.0)
            since_last_test = 0.0
        elif len(parts) >= 4:
            try:
                user, sys_ = float(parts[0]), float(parts[1])
            except ValueError:
                continue  # "Command exited with non-zero status" and such
            tracked[" ".join(parts[3:])] += user + sys_
            since_last_test += user + sys_
    return tracked, tests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    tracked, tests = read_log(args.log)
    by_owner: dict[str, float] = defaultdict(float)
    for owner, cpu in tracked.items():
        by_owner[owner.split("::")[0] if "::" in owner else f"[bg] {owner}"] += cpu
    for nodeid, cpu in tests.items():
        by_owner[nodeid.split("::")[0]] += cpu
    total = sum(by_owner.values())
    print(f"total CPU {total:.0f} s (~{total / 2 / 60:.1f} min on 2 cores)")
    for owner, cpu in sorted(by_owner.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{cpu:8.1f}  {owner}")
    print("\nslowest tests (own CPU + untracked children + tracked commands):")
    per_test = dict(tests)
    for owner, cpu in tracked.items():
        if "::" in owner:
            per_test[owner] = per_test.get(owner, 0.0) + cpu
    for nodeid, cpu in sorted(per_test.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{cpu:8.1f}  {nodeid}")


if __name__ == "__main__":
    main()
