# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# The tests and benchmarks run on the real services, never on SQLite.
SERVICES_ENV := DEBUG=1 \
	REDIS_URL=redis://127.0.0.1:6379/1 \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/2
TEST_ENV := $(SERVICES_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/ranked_feed

# The benchmarks' own Redis databases: the tests empty theirs, which must not
# touch an evaluation running beside them (bin/load takes 3 and 4,
# bin/bench-serving 13 and 14).
BENCH_SERVICES_ENV := DEBUG=1 \
	REDIS_URL=redis://127.0.0.1:6379/5 \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/6
BENCH_DB := ranked_feed_bench
BENCH_ENV := $(BENCH_SERVICES_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(BENCH_DB)

# Its own database: the training benchmark empties it before each run.
BENCH_TRAINING_DB ?= ranked_feed_training_bench
BENCH_TRAINING_ENV := $(BENCH_SERVICES_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(BENCH_TRAINING_DB)

LINT_VENV := .venv-lint
FUZZ_VENV := .venv-fuzz
LOAD_VENV := .venv-load

.PHONY: run test test-fast smoke-embedded fuzz-api load lint lint-code bench-db bench-ranking bench-fanout bench-serving bench-training evaluate-rankers evaluate-experiment

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt requirements-web.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-web.txt requirements-dev.txt requirements-spark.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-spark.txt
	touch $@ $(VENV)/.runtime

## run: the app on the embedded default (SQLite, file cache and broker, one worker) at http://127.0.0.1:8000/
run: $(VENV)/.runtime
	DEBUG=1 $(BIN)/python manage.py migrate --verbosity 0
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 bin/run-embedded

## smoke-embedded: make run's first start on the embedded default (SQLite, file cache and broker) in a scratch
## database: migrate, seed_demo (a world and its first ranker), the demo user's pages answer (a few minutes)
smoke-embedded: $(VENV)/.dev
	bin/smoke-embedded

## test: the whole suite on PostgreSQL and Redis (started here when stopped), with coverage;
## the browser tests drive Debian's Chromium (installed here when missing)
test: $(VENV)/.dev
	bin/ensure-services
	bin/ensure-browser
	bin/ensure-java
	$(TEST_ENV) $(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

## test-fast: the suite without the tests marked slow (no browser, no worker process, no simulated world), for a quick loop
test-fast: $(VENV)/.dev
	bin/ensure-services
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

$(FUZZ_VENV)/.installed: requirements-fuzz.txt
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet -r requirements-fuzz.txt
	touch $@

## fuzz-api: schemathesis (pinned, in its own virtualenv) against gunicorn with DEBUG off on
## PostgreSQL and Redis, a fresh database and one user's token; fails on any 5xx or any
## response the schema does not describe (bin/fuzz-api; about 2-3 minutes)
fuzz-api: $(VENV)/.dev $(FUZZ_VENV)/.installed
	bin/fuzz-api

$(LOAD_VENV)/.installed: requirements-load.txt
	$(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/pip install --quiet -r requirements-load.txt
	touch $@

## load: Locust (pinned, in its own virtualenv) against gunicorn and the Celery workers on PostgreSQL
## and Redis, on 127.0.0.1, with a freshly seeded world: readers, likers, posters and followers;
## prints each endpoint's req/s, p50, p95, p99 and failures, writes artifacts/load/; fails on more
## than 1 % failures or any 5xx (bin/load; LOAD_USERS=50 and LOAD_TIME=2m by default)
LOAD_USERS ?= 50
LOAD_TIME ?= 2m
load: $(VENV)/.dev $(LOAD_VENV)/.installed
	LOAD_USERS=$(LOAD_USERS) LOAD_TIME=$(LOAD_TIME) bin/load

$(LINT_VENV)/.installed: requirements-lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet -r requirements-lint.txt
	touch $@

## lint-code: ruff (lint + format), bandit over the apps, and the import contracts (layers, no TensorFlow on the web side, no cycles)
lint-code: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit --quiet -r config users feed ranking simulator -c pyproject.toml
	$(BIN)/lint-imports --no-cache

## lint: the code linters, then every deploy validator (all pinned, installed here)
# checkov asks its vendor's API for check descriptions unless told not to.
lint: lint-code $(LINT_VENV)/.installed
	$(LINT_VENV)/bin/hadolint Dockerfile
	$(LINT_VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(LINT_VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	BC_SKIP_MAPPING=TRUE TOOLS=$(LINT_VENV)/bin bin/validate-k8s  # kubectl kustomize, kubernetes-validate, checkov
	@if command -v terraform >/dev/null; then \
		terraform -chdir=deploy/terraform fmt -check -recursive && echo "terraform fmt: ok"; \
	else echo "lint: no terraform binary here: fmt -check skipped, checkov below still runs"; fi
	BC_SKIP_MAPPING=TRUE $(LINT_VENV)/bin/checkov --quiet --compact --framework terraform -d deploy/terraform
	bin/ensure-promtool
	promtool check rules deploy/prometheus/alerts.yaml
	cd deploy/prometheus && promtool test rules alerts_test.yaml

# The benchmark database: created once, migrated every time.
bench-db: $(VENV)/.dev
	bin/ensure-services
	psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(BENCH_DB)'" | grep -q 1 \
		|| createdb -h 127.0.0.1 -U postgres $(BENCH_DB)
	$(BENCH_ENV) $(BIN)/python manage.py migrate --verbosity 0

## evaluate-rankers: latest vs learned vs oracle on one simulated world (SEED=1 by default; several minutes)
SEED ?= 1
evaluate-rankers: bench-db
	$(BENCH_ENV) $(BIN)/python manage.py evaluate_rankers --seed $(SEED) $(ARGS)

## evaluate-experiment: the experiment system against a simulated world's truth: an A/B test beside the true
## effect, A/A false positives, users needed by A/B and interleaving (SEED=1 by default; about 25 minutes)
evaluate-experiment: bench-db
	$(BENCH_ENV) $(BIN)/python manage.py evaluate_experiment --seed $(SEED) $(ARGS)

## bench-ranking: feed build latency (beside a world with 10x the history), scoring throughput, training time and
## memory, on PostgreSQL; ARGS=--json prints one JSON object instead (build_p50_ms, build_p50_ms_10x_history, ...)
bench-ranking: bench-db
	$(BENCH_ENV) $(BIN)/python manage.py bench_ranking $(ARGS)

## bench-training: the example builder (DuckDB) on 1 M and 10 M synthetic events: build time, peak RSS (DuckDB runs
## in the build process), examples/s, training time; and a follow graph of 200,000 users x 100 followees; ARGS=--json
## prints one JSON object (runs, follow_edges_built); ARGS=--compare-engines: DuckDB against Polars on 1 M events.
## Empties its own database, $(BENCH_TRAINING_DB) (tens of minutes).
bench-training: $(VENV)/.dev
	bin/ensure-services
	psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(BENCH_TRAINING_DB)'" | grep -q 1 \
		|| createdb -h 127.0.0.1 -U postgres $(BENCH_TRAINING_DB)
	$(BENCH_TRAINING_ENV) $(BIN)/python manage.py migrate --verbosity 0
	$(BENCH_TRAINING_ENV) $(BIN)/python manage.py bench_training $(ARGS)

## bench-fanout: a new tweet of an author with 100,000 followers (about half active): time and tasks
bench-fanout: bench-db
	$(BENCH_ENV) $(BIN)/python manage.py bench_fanout $(ARGS)

## bench-serving: gunicorn on PostgreSQL and Redis with a seeded world; wrk measures a bare Django JSON view (mounted
## only for this) and GET /api/feed/ in the same run, at 4 and 32 clients: req/s, p50, p99, the ratio feed/bare;
## writes artifacts/bench/serving.json (bin/bench-serving; a few minutes)
bench-serving: $(VENV)/.dev
	bin/bench-serving
