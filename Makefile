# The two set-up commands of the README. Everything is installed on first use:
# uv (into .tools/), the locked Python dependencies (into .venv/), the GraphiQL bundles.
SHELL := /bin/bash
PYTHON ?= python3.11
UV := .tools/bin/uv
# three processes (the tests wait on PostgreSQL, brokers and child processes a third of
# their time), work stealing, the tests marked slow first (tests/conftest.py)
PYTEST := $(UV) run --frozen pytest -n 3 --dist worksteal --durations=15
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test test-fast test-long lint types pytest deps assets schema clean

## run: the gateway on embedded defaults (SQLite file, sandbox PSP), GraphiQL at :8000/graphql
run: deps
	@scripts/build-graphiql || echo "warning: GraphiQL assets not built (needs npm); the API works"
	$(UV) run --frozen paygate serve

## test: lint, types and every test against PostgreSQL (TEST_DATABASE_URL), the long
## simulations at the sizes of tests/conftest.py (README, Tests); what CI runs
test: deps assets lint types pytest

## test-fast: day to day: lint, types and every test not marked slow
test-fast: deps assets lint types
	$(PYTEST) -m "not slow"

## test-long: as test, the long simulations at full size (the issues' figures)
test-long: deps assets lint types
	PAYGATE_TEST_LONG=1 $(PYTEST)

## lint: ruff (check and format), the architecture contract (lint-imports, pyproject.toml) and
## the Dockerfile (hadolint)
lint: deps
	$(UV) run --frozen ruff check app tests alembic
	$(UV) run --frozen ruff format --check app tests alembic
	$(UV) run --frozen lint-imports --no-cache --no-logo
	$(UV) run --frozen hadolint Dockerfile

types: deps
	$(UV) run --frozen mypy

pytest: deps assets
	$(PYTEST)

deps: $(UV)
	@$(UV) sync --frozen --quiet

assets:
	@scripts/build-graphiql

## schema: re-export schema.graphql after a schema change (review the diff)
schema: deps
	$(UV) run --frozen paygate export-schema schema.graphql

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check 'uv>=0.13.8,<0.14'

clean:
	rm -rf .venv .tools app/graphiql/static/vendor web/graphiql/node_modules
