# agentdeck — the two commands a new user needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck bench bench-guardrails clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install agentdeck with everything its tests need

serve: $(STAMP)  ## install, then run the server on the embedded default (SQLite, in-process kv, fake model)
	$(BIN)/agentdeck serve

test: $(STAMP)  ## install, then lint, type-check and run the whole test suite
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## gateway throughput and latency against a bare pass-through (needs wrk)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python bench/run.py

bench-guardrails: $(STAMP)  ## what PII and injection guardrails add to a gateway call with a 2 KB prompt (needs wrk)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python bench/guardrails_gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache agentdeck.db*
