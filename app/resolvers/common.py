"""Helpers shared by the roots: typed global IDs, user errors, mutation payloads."""

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.updates import KEEP
from app.schema.errors import UserError
from app.schema.node import GlobalIdError, decode_gid
from app.schema.pagination import Connection
from app.security.client_ip import ClientSignals, signals_of
from app.services import pagination

Info = strawberry.Info[RequestContext, None]


def any_key(global_id: str, *field: str) -> tuple[str, uuid.UUID]:
    """The type name and database key inside a global ID of any type."""
    try:
        return decode_gid(global_id)
    except GlobalIdError:
        raise UserInputError(
            Problem(ErrorCode.INVALID_ID, f"Not a global ID: {global_id[:100]!r}.", field)
        ) from None


def key_of(global_id: str, expected: str, *field: str) -> uuid.UUID:
    """The database key inside a global ID of type ``expected``."""
    try:
        type_name, key = decode_gid(global_id)
    except GlobalIdError:
        raise UserInputError(
            Problem(ErrorCode.INVALID_ID, f"Not a global ID: {global_id[:100]!r}.", field)
        ) from None
    if type_name != expected:
        raise UserInputError(
            Problem(
                ErrorCode.WRONG_ID_TYPE,
                f"Expected the ID of a {expected}, not a {type_name}.",
                field,
            )
        )
    return key


def user_errors(error: UserInputError) -> list[UserError]:
    """User errors of a mutation, their field paths starting at its ``input`` argument."""
    return [UserError.from_problem(problem.under("input")) for problem in error.problems]


def given(value: Any) -> Any:
    """Strawberry's UNSET (an omitted field) becomes the services' KEEP."""
    return KEEP if value is strawberry.UNSET else value


P = TypeVar("P")
E = TypeVar("E")
N = TypeVar("N")


async def mutate(info: Info, payload: type[P], action: Callable[[AsyncSession], Awaitable[P]]) -> P:
    """Run ``action`` with the request's session; a refused input becomes the payload with
    no object and its ``userErrors``."""
    try:
        async with info.context.db() as session:
            return await action(session)
    except UserInputError as error:
        fields = dataclasses.fields(payload)  # type: ignore[arg-type]
        empty: dict[str, Any] = {f.name: None for f in fields}
        empty["user_errors"] = user_errors(error)
        return payload(**empty)


def client_signals(info: Info) -> ClientSignals:
    """What the risk rules know of the caller's client: its address and device, for customer
    sessions and anonymous callers (a browser or an app). A server calling with an API key
    is not the paying client: its own address would count every customer's attempts as one
    source, so it is not used."""
    principal = info.context.principal
    if principal.is_staff:
        return ClientSignals()
    request = getattr(info.context, "request", None)
    return signals_of(request, info.context.runtime.settings.trusted_proxies)


async def session_connection(
    info: Info,
    statement: sa.Select[E],
    key: Any,
    build: Callable[[E], N],
    first: int | None,
    after: str | None,
) -> Connection[N]:
    """A Relay connection of ``statement``'s rows, newest ``key`` first, read through the
    request's session (the staff lists); its ``totalCount`` counted only when selected."""
    async with info.context.db() as session:
        page = await pagination.fetch_page(session, statement, key, first=first, after=after)

    async def count() -> int:
        async with info.context.db() as session:
            return await pagination.count(session, statement)

    return Connection.of(page.items, build, more=page.has_next_page, after=after, count=count)
