# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export DO_NOT_TRACK = 1
export PREFECT_SERVER_ANALYTICS_ENABLED = false

.PHONY: setup demo test test-fast test-sqlite test-postgres test-e2e test-sqlite-e2e bench \
	clean translations

$(BIN)/outreach: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The editable install maps the folders into the outreach namespace with a finder;
	# setuptools warns that it does so every time (nothing to act on): quiet.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/outreach

demo: setup
	$(BIN)/outreach demo

# Two lanes on the two cores: the PostgreSQL suite, and the SQLite suite then the end-to-end
# tests (which make databases of their own, never `test`). Each part's output is printed
# whole when it ends.
test: setup /usr/bin/chromium
	$(MAKE) --no-print-directory -j2 --output-sync=recurse test-postgres test-sqlite-e2e

test-sqlite-e2e: setup /usr/bin/chromium
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-e2e

# The edit-test loop: SQLite only, no slow tests, no browser, on both cores (pytest-xdist);
# stops at the first failure. `make test` runs everything, slow tests included.
test-fast: setup
	$(BIN)/python -m pytest -q -x -n 2 -m "not e2e and not slow"

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
	# fonts-wqy-microhei: Chinese glyphs in the screenshots of tests/e2e/test_ui_zh.py.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	    fonts-wqy-microhei >/dev/null

# axe-core (npm), injected into the phone pages by the browser tests: the locked version of
# package-lock.json, into node_modules/ (git-ignored; nothing of it is served).
node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

test-e2e: setup /usr/bin/chromium node_modules/axe-core/axe.min.js
	$(BIN)/python -m tests.pg_ready "$(PG_URL)"
	$(BIN)/python -m pytest -q -m e2e tests/e2e

# The Chinese catalog: extract every message (Babel), merge into the .po, check that each
# has a translation (none fuzzy), compile the .mo that ships in the package.
I18N = i18n/locale
translations: setup
	$(BIN)/pybabel extract -F i18n/babel.cfg -k pgettext:1c,2 --no-location --sort-output \
	    -o i18n/outreach.pot \
	    cli tasks db flows service seed i18n
	$(BIN)/pybabel update -i i18n/outreach.pot -d $(I18N) -D outreach -l zh_CN \
	    --no-fuzzy-matching --ignore-obsolete --width 100
	$(BIN)/pybabel compile -d $(I18N) -D outreach -l zh_CN
	$(BIN)/python -m outreach.cli.catalog check

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info node_modules
