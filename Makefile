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
# Prefect UI in headless Chromium: Debian's `chromium`, driven by Playwright (a test extra;
# never `playwright install`).
/usr/bin/chromium:
	@if [ "$$(id -u)" != 0 ]; then echo "install Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

test-e2e: setup /usr/bin/chromium
	$(BIN)/python -m tests.pg_ready "$(PG_URL)"
	$(BIN)/python -m pytest -q -m e2e tests/e2e

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info
