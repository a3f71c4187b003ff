# Everything starts from a fresh clone with only python3 (>= 3.11): the first target that needs
# the virtualenv creates it and installs the package with its test extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test bench bench-failover bench-rivals fuzz lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)  ## the gateway on the demo config: http://127.0.0.1:8080, mock provider, SQLite
	$(VENV)/bin/bifrost-py demo

test: $(STAMP)  ## the whole test suite
	$(PY) -m pytest -q

bench: $(STAMP)  ## the gateway against a bare aiohttp relay (the floor): throughput, CPU, 100/500 streams
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench

bench-failover: $(STAMP)  ## a primary that answers 429 half the time, and a healthy fallback
	$(PY) -m bench.failover_scenario

bench-rivals: $(STAMP)  ## bifrost-py next to LiteLLM's proxy (installs LiteLLM in .venv-rivals)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	test -x .venv-rivals/bin/litellm || ($(PYTHON) -m venv .venv-rivals && .venv-rivals/bin/pip install --quiet 'litellm[proxy]')
	$(PY) -m bench.rivals --litellm .venv-rivals/bin/litellm

fuzz: $(STAMP)  ## random requests for FUZZ_SECONDS (default 300): status histogram and every failure
	$(PY) -m bench.fuzz --seconds $(or $(FUZZ_SECONDS),300)

# Pinned: a new release of either may add rules, and CI must not fail on a release day.
LINTERS := ruff==0.17.6 mypy==2.4.1

lint: $(STAMP)  ## ruff on everything, mypy on the core (CI runs this before the tests)
	$(PY) -m pip install --quiet $(LINTERS)
	$(VENV)/bin/ruff check bifrost_py plugins tests bench
	$(VENV)/bin/mypy bifrost_py --ignore-missing-imports

docs: $(STAMP)  ## regenerate the hook reference in docs/plugins.md from bifrost_py/hookspecs.py
	$(PY) -m bifrost_py.hookdocs --write docs/plugins.md

clean:
	rm -rf $(VENV) .venv-rivals .bifrost-demo .pytest_cache
