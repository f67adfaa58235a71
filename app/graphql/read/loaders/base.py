"""What every aggregate's loaders share: the request's loaders' base class, the loaders
that read by key and by parent, and the statements they run, built once per process.

A loader's batch is one statement, so the number of SQL round trips depends on the depth of
a query, never on list lengths. The rows come back as records (``app.graphql.read.records``),
not ORM instances: loaders only read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.domain.clock import Clock, SystemClock
from app.graphql.read.records import Read, ReadSource, Record, columns
from app.models.base import Entity

SessionScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]
ReadScope = Callable[[], AbstractAsyncContextManager[ReadSource]]
E = TypeVar("E", bound=Entity)
K = TypeVar("K")
V = TypeVar("V")
Only = frozenset[str] | None
# (parent id, n) -> the parent's n most recent children
LastKey = tuple[uuid.UUID, int]


# Statements built once per process (per dialect), with the batch's keys as one parameter:
# on PostgreSQL ``= ANY(:keys)`` (one array), so the SQL text is the same whatever the
# batch's size and asyncpg's prepared statements hit; elsewhere (SQLite) an expanding
# ``IN``.
_READS: dict[tuple[Any, ...], Read] = {}


def cached_read(
    key: tuple[Any, ...],
    source: ReadSource,
    build: Callable[[str], Any],
    *models: type,
    only: Only = None,
) -> Read:
    """The read statement ``key`` (with ``only``: of those columns) for the source's
    dialect, built by ``build`` (given the dialect's name) on first use."""
    dialect = source.dialect
    full = (*key, only, dialect.name)
    read = _READS.get(full)
    if read is None:
        read = _READS[full] = Read(build(dialect.name), models, dialect, only)
    return read


def in_keys(column: Any, dialect: str, name: str = "keys") -> Any:
    """``column`` among the batch's keys (the ``keys`` parameter, or ``name``)."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


class NarrowLoader(DataLoader[K, V]):
    """A request loader of ``model``'s rows (whole rows) that can also read them narrowed:
    ``narrowed(only)`` is the loader of the same rows with only the columns in ``only`` (the
    others ``None``, see ``app.graphql.read.records.columns``), made once per request and
    column set, with its own cache (a narrowed row is never handed to a caller that wants the
    whole row)."""

    def __init__(self, model: type, batch: Callable[[Only], Callable[[list[K]], Any]]) -> None:
        super().__init__(batch(None))
        self.model = model
        self._batch = batch
        self._narrowed: dict[frozenset[str], DataLoader[K, V]] = {}

    def narrowed(self, only: frozenset[str]) -> DataLoader[K, V]:
        loader = self._narrowed.get(only)
        if loader is None:
            loader = self._narrowed[only] = DataLoader(self._batch(only))
        return loader


class LoaderBase:
    """The request's DataLoaders (one ``cached_property`` each, in the aggregates' classes):
    each is made on its first use, as a request needs a few of them and making all of them
    cost more than a small query's execution."""

    # Whether the executor may load batched fields' rows with only the columns their
    # selection reads (``NarrowLoader``); tests compare answers with whole rows.
    narrow = True

    def __init__(self, db: SessionScope, reads: ReadScope, clock: Clock | None = None) -> None:
        self._db = db
        # Where the records' reads run (``app.graphql.read.records``):
        # ``RequestContext.reads``.
        self._reads = reads
        self._clock = clock or SystemClock()

    def release(self) -> None:
        """Drop the loaders made so far, with their caches. A loader's batch function refers
        back to this object, a cycle that only the garbage collector would break: released
        at the end of the request, the rows they hold are freed at once instead, and the
        collector has that much less to walk (it was ~1-2 ms per request)."""
        made = self.__dict__
        kept = {"_db": made["_db"], "_clock": made["_clock"], "_reads": made["_reads"]}
        made.clear()
        made.update(kept)

    def _by_id(self, model: type[E], only: Only = None) -> Callable[[list[uuid.UUID]], Any]:
        """The batch function of ``model``'s records by key (``None`` for a missing one)."""

        async def load(keys: list[uuid.UUID]) -> Sequence[Record[E] | None]:
            async with self._reads() as source:
                read = cached_read(
                    ("by_id", model),
                    source,
                    lambda d: sa.select(*columns(model, only=only)).where(in_keys(model.id, d)),
                    model,
                    only=only,
                )
                found = {row.id: row for row in await read.records(source, {"keys": keys})}
            return [found.get(key) for key in keys]

        return load

    def _children(
        self, model: type[Any], parent: Any, order: Any, only: Only = None
    ) -> Callable[[list[uuid.UUID]], Any]:
        """Records of ``model`` per parent key, in ``order``: one statement per batch."""
        only = None if only is None else only | {parent.key}

        async def load(keys: list[uuid.UUID]) -> list[list[Any]]:
            by_parent: dict[uuid.UUID, list[Any]] = defaultdict(list)
            async with self._reads() as source:
                read = cached_read(
                    ("children", model, parent.key, order.key),
                    source,
                    lambda d: (
                        sa.select(*columns(model, only=only))
                        .where(in_keys(parent, d))
                        .order_by(order)
                    ),
                    model,
                    only=only,
                )
                for row in await read.records(source, {"keys": keys}):
                    by_parent[getattr(row, parent.key)].append(row)
            return [by_parent[key] for key in keys]

        return load

    def _last_children(
        self, model: type[Any], parent: Any, only: Only = None
    ) -> Callable[[list[LastKey]], Any]:
        """The ``n`` most recent records of ``model`` per parent (by time-ordered key), oldest
        first: one statement per distinct ``n``, ranking each parent's rows with a window
        function (PostgreSQL and SQLite)."""
        only = None if only is None else only | {parent.key}

        async def load(keys: list[LastKey]) -> list[list[Any]]:
            parents_of: dict[int, list[uuid.UUID]] = defaultdict(list)
            for parent_key, n in keys:
                parents_of[n].append(parent_key)
            found: dict[LastKey, list[Any]] = defaultdict(list)

            def build(dialect: str) -> Any:
                rank = sa.func.row_number().over(partition_by=parent, order_by=model.id.desc())
                inner = (
                    sa.select(*columns(model), rank.label("rank")).where(in_keys(parent, dialect))
                ).subquery()
                return (
                    sa.select(*columns(model, inner, only))
                    .where(inner.c.rank <= sa.bindparam("n"))
                    .order_by(inner.c[parent.key], inner.c.id)
                )

            async with self._reads() as source:
                read = cached_read(("last", model, parent.key), source, build, model, only=only)
                for n, parents in parents_of.items():
                    if n <= 0:
                        continue
                    for row in await read.records(source, {"keys": parents, "n": n}):
                        found[(getattr(row, parent.key), n)].append(row)
            return [found[key] for key in keys]

        return load
