# Vendored browser runtime for the PWA: `make web-assets` builds web/vendor/ (git-ignored) from the npm lock file and
# pinned PyPI wheels, then writes web/vendor/asset-manifest.json for the service worker.
# Included by the top-level Makefile; also works alone: `make -f mk/web.mk web-assets` (it expects .venv to exist).
# Every target is a real file (or a stamp inside the directory it stands for), so deleting node_modules or web/vendor
# rebuilds exactly what is missing, and nothing runs when nothing changed.

PY ?= .venv/bin/python
NODE ?= node
NPM ?= npm
# Included by the top-level Makefile, whose $(VENV)/.installed rule sets up $(PY): every rule that runs $(PY) waits for
# it. Alone, the venv must already exist.
WEB_PY_DEPS ?= $(if $(VENV),$(VENV)/.installed)

WEB_VENDOR := web/vendor
WEB_WHEELS := $(WEB_VENDOR)/wheels
WEB_PYODIDE := $(WEB_VENDOR)/pyodide
WEB_SODIUM := $(WEB_VENDOR)/libsodium
WEB_MANIFEST := $(WEB_VENDOR)/asset-manifest.json

# `npm ci` (exact versions from package-lock.json, no install scripts) only when node_modules is missing or stale.
WEB_NPM_STAMP := node_modules/.vellum-npm-ci

PYODIDE_RUNTIME := $(addprefix $(WEB_PYODIDE)/,pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm)
PYODIDE_STDLIB := $(WEB_PYODIDE)/python_stdlib.zip
PYODIDE_LOCK := $(WEB_PYODIDE)/pyodide-lock.json
SODIUM_FILES := $(addprefix $(WEB_SODIUM)/,libsodium-wrappers.mjs libsodium-sumo.mjs LICENSE)

# Wheels pinned by sha256 in tools/web-wheels.txt ("name==version --hash=..." lines): all pure py3-none-any.
WEB_PINNED_WHEELS := $(addprefix $(WEB_WHEELS)/,$(shell sed -n 's/^\([A-Za-z0-9_.]*\)==\([^ ]*\) .*/\1-\2-py3-none-any.whl/p' tools/web-wheels.txt))
PYCORE_VERSION := $(shell awk -F'"' '/^\[/ {p = ($$0 == "[project]")} p && /^version *=/ {print $$2; exit}' pyproject.toml)
PYCORE_WHEEL := $(WEB_WHEELS)/vellum_pycore-$(PYCORE_VERSION)-py3-none-any.whl
# Directories are listed too, so adding or removing a file rebuilds.
PYCORE_INPUTS := $(shell find pycore \( -name __pycache__ -prune \) -o \( -type d -o -name '*.py' -o -name SPEC.md -o -name py.typed \) -print)
# Files of the app shell (everything under web/ but web/vendor, which the rules below produce).
WEB_SHELL_INPUTS := $(shell find web -path $(WEB_VENDOR) -prune -o -print)

.PHONY: web-assets web-clean

web-assets: $(WEB_MANIFEST)

$(WEB_NPM_STAMP): package.json package-lock.json
	$(NPM) ci --ignore-scripts --no-audit --no-fund
	touch $@

$(PYODIDE_RUNTIME): $(WEB_PYODIDE)/%: $(WEB_NPM_STAMP)
	@mkdir -p $(@D)
	cp node_modules/pyodide/$* $@

# Byte-compiled by Pyodide itself under Node (start-up 2.5-3x faster); the script checks the new zip boots.
$(PYODIDE_STDLIB): tools/bytecompile_stdlib.mjs $(WEB_NPM_STAMP)
	$(NODE) tools/bytecompile_stdlib.mjs node_modules/pyodide $@

$(SODIUM_FILES) &: tools/build_web.py $(WEB_NPM_STAMP) | $(WEB_PY_DEPS)
	$(PY) tools/build_web.py libsodium node_modules $(WEB_SODIUM)

$(WEB_PINNED_WHEELS) &: tools/web-wheels.txt | $(WEB_PY_DEPS)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.14 \
		--require-hashes -r tools/web-wheels.txt -d $(WEB_WHEELS)
	touch $(WEB_PINNED_WHEELS)

$(PYCORE_WHEEL): tools/build_pycore_wheel.py pyproject.toml $(PYCORE_INPUTS) | $(WEB_PY_DEPS)
	$(PY) tools/build_pycore_wheel.py $(WEB_WHEELS)

# The lock names micropip with the sha256 of the wheel we serve (Pyodide's own lock has another hash for it).
$(PYODIDE_LOCK): tools/build_web.py $(WEB_NPM_STAMP) $(WEB_PINNED_WHEELS) | $(WEB_PY_DEPS)
	$(PY) tools/build_web.py lock node_modules/pyodide $(WEB_WHEELS) $@

$(WEB_MANIFEST): tools/build_web.py $(PYODIDE_RUNTIME) $(PYODIDE_STDLIB) $(PYODIDE_LOCK) $(SODIUM_FILES) \
		$(WEB_PINNED_WHEELS) $(PYCORE_WHEEL) $(WEB_SHELL_INPUTS) | $(WEB_PY_DEPS)
	$(PY) tools/build_web.py manifest web

web-clean:
	rm -rf $(WEB_VENDOR) node_modules
