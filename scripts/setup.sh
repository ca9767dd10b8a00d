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

# missing_tools TOOL...: those not on PATH, one per line.
missing_tools() {
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
}

# can_apt: root with apt-get, so Debian packages can be installed here.
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

# apt_install PACKAGE...: install (refreshing the package lists first if that fails).
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends "$@" \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; }; } >/dev/null
}

mapfile -t missing < <(missing_tools "${TOOLS[@]}")
if ((${#missing[@]})); then
  if can_apt; then
    echo "setup: installing Debian packages for: ${missing[*]}"
    apt_install "${APT_PACKAGES[@]}"
  else
    echo "setup: missing tools: ${missing[*]}" >&2
    echo "setup: install them (as root: apt-get install ${APT_PACKAGES[*]};" >&2
    echo "       or use 'snakemake --use-conda' with the envs in envs/)" >&2
    exit 1
  fi
fi

# Tools of the test suite only (the workflow never calls them): plink1.9 as an anchor,
# headless Chromium and its driver to render the summary page (test_report.py).
TEST_APT_PACKAGES=(plink1.9 chromium chromium-driver)
TEST_TOOLS=(plink1.9 chromium chromedriver)
if [ "${1:-}" = --test ]; then
  mapfile -t test_missing < <(missing_tools "${TEST_TOOLS[@]}")
  if ((${#test_missing[@]})); then
    if can_apt; then
      echo "setup: installing the tests' tools: ${test_missing[*]}"
      apt_install "${TEST_APT_PACKAGES[@]}"
    else
      echo "setup: tests needing ${test_missing[*]} will be skipped (not installed)" >&2
    fi
  fi
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
  .venv/bin/pip install -q -e '.[dev,workflow,analysis]'
  touch "$stamp"
fi
echo "setup: ready (activate with: source .venv/bin/activate)"
