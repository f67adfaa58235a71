"""Batched fields: a field whose value is one DataLoader lookup, declared as such.

Most relation fields of the schema are the same three steps: pick a request DataLoader, load
the parent's key, turn the rows into GraphQL objects. Declared with :func:`batched`, the
field is still an ordinary strawberry resolver (``await loader.load(key)``, then the
conversion), and it also tells the executor (``app.execution``) what it needs: the executor
then loads a whole level at once, every parent's key in one ``load`` round, before it
completes the level synchronously, instead of awaiting one resolver coroutine per parent
and field. Both ways call the same three functions, so they give the same values.

    @strawberry.field(description="The customer's subscriptions, oldest first.")
    @batched(lambda loaders: loaders.customer_subscriptions)
    def subscriptions(self, rows: list[SubscriptionRow]) -> list[Subscription]:
        return [Subscription.from_model(row) for row in rows]

The decorated function takes the parent, the loaded value, and the field's GraphQL
arguments (keyword arguments, built-in scalars only); ``loader`` and ``key`` take the same
arguments (``loader`` the request's ``Loaders`` first, ``key`` the parent first). A key of
``None`` loads nothing: the value is ``None`` (a parent without a default price, say).
Batched fields carry no field extensions: what the resolver does is all there is.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.exceptions import WrongNumberOfResultsReturned

R = TypeVar("R")


def own_key(source: Any, **_: Any) -> Any:
    """The default key: the parent's own ``key``."""
    return source.key


@dataclass(frozen=True, slots=True)
class Batch:
    """What a batched field loads and how it makes its value."""

    loader: Callable[..., DataLoader[Any, Any]]  # (loaders, **arguments)
    key: Callable[..., Any]  # (parent, **arguments)
    convert: Callable[..., Any]  # (parent, loaded value, **arguments)

    async def resolve(self, source: Any, loaders: Any, arguments: dict[str, Any]) -> Any:
        key = self.key(source, **arguments)
        loaded = None if key is None else await self.loader(loaders, **arguments).load(key)
        return self.convert(source, loaded, **arguments)


def batched(
    loader: Callable[..., DataLoader[Any, Any]], key: Callable[..., Any] = own_key
) -> Callable[[Callable[..., R]], Callable[..., Awaitable[R]]]:
    """Make ``convert(parent, loaded, **arguments)`` the resolver of a batched field."""

    def decorate(convert: Callable[..., R]) -> Callable[..., Awaitable[R]]:
        batch = Batch(loader, key, convert)

        async def resolve(self: Any, info: strawberry.Info, **arguments: Any) -> Any:
            return await batch.resolve(self, info.context.loaders, arguments)

        # strawberry reads the field's arguments and type from the signature: the parent,
        # ``info`` where ``convert`` takes the loaded value, then ``convert``'s arguments.
        signature = inspect.signature(convert)
        parent, _loaded, *arguments = signature.parameters.values()
        info = inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
        )
        resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[parent, info, *arguments]
        )
        resolve.__module__ = convert.__module__
        resolve.__name__ = convert.__name__
        resolve.__qualname__ = convert.__qualname__
        resolve.__doc__ = convert.__doc__
        resolve.batch = batch  # type: ignore[attr-defined]
        return resolve

    return decorate


def batch_of(resolver: Any) -> Batch | None:
    """The :class:`Batch` behind a resolver made by :func:`batched`, if it is one."""
    batch = getattr(resolver, "batch", None)
    return batch if isinstance(batch, Batch) else None


async def settle_many(loader: DataLoader[Any, Any], keys: Sequence[Any]) -> list[Any]:
    """Each key's value, or the exception its load ended with, as ``loader.load`` would give
    them and through the same cache, for many keys at once: the keys not cached yet (each
    once) go to the batch function in one call, made now, instead of a future, a task and a
    callback per key and a batch scheduled for the next turn of the loop. The new keys'
    futures are in the cache before that call, so a ``load`` of one of them meanwhile waits
    for this batch instead of loading it again."""
    if not loader.cache or loader.max_batch_size:
        return await asyncio.gather(*map(loader.load, keys), return_exceptions=True)
    cache = loader.cache_map
    futures: list[asyncio.Future[Any]] = []
    new: dict[Any, asyncio.Future[Any]] = {}
    create_future = loader.loop.create_future
    for key in keys:
        future = cache.get(key)
        if future is None or future.cancelled():
            future = new.get(key)
            if future is None:
                future = new[key] = create_future()
                cache.set(key, future)
        futures.append(future)
    if new:
        batch = list(new)
        try:
            values = list(await loader.load_fn(batch))
            if len(values) != len(batch):
                raise WrongNumberOfResultsReturned(expected=len(batch), received=len(values))
        except BaseException as error:  # every new key's load fails with it, as in a batch
            for future in new.values():
                if future.done():
                    continue
                if isinstance(error, Exception):
                    future.set_exception(error)
                else:  # cancelled: so are the loads waiting for this batch
                    future.cancel()
            if not isinstance(error, Exception):
                raise
        else:
            for future, value in zip(new.values(), values, strict=True):
                if future.done():
                    continue
                if isinstance(value, BaseException):
                    future.set_exception(value)
                else:
                    future.set_result(value)
    settled: list[Any] = []
    for future in futures:
        if not future.done():  # another batch's key: wait for it
            await asyncio.wait((future,))
        if future.cancelled():
            settled.append(asyncio.CancelledError())
        else:
            failure = future.exception()
            settled.append(failure if failure is not None else future.result())
    return settled
