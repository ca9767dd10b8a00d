# The two commands of the README:
#   make run   - install what is missing, then run the default workflow on test-data/
#   make test  - install what is missing, then run the test suite
# Both are idempotent: a second call installs nothing and reruns nothing.

SHELL := /bin/bash
CORES ?= 2
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup run test lint bench clean

setup:
	@scripts/setup.sh

run: setup
	snakemake --cores $(CORES)

test: setup
	pytest -q -ra

lint: setup
	ruff check src tests scripts bench
	snakefmt --check workflow
	snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake
