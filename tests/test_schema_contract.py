"""The schema is a contract: the committed SDL must equal the code's, and everything a
GraphiQL user reads has a description: every type, field, argument and enum value."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
)

from app.cli import main
from app.graphql import schema

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
