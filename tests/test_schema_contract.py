"""The schema is a contract: the committed SDL must equal the code's, and everything a
GraphiQL user reads has a description: every type, field, argument and enum value."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    build_schema,
)

from app.cli import main
from app.graphql.schema import schema

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_matches_code() -> None:
    exported = io.StringIO()
    with redirect_stdout(exported):
        assert main(["export-schema"]) == 0
    assert exported.getvalue() == SDL.read_text(encoding="utf-8"), (
        "schema.graphql is stale: run `uv run paygate export-schema schema.graphql` and "
        "review the difference"
    )


def test_every_type_field_and_argument_is_described() -> None:
    missing: list[str] = []
    for name, type_ in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        if not type_.description:
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({arg})"
                    for arg, definition in field.args.items()
                    if not definition.description
                )
        elif isinstance(type_, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field_name}"
                for field_name, field in type_.fields.items()
                if not field.description
            )
        elif not isinstance(type_, GraphQLEnumType | GraphQLScalarType):
            raise AssertionError(f"unexpected kind of type {name}")
    assert missing == []


def _shape(type_: Any) -> tuple[Any, ...]:
    """What a client can see of a named type: its kind and every member, typed."""
    if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        fields = tuple(
            sorted(
                (
                    name,
                    str(field.type),
                    tuple(sorted((a, str(d.type)) for a, d in field.args.items())),
                )
                for name, field in type_.fields.items()
            )
        )
        return (type(type_).__name__, fields, tuple(sorted(i.name for i in type_.interfaces)))
    if isinstance(type_, GraphQLInputObjectType):
        return (
            "input",
            tuple(sorted((name, str(field.type)) for name, field in type_.fields.items())),
        )
    if isinstance(type_, GraphQLEnumType):
        return ("enum", tuple(sorted(type_.values)))
    if isinstance(type_, GraphQLUnionType):
        return ("union", tuple(sorted(t.name for t in type_.types)))
    return (type(type_).__name__,)


def test_the_committed_sdl_builds_the_served_schema() -> None:
    """Not only the text: graphql-core's ``build_schema`` of ``schema.graphql`` (what code
    generators and gateways do) has exactly the served roots, types and fields; without
    the ``schema`` block it took the billing object ``Subscription`` for the root of
    subscription operations."""
    built = build_schema(SDL.read_text(encoding="utf-8"))
    served = schema._schema
    roots = (built.query_type, built.mutation_type, built.subscription_type)
    assert [r.name if r else None for r in roots] == ["Query", "Mutation", "LiveUpdates"]
    assert served.subscription_type is not None
    assert served.subscription_type.name == "LiveUpdates"  # not the billing object's name
    assert isinstance(built.type_map["Subscription"], GraphQLObjectType)  # the billing object
    names = {name for name in served.type_map if not name.startswith("__")}
    assert {name for name in built.type_map if not name.startswith("__")} == names
    differing = [
        n for n in sorted(names) if _shape(built.type_map[n]) != _shape(served.type_map[n])
    ]
    assert differing == []


def test_every_enum_value_is_described() -> None:
    missing = [
        f"{name}.{value}"
        for name, type_ in schema._schema.type_map.items()
        if isinstance(type_, GraphQLEnumType) and not name.startswith("__")
        for value, definition in type_.values.items()
        if not (definition.description or "").strip()
    ]
    assert missing == [], (
        f"{len(missing)} enum values have no description: {', '.join(missing)}. Describe each "
        "in the `values` mapping its enum is registered with (`described_enum(...)`; the "
        "mappings are in app/schema/enum_values/), then run `make schema`."
    )
