"""``PlainFieldExecutor`` answers exactly as graphql-core's own executor: the same data and
the same errors (message, path, locations), for plain attribute fields that are fine and for
those whose value is an error (null in a non-null field, a value the scalar refuses), in
objects, lists, aliases, fragments and ``@skip``, sync and async."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from strawberry.extensions import ParserCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql.resolver_path import executor
from app.graphql.resolver_path.executor import PlainFieldExecutor
from app.graphql.resolver_path.plans import Batched, Plain, plain_field
from app.graphql.schema import schema as paygate_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Amount:
    minor: str
    currency: str | None


@strawberry.type
class Line:
    name: str
    count: int
    colour: Colour | None
    amount: Amount
    maybe: Amount | None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self) -> int:
        return self.count * 2


@dataclass
class Bad:
    """An object whose attributes break the schema's promises."""

    name: Any = None  # null for String!
    count: Any = "many"  # not an Int
    colour: Any = "green"  # not a Colour
    amount: Any = None  # null for Amount!
    maybe: Any = None


class Raising:
    """An object one of whose attributes fails when read."""

    count = 4
    colour = Colour.RED
    amount = Amount(minor="7", currency=None)
    maybe = None

    @property
    def name(self) -> str:
        raise RuntimeError("no name today")


@strawberry.type
class Query:
    @strawberry.field
    def lines(self) -> list[Line | None]:
        return [
            Line(
                name="a",
                count=1,
                colour=Colour.RED,
                amount=Amount(minor="100", currency="EUR"),
                maybe=None,
            ),
            Bad(),  # type: ignore[list-item]
            Line(
                name="c",
                count=3,
                colour=None,
                amount=Bad(name="x", count=1, colour=None, amount=None),  # type: ignore[arg-type]
                maybe=Amount(minor="5", currency=None),
            ),
        ]

    @strawberry.field
    async def line(self) -> Line | None:
        return Line(
            name="z",
            count=9,
            colour=Colour.BLUE,
            amount=Amount(minor="1", currency="USD"),
            maybe=None,
        )

    @strawberry.field
    def raising(self) -> Line | None:
        return Raising()  # type: ignore[return-value]

    @strawberry.field
    def broken(self) -> Line | None:
        return Bad(name="b", count=2, colour=None, amount=Amount(minor=None, currency="EUR"))  # type: ignore[arg-type,return-value]


DOCUMENTS = [
    "{ lines { name count colour amount { minor currency } maybe { minor } shout later } }",
    "{ lines { n: name, c: count, ...F } line { ...F } } fragment F on Line { colour later }",
    "query($s: Boolean!) { lines { name @skip(if: $s) count amount { minor } } }",
    "{ line { name count amount { minor currency } maybe { currency } } }",
    "{ broken { name amount { minor } } }",
    "{ broken { count } }",
    "{ line { __typename amount { __typename minor } } }",
    "{ raising { count colour amount { minor currency } } }",
    "{ raising { count name colour } line { c: count, n: name, c2: count } }",
]


def _schema(executor: type[Any]) -> strawberry.Schema:
    # ParserCache, as paygate's schema: the same text, the same parsed document.
    return strawberry.Schema(
        query=Query, execution_context_class=executor, extensions=[ParserCache]
    )


def _shape(result: Any) -> dict[str, Any]:
    return {
        "data": result.data,
        "errors": [(e.message, e.path, e.locations) for e in result.errors or []],
    }


def answer(executor: type[Any], document: str) -> dict[str, Any]:
    return _shape(_schema(executor).execute_sync(document, variable_values={"s": True}))


async def answer_async(executor: type[Any], document: str) -> dict[str, Any]:
    return _shape(await _schema(executor).execute(document, variable_values={"s": True}))


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_same_answer_as_graphql_core(document: str) -> None:
    expected = await answer_async(StrawberryGraphQLCoreExecutionContext, document)
    assert await answer_async(PlainFieldExecutor, document) == expected


async def test_documents_again_answer_the_same() -> None:
    """A document's second request takes the plans shared by the process (its selections
    do not depend on variables) and still answers as graphql-core."""
    for document in DOCUMENTS:
        expected = await answer_async(StrawberryGraphQLCoreExecutionContext, document)
        for _ in range(2):
            assert await answer_async(PlainFieldExecutor, document) == expected
    assert executor._SHARED_SELECTIONS  # the plans were shared


async def test_variables_that_skip_fields_are_read_on_each_request() -> None:
    """A document whose fields depend on its variables shares nothing: each request
    collects its own fields."""
    document = "query($s: Boolean!) { lines { name @skip(if: $s) count amount { minor } } }"
    schema_ = _schema(PlainFieldExecutor)
    for skip in (True, False, True, False):
        got = _shape(await schema_.execute(document, variable_values={"s": skip}))
        expected = _shape(
            await _schema(StrawberryGraphQLCoreExecutionContext).execute(
                document, variable_values={"s": skip}
            )
        )
        assert got == expected
        assert ("name" in got["data"]["lines"][0]) is not skip


def test_errors_are_located_like_graphql_core_sync() -> None:
    document = DOCUMENTS[0].replace(" later", "")
    expected = answer(StrawberryGraphQLCoreExecutionContext, document)
    got = answer(PlainFieldExecutor, document)
    assert got == expected
    # The bad row: null in String! is an error at its own path and nulls its list item; the
    # third row's amount has no attribute ``minor``: an error at lines.2.amount.minor.
    assert ("Cannot return null for non-nullable field Line.name.", ["lines", 1, "name"]) in [
        (message, path) for message, path, _ in got["errors"]
    ]
    assert ["lines", 2, "amount", "minor"] in [path for _, path, _ in got["errors"]]
    lines = got["data"]["lines"]
    assert lines[0] == {
        "name": "a",
        "count": 1,
        "colour": "RED",
        "amount": {"minor": "100", "currency": "EUR"},
        "maybe": None,
        "shout": "A",
    }
    assert lines[1] is None


def test_plain_fields_are_the_attribute_ones() -> None:
    """Which fields of paygate's schema take the short ways: attributes read directly,
    batched fields loaded a level at a time; resolvers of their own take neither."""
    graphql_schema = paygate_schema._schema
    invoice = graphql_schema.get_type("Invoice")
    money = graphql_schema.get_type("Money")
    plans = {
        name: plain_field(field)
        for name, field in {**invoice.fields, **money.fields}.items()  # type: ignore[union-attr]
    }
    direct = {name for name, plan in plans.items() if isinstance(plan, Plain)}
    batched = {name for name, plan in plans.items() if isinstance(plan, Batched)}
    assert {"number", "status", "periodStart", "total", "amountMinor", "currency"} <= direct
    assert {"lines", "payments", "creditNotes"} == batched
    assert plans["formatted"] is None  # a resolver of its own
