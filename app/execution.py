"""A leaner executor for the resolver path: plain attribute fields skip the per-field machinery.

graphql-core executes every field the same way: a ``Path``, a ``GraphQLResolveInfo``, the
resolver (strawberry's for a field without one: ``getattr``), two awaitable checks and
``complete_value``'s type dispatch. Most of a page's fields are plain attributes of an
object already in hand (an invoice's ``status``, a line's ``amount { amountMinor }``):
for them :class:`PlainFieldExecutor` reads the attribute and coerces it (a leaf) or executes
its sub-selection (an object) directly. Anything else, and any plain field whose value
would be an error (``null`` in a non-null field, a value its scalar refuses), goes through
graphql-core's own ``execute_field``, which builds the same error as before: the answer
(data and errors) is the same, only cheaper to make.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.execution.executor import gather_with_cancel  # type: ignore[attr-defined]
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter


class Plain:
    """A field that is a plain attribute: what to read and how to complete it."""

    __slots__ = ("attribute", "leaf", "named_type", "non_null")

    def __init__(self, attribute: str, leaf: bool, named_type: Any, non_null: bool) -> None:
        self.attribute = attribute
        self.leaf = leaf  # a scalar or enum; else an object with a sub-selection
        self.named_type = named_type
        self.non_null = non_null


def plain_field(field_def: GraphQLField) -> Plain | None:
    """``field_def`` as a plain attribute read, or ``None`` if it needs the full machinery:
    a resolver of its own, field extensions, arguments, a list, or an abstract type."""
    resolve = field_def.resolve
    if resolve is None or not getattr(resolve, "_is_default", False) or field_def.args:
        return None
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or definition.default_resolver is not getattr:
        return None
    return_type: Any = field_def.type
    non_null = isinstance(return_type, GraphQLNonNull)
    named = return_type.of_type if non_null else return_type
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return Plain(definition.python_name, True, named, non_null)
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        return Plain(definition.python_name, False, named, non_null)
    return None


# (parent type, field name) -> its Plain, or None (graphql-core's way): the schema is built
# once per process.
_PLANS: dict[tuple[GraphQLObjectType, str], Plain | None] = {}


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with plain attribute fields executed directly."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        manager = self.middleware_manager
        if manager is not None and manager._middleware_resolvers:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = self._plan(parent_type, field_details_list[0].node.name.value)
                result = (
                    Undefined
                    if plan is None
                    else self._execute_plain(
                        plan, parent_type, source_value, field_details_list, path,
                        response_name, position_context,
                    )
                )  # fmt: skip
                if result is Undefined:
                    # Not plain, or an error to report (null in a non-null field, a value
                    # the scalar refuses): graphql-core's way, which makes the error.
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _plan(self, parent_type: GraphQLObjectType, field_name: str) -> Plain | None:
        key = (parent_type, field_name)
        try:
            return _PLANS[key]
        except KeyError:
            field_def = self.schema.get_field(parent_type, field_name)
            plan = _PLANS[key] = plain_field(field_def) if field_def else None
            return plan

    def _execute_plain(
        self,
        plan: Plain,
        parent_type: GraphQLObjectType,
        source_value: Any,
        field_details_list: Any,
        path: Path | None,
        response_name: str,
        position_context: Any,
    ) -> Any:
        """The field's completed value, or ``Undefined`` where it is an error: graphql-core
        then executes the field again, and reports it."""
        try:
            value = getattr(source_value, plan.attribute)
        except Exception:
            return Undefined
        if value is None:
            return Undefined if plan.non_null else None
        if plan.leaf:
            try:
                coerced = plan.named_type.coerce_output_value(value)
            except Exception:
                return Undefined
            return Undefined if coerced is None else coerced
        return self._complete_plain_object(
            plan,
            field_details_list,
            Path(path, response_name, parent_type.name),
            value,
            position_context,
        )

    def _complete_plain_object(
        self,
        plan: Plain,
        field_details_list: Any,
        field_path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """An object-typed attribute's sub-selection, with the errors its sub-fields raise
        handled as graphql-core's ``execute_field`` handles them."""
        try:
            completed = self.collect_and_execute_subfields(
                plan.named_type, field_details_list, field_path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, _type_of(plan), field_details_list, field_path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:
                self.handle_field_error(raw_error, _type_of(plan), field_details_list, field_path)
                return None

        return await_completed()


def _type_of(plan: Plain) -> Any:
    return GraphQLNonNull(plan.named_type) if plan.non_null else plan.named_type
