# `make demo` and `make test` each do all of their own set-up on a fresh machine with python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GENERATED_LOCK := {{cookiecutter.project_slug}}/requirements-dev.lock
DEMO_DIR := .local/demo

.PHONY: install lint test test-images demo bench bench-images bench-load bench-estimators bench-caching bench-e2e bench-quick bench-lock clean

install: $(VENV)/.installed

# uv installs the pinned wheels (hash-checked) several times faster than pip; bytecode is then
# compiled once, on every core, and not for the packages' own test suites. Behind a
# TLS-intercepting proxy, point SSL_CERT_FILE at its CA bundle: uv reads it.
UV_VERSION := 0.13.9
UV_INSTALL := $(BIN)/uv pip install --quiet --python
COMPILE_VENV := -m compileall -q -j 0 -x '/tests?/'
# The generated lock is a template: its estimator libraries sit in Jinja blocks. The template's
# venv, which runs every bake's tests, takes them all (the `{%` lines go, the blocks stay).
$(VENV)/.installed: pyproject.toml $(GENERATED_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile uv==$(UV_VERSION)
	sed '/^{%/d' '$(GENERATED_LOCK)' > $(VENV)/generated-dev.lock
	$(UV_INSTALL) $(BIN)/python --require-hashes -r $(VENV)/generated-dev.lock
	$(UV_INSTALL) $(BIN)/python --group dev
	$(PYTHON) -m venv --without-pip .tools
	$(UV_INSTALL) .tools/bin/python --group infra
	$(BIN)/python $(COMPILE_VENV) $(VENV)/lib .tools/lib
	touch $@

lint: install
	$(BIN)/ruff check hooks tests benchmarks
	$(BIN)/ruff format --check hooks tests benchmarks

# Template tests: bakes of an option matrix, each checked and its own test suite run.
# Two workers keep both cores busy: every OpenMP pool under them (HistGradientBoosting, LightGBM,
# XGBoost, in the tests and in the bakes they run) takes one thread instead of spinning against the other.
test: lint
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadgroup tests

# The images, really built and run (about 10 minutes): the default bake, a binary XGBoost bake and
# a Python 3.13 bake each build their four images and run their own `make images-test`; the default
# bake then runs its `make sdk-local-test` (the SageMaker SDK's local mode as a second client of the
# images). The XGBoost bake first runs its own `make test` from scratch: a fourth whole suite, which
# `make test` cannot hold in its 8 minutes.
# Needs root, debootstrap, buildah, podman and docker-compose (Debian: apt-get install debootstrap
# buildah podman docker-compose; and runc on cgroup v1 or hybrid hosts, where podman's default
# crun cannot start containers), or a docker daemon. Chroot isolation works in containers and CI
# sandboxes; the engine's default image store is used unless STORAGE_DRIVER names another (vfs,
# where overlay mounts are refused), which every build and run then shares.
test-images: install
	@for tool in debootstrap buildah podman docker-compose; do command -v $$tool >/dev/null || { \
	  echo "$$tool is missing: apt-get install debootstrap buildah podman docker-compose" >&2; exit 2; }; done
	BUILDAH_ISOLATION=$${BUILDAH_ISOLATION:-chroot} $(BIN)/pytest -m images tests/test_images.py

# Bake the defaults, then run the generated repository's own `make demo` (its own venv): the
# three pipelines executed locally from their definitions, day by day, in two drift stories.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C "$$(find $(DEMO_DIR) -mindepth 1 -maxdepth 1 -type d | head -n 1)" demo

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

# The images: size above the base, cold build, rebuild after a code-only change, and the
# `--containers` overhead (a few minutes). It removes the default bake's images first, so that
# the build is cold, and merges its figures into benchmarks/results.json. Needs what test-images needs.
BENCH_BASE_IMAGE ?= localhost/standin/python:3.11-slim
bench-images: install
	BUILDAH_ISOLATION=$${BUILDAH_ISOLATION:-chroot} \
		$(BIN)/python benchmarks/run.py --images --base-image $(BENCH_BASE_IMAGE) --ca-bundle "$${PIP_CERT:-}"

# The model server under load over the loopback: 10,000 requests, 32 concurrent, 10% malformed (a minute).
bench-load: install
	$(BIN)/python benchmarks/run.py --load

# Every built-in estimator side by side: fit, /invocations and explanations (a few minutes), merged in.
bench-estimators: install
	$(BIN)/python benchmarks/run.py --estimators

# Step caching: `local train` cold, warm and after one hyperparameter change (a minute), merged in.
bench-caching: install
	$(BIN)/python benchmarks/run.py --caching

# Only the local end-to-end figures (five paired rounds, about 7 minutes), merged into results.json.
bench-e2e: install
	$(BIN)/python benchmarks/run.py --end-to-end

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
