# The two commands: `make run` and `make test`. Each sets itself up on a fresh machine:
# a virtualenv with the project installed, and Azurite from the pinned package.json.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
PORT ?= 7071
# checkov (the infra/ scan in the tests) pins packages the test tools cannot share
# (packaging<24), so it lives in an environment of its own.
CHECKOV_VENV := $(VENV)/tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: run test lint bench setup clean sample-data wrk chromium

# What `make lint` checks: the host, the emulator, the app and its library, the benchmarks.
LINT_PATHS := src shared functions function_app.py bench scripts

setup: $(STAMP_PY) $(STAMP_NODE) chromium

# Debian packages are installed as root, else through `sudo -n` (never a password prompt).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

# The dashboard's browser tests drive Debian's chromium through Playwright (which is told
# its path: no browser download). Installed when missing; where apt-get cannot, those tests
# skip locally (and fail under CI=true).
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "Installing chromium with apt-get"; \
		$(APT_INSTALL) chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(APT_INSTALL) chromium >/dev/null; }; } || \
		echo "warning: chromium is missing and could not be installed" >&2

$(STAMP_PY): pyproject.toml requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -r requirements.txt
	touch $@

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==3.3.30'

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Starts Azurite and the Service Bus emulator (unless the settings point elsewhere),
# then the host on port $(PORT) with the app in this folder, function keys enforced as on
# Azure (--auth; the README's walkthrough sends them). Ctrl-C stops everything.
run: setup local.settings.json
	$(VENV)/bin/funchost dev --auth --port $(PORT)

# Sample inputs for the README's "Try it" (a CSV and images), uploaded to the storage the
# settings name (Azurite under `make run`).
sample-data: setup
	PYTHONPATH=. $(PY) scripts/sample_data.py

# The local settings (development-only secrets) from the committed example, once; edit the
# copy freely: it is not committed.
local.settings.json:
	cp local.settings.example.json $@

# ruff's rules and mypy's strictness live in pyproject.toml; zero findings is the bar.
lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy $(LINT_PATHS)

# The suite mostly waits (on Azurite, the emulator, leases and timers), so it runs in
# parallel processes, each with its own Azurite and emulator.
TEST_WORKERS ?= 4

test: setup lint $(CHECKOV)
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: setup wrk
	$(PY) -m bench

# wrk, the native HTTP load generator `make bench` drives the HTTP benchmark with (Debian's
# package), installed with apt-get when missing. When that fails the benchmark still runs,
# on its Python load generator, and says so.
wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "Installing wrk with apt-get"; \
		$(APT_INSTALL) wrk >/dev/null || { $(SUDO) apt-get update -qq && $(APT_INSTALL) wrk >/dev/null; }; } \
		|| echo "make bench: could not install wrk with apt-get; the HTTP benchmark falls back to its Python load generator"

clean:
	rm -rf $(VENV) node_modules .funchost .pytest_cache
