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

Batched fields (``app.graphql.read.fields``) are loaded ahead: when an object's selection
holds some (directly, under plain attributes, or under other batched fields), the executor
loads the whole subtree a level at a time, each level's keys in one round of DataLoader
loads (``app.graphql.resolver_path.batching``), then completes it synchronously from those
values. How each field is taken is worked out once per process
(``app.graphql.resolver_path.plans``).
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from graphql import GraphQLNonNull, GraphQLObjectType, get_argument_values
from graphql.execution.collect_fields import CollectedFields, GroupedFieldSet, collect_subfields
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE as CAST

from app.graphql.read.loaders.base import NarrowLoader
from app.graphql.resolver_path.batching import (
    Columns,
    Load,
    Narrowing,
    narrowed,
    selected_columns,
    settle_level,
    want,
)
from app.graphql.resolver_path.plans import Batched, Objects, Plain, attributes_of, plain_field

__all__ = ["PlainFieldExecutor"]


class FieldKind(enum.Enum):
    """How ``execute_fields`` takes a field."""

    OTHER = "other"  # graphql-core's way, through the field's resolver
    LEAF = "leaf"  # a plain scalar or enum attribute, read and coerced here
    OBJECT = "object"  # a plain object attribute, its sub-selection executed here
    BATCHED = "batched"  # a batched field: its value loaded ahead, with its level


# Bound once: ``execute_fields`` compares them for every field of a page.
_OTHER, _LEAF, _OBJECT, _BATCHED = (
    FieldKind.OTHER,
    FieldKind.LEAF,
    FieldKind.OBJECT,
    FieldKind.BATCHED,
)


class Prefetch(NamedTuple):
    """One field to walk through when prefetching under an object: a batched field (loaded),
    or a plain object attribute (whose objects' selection holds batched fields)."""

    plan: Batched | Plain
    fields: Any  # its field group (graphql-core's field details list)
    sub: GroupedFieldSet | None  # its objects' selection
    columns: Columns | None  # a batched field's: the columns its rows are read with (None: all)


Walk = list[Prefetch]


class Step(NamedTuple):
    """How ``execute_fields`` takes one field of a selection."""

    response_name: str
    fields: Any  # its field group (graphql-core's field details list)
    kind: FieldKind
    # Plain (LEAF, OBJECT) or Batched (BATCHED), as ``kind`` says; OTHER: either, or None
    plan: Any
    sub: Any  # the sub-selection of its objects (a GroupedFieldSet), if any


class Selection(NamedTuple):
    """An object's selection, worked out once: its steps, and what to prefetch under it."""

    fields: GroupedFieldSet  # kept: its id is not reused while the selection lives
    walk: Walk | None  # None: nothing to prefetch
    steps: tuple[Step, ...]


class _Collected(NamedTuple):
    """Sub-fields collected once, kept with what their key holds the ids of (so that no
    other object takes those ids while the entry lives)."""

    kept: Any  # the field nodes, or the field group
    collected: CollectedFields


class _Static(NamedTuple):
    operation: Any  # kept: its id is the key
    static: bool  # its selections are the same whatever the variables


_COMPLETED = frozenset((dict, list, str, int, bool))  # what a completed field can be
# Path(prev, key, typename) without the named tuple's Python-level __new__ (~2x faster; a
# page makes a few hundred).
_path = tuple.__new__

# (parent type, field name) -> its Plain, or None (graphql-core's way): the schema is built
# once per process.
_PLANS: dict[tuple[GraphQLObjectType, str], Plain | Batched | None] = {}


# Sub-selections and their plans shared by every request of the same parsed document
# (``ParserCache`` hands out one ``DocumentNode`` per text): (return type, ids of the field
# nodes) -> (the nodes, graphql-core's collected fields); id(grouped field set) -> its
# Selection. An entry keeps its nodes and sets alive, so no other object takes their ids
# while it lives. Only documents whose selections do not depend on variables (no @skip,
# @include, @defer or @stream) share them; at most _MAX_SHARED entries.
_SHARED_FIELDS: dict[tuple[Any, ...], _Collected] = {}
_SHARED_SELECTIONS: dict[int, Selection] = {}
_SHARED_SETS: dict[int, GroupedFieldSet] = {}
_MAX_SHARED = 4096
_DYNAMIC_DIRECTIVES = frozenset(("skip", "include", "defer", "stream"))
# id(operation node) -> the node, and whether its selections are the same for any variables.
_STATIC: dict[int, _Static] = {}


