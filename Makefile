# Two commands on a fresh machine:
#   make dev    run the portal with demo data at http://127.0.0.1:5000/
#               (make dev PORT=5077 for another port)
#   make test   run the test suite (SQLite + embedded Redis unless TEST_* are set)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs in parallel (pytest-xdist): one worker per core by default.
TEST_WORKERS ?= auto

.PHONY: install dev test lint bench-seed screenshot

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The port `make dev` serves on: make dev PORT=5077.
PORT ?= 5000

dev: install
	$(BIN)/portal dev --port $(PORT)

test: install
	scripts/ensure-chromium
	$(BIN)/pytest -n $(TEST_WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench-seed: install
	$(BIN)/python bench/seed.py --contacts 1000000

screenshot: install
	$(BIN)/python scripts/screenshot.py
