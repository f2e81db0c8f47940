# Shortcuts. The scripts in bin/ and .ci/ do the work and create .venv when it is missing.
#   make run                     the whole system (bin/run)
#   make test [ARGS="-m flows"]  the test suite, ARGS passed to pytest (bin/test)
#   make lint                    ruff, import-linter contracts, no import circle, migrations up to date,
#                                the Prometheus rules and their tests (bin/check_monitoring)
#   make ci                      what CI runs (.ci/run; needs PostgreSQL and Redis, see the script)
#   make clean                   delete var/ (SQLite databases, Redis data, beat schedule)
#   make bench [ARGS="--quick"]  the pipeline against raw Celery (python -m bench.run; docs/performance.md)
.PHONY: run test lint ci clean venv bench

BIN := .venv/bin

run:
	bin/run

test:
	bin/test $(ARGS)

venv:
	@bash -c 'source bin/_lib.sh && ensure_venv requirements-dev.txt'

# All the checks run even when one fails; the target fails if any did.
lint: venv
	@status=0; \
	echo "+ ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "+ ruff format --check ."; $(BIN)/ruff format --check . || status=1; \
	echo "+ lint-imports"; $(BIN)/lint-imports || status=1; \
	echo "+ bin/import_cycles.py"; $(BIN)/python bin/import_cycles.py || status=1; \
	echo "+ manage.py makemigrations --check --dry-run"; \
	DJANGO_SECRET_KEY=lint-only-not-a-secret DATABASE_URL=sqlite:///var/db.sqlite3 REDIS_URL=redis://lint.invalid:6379/0 \
		$(BIN)/python manage.py makemigrations --check --dry-run || status=1; \
	echo "+ bin/check_monitoring"; bin/check_monitoring || status=1; \
	exit $$status

ci:
	bash .ci/run

clean:
	rm -rf var/

bench:
	@bash -c 'source bin/_lib.sh && ensure_venv requirements-bench.txt'
	$(BIN)/python -m bench.run $(ARGS)
