"""How the resolver path's executor (``app.graphql.resolver_path.executor``) takes each field
of the schema: a plain attribute read directly (:class:`Plain`), a batched field loaded a
level at a time (:class:`Batched`, declared with ``app.graphql.read.fields.batched``), or
neither (``None``: graphql-core's own way, through the field's resolver). Worked out once per
(type, field) for the process."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
)
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

from app.graphql.read.fields import Batch, batch_of


class Objects:
    """How the executor completes a field whose value is an object, or a list of objects,
    of one object type: the type's sub-selection executed on each object directly.

    A value is taken this way only when it holds nothing to report: no ``null`` where the
    type forbids one, and where the type checks its objects (strawberry gives an
    ``is_type_of`` to the types that implement interfaces), objects of its own class
    (``origin``), not cast with ``strawberry.cast``: that is all strawberry's
    ``is_type_of`` checks. Anything else goes through graphql-core's ``complete_value``,
    which reports it."""

    __slots__ = ("item_type", "many", "non_null", "object_type", "origin", "return_type")

    def __init__(
        self, return_type: Any, object_type: GraphQLObjectType, origin: type | None
    ) -> None:
        self.return_type = return_type
        self.object_type = object_type
        self.origin = origin
        self.non_null = isinstance(return_type, GraphQLNonNull)
        nullable = return_type.of_type if self.non_null else return_type
        self.many = isinstance(nullable, GraphQLList)
        self.item_type: Any = nullable.of_type if self.many else None  # with its non-null

    @classmethod
    def of(cls, return_type: Any) -> Objects | None:
        """The completion of ``return_type``, if it is ``T``, ``T!``, ``[T!]``, ``[T]!``…
        for a strawberry object type ``T`` without an ``is_type_of`` of its own."""
        named, _, _ = _named(return_type)
        inner = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if isinstance(inner, GraphQLList):
            item = inner.of_type
            item = item.of_type if isinstance(item, GraphQLNonNull) else item
            if isinstance(item, GraphQLList):
                return None  # lists of lists: graphql-core's way
        if not isinstance(named, GraphQLObjectType):
            return None
        definition = (named.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if definition is None or definition.is_type_of is not None:
            return None
        if named.is_type_of is None:
            return cls(return_type, named, None)  # any object will do
        if not definition.interfaces:
            return None  # an is_type_of strawberry did not make
        return cls(return_type, named, definition.origin)


# The built-in scalars whose output coercion returns a value of this exact type unchanged.
_UNCHANGED: dict[GraphQLScalarType, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
}


def _enum_names(named: Any) -> tuple[type | None, dict[int, str] | None]:
    """For a strawberry enum: its Python class and the GraphQL name of each member, as
    strawberry's ``coerce_output_value`` finds it (the first value equal to the member's),
    by the member's ``id``: members are singletons, and an ``Enum``'s own ``__hash__`` is
    a Python call."""
    enum_class = getattr(named, "wrapped_cls", None)
    if not isinstance(named, CustomGraphQLEnumType) or enum_class is None:
        return None, None
    names: dict[int, str] = {}
    for member in enum_class:
        for name, value in named.values.items():
            if member.value == value.value:
                names[id(member)] = name
                break
    return enum_class, names


class Plain:
    """A field that is a plain attribute, or a method of its object alone (a resolver that
    takes only ``self``, synchronous: a computed attribute): how to read it (``read``,
    given the object) and how to complete it."""

    __slots__ = (
        "coerce", "computed", "direct", "enum_class", "enum_names", "leaf", "many",
        "named_type", "non_null", "objects", "read", "unchanged",
    )  # fmt: skip

    def __init__(
        self,
        attribute: str,
        leaf: bool,
        named_type: Any,
        non_null: bool,
        many: bool = False,
        objects: Objects | None = None,
        method: Callable[[Any], Any] | None = None,
    ) -> None:
        self.read: Callable[[Any], Any] = method or attrgetter(attribute)
        # A method may make a new object on each call: its objects are not prefetched
        # (they would not be the objects that are then executed).
        self.computed = method is not None
        self.leaf = leaf  # a scalar or enum; else an object with a sub-selection
        self.named_type = named_type
        self.coerce = named_type.coerce_output_value if leaf else None
        self.non_null = non_null
        self.many = many  # a list of objects
        self.objects = objects  # how to complete its objects, if the executor does
        # Leaves' coercion, short-cut: a value of this type is its own output (a str for a
        # String), an enum member's output is its name here.
        self.unchanged = _UNCHANGED.get(named_type) if leaf else None
        self.enum_class, self.enum_names = _enum_names(named_type) if leaf else (None, None)
        # Executed here; else executed by graphql-core, and only walked through by
        # prefetching.
        self.direct = (leaf and not many) or objects is not None


class Batched:
    """A field declared with ``app.graphql.read.fields.batched``: one DataLoader lookup."""

    __slots__ = ("arguments", "batch", "field_def", "object_type", "objects")

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
        self.objects = Objects.of(field_def.type)  # how to complete them, if directly


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
    method = None
    if resolve is None or not getattr(resolve, "_is_default", False) or field_def.args:
        method = _method_of(field_def, definition)
        if method is None:
            return batched_field(field_def, definition)
    elif definition.default_resolver is not getattr:
        return None
    named, non_null, many = _named(field_def.type)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType) and not many:
        return Plain(definition.python_name, True, named, non_null, method=method)
    if isinstance(named, GraphQLObjectType):
        objects = Objects.of(field_def.type)
        return Plain(definition.python_name, False, named, non_null, many, objects, method)
    return None


def _method_of(field_def: GraphQLField, definition: Any) -> Callable[[Any], Any] | None:
    """The function behind a resolver that takes nothing but its object (``self`` or
    ``root``): synchronous, no ``info``, no arguments, no field extensions. Called with the
    object, it is what strawberry's resolver wrapper would return."""
    resolver = definition.base_resolver
    if resolver is None or field_def.args or definition.extensions or resolver.is_async:
        return None
    if resolver.arguments or batch_of(resolver.wrapped_func) is not None:
        return None
    taken = [p for p in resolver.reserved_parameters.values() if p is not None]
    if len(taken) != 1 or taken[0] not in (resolver.self_parameter, resolver.root_parameter):
        return None
    function = resolver.wrapped_func
    if len(inspect.signature(function).parameters) != 1:
        return None
    return function  # type: ignore[no-any-return]


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


def attributes_of(objects: list[Any], plan: Plain) -> list[Any]:
    """The objects under a plain object (or list of objects) attribute of ``objects``."""
    found: list[Any] = []
    read = plan.read
    for obj in objects:
        try:
            value = read(obj)
        except Exception:  # noqa: S112 - reported when the field is executed
            continue
        if value is None:
            continue
        if plan.many:
            found.extend(item for item in value if item is not None)
        else:
            found.append(value)
    return found
