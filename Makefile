# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    start `textwire serve` on the embedded default (SQLite, local media, dev keys)
#   make test   ruff, mypy and the whole test suite (what .ci/run calls)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest install clean bench-webhook bench-refresh bench-media bench-receipts

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/textwire serve

lint: $(STAMP)
	$(BIN)/ruff check bot handlers storage scheduler tests bench
	$(BIN)/ruff format --check bot handlers storage scheduler tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench-webhook: $(STAMP)
	$(BIN)/python bench/webhook.py

bench-refresh: $(STAMP)
	$(BIN)/python bench/refresh.py

bench-media: $(STAMP)
	$(BIN)/python bench/media.py

bench-receipts: $(STAMP)
	$(BIN)/python bench/receipts.py

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
