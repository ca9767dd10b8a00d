#!/usr/bin/env bash
# Install everything breedomics needs on Debian/Ubuntu, idempotently:
#   - bioinformatics tools from Debian packages (apt-get, when root; otherwise it checks
#     they are on PATH and says what is missing, e.g. for conda users),
#   - Python packages into .venv/ at the repository root.
#   - with --test: also the anchor tools the tests compare with (plink1.9), when root;
#     otherwise the tests that need them are skipped with the reason.
# Usage: scripts/setup.sh [--test]     (tools + venv)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(bwa samtools bcftools tabix fastp freebayes plink2 gemma beagle vcftools gzip dwgsim)
TOOLS=(bwa samtools bcftools tabix bgzip fastp freebayes plink2 gemma beagle dwgsim)

# ensure_tools require|optional PACKAGES TOOLS (names of arrays): when one of TOOLS is not
# on PATH, install PACKAGES (root with apt-get; the package lists are refreshed only if the
# install fails); otherwise stop saying what to install (require) or warn (optional).
ensure_tools() {
  local -n packages=$2 tools=$3
  local missing
  mapfile -t missing < <(for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done)
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages for: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq --no-install-recommends "${packages[@]}" \
      || { apt-get update -qq \
        && apt-get install -y -qq --no-install-recommends "${packages[@]}"; }; } >/dev/null
  elif [ "$1" = require ]; then
    echo "setup: missing tools: ${missing[*]}" >&2
    echo "setup: install them (as root: apt-get install ${packages[*]};" >&2
    echo "       or use 'snakemake --use-conda' with the envs in envs/)" >&2
    exit 1
  else
    echo "setup: tests needing ${missing[*]} will be skipped (not installed)" >&2
  fi
}

ensure_tools require APT_PACKAGES TOOLS

# Tools of the test suite only (the workflow never calls them): plink1.9 as an anchor,
# headless Chromium and its driver to render the summary page (test_report.py).
TEST_APT_PACKAGES=(plink1.9 chromium chromium-driver)
TEST_TOOLS=(plink1.9 chromium chromedriver)
if [ "${1:-}" = --test ]; then
  ensure_tools optional TEST_APT_PACKAGES TEST_TOOLS
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last successful install.
stamp=.venv/.breedomics-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  # Bytecode compiled once, on every core: pip compiles file by file on one (~45 of its
  # ~80 s), and without .pyc files every Python process would compile what it imports
  # again (always so under PYTHONDONTWRITEBYTECODE).
  .venv/bin/pip install -q --no-compile -e '.[dev,workflow,analysis]'
  .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null || true
  touch "$stamp"
fi
echo "setup: ready (activate with: source .venv/bin/activate)"
