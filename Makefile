# `make demo` and `make test` each do all of their own set-up on a fresh machine with python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GENERATED_LOCK := {{cookiecutter.project_slug}}/requirements-dev.lock
DEMO_DIR := .local/demo

.PHONY: install lint test demo clean

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
	$(BIN)/ruff check hooks tests
	$(BIN)/ruff format --check hooks tests

# Template tests: bakes of an option matrix, each checked and its own test suite run.
test: lint
	$(BIN)/pytest -n 2 --dist loadgroup tests

# Bake the defaults, then run the generated repository's own `make local` (its own venv): both
# pipelines executed locally from their definitions, training then every drift stage.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C "$$(find $(DEMO_DIR) -mindepth 1 -maxdepth 1 -type d | head -n 1)" local

clean:
	rm -rf $(VENV) .tools .local .pytest_cache .ruff_cache
