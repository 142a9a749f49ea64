# Conveyor: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH_DEALS ?= 100000

.PHONY: install run test lint typecheck pytest pytest-pg bench bench-reports bench-intake bench-import-crm bench-rules bench-mixed bench-board messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Idempotent: re-runs pip only when pyproject.toml changed since the last install.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Front-end packages (htmx, SortableJS) from the npm registry, exactly as
# frontend/package-lock.json pins them; Django serves them from there as static files. Re-runs
# only when the lock file changed or node_modules is gone; no package's install scripts run.
FRONTEND_STAMP := frontend/node_modules/.installed

$(FRONTEND_STAMP): frontend/package-lock.json
	npm ci --prefix frontend --ignore-scripts --no-audit --no-fund
	touch $@

install: $(VENV)/.installed $(FRONTEND_STAMP)

run: install
	$(BIN)/conveyor migrate --no-input
	$(BIN)/conveyor compilemessages --ignore '.venv/*' -v 0
	$(BIN)/conveyor demo --if-empty
	$(BIN)/conveyor ensure-owner
	@# The background worker (automation, e-mail, webhooks, periodic checks) runs beside the
	@# web server and stops with it.
	$(BIN)/conveyor worker --verbosity 0 & WORKER=$$!; \
		trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
		$(BIN)/conveyor runserver $(HOST):$(PORT)

# Lint also checks that models and migrations agree and that production settings pass
# Django's deployment checklist (with a throwaway key generated for the check).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/conveyor makemigrations --check --dry-run
	CONVEYOR_ENV=production ALLOWED_HOSTS=crm.example.com CONVEYOR_DATA_DIR=$$(mktemp -d) \
		SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
		$(BIN)/conveyor check --deploy --fail-level WARNING

typecheck: install
	$(BIN)/mypy conveyor

messages: install
	$(BIN)/conveyor compilemessages --ignore '.venv/*' -v 0

pytest: install messages
	$(BIN)/pytest

# The same suite on PostgreSQL when TEST_DATABASE_URL is given.
pytest-pg: install messages
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== test suite on PostgreSQL ($$TEST_DATABASE_URL) =="; \
		DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/pytest; \
	else \
		echo "== PostgreSQL run SKIPPED: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test) =="; \
	fi

test: lint typecheck
	@echo "== test suite on SQLite =="
	$(MAKE) --no-print-directory pytest
	$(MAKE) --no-print-directory pytest-pg

BENCH_INTAKE_SECONDS ?= 20

bench: install
	$(BIN)/python -m bench.run --deals $(BENCH_DEALS)
	$(MAKE) --no-print-directory bench-reports
	$(MAKE) --no-print-directory bench-intake
	$(MAKE) --no-print-directory bench-import-crm
	$(MAKE) --no-print-directory bench-rules
	$(MAKE) --no-print-directory bench-mixed
	$(MAKE) --no-print-directory bench-board

# Every report's seconds on the databases bench.run left with BENCH_DEALS deals, and DuckDB's
# funnel and touches on the same rows (PostgreSQL SKIPPED when unreachable).
bench-reports: install
	$(BIN)/python -m bench.reports --db sqlite --deals $(BENCH_DEALS)
	$(BIN)/python -m bench.reports --db pg --deals $(BENCH_DEALS)

# Web-form posts/s under gunicorn, loaded by wrk on loopback (SKIPPED without wrk or PostgreSQL).
bench-intake: install
	$(BIN)/python -m bench.intake --db sqlite --seconds $(BENCH_INTAKE_SECONDS)
	$(BIN)/python -m bench.intake --db pg --seconds $(BENCH_INTAKE_SECONDS)

BENCH_IMPORT_ROWS ?= 100000

# `import-crm` rows/s on a generated Pipedrive export (PostgreSQL SKIPPED when unreachable).
bench-import-crm: install
	$(BIN)/python -m bench.crm_import --db sqlite --rows $(BENCH_IMPORT_ROWS)
	$(BIN)/python -m bench.crm_import --db pg --rows $(BENCH_IMPORT_ROWS)

BENCH_RULES_RUNS ?= 500

# Automation rule runs/s drained by one worker, database and rq backends (SKIPPED when
# PostgreSQL or Redis is unreachable).
bench-rules: install
	$(BIN)/python -m bench.rules --db sqlite --runs $(BENCH_RULES_RUNS)
	$(BIN)/python -m bench.rules --db pg --runs $(BENCH_RULES_RUNS)

BENCH_MIXED_SECONDS ?= 20

# Board views, deal moves, touches and API leads at once under gunicorn, from a second process;
# fails on any error or when the database disagrees with the answers (PostgreSQL SKIPPED when
# unreachable).
bench-mixed: install
	$(BIN)/python -m bench.mixed --db pg --seconds $(BENCH_MIXED_SECONDS)
	$(BIN)/python -m bench.mixed --db sqlite --seconds $(BENCH_MIXED_SECONDS)

BENCH_BOARD_DEALS ?= 100000

# The board page, one column's "Show more" and a deal page at BENCH_BOARD_DEALS open deals, p50/p95 through
# Django's test client (PostgreSQL SKIPPED when unreachable).
bench-board: install
	$(BIN)/python -m bench.board --db sqlite --deals $(BENCH_BOARD_DEALS)
	$(BIN)/python -m bench.board --db pg --deals $(BENCH_BOARD_DEALS)

clean:
	rm -rf $(VENV) var
