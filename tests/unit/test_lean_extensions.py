"""``LeanSchema`` runs schema extensions' hooks as strawberry's own runner does: the same
hooks in the same order, the same exceptions seen, replaced or suppressed, the same result.
Each case runs one operation through a plain ``strawberry.Schema`` and a ``LeanSchema``
with the same extensions and compares what the hooks saw and what came out."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from app.graphql.resolver_path.lean_extensions import LeanExtensionsRunner, LeanSchema


class Boom(Exception):
    pass


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def fails(self) -> str:
        raise Boom("resolver")


def recorder(log: list[str], name: str, behaviour: str) -> type[SchemaExtension]:
    """An extension whose hooks log what they see; ``behaviour`` picks what one of them does:
    ``plain``, ``raise-before`` (on_operation raises before yielding), ``suppress``
    (on_execute swallows what it wraps), ``replace`` (on_validate raises another error after
    the stage raised), ``raise-after`` (on_parse raises after yielding; also
    ``raise-after-validate``, ``raise-after-execute``), ``async`` (an async on_execute),
    ``no-yield`` (on_parse returns without yielding), ``results``."""

    class Recorder(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append(f"{name} operation enter")
            if behaviour == "raise-before":
                raise Boom(f"{name} before")
            try:
                yield
            except Exception as error:
                log.append(f"{name} operation saw {error!r}")
                raise
            log.append(f"{name} operation exit")

        def on_parse(self) -> Iterator[None]:
            log.append(f"{name} parse enter")
            if behaviour == "no-yield":
                return
            yield
            log.append(f"{name} parse exit")
            if behaviour == "raise-after":
                raise Boom(f"{name} after parse")

        def on_validate(self) -> Iterator[None]:
            log.append(f"{name} validate enter")
            try:
                yield
            except Exception as error:
                log.append(f"{name} validate saw {error!r}")
                if behaviour == "replace":
                    raise Boom(f"{name} replaced") from error
                raise
            log.append(f"{name} validate exit")
            if behaviour == "raise-after-validate":
                raise Boom(f"{name} after validate")

        if behaviour == "async":

            async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
                log.append(f"{name} async execute enter")
                yield
                log.append(f"{name} async execute exit")

        else:

            def on_execute(self) -> Iterator[None]:
                log.append(f"{name} execute enter")
                try:
                    yield
                except Exception as error:
                    log.append(f"{name} execute saw {error!r}")
                    if behaviour != "suppress":
                        raise
                log.append(f"{name} execute exit")
                if behaviour == "raise-after-execute":
                    raise Boom(f"{name} after execute")

        if behaviour == "results":

            def get_results(self) -> dict[str, Any]:
                return {name: "counted"}

    Recorder.__name__ = f"Recorder_{name}_{behaviour}"
    return Recorder


BEHAVIOURS = ["plain", "raise-before", "suppress", "replace", "raise-after", "async"]
BEHAVIOURS += ["no-yield", "results", "raise-after-validate", "raise-after-execute"]
# (the middle extension's behaviour, the inner one's): the outer one only records
CASES = [(behaviour, "plain") for behaviour in BEHAVIOURS] + [
    ("suppress", "raise-after-execute"),
    ("plain", "raise-after-execute"),
    ("replace", "raise-after-validate"),
    ("plain", "raise-after-validate"),
    ("async", "raise-after-execute"),
]


def run(
    make: Callable[..., strawberry.Schema], behaviours: tuple[str, str], query: str, sync: bool
) -> tuple[Any, ...]:
    log: list[str] = []
    extensions = [
        recorder(log, "outer", "plain"),
        recorder(log, "middle", behaviours[0]),
        recorder(log, "inner", behaviours[1]),
    ]
    schema = make(query=Query, extensions=extensions)
    try:
        result = schema.execute_sync(query) if sync else asyncio.run(schema.execute(query))
    except Exception as error:  # the same exception out of both, if any
        return _anonymous(log), _anonymous([repr(error)])
    errors = _anonymous([f"{error.message} at {error.path}" for error in result.errors or ()])
    return _anonymous(log), result.data, errors, result.extensions


def _anonymous(texts: list[str]) -> list[str]:
    """Without objects' addresses (each run makes its own extension objects)."""
    return [re.sub(r" at 0x[0-9a-f]+", "", text) for text in texts]


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
@pytest.mark.parametrize("query", ["{ hello }", "{ fails }", "{ nope }", "{ hello"])
@pytest.mark.parametrize("behaviours", CASES, ids="/".join)
def test_lean_schema_runs_hooks_as_strawberry_does(
    behaviours: tuple[str, str], query: str, sync: bool
) -> None:
    expected = run(strawberry.Schema, behaviours, query, sync)
    assert run(LeanSchema, behaviours, query, sync) == expected, "(addresses left out)"
    assert expected[0], "the hooks ran"


def test_lean_schema_uses_the_lean_runner() -> None:
    schema = LeanSchema(query=Query)
    runner = schema.create_extensions_runner(None, [])  # type: ignore[arg-type]
    assert isinstance(runner, LeanExtensionsRunner)


def test_a_plain_callable_hook_runs_through_strawberrys_manager() -> None:
    seen: list[str] = []

    class Callable_(SchemaExtension):
        def on_execute(self) -> None:  # type: ignore[override]
            seen.append("called")

    result = asyncio.run(LeanSchema(query=Query, extensions=[Callable_]).execute("{ hello }"))
    assert result.data == {"hello": "world"} and seen == ["called"]
