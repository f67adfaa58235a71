"""Query cost: how many objects an operation may make, estimated before it runs.

The estimate counts the objects (values of an object, interface or union type) an operation
can produce, and the operation's root: every field of an object type counts one per object
it returns, a list counts its length, scalars and enums count nothing (a connection's
``totalCount``, a ``COUNT`` over the whole connection, counts one). A list's length is:

- under a connection field (a type named ``…Connection`` with ``edges``), its page size:
  ``first``, or the default page (20) when it is omitted, at most 100;
- a list with an argument that bounds it (``Customer.invoices(last:)``, ``nodes(ids:)``):
  that argument, at most its maximum; without it, its counted size;
- any other list: its counted size in :data:`LIST_SIZES`, a maximum paygate enforces where
  it has one (items of a subscription, variants of an experiment, currencies) and otherwise
  a planning figure (prices of a product, lines of an invoice: nothing stops a catalog from
  having more; what the estimate misses, the time limits bound);
- introspection's lists: the schema's own averages (types, fields of a type, arguments of
  a field …), so that introspection is cheap but not free, and nesting it multiplies.

Fields are collected as execution collects them (fragments and inline fragments whose
type applies, aliases as separate fields, fields of the same response name merged, with
``@skip``/``@include`` decided by their arguments or variables); an abstract type counts
its most expensive possible type. Page arguments and ``@skip``/``@include`` conditions may
be variables: the estimate is made once per document, operation and values of the
variables it reads (most documents read none: made once per document), so that a request
whose estimate is known pays two dictionary look-ups.

What a request may spend (its actor's budget, the rate limit by cost, the request's time
limit) is ``app.security.query_gate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    VariableNode,
    get_operation_ast,
    is_leaf_type,
    parse,
)

from app.domain.currencies import CURRENCIES
from app.domain.disputes import EvidenceFileField
from app.domain.metering import MAX_TIERS
from app.domain.risk import DEFAULT_RULES
from app.services.billing.subscriptions import MAX_ITEMS
from app.services.experiments.definitions import MAX_VARIANTS
from app.services.metering.ingest import MAX_BATCH
from app.services.metering.meters import MAX_FILTERS
from app.services.metering.readings import MAX_BUCKETS
from app.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class ListSize:
    """How long the estimate takes a list to be: ``count``, or the value of ``argument``
    (a number, or a list's length) when given, at most ``maximum``. ``enforced``: paygate
    refuses longer ones (else ``count`` is a planning figure)."""

    count: int
    enforced: bool
    argument: str | None = None
    maximum: int | None = None


# Every list of objects of the schema outside connections (``tests/security/test_cost.py``
# fails for one without an entry).
LIST_SIZES: dict[str, ListSize] = {
    # Enforced maxima.
    "Subscription.items": ListSize(MAX_ITEMS, enforced=True),
    "Experiment.variants": ListSize(MAX_VARIANTS, enforced=True),
    "ExperimentResults.variants": ListSize(MAX_VARIANTS, enforced=True),
    # One check per guarded metric (refunds, disputes, payment failures) and variant.
    "ExperimentResults.guardrails": ListSize(3 * MAX_VARIANTS, enforced=True),
    "Query.currencies": ListSize(len(CURRENCIES), enforced=True),
    # ``nodes(ids:)`` takes at most 100 IDs (``app.resolvers.nodes.MAX_NODES``).
    "Query.nodes": ListSize(MAX_PAGE_SIZE, enforced=True, argument="ids", maximum=MAX_PAGE_SIZE),
    # Usage-based billing.
    "CustomerUsage.buckets": ListSize(MAX_BUCKETS, enforced=True),
    "Price.tiers": ListSize(MAX_TIERS, enforced=True),
    "Meter.filters": ListSize(MAX_FILTERS, enforced=True),
    "RecordUsagePayload.results": ListSize(MAX_BATCH, enforced=True),
    "UsageEventResult.errors": ListSize(10, enforced=False),
    "Meter.alerts": ListSize(20, enforced=False),
    # one usage charge per metered item, and adjustments of a few earlier periods
    "Subscription.currentUsage": ListSize(3 * MAX_ITEMS, enforced=False),
    # Planning figures: paygate sets no maximum on these.
    "Customer.invoices": ListSize(60, enforced=False, argument="last", maximum=MAX_PAGE_SIZE),
    "Customer.paymentMethods": ListSize(10, enforced=False),
    "Customer.subscriptions": ListSize(10, enforced=False),
    "Customer.entitlements": ListSize(50, enforced=False),
    "Product.prices": ListSize(20, enforced=False),
    "Subscription.invoices": ListSize(60, enforced=False),
    "Invoice.lines": ListSize(25, enforced=False),
    # one file per evidence field at most
    "DisputeEvidence.files": ListSize(len(EvidenceFileField), enforced=True),
    "InvoicePreview.lines": ListSize(25, enforced=False),
    # Collection attempts: Visa allows 15 retries of a card in 30 days.
    "Invoice.payments": ListSize(15, enforced=False),
    # Credit notes: an invoice corrected a few times at most; a line per invoice line.
    "Invoice.creditNotes": ListSize(5, enforced=False),
    "CreditNote.lines": ListSize(25, enforced=False),
    "Customer.creditBalance": ListSize(3, enforced=False),  # one per currency used
    "Payment.refunds": ListSize(10, enforced=False),
    "Payment.disputes": ListSize(2, enforced=False),
    "Payment.events": ListSize(20, enforced=False),
    # Risk: one reason per matching rule; the recommended rules added at once.
    "PaymentRisk.reasons": ListSize(20, enforced=False),
    "InstallDefaultRiskRulesPayload.riskRules": ListSize(len(DEFAULT_RULES), enforced=True),
}
# A mutation payload's ``userErrors``.
USER_ERRORS = ListSize(10, enforced=False)
# A list of objects the table does not name (none in the schema today).
UNKNOWN_LIST = ListSize(MAX_PAGE_SIZE, enforced=False)
# Fields of a scalar type that cost like an object: a COUNT over the whole connection.
COUNTED_SCALARS = frozenset({"totalCount"})


def _introspection_sizes(schema: GraphQLSchema) -> dict[str, ListSize]:
    """Introspection's lists counted at the schema's own averages, rounded up: a type's
    fields, enum values … averaged over all types (what ``__schema { types { … } }`` makes
    in all), a field's arguments over all fields."""
    types = list(schema.type_map.values())
    directives = list(schema.directives)
    fields = [
        field
        for t in types
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for field in t.fields.values()
    ]

    def average(counts: list[int], over: int) -> ListSize:
        return ListSize(max(1, math.ceil(sum(counts) / max(over, 1))), enforced=True)

    def per_type(kinds: Any, count: Any) -> ListSize:
        return average([count(t) for t in types if isinstance(t, kinds)], len(types))

    return {
        "__Schema.types": ListSize(len(types), enforced=True),
        "__Schema.directives": ListSize(len(directives), enforced=True),
        "__Type.fields": per_type(
            GraphQLObjectType | GraphQLInterfaceType, lambda t: len(t.fields)
        ),
        "__Type.interfaces": per_type(GraphQLObjectType, lambda t: len(t.interfaces)),
        "__Type.possibleTypes": per_type(
            GraphQLInterfaceType | GraphQLUnionType,
            lambda t: len(schema.get_possible_types(t)),
        ),
        "__Type.enumValues": per_type(GraphQLEnumType, lambda t: len(t.values)),
        "__Type.inputFields": per_type(GraphQLInputObjectType, lambda t: len(t.fields)),
        "__Field.args": average([len(f.args) for f in fields], len(fields)),
        "__Directive.args": average([len(d.args) for d in directives], len(directives)),
    }


def _wrapping(schema: GraphQLSchema) -> int:
    """The most wrappers (non-null, list) around a type anywhere in the schema."""

    def depth(kind: Any) -> int:
        return 1 + depth(kind.of_type) if isinstance(kind, GraphQLNonNull | GraphQLList) else 0

    deepest = 0
    for t in schema.type_map.values():
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field in t.fields.values():
                deepest = max(deepest, depth(field.type))
                for argument in getattr(field, "args", {}).values():
                    deepest = max(deepest, depth(argument.type))
    for directive in schema.directives:
        for argument in directive.args.values():
            deepest = max(deepest, depth(argument.type))
    return deepest


@dataclass(frozen=True, slots=True)
class Estimate:
    """An operation's estimated number of objects, and whether it is a query."""

    cost: int
    query: bool


_MISSING = object()


def _hashable(value: Any) -> Any:
    """A variable's value as a key: what the estimate reads of it (a list: its length)."""
    if isinstance(value, list):
        return ("list", len(value))
    if isinstance(value, dict):
        return ("object",)
    return value


class _Walk:
    """One estimate of one operation with given variables."""

    def __init__(
        self,
        analysis: CostAnalysis,
        fragments: dict[str, FragmentDefinitionNode],
        defaults: dict[str, Any],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = analysis.schema
        self.sizes = analysis.sizes
        self.wrapping = analysis.wrapping
        self.fragments = fragments
        self.defaults = defaults
        self.variables = variables
        self.memo: dict[tuple[Any, ...], int] = {}

    def value(self, node: Any) -> Any:
        """An argument's value as far as the estimate needs it: numbers, booleans, null,
        lists (their items as nodes) and variables; ``_MISSING`` for anything else."""
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self.defaults.get(name)
            return None if default is None else self.value(default)
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, BooleanValueNode):
            return node.value
        if isinstance(node, NullValueNode):
            return None
        if isinstance(node, ListValueNode):
            return list(node.values)
        return _MISSING

    def argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return self.value(argument.value)
        return None

    def included(self, selection: Any) -> bool:
        """``@skip``/``@include`` as execution decides them; an undecidable condition (a
        value that is no boolean: refused when the variables are coerced) includes."""
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = None
            for argument in directive.arguments or ():
                if argument.name.value == "if":
                    condition = self.value(argument.value)
            if type(condition) is bool and condition is (name == "skip"):
                return False
        return True

    def applies(self, condition: Any, object_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        wanted = self.schema.get_type(condition.name.value)
        if wanted is object_type:
            return True
        if isinstance(wanted, GraphQLInterfaceType | GraphQLUnionType):
            return self.schema.is_sub_type(wanted, object_type)
        return False

    def collect(
        self,
        object_type: GraphQLObjectType,
        selection_sets: tuple[SelectionSetNode, ...],
        fields: dict[str, list[FieldNode]],
        seen: set[str],
    ) -> None:
        """The fields by response name, as execution collects them."""
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self.applies(selection.type_condition, object_type):
                        self.collect(object_type, (selection.selection_set,), fields, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if name in seen or fragment is None:
                        continue
                    if self.applies(fragment.type_condition, object_type):
                        seen.add(name)
                        self.collect(object_type, (fragment.selection_set,), fields, seen)

    def selections(
        self,
        object_type: GraphQLObjectType,
        selection_sets: tuple[SelectionSetNode, ...],
        page: int | None,
    ) -> int:
        """What the selections cost on one object of ``object_type``; ``page``: the page
        size of the connection that ``object_type`` is."""
        key = (object_type.name, *map(id, selection_sets), page)
        known = self.memo.get(key)
        if known is not None:
            return known
        fields: dict[str, list[FieldNode]] = {}
        self.collect(object_type, selection_sets, fields, set())
        total = sum(self.field(object_type, nodes, page) for nodes in fields.values())
        self.memo[key] = total
        return total

    def field(self, parent: GraphQLObjectType, nodes: list[FieldNode], page: int | None) -> int:
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            return 0
        if name == "__schema" and parent is self.schema.query_type:
            definition = SchemaMetaFieldDef
        elif name == "__type" and parent is self.schema.query_type:
            definition = TypeMetaFieldDef
        else:
            found = parent.fields.get(name)
            if found is None:  # refused by validation
                return 0
            definition = found
        count = 1
        kind: Any = definition.type
        while isinstance(kind, GraphQLNonNull | GraphQLList):
            if isinstance(kind, GraphQLList):
                count *= self.length(parent, name, node, page)
            kind = kind.of_type
        if is_leaf_type(kind):
            return 1 if name in COUNTED_SCALARS else 0
        if count == 0:
            return 0
        selection_sets = tuple(n.selection_set for n in nodes if n.selection_set is not None)
        inner = None
        if kind.name.endswith("Connection") and "edges" in kind.fields:
            inner = self.page_size(node)
        elif name == "ofType":
            # A type reference's wrappers (non-null, list) are at most ``wrapping`` deep:
            # an ``ofType`` further down is null.
            inner = (self.wrapping if page is None else page) - 1
            if inner < 0:
                return 0
        possible = (
            self.schema.get_possible_types(kind)
            if isinstance(kind, GraphQLInterfaceType | GraphQLUnionType)
            else (kind,)
        )
        each = max((self.selections(t, selection_sets, inner) for t in possible), default=0)
        return count * (1 + each)

    def page_size(self, node: FieldNode) -> int:
        size = self.argument(node, "first")
        if size is None:
            size = self.argument(node, "last")
        if size is None:
            return DEFAULT_PAGE_SIZE
        if type(size) is not int:  # refused when coerced: counted at the maximum
            return MAX_PAGE_SIZE
        return min(max(size, 0), MAX_PAGE_SIZE)

    def length(
        self, parent: GraphQLObjectType, name: str, node: FieldNode, page: int | None
    ) -> int:
        if name == "edges" and page is not None:
            return page
        size = self.sizes.get(f"{parent.name}.{name}")
        if size is None:
            size = USER_ERRORS if name == "userErrors" else UNKNOWN_LIST
        if size.argument is None:
            return size.count
        given = self.argument(node, size.argument)
        if isinstance(given, list):
            given = len(given)
        if given is None or type(given) is not int:
            return size.count
        maximum = size.maximum if size.maximum is not None else size.count
        return min(max(given, 0), maximum)


def _variables_read(operation: OperationDefinitionNode, fragments: Any) -> tuple[str, ...]:
    """The variables whose values the estimate may read: those of any directive and of any
    argument that sizes a list (``first``, ``last``, ``ids``)."""
    sized = {"first", "last"} | {s.argument for s in LIST_SIZES.values() if s.argument}
    names: dict[str, None] = {}

    def walk(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names[argument.value.name.value] = None
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    if argument.name.value in sized and isinstance(argument.value, VariableNode):
                        names[argument.value.name.value] = None
            walk(getattr(selection, "selection_set", None))

    walk(operation.selection_set)
    for fragment in fragments.values():
        walk(fragment.selection_set)
    return tuple(names)


class _Document:
    """One operation of one document text, and its estimates by the variables it reads."""

    __slots__ = ("defaults", "document", "fragments", "known", "names", "operation", "query")

    def __init__(self, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.document = document  # keeps the nodes alive: the memo keys on their ids
        self.operation = operation
        self.query = operation.operation is OperationType.QUERY
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults = {
            d.variable.name.value: d.default_value
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        self.names = _variables_read(operation, self.fragments)
        self.known: dict[tuple[Any, ...], Estimate] = {}


class CostAnalysis:
    """Estimates of operations, remembered per document, operation name and the values of
    the variables each reads: at most ``size`` documents, and ``size`` estimates per
    document. A parsed document is known by its identity (``ParserCache`` hands out one
    per text: no hashing of the text per request), one given as text by its text."""

    def __init__(self, schema: GraphQLSchema, *, size: int = 1024) -> None:
        self.schema = schema
        self.size = size
        self.sizes = {**LIST_SIZES, **_introspection_sizes(schema)}
        self.wrapping = _wrapping(schema)
        # (id of the parsed document, or its text; operation name) -> (the parsed document,
        # kept so that its id is not reused while the entry lives; its entry)
        self._documents: dict[tuple[Any, str | None], tuple[Any, _Document | None]] = {}

    def estimate(
        self,
        text: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        document: DocumentNode | None = None,
    ) -> Estimate | None:
        """The operation's estimate; ``None`` when ``text`` names no such operation (or
        does not parse): what execution refuses anyway. ``document``: ``text`` parsed."""
        if document is not None:
            key: tuple[Any, str | None] = (id(document), operation_name)
            known = self._documents.get(key)
            if known is None or known[0] is not document:
                known = self._prepare(key, text, document)
        else:
            key = (text, operation_name)
            known = self._documents.get(key)
            if known is None:
                known = self._prepare(key, text, None)
        entry = known[1]
        if entry is None:
            return None
        values: tuple[Any, ...] = ()
        if entry.names:
            given = variables or {}
            values = tuple(_hashable(given.get(name, _MISSING)) for name in entry.names)
        found = entry.known.get(values)
        if found is None:
            found = self._walk(entry, variables or {})
            if len(entry.known) >= self.size:
                entry.known.clear()
            entry.known[values] = found
        return found

    def _prepare(
        self, key: tuple[Any, str | None], text: str, document: DocumentNode | None
    ) -> tuple[Any, _Document | None]:
        parsed = document
        if parsed is None:
            try:
                parsed = parse(text)
            except Exception:
                parsed = None
        operation = None if parsed is None else get_operation_ast(parsed, key[1])
        entry = None if parsed is None or operation is None else _Document(parsed, operation)
        if len(self._documents) >= self.size:
            self._documents.clear()
        known = self._documents[key] = (document, entry)
        return known

    def _walk(self, entry: _Document, variables: Mapping[str, Any]) -> Estimate:
        root = self.schema.get_root_type(entry.operation.operation)
        if root is None:
            return Estimate(1, entry.query)
        walk = _Walk(self, entry.fragments, entry.defaults, variables)
        cost = 1 + walk.selections(root, (entry.operation.selection_set,), None)
        return Estimate(cost, entry.query)
