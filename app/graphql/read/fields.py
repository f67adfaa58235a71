"""How the schema types' fields read: batched fields (one DataLoader lookup, declared as
such) and the columns of their rows that each field reads.

Most relation fields of the schema are the same three steps: pick a request DataLoader, load
the parent's key, turn the rows into GraphQL objects. Declared with :func:`batched`, the
field is still an ordinary strawberry resolver (``await loader.load(key)``, then the
conversion), and it also tells the resolver path's executor
(``app.graphql.resolver_path.executor``) what it needs: the executor then loads a whole
level at once, every parent's key in one ``load`` round, before it completes the level
synchronously, instead of awaiting one resolver coroutine per parent and field. Both ways
call the same three functions, so they give the same values.

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

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

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
    # The columns ``convert`` reads of the rows itself (beyond what its objects' fields read,
    # see ``reads``), or ``None``: the rows are always read whole.
    narrow: tuple[str, ...] | None = None

    async def resolve(self, source: Any, loaders: Any, arguments: dict[str, Any]) -> Any:
        key = self.key(source, **arguments)
        loaded = None if key is None else await self.loader(loaders, **arguments).load(key)
        return self.convert(source, loaded, **arguments)


def batched(
    loader: Callable[..., DataLoader[Any, Any]],
    key: Callable[..., Any] = own_key,
    *,
    narrow: tuple[str, ...] | None = None,
) -> Callable[[Callable[..., R]], Callable[..., Awaitable[R]]]:
    """Make ``convert(parent, loaded, **arguments)`` the resolver of a batched field.

    ``narrow``: the loaded rows may be read with only the columns the selection needs (see
    :func:`reads`), plus these, which ``convert`` reads itself; for a field whose conversion
    is its objects' ``from_model`` and nothing else, ``()``."""

    def decorate(convert: Callable[..., R]) -> Callable[..., Awaitable[R]]:
        batch = Batch(loader, key, convert, narrow)

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


@dataclass(frozen=True, slots=True)
class Reads:
    """The columns of ``model``'s rows that each field of a GraphQL object type made from them
    (by its ``from_model``) reads: ``always`` whatever is selected (``id`` and what
    ``from_model`` itself converts), ``fields`` by the field's Python name."""

    model: type
    always: frozenset[str]
    fields: Mapping[str, frozenset[str]]


# strawberry type -> what its fields read of its rows
READS: dict[type, Reads] = {}
T = TypeVar("T", bound=type)


def reads(
    model: type, *, always: Sequence[str] = (), same: Sequence[str] = (), **fields: Sequence[str]
) -> Callable[[T], T]:
    """Declare which columns of ``model`` each field of the decorated strawberry type (made
    from ``model``'s rows by its ``from_model``) reads, by Python field name (``same``: the
    fields that read the column of their own name). A batched field
    declared with ``narrow`` then loads such objects with only the columns their selected
    fields read (the others come back ``None``): a page reads ~10 of an invoice's 25 columns.
    A selection with a field missing here reads every column, so a new field is never
    wrong, only not narrowed (``tests/api/test_selected_columns.py`` requires every field
    of such a type to be declared)."""

    def declare(cls: T) -> T:
        declared = {name: frozenset((name,)) for name in same}
        declared.update((name, frozenset(columns)) for name, columns in fields.items())
        READS[cls] = Reads(model, frozenset(("id", *always)), declared)
        return cls

    return declare


def batch_of(resolver: Any) -> Batch | None:
    """The :class:`Batch` behind a resolver made by :func:`batched`, if it is one."""
    batch = getattr(resolver, "batch", None)
    return batch if isinstance(batch, Batch) else None
