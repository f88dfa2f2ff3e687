# One way to do each thing, for people and CI alike.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/terminflow

.PHONY: install install-dev run test test-sqlite test-postgres lint format typecheck bench builder builder-check email-editor

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

run: install
	$(BIN)/terminflow serve

# The whole suite, on SQLite and then on PostgreSQL.
test: test-sqlite test-postgres

test-sqlite:
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-postgres:
	TERMINFLOW_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -q -n 2 --dist loadfile

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck:
	$(BIN)/mypy src/terminflow

bench:
	$(BIN)/python bench/ingest.py

# The campaign builder island: rebuild the committed bundle from frontend/builder (needs Node).
builder:
	cd frontend/builder && npm ci --no-audit --no-fund --loglevel=error && npm run build

# The visual email editor island: rebuild its committed bundle from frontend/email-editor.
email-editor:
	cd frontend/email-editor && npm ci --no-audit --no-fund --loglevel=error && npm run build

# Fails when a committed bundle (builder, email editor) differs from a fresh build.
builder-check:
	frontend/builder/check-bundle.sh
	frontend/email-editor/check-bundle.sh
