"""How the resolver path's executor (``app.execution``) takes each field of the schema: a
plain attribute read directly (:class:`Plain`), a batched field loaded a level at a time
(:class:`Batched`, declared with ``app.batching.batched``), or neither (``None``: graphql-core's
own way, through the field's resolver). Worked out once per (type, field) for the process."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter

from app.batching import Batch, batch_of


class Plain:
    """A field that is a plain attribute: what to read and how to complete it."""

    __slots__ = ("attribute", "direct", "leaf", "many", "named_type", "non_null")

    def __init__(
        self, attribute: str, leaf: bool, named_type: Any, non_null: bool, many: bool = False
    ) -> None:
        self.attribute = attribute
        self.leaf = leaf  # a scalar or enum; else an object with a sub-selection
        self.named_type = named_type
        self.non_null = non_null
        self.many = many  # a list of objects
        # Executed here; else (a list, or an object type that checks its values with
        # ``is_type_of``) executed by graphql-core, and only walked through by prefetching.
        self.direct = not many and (leaf or named_type.is_type_of is None)


class Batched:
    """A field declared with ``app.batching.batched``: one DataLoader lookup."""

    __slots__ = ("arguments", "batch", "field_def", "object_type")

    def __init__(
        self,
        batch: Batch,
        field_def: GraphQLField,
        arguments: tuple[tuple[str, str], ...],
        object_type: GraphQLObjectType | None,
    ) -> None:
        self.batch = batch
        self.field_def = field_def
        self.arguments = arguments  # (GraphQL name, Python name)
        self.object_type = object_type  # its objects' type, if its value holds objects


def _named(type_: Any) -> tuple[Any, bool, bool]:
    """The named type under a field type, whether it is non-null, and whether a list."""
    non_null = isinstance(type_, GraphQLNonNull)
    named = type_.of_type if non_null else type_
    many = isinstance(named, GraphQLList)
    if many:
        named = named.of_type
        named = named.of_type if isinstance(named, GraphQLNonNull) else named
    return named, non_null, many


def plain_field(field_def: GraphQLField) -> Plain | Batched | None:
    """``field_def`` as a plain attribute read, a batched field, or ``None`` if it needs the
    full machinery: a resolver of its own, field extensions, arguments, an abstract type."""
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None:
        return None
    resolve = field_def.resolve
    if resolve is None or not getattr(resolve, "_is_default", False) or field_def.args:
        return batched_field(field_def, definition)
    if definition.default_resolver is not getattr:
        return None
    named, non_null, many = _named(field_def.type)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType) and not many:
        return Plain(definition.python_name, True, named, non_null)
    if isinstance(named, GraphQLObjectType):
        return Plain(definition.python_name, False, named, non_null, many)
    return None


_ARGUMENT_SCALARS = frozenset(("Int", "Float", "String", "Boolean", "ID"))


def batched_field(field_def: GraphQLField, definition: Any) -> Batched | None:
    """A field made by ``batched`` without field extensions, whose arguments are built-in
    scalars (their GraphQL values are their Python values), else ``None``."""
    resolver = definition.base_resolver
    batch = batch_of(resolver.wrapped_func) if resolver is not None else None
    if batch is None or definition.extensions:
        return None
    if len(field_def.args) != len(definition.arguments):
        return None
    arguments = []
    for (name, argument), strawberry_argument in zip(
        field_def.args.items(), definition.arguments, strict=True
    ):
        named, _, many = _named(argument.type)
        if many or getattr(named, "name", None) not in _ARGUMENT_SCALARS:
            return None
        arguments.append((name, strawberry_argument.python_name))
    named, _, _ = _named(field_def.type)
    object_type = named if isinstance(named, GraphQLObjectType) else None
    return Batched(batch, field_def, tuple(arguments), object_type)


async def _nothing() -> None:
    return None


class _Nothing:
    """What a key of ``None`` loads: ``None``, at once."""

    def __await__(self) -> Any:
        return _nothing().__await__()


NOTHING = _Nothing()


def attributes_of(objects: list[Any], plan: Plain) -> list[Any]:
    """The objects under a plain object (or list of objects) attribute of ``objects``."""
    found: list[Any] = []
    attribute = plan.attribute
    for obj in objects:
        value = getattr(obj, attribute, None)
        if value is None:
            continue
        if plan.many:
            found.extend(item for item in value if item is not None)
        else:
            found.append(value)
    return found
