# The two commands a fresh machine needs: `make serve` and `make test`.
# Both create .venv and install what they need (Python packages from PyPI,
# Mermaid from npm); nothing else is downloaded.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MERMAID := node_modules/mermaid/dist/mermaid.min.js

.PHONY: setup serve build test lint bench clean

setup: $(STAMP) $(MERMAID)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(MERMAID): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

serve: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --livereload

build: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check plugins tests bench
	$(BIN)/mypy

test: setup lint
	NO_MKDOCS_2_WARNING=1 $(BIN)/pytest

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/journey.py
	$(BIN)/python bench/plugin.py
	$(BIN)/python bench/proof.py

clean:
	rm -rf $(VENV) node_modules site .cache .pytest_cache .mypy_cache .ruff_cache
