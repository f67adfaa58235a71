# syntax=docker/dockerfile:1
# paygate's image: the locked environment (uv.lock, without the dev group) and the code on
# python:3.11-slim, bytecode compiled, GraphiQL's bundles built from web/graphiql's lock file.
# Runs as a numeric non-root user on a read-only root filesystem: nothing is written but to
# /tmp (an emptyDir in deploy/kubernetes). The entry point is `paygate`:
#   docker run … paygate:latest serve | worker | migrate | relay | …
# scripts/build-runtime-tree lays out the same /app without a container engine (the suite
# starts it: tests/deploy/test_runtime_tree.py).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# -- GraphiQL's browser bundles ------------------------------------------------------------
FROM node:22.21-bookworm-slim AS assets
WORKDIR /src
COPY web/graphiql/package.json web/graphiql/package-lock.json web/graphiql/
COPY scripts/build-graphiql scripts/
RUN mkdir -p app/graphiql/static && scripts/build-graphiql

# -- the locked environment and the code ---------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.9.8 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# dependencies first (a layer that changes only with the lock file), then the project
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app
COPY --from=assets /src/app/graphiql/static/vendor ./app/graphiql/static/vendor
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
    && python -m compileall -q app alembic

# -- what runs ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PAYGATE_HOST=0.0.0.0 PAYGATE_PORT=8000 PAYGATE_PROFILE=production
COPY --from=build --chown=0:0 /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["paygate"]
CMD ["serve"]
