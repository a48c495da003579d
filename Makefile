# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export DO_NOT_TRACK = 1
export PREFECT_SERVER_ANALYTICS_ENABLED = false

.PHONY: setup demo test test-sqlite test-postgres test-e2e bench clean

$(BIN)/outreach: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/outreach

demo: setup
	$(BIN)/outreach demo

test: setup test-sqlite test-postgres test-e2e

test-sqlite: setup
	$(BIN)/python -m pytest -q -m "not e2e"

test-postgres: setup
	$(BIN)/python -m tests.pg_ready "$(PG_URL)"
	OUTREACH_TEST_DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -q -m "not e2e"

# The real stack (`outreach stack up`, also on PostgreSQL with two workers) and the
# Prefect UI in headless Chromium (apt `chromium`; .ci/run installs it).
test-e2e: setup
	$(BIN)/python -m tests.pg_ready "$(PG_URL)"
	$(BIN)/python -m pytest -q -m e2e tests/e2e

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info
