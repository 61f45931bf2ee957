# One entry for set-up, run and test. `make run` and `make test` each do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test setup setup-test assets system-test-deps bench clean

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

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

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
