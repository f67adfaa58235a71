"""Fixtures of the worker tests: procrastinate's tables in the test's database, and the jobs
sharing the API's runtime (its in-memory sandbox PSP and its frozen clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
import pytest

from app.settings import Settings
from app.worker import Dependencies, apply_queue_schema, build_app, use_dependencies
from tests.conftest import Api


@pytest.fixture
async def queue_schema(settings: Settings) -> None:
    assert await apply_queue_schema(settings)


@pytest.fixture
def worker_dependencies(api: Api) -> Iterator[Dependencies]:
    """Jobs run with the API's PSP registry: the sandbox keeps its payment methods in the
    memory of the process that attached them."""
    runtime = api.runtime
    shared = Dependencies(settings=runtime.settings, psps=runtime.psps, clock=runtime.clock)
    with use_dependencies(shared):
        yield shared


@asynccontextmanager
async def open_queue(settings: Settings) -> AsyncIterator[procrastinate.App]:
    queue = build_app(settings)
    queue.periodic_registry.periodic_tasks.clear()  # the tests defer jobs themselves
    async with queue.open_async():
        yield queue


@pytest.fixture
async def queue(
    settings: Settings, queue_schema: None, worker_dependencies: Dependencies
) -> AsyncIterator[procrastinate.App]:
    """The queue of this test's database, without the schedule."""
    async with open_queue(settings) as opened:
        yield opened


async def work(queue: procrastinate.App, **options: Any) -> None:
    """Run a worker until no job is left (jobs are kept, to be inspected)."""
    await queue.run_worker_async(
        wait=False, install_signal_handlers=False, delete_jobs="never", **options
    )


async def statuses(queue: procrastinate.App) -> dict[str, list[str | None]]:
    """The status of every job, by task name (in the order they were deferred)."""
    found: dict[str, list[str | None]] = {}
    for job in sorted(await queue.job_manager.list_jobs_async(), key=lambda j: j.id or 0):
        found.setdefault(job.task_name, []).append(job.status)
    return found
