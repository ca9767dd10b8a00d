"""Wall time and peak resident memory of a child command, measured honestly.

``ru_maxrss`` of a child is not its own peak alone: a forked child starts with
the parent's resident pages, and Linux keeps that high-water mark across
``execve``. A benchmark that has simulated data in memory would therefore
report its own size as every tool's "peak". :func:`measure` runs the command
through this file as a tiny launcher process (``python _measure.py OUT --
CMD...``): the launcher starts small, spawns the command, waits for it with
``wait4`` and writes the command's wall time and ``ru_maxrss`` to ``OUT``.
The floor of the reported peak is then the launcher's own size (~10 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(cmd: list[str], cwd: Path, log: Path) -> dict:
    """Run ``cmd`` in ``cwd`` (output to ``log``); wall seconds, peak RSS (MB), exit code,
    CPU seconds (user + system)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        with open(log, "w") as fh:
            launcher = [sys.executable, "-S", str(Path(__file__).resolve()), str(out), "--"]
            subprocess.run(launcher + [str(c) for c in cmd], cwd=cwd, stdout=fh, stderr=fh)
        res = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    if res["exit"] != 0:
        print(
            f"  ! {' '.join(map(str, cmd[:4]))} ... exited {res['exit']}; see {log}",
            file=sys.stderr,
        )
    return res


def _launch(out: str, cmd: list[str]) -> int:
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd)
    except OSError as exc:
        print(f"cannot run {cmd[0]}: {exc}", file=sys.stderr)
        Path(out).write_text(json.dumps({"wall_s": 0.0, "peak_mb": 0.0, "exit": 127}))
        return 0
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime  # CPU seconds: robust to a busy machine
    res = {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024, "exit": code, "cpu_s": cpu}
    Path(out).write_text(json.dumps(res))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: _measure.py OUT.json -- CMD [ARGS...]")
    sys.exit(_launch(sys.argv[1], sys.argv[3:]))