def _static(operation: Any, fragments: dict[str, Any]) -> bool:
    """Whether the operation's selections (with its fragments') are the same whatever the
    variables: no directive that includes, skips or splits fields, no fragment variables."""
    known = _STATIC.get(id(operation))
    if known is not None and known.operation is operation:
        return known.static
    static = not any(details.variable_signatures for details in fragments.values()) and not any(
        directive.name.value in _DYNAMIC_DIRECTIVES
        for root in (operation, *(details.definition for details in fragments.values()))
        for directive in _directives(root.selection_set)
    )
    if len(_STATIC) >= _MAX_SHARED:
        _STATIC.clear()
    _STATIC[id(operation)] = _Static(operation, static)
    return static


def _directives(selection_set: Any) -> Any:
    """Every directive on the selections under ``selection_set``."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        yield from selection.directives or ()
        yield from _directives(getattr(selection, "selection_set", None))


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with plain attribute fields executed directly and batched
    fields loaded a level at a time."""

    @classmethod
    def build(
        cls,
        schema: Any,
        document: Any,
        root_value: Any = None,
        context_value: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """graphql-core's; when the operation cannot start (its variables cannot be
        coerced: a request error, GraphQL spec "CoerceVariableValues()"), the request's
        context is told, so that GraphQL over HTTP answers it as one (``app.graphql.http``)."""
        built = super().build(schema, document, root_value, context_value, *args, **kwargs)
        if isinstance(built, list) and hasattr(context_value, "request_error"):
            context_value.request_error = True
        return built

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Batched fields' values: (id(parent), id(field node)) -> value; the parents are
        # kept (``_parents``) so that their ids are not reused while the request runs.
        self._loaded: dict[tuple[int, int], Any] = {}
        self._parents: list[Any] = []
        # (id(object), id(its grouped field set)) -> object, for objects already prefetched.
        self._prefetched: dict[tuple[int, int], Any] = {}
        # id(grouped field set) -> its selection: its steps, what to prefetch under it.
        self._selections: dict[int, Selection] = {}
        # (return type, id(field group)) -> its sub-fields, for this request (graphql-core's
        # memo, kept here so that the response can let it go).
        self._subfields: dict[tuple[GraphQLObjectType, int], _Collected] = {}
        # Sub-selections and plans from the process-wide caches above?
        self._shared = _static(self.operation, self.fragments)

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> CollectedFields:
        """graphql-core's, memoized per request on the field group, or shared by the requests
        of a document whose selections are the same for any variables (the same fields,
        collected once per process)."""
        if not self._shared:
            key = (return_type, id(field_details_list))
            entry = self._subfields.get(key)
            if entry is not None:
                return entry.collected
            collected = self._collect(return_type, field_details_list)
            self._subfields[key] = _Collected(field_details_list, collected)
            return collected
        nodes = tuple(details.node for details in field_details_list)
        shared_key = (return_type, *map(id, nodes))
        shared = _SHARED_FIELDS.get(shared_key)
        if shared is not None:
            return shared.collected
        collected = self._collect(return_type, field_details_list)
        if len(_SHARED_FIELDS) >= _MAX_SHARED:
            _SHARED_FIELDS.clear()
            _SHARED_SELECTIONS.clear()
            _SHARED_SETS.clear()
        _SHARED_FIELDS[shared_key] = _Collected(nodes, collected)
        _SHARED_SETS[id(collected.grouped_field_set)] = collected.grouped_field_set
        return collected

    def _collect(self, return_type: GraphQLObjectType, field_details_list: Any) -> CollectedFields:
        return collect_subfields(
            self.schema,
            self.fragments,
            self.variable_values,
            self.operation,
            return_type,
            field_details_list,
            self.hide_suggestions,
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        selection = self._selections.get(id(grouped_field_set))
        if selection is None:
            selection = self._selection_of(parent_type, grouped_field_set)
        walk, steps = selection.walk, selection.steps
        if walk is not None and (id(source_value), id(grouped_field_set)) not in self._prefetched:
            return self._prefetch_then_execute(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        loaded = self._loaded
        try:
            for response_name, field_details_list, kind, plan, sub in steps:
                result: Any = Undefined
                if kind is _LEAF:
                    # Inlined: most fields of a page are these.
                    try:
                        value = plan.read(source_value)
                        if type(value) is plan.unchanged:
                            results[response_name] = value
                            continue
                        if type(value) is plan.enum_class:
                            results[response_name] = plan.enum_names[id(value)]
                            continue
                        if value is None:
                            if not plan.non_null:
                                results[response_name] = None
                                continue
                        else:
                            result = plan.coerce(value)
                            if result is not None:
                                results[response_name] = result
                                continue
                    except Exception:  # noqa: S110 - graphql-core's way reports it
                        pass
                    result = Undefined
                elif kind is _OBJECT:
                    try:
                        value = plan.read(source_value)
                    except Exception:  # graphql-core's way reports it
                        value = Undefined
                    if value is not Undefined:
                        result = self._complete_objects(
                            plan.objects, field_details_list, sub,
                            _path(Path, (path, response_name, parent_type.name)),
                            value, position_context,
                        )  # fmt: skip
                elif kind is _BATCHED:
                    value = loaded.get(
                        (id(source_value), id(field_details_list[0].node)), Undefined
                    )
                    if value is not Undefined:
                        field_path = _path(Path, (path, response_name, parent_type.name))
                        objects = plan.objects
                        if objects is not None:
                            result = self._complete_objects(
                                objects, field_details_list, sub, field_path, value,
                                position_context,
                            )  # fmt: skip
                        if result is Undefined:
                            result = self._complete_batched(
                                plan, parent_type, field_details_list, field_path,
                                value, position_context,
                            )  # fmt: skip
                if result is Undefined:
                    # Not plain, not loaded, or an error to report (null in a non-null
                    # field, a value the scalar refuses): graphql-core's way, which calls
                    # the resolver and makes the error.
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        _path(Path, (path, response_name, parent_type.name)),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                # A completed object or list is no awaitable: asked only of the others.
                if type(result) not in _COMPLETED and is_awaitable(result):
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

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """The response, then this request's objects let go: the executor is part of
        reference cycles (graphql-core's helpers refer back to it), so whatever it still
        held (every batched value, with its rows) would wait for the garbage collector."""
        response = super().build_response(data)
        self._loaded.clear()
        self._parents.clear()
        self._prefetched.clear()
        self._selections.clear()
        self._subfields.clear()
        return response

    def _plan(self, parent_type: GraphQLObjectType, field_name: str) -> Plain | Batched | None:
        key = (parent_type, field_name)
        try:
            return _PLANS[key]
        except KeyError:
            field_def = self.schema.get_field(parent_type, field_name)
            plan = _PLANS[key] = plain_field(field_def) if field_def else None
            return plan

    # Batched fields. When an object's selection holds batched fields (directly, or under
    # plain attributes, or under other batched fields), every batched field of the whole
    # subtree is loaded first, one level at a time: each level's keys in one round of
    # DataLoader loads (one statement per loader, as before), all awaited together. Then
    # the subtree completes synchronously from those values. A load or key that fails is
    # not kept: the field then goes through its resolver, which reports the error.

    def _selection_of(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Selection:
        """The selection's plan: the one shared by the process when the set is shared, else
        made for this request."""
        shared = self._shared and id(grouped_field_set) in _SHARED_SETS
        selection = _SHARED_SELECTIONS.get(id(grouped_field_set)) if shared else None
        if selection is None:
            selection = self._selection(parent_type, grouped_field_set)
            if shared:
                _SHARED_SELECTIONS[id(grouped_field_set)] = selection
        self._selections[id(grouped_field_set)] = selection
        return selection

    def _selection(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Selection:
        """How to execute an object's selection (one step per field: its kind and plan), and
        what to prefetch under it (``None``: nothing), made once per selection."""
        steps: list[Step] = []
        walk: Walk = []
        for response_name, field_details_list in grouped_field_set.items():
            plan = self._plan(parent_type, field_details_list[0].node.name.value)
            kind = _OTHER
            sub = None
            if type(plan) is Batched:
                kind = _BATCHED
                only = None
                if plan.object_type is not None:
                    sub = self._sub_selection(plan.object_type, field_details_list)
                    if plan.batch.narrow is not None:
                        only = selected_columns(plan.object_type, sub, plan.batch.narrow)
                walk.append(Prefetch(plan, field_details_list, sub, only))
            elif type(plan) is Plain:
                if plan.direct:
                    kind = _LEAF if plan.leaf else _OBJECT
                if not plan.leaf:
                    sub = self._sub_selection(plan.named_type, field_details_list)
                    if not plan.computed and self._walk(plan.named_type, sub) is not None:
                        walk.append(Prefetch(plan, field_details_list, sub, None))
            steps.append(Step(response_name, field_details_list, kind, plan, sub))
        return Selection(grouped_field_set, walk or None, tuple(steps))

    def _walk(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Walk | None:
        """What to prefetch under an object with this selection, or ``None`` if nothing."""
        selection = self._selections.get(id(grouped_field_set))
        if selection is None:
            selection = self._selection_of(parent_type, grouped_field_set)
        return selection.walk

    def _sub_selection(self, object_type: GraphQLObjectType, field_details_list: Any) -> Any:
        return self.collect_subfields(object_type, field_details_list).grouped_field_set

    async def _prefetch_then_execute(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        await self._prefetch(parent_type, [source_value], grouped_field_set)
        results = self.execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )
        return await results if self.is_awaitable(results) else results

    async def _prefetch(
        self, parent_type: GraphQLObjectType, sources: list[Any], grouped_field_set: Any
    ) -> None:
        level: list[tuple[GraphQLObjectType, list[Any], Any]] = [
            (parent_type, sources, grouped_field_set)
        ]
        loaders = self.context_value.loaders
        loaded = self._loaded
        parents_kept = self._parents
        while level:
            loads: list[Load] = []  # this level's
            # id(loader) -> the columns this level's loads of it need
            narrow: dict[int, Narrowing] = {}
            while level:
                object_type, objects, selection = level.pop()
                walk = self._walk(object_type, selection)
                if walk is None:
                    continue
                for obj in objects:
                    self._prefetched[(id(obj), id(selection))] = obj
                for prefetch in walk:
                    plan = prefetch.plan
                    if isinstance(plan, Plain):
                        level.append((plan.named_type, attributes_of(objects, plan), prefetch.sub))
                        continue
                    load = self._load(plan, prefetch, objects, loaders)
                    if load is not None:
                        loads.append(load)
                        if isinstance(load.loader, NarrowLoader):
                            want(narrow, load.loader, prefetch.columns if loaders.narrow else None)
            if not loads:
                return
            if narrow:
                loads = [narrowed(load, narrow) for load in loads]
                narrow.clear()
            for load, values in zip(loads, await settle_level(loads), strict=True):
                node, sub, arguments = load.node, load.sub, load.arguments
                objects = []
                convert = load.plan.batch.convert
                for parent, value in zip(load.parents, values, strict=True):
                    if isinstance(value, BaseException):
                        continue
                    try:
                        field_value = convert(parent, value, **arguments)
                    except Exception:  # noqa: S112 - the resolver reports it
                        continue
                    loaded[(id(parent), id(node))] = field_value
                    parents_kept.append(parent)
                    if sub is not None and field_value is not None:
                        if isinstance(field_value, list):
                            objects.extend(item for item in field_value if item is not None)
                        else:
                            objects.append(field_value)
                if objects:
                    level.append((load.plan.object_type, objects, sub))  # type: ignore[arg-type]

    def _load(
        self, plan: Batched, prefetch: Prefetch, parents: list[Any], loaders: Any
    ) -> Load | None:
        """What to load for ``plan`` for the parents that have no value yet: the parents,
        their keys (``None``: nothing to load, the value is ``None``), the field's arguments
        and its loader; ``None`` if there is nothing, or the arguments are wrong."""
        details = prefetch.fields[0]
        node = details.node
        try:
            arguments = (
                get_argument_values(
                    plan.field_def,
                    node,
                    self.variable_values,
                    details.fragment_variable_values,
                    self.hide_suggestions,
                )
                if plan.arguments or node.arguments
                else {}
            )
            keywords = {
                python: arguments[name] for name, python in plan.arguments if name in arguments
            }
            loader = plan.batch.loader(loaders, **keywords)
        except Exception:
            return None
        key_of = plan.batch.key
        loaded = self._loaded
        waiting: list[Any] = []
        keys: list[Any] = []
        for parent in parents:
            if (id(parent), id(node)) in loaded:
                continue
            try:
                key = key_of(parent, **keywords)
                hash(key)  # a key the loader cannot take is the resolver's to report
            except Exception:  # noqa: S112 - the resolver reports it
                continue
            waiting.append(parent)
            keys.append(key)
        if not keys:
            return None
        return Load(plan, node, prefetch.sub, waiting, keys, keywords, loader)

    def _complete_batched(
        self,
        plan: Batched,
        parent_type: GraphQLObjectType,
        field_details_list: Any,
        field_path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """A batched field's loaded value completed as ``execute_field`` completes a
        resolver's result (the same errors, in the same places)."""
        field_def = plan.field_def
        return_type = field_def.type
        nodes = [details.node for details in field_details_list]
        info = self.build_resolve_info(field_def, nodes, parent_type, field_path)
        try:
            completed = self.complete_value(
                return_type, field_details_list, info, field_path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)
            return None
        if self.is_awaitable(completed):
            return self._settled(completed, return_type, field_details_list, field_path)
        return completed

    def _complete_objects(
        self,
        objects: Objects,
        field_details_list: Any,
        sub: GroupedFieldSet,
        field_path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """An object field's value (an object, or a list of objects) completed by executing
        its sub-selection on each object directly, as graphql-core's ``complete_value``
        would (the same errors in the same places), or ``Undefined`` for graphql-core to
        complete when the value holds something to report: ``null`` where the type forbids
        it, an object of another type, an exception (raised there), a list that is not
        one."""
        if value is None:
            return Undefined if objects.non_null else None
        origin = objects.origin
        object_type = objects.object_type
        if not objects.many:
            if (type(value) is not origin or getattr(value, CAST, None) is not None) and (
                origin is not None or isinstance(value, Exception)
            ):
                return Undefined
            try:
                completed = self.execute_fields(
                    object_type, value, field_path, sub, position_context
                )
            except Exception as raw_error:
                self.handle_field_error(
                    raw_error, objects.return_type, field_details_list, field_path
                )
                return None
            if type(completed) is not dict and self.is_awaitable(completed):
                return self._settled(completed, objects.return_type, field_details_list, field_path)
            return completed
        if type(value) is not list:
            return Undefined
        item_type = objects.item_type
        nullable_items = type(item_type) is not GraphQLNonNull
        if origin is not None:
            for item in value:
                if type(item) is not origin or getattr(item, CAST, None) is not None:
                    if item is None and nullable_items:
                        continue
                    return Undefined
        else:  # any object will do, but null only where allowed, and no error raised
            for item in value:
                if (item is None and not nullable_items) or isinstance(item, Exception):
                    return Undefined
        execute_fields = self.execute_fields
        is_awaitable = self.is_awaitable
        completed_items: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(value):
                if item is None:
                    completed_items.append(None)
                    continue
                item_path = _path(Path, (field_path, index, None))
                try:
                    completed = execute_fields(object_type, item, item_path, sub, position_context)
                except Exception as raw_error:
                    # A non-null item's error goes on to the list: raised again here.
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    completed = None
                else:
                    if type(completed) is not dict and is_awaitable(completed):
                        completed = self._settled(
                            completed, item_type, field_details_list, item_path
                        )
                        awaitable_indices.append(index)
                completed_items.append(completed)
        except Exception as raw_error:
            if awaitable_indices:
                self.settle_in_background([completed_items[i] for i in awaitable_indices])
            self.handle_field_error(raw_error, objects.return_type, field_details_list, field_path)
            return None
        if not awaitable_indices:
            return completed_items

        async def get_completed_items() -> list[Any]:
            if len(awaitable_indices) == 1:  # as graphql-core: no task for a single one
                index = awaitable_indices[0]
                completed_items[index] = await completed_items[index]
                return completed_items
            awaited = await gather_with_cancel(*(completed_items[i] for i in awaitable_indices))
            for index, item in zip(awaitable_indices, awaited, strict=True):
                completed_items[index] = item
            return completed_items

        return self._settled(
            get_completed_items(), objects.return_type, field_details_list, field_path
        )

    def _settled(
        self, awaitable: Any, return_type: Any, field_details_list: Any, field_path: Path
    ) -> Any:
        """``awaitable`` awaited, its error handled as graphql-core handles a field's."""

        async def settle() -> Any:
            try:
                return await awaitable
            except Exception as raw_error:
                self.handle_field_error(raw_error, return_type, field_details_list, field_path)
                return None

        return settle()
