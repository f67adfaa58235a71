"""Batched fields loaded a level at a time, for the resolver path's executor.

When an object's selection holds batched fields (``app.graphql.read.fields.batched``), the
executor loads every batched field of the subtree one level at a time: each level's keys
join their loaders' current batches (:func:`join_batch`; one statement per loader and
level, as ``load`` would make) and are settled together (:func:`settle_level`), each loader
reading the union of the columns its loads' selections need (:func:`selected_columns`,
:func:`want`, :func:`narrowed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

from graphql import GraphQLObjectType
from graphql.execution.collect_fields import GroupedFieldSet
from strawberry.dataloader import DataLoader, LoaderTask, get_current_batch

from app.graphql.read.fields import READS
from app.graphql.read.loaders.base import NarrowLoader
from app.graphql.resolver_path.plans import Batched


class Columns(NamedTuple):
    """The model whose rows make a type's objects, and the columns of them a selection
    reads."""

    model: type
    columns: frozenset[str]


class Load(NamedTuple):
    """One batched field's loads at one level."""

    plan: Batched
    node: Any  # the field's node: a loaded value is kept by (id(parent), id(node))
    sub: GroupedFieldSet | None  # its objects' selection, if its value holds objects
    parents: list[Any]
    keys: list[Any]  # each parent's key (``None``: nothing to load, the value is ``None``)
    arguments: dict[str, Any]  # the field's arguments, by Python name
    loader: DataLoader[Any, Any]


class Narrowing(NamedTuple):
    """What a level's loads of one loader read: ``None``, every column."""

    loader: NarrowLoader[Any, Any]
    columns: frozenset[str] | None


def join_batch(loader: DataLoader[Any, Any], keys: Sequence[Any]) -> list[asyncio.Future[Any]]:
    """Each key's future, as ``loader.load`` makes it: through its cache, and in its current
    batch (loads made in the same turn of the loop, here or anywhere else, share one call of
    the batch function). Unlike ``load``, the new keys' futures get no done-callback each
    (strawberry's, which only cancels a batch whose futures were all cancelled: nothing here
    cancels them). Await them with :func:`settle`."""
    if not loader.cache or loader.max_batch_size:
        return [loader.load(key) for key in keys]  # type: ignore[misc]
    cache = loader.cache_map
    create_future = loader.loop.create_future
    batch = None
    futures = []
    for key in keys:
        future = cache.get(key)
        if future is None or future.cancelled():
            future = create_future()
            cache.set(key, future)
            if batch is None:
                batch = get_current_batch(loader)
            batch.tasks.append(LoaderTask(key, future))
        futures.append(future)
    return futures


async def settle(futures: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """Each future's value, or the exception it ended with, awaited one after the other
    instead of gathered: a batch settles all its futures at once, so after the first of a
    batch the others are done, and no task or callback is made per future. A cancelled
    future gives ``CancelledError``; cancelling this coroutine cancels none of them."""
    settled: list[Any] = []
    for future in futures:
        if not future.done():
            await asyncio.wait((future,))
        if future.cancelled():
            settled.append(asyncio.CancelledError())
        else:
            failure = future.exception()
            settled.append(failure if failure is not None else future.result())
    return settled


async def settle_many(loader: DataLoader[Any, Any], keys: Sequence[Any]) -> list[Any]:
    """Each key's value, or the exception its load ended with, as ``loader.load`` gives them
    (:func:`join_batch`, then :func:`settle`)."""
    return await settle(join_batch(loader, keys))


async def settle_level(loads: list[Load]) -> list[list[Any]]:
    """Each load's values (or exceptions), in the order of its keys; a key of ``None`` is
    ``None`` without a load. Every key joins its loader's current batch first (loads of one
    loader share it, ``join_batch``), then the futures are awaited in turn: no task per
    load."""
    joined = [
        join_batch(load.loader, [key for key in load.keys if key is not None]) for load in loads
    ]
    settled = iter(await settle([future for futures in joined for future in futures]))
    values = []
    for load in loads:
        values.append([None if key is None else next(settled) for key in load.keys])
    return values


def selected_columns(
    object_type: GraphQLObjectType, selection: GroupedFieldSet, extra: tuple[str, ...]
) -> Columns | None:
    """The model whose rows make ``object_type``'s objects and the columns of them that
    ``selection`` reads (with ``extra``), as its type declares them
    (``app.graphql.read.fields.reads``); ``None``: every column (an undeclared type, or a
    field it does not declare)."""
    definition = object_type.extensions.get("strawberry-definition")
    declared = READS.get(getattr(definition, "origin", None))  # type: ignore[arg-type]
    if declared is None:
        return None
    columns = set(declared.always)
    columns.update(extra)
    for field_details_list in selection.values():
        name = field_details_list[0].node.name.value
        if name == "__typename":
            continue
        field = object_type.fields.get(name)
        definition = field.extensions.get("strawberry-definition") if field else None
        read = declared.fields.get(getattr(definition, "python_name", ""))
        if read is None:
            return None
        columns.update(read)
    return Columns(declared.model, frozenset(columns))


def want(
    narrow: dict[int, Narrowing], loader: NarrowLoader[Any, Any], only: Columns | None
) -> None:
    """Add one load's columns to what its loader reads at this level: every load of a loader
    in one level shares one statement, which reads the union of their columns (all of them
    if one load needs all, or its rows are of another model than its selection declares)."""
    columns = only.columns if only is not None and only.model is loader.model else None
    known = narrow.get(id(loader))
    if known is not None:
        columns = None if columns is None or known.columns is None else columns | known.columns
    narrow[id(loader)] = Narrowing(loader, columns)


def narrowed(load: Load, narrow: dict[int, Narrowing]) -> Load:
    """``load`` with its loader narrowed to the columns its level reads of it."""
    known = narrow.get(id(load.loader))
    if known is None or known.columns is None:
        return load
    return load._replace(loader=known.loader.narrowed(known.columns))
