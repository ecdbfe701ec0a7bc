# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    start `textwire serve` on the embedded default (SQLite, local media, dev keys)
#   make test   ruff, mypy and the whole test suite (what .ci/run calls)
# `make clean` removes the virtualenv and caches, never data/ (keys and database): `make clean-data`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data

.PHONY: run test lint typecheck pytest install clean clean-data bench-webhook bench-refresh bench-media bench-receipts

# A .venv made by another Python (another version, or an interpreter that moved or is gone) is
# rebuilt, not reused: compare the venv's interpreter with $(PYTHON) by version and base prefix.
PYID := import sys; print(sys.version.split()[0], sys.base_prefix)
VENV_PY := $(shell [ -x $(BIN)/python ] && $(BIN)/python -c '$(PYID)' 2>/dev/null)
WANT_PY := $(shell $(PYTHON) -c '$(PYID)' 2>/dev/null)
ifneq ($(VENV_PY),$(WANT_PY))
.PHONY: $(STAMP)
endif

$(STAMP): pyproject.toml constraints.txt
	@if [ -d $(VENV) ] && [ "$(VENV_PY)" != "$(WANT_PY)" ]; then \
		echo "$(VENV) was made by another Python ($(or $(VENV_PY),gone)); rebuilding it with $(WANT_PY)"; \
		rm -rf $(VENV); \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/textwire serve

lint: $(STAMP)
	$(BIN)/ruff check bot handlers storage scheduler tests bench
	$(BIN)/ruff format --check bot handlers storage scheduler tests bench
	$(BIN)/hadolint Dockerfile
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# the suite in PYTEST_WORKERS processes (pytest-xdist; 0: in this one, as `pytest tests/...` runs)
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

test: lint typecheck pytest

bench-webhook: $(STAMP)
	$(BIN)/python bench/webhook.py

bench-refresh: $(STAMP)
	$(BIN)/python bench/refresh.py

bench-media: $(STAMP)
	$(BIN)/python bench/media.py

bench-receipts: $(STAMP)
	$(BIN)/python bench/receipts.py

# The virtualenv and caches only: data/ holds the keys and the database and is never touched here.
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build *.egg-info

# Deletes $(DATA)/: the SQLite database, the local media, the Fernet and link-signing keys and the
# development token. Tokens stored with those keys cannot be read again. Asks for YES=1.
clean-data:
	@if [ "$(YES)" != "1" ]; then \
		echo "clean-data deletes $(DATA)/ (database, receipt photos, encryption keys): this cannot be undone."; \
		echo "Back it up first (textwire backup PATH), then run: make clean-data YES=1"; \
		exit 2; \
	fi
	@echo "deleting $(DATA)/"
	rm -rf $(DATA)
