# The two commands of the README:
#   make run   - install what is missing, then run the default workflow on test-data/
#   make test  - install what is missing, then run the test suite
# Both are idempotent: a second call installs nothing and reruns nothing.

SHELL := /bin/bash
CORES ?= 2
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup run test test-slurm lint clean

setup:
	@scripts/setup.sh

# A local run: SLURM_CONF=/dev/null spares the ~9 s that Snakemake's SLURM plugin waits on
# `scontrol` at start-up when SLURM is installed but its controller is down (docs/cluster.md).
run: setup
	SLURM_CONF=/dev/null snakemake --cores $(CORES)

# Includes the live-scheduler tests (tests/test_slurm.py): as root they start a one-node
# SLURM cluster on this machine (scripts/slurm-localhost.sh), else they use a running one
# or are skipped with the reason.
test:
	@scripts/setup.sh --test
	pytest -q -ra --durations=15

# Only the live-scheduler tests.
test-slurm: setup
	pytest -q -ra -m slurm tests/test_slurm.py

lint: setup
	ruff check src tests scripts bench
	snakefmt --check workflow
	snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake
