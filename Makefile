# Two commands do everything: `make run` (the demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench-smoke bench-seed bench clean

install: $(STAMP)

# Reinstalls only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The demo: SQLite and a server-less broker under var/, web + worker + beat in one terminal.
# Its removal goes 4 listings a chunk, a chunk a second: about a minute for its ~230
# listings, so the progress bar can be watched filling (production: 20,000 a chunk, no pause).
run: install
	DEBUG=1 REMOVAL_CHUNK_SIZE=$${REMOVAL_CHUNK_SIZE:-4} REMOVAL_CHUNK_PAUSE_SECONDS=$${REMOVAL_CHUNK_PAUSE_SECONDS:-1} \
		$(PY) manage.py run_demo

# The whole suite. PostgreSQL when DATABASE_URL points at one; otherwise SQLite, and the
# summary lists each test skipped for lack of PostgreSQL, Redis or a browser. With
# TEST_DATABASE_RUNTIME_USER and _PASSWORD (as .ci/run sets them) the tests connect as that
# role, granted by grant_runtime_role, and DATABASE_URL's role only migrates and flushes.
test: install
	@if [ -z "$$DATABASE_URL" ]; then echo "DATABASE_URL is not set: running on SQLite; PostgreSQL-only tests will be skipped (see the summary)."; fi
	$(VENV)/bin/pytest

# The checks CI runs before the tests, and pre-commit runs locally: lint, format, types (the
# packages listed in pyproject's [tool.mypy] files), and a model changed without its migration
# (on an in-memory SQLite database: it compares models with migration files, no server needed).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	DEBUG=0 DJANGO_SETTINGS_MODULE=backoffice.settings_test DATABASE_URL=sqlite:///:memory: \
		$(PY) manage.py makemigrations --check --dry-run

# Every benchmark at a small size under its production settings, its last line checked for
# the keys it promises (bench/smoke.py); DATABASE_URL names a PostgreSQL server, as for bench/.
bench-smoke: install
	$(PY) bench/smoke.py

bench-seed: install
	$(PY) bench/seed.py --listings 1000000

clean:
	rm -rf var/demo.sqlite3* var/celery-broker
