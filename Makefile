# One entry for set-up, run and test. `make run` and `make test` each do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test setup setup-test assets system-test-deps bench lock clean

run: setup assets
	$(BIN)/govflow init --demo
	$(BIN)/govflow demo-work
	$(BIN)/govflow serve --host $(HOST) --port $(PORT)

# Every database test runs on SQLite and on PostgreSQL (tests/conftest.py). worksteal balances the two workers
# test by test (a whole file on one worker left the other idle for minutes); each worker starts at most one
# Chromium and one PostgreSQL cluster, when its first test needs them.
test: setup-test assets system-test-deps
	$(BIN)/pytest -n 2 --dist worksteal -q $(PYTEST_ARGS)

setup: $(STAMP)

# Every dependency, direct or not, at the version and hashes of requirements-test.lock (the Dockerfile installs
# requirements.lock, the same without the test tools); then govflow itself, editable, adding nothing.
$(STAMP): pyproject.toml requirements-test.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-test.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# After changing a dependency in pyproject.toml: pin everything again (needs the package index).
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links
lock: setup
	$(BIN)/pip install --quiet pip-tools==7.6.2
	$(BIN)/pip-compile $(LOCK_OPTIONS) --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTIONS) --extra test --output-file requirements-test.lock pyproject.toml

setup-test: setup

# Front-end packages from npm (no CDN): copied into web/static/vendor by scripts/vendor-assets.
assets: node_modules/.package-lock.json
	$(BIN)/python scripts/vendor_assets.py

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Debian's Chromium and PostgreSQL server for the browser and PostgreSQL tests (installed when missing).
system-test-deps:
	bash scripts/install-test-deps

bench: setup assets
	$(BIN)/python -m bench.engine_steps
	$(BIN)/python -m bench.http_inbox
	$(BIN)/python -m bench.timer_lag
	$(BIN)/python -m bench.manager_views
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.xml_normalise

clean:
	rm -rf $(VENV) node_modules web/static/vendor instance
