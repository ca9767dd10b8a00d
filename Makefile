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

run: setup
	snakemake --cores $(CORES)

test: setup
	pytest -q -ra -m "not slurm"

# The live-scheduler tests (issue 6) start a single-node SLURM cluster on this machine
# (root needed) and run the workflow through it; they take much longer than the suite.
test-slurm: setup
	pytest -q -ra -m slurm tests/test_slurm.py

lint: setup
	ruff check src tests scripts bench
	snakefmt --check workflow
	snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake
