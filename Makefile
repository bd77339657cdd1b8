# `make demo` and `make test` each do all of their own set-up on a fresh machine with python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GENERATED_LOCK := {{cookiecutter.project_slug}}/requirements-dev.lock
DEMO_DIR := .local/demo

.PHONY: install lint test demo bench bench-quick bench-lock clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(GENERATED_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet --require-hashes -r '$(GENERATED_LOCK)'
	$(BIN)/python -m pip install --quiet --group dev
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet pip==26.3
	.tools/bin/python -m pip install --quiet --group infra
	touch $@

lint: install
	$(BIN)/ruff check hooks tests benchmarks
	$(BIN)/ruff format --check hooks tests benchmarks

# Template tests: bakes of an option matrix, each checked and its own test suite run.
test: lint
	$(BIN)/pytest -n 2 --dist loadgroup tests

# Bake the defaults, then run the generated repository's own `make local` (its own venv): both
# pipelines executed locally from their definitions, training then every drift stage.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C "$$(find $(DEMO_DIR) -mindepth 1 -maxdepth 1 -type d | head -n 1)" local

# Benchmarks, not tests: side-by-side ratios written to benchmarks/results.json and
# benchmarks/BENCHMARKS.md (about 25 minutes on 2 cores). Evidently, the comparison for drift,
# lives in its own venv: it needs pandas<3.
EVIDENTLY := .bench/evidently
BENCH_LOCK := benchmarks/requirements-evidently.lock

$(EVIDENTLY)/.installed: $(BENCH_LOCK)
	$(PYTHON) -m venv $(EVIDENTLY)
	$(EVIDENTLY)/bin/python -m pip install --quiet pip==26.3
	$(EVIDENTLY)/bin/python -m pip install --quiet --require-hashes -r $(BENCH_LOCK)
	touch $@

bench: install $(EVIDENTLY)/.installed
	$(BIN)/python benchmarks/run.py --evidently-python $(EVIDENTLY)/bin/python

# The same harness at a tenth of every size (a few minutes); it writes to .local/bench-quick.
bench-quick: install $(EVIDENTLY)/.installed
	$(BIN)/python benchmarks/run.py --quick --evidently-python $(EVIDENTLY)/bin/python --out .local/bench-quick

bench-lock:
	$(PYTHON) -m venv .bench/uv
	.bench/uv/bin/python -m pip install --quiet uv==0.13.9
	.bench/uv/bin/uv pip compile benchmarks/requirements-evidently.in --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes --custom-compile-command "make bench-lock" \
		-o $(BENCH_LOCK)

clean:
	rm -rf $(VENV) .tools .local .bench .pytest_cache .ruff_cache
