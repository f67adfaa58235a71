# ruff: noqa: S608 - the statement is assembled from this module's own fragments and from
# GraphQL names (response keys: [_A-Za-z][_0-9A-Za-z]*, checked by the parser); every value
# from a document or a request is a bind parameter.
"""Compile a trusted query document into one SQL statement that builds its ``data`` JSON.

The supported subset is what paygate's frontends ask for: ``customer(id:)`` and
``customers(first:, after:)`` with Customer, PaymentMethod, Subscription, SubscriptionItem,
Price, Invoice, InvoiceLine, Money and Recurring fields, plain fields and aliases (no
fragments, no directives). Lists are ordered and limited exactly as the DataLoaders do
(``app/graphql/read/loaders/``). Anything else raises :class:`Unsupported`: the document is
then served by the resolvers, which stay the reference.

The row scoping of customer sessions is compiled in: the root customer must be the
session's own (``app/resolvers/access.py``); nested lists follow its own relations.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    parse,
    print_ast,
    specified_rules,
    validate,
)

from app.domain.billing import BillingReason, InvoiceStatus, RecurringInterval, SubscriptionStatus
from app.domain.errors import UserInputError
from app.graphql.compiled_path import sql
from app.graphql.compiled_path.registry import TrustedDocument
from app.graphql.limits import MAX_TOKENS, VALIDATION_RULES
from app.models.catalog import PriceType
from app.schema.node import GlobalIdError, decode_gid
from app.schema.payment_method import Psp
from app.security.principals import Principal
from app.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor


class Unsupported(Exception):
    """The document is outside the compiled subset (served by the resolvers)."""


class FallThrough(Exception):
    """These variables are for the resolvers: an error to report, or an unusual value."""


# --- variable coercion: only the happy path; anything else goes to the resolvers ---


def _customer_key(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise FallThrough
    try:
        type_name, key = decode_gid(value)
    except GlobalIdError:
        raise FallThrough from None
    if type_name != "Customer":
        raise FallThrough
    return key


def _cursor_key(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise FallThrough
    try:
        return decode_cursor(value)
    except UserInputError:
        raise FallThrough from None


def _bounded(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_PAGE_SIZE:
        raise FallThrough
    return value


class ParamKind(enum.Enum):
    """What a statement's parameter holds."""

    CUSTOMER = "customer"  # a Customer's key, from its global ID
    CURSOR = "cursor"  # the key of a list page's cursor
    BOUNDED = "bounded"  # a size, 0 to MAX_PAGE_SIZE
    SCOPE = "scope"  # the customer session's own customer (NULL for staff)


COERCE: dict[ParamKind, Callable[[Any], Any]] = {
    ParamKind.CUSTOMER: _customer_key,
    ParamKind.CURSOR: _cursor_key,
    ParamKind.BOUNDED: _bounded,
}
CASTS = {
    ParamKind.CUSTOMER: "uuid",
    ParamKind.CURSOR: "uuid",
    ParamKind.BOUNDED: "int",
    ParamKind.SCOPE: "uuid",
}


@dataclass(frozen=True, slots=True)
class Param:
    kind: ParamKind
    variable: str | None = None  # None: a constant, or the scope
    constant: Any = None


@dataclass(frozen=True, slots=True)
class Plan:
    document: TrustedDocument
    operation_name: str | None
    sql: str
    params: tuple[Param, ...]

    def arguments(self, variables: Mapping[str, Any], principal: Principal) -> list[Any]:
        """The statement's arguments; :class:`FallThrough` when the resolvers must answer."""
        values: list[Any] = []
        for param in self.params:
            if param.kind is ParamKind.SCOPE:
                values.append(None if principal.is_staff else principal.customer_id)
            elif param.variable is None:
                values.append(param.constant)
            elif param.variable not in variables:
                raise FallThrough
            else:
                values.append(COERCE[param.kind](variables[param.variable]))
        return values


class Source(NamedTuple):
    """Where an argument's value comes from: a variable (its name), or the document."""

    variable: str | None  # None: a constant
    constant: Any = None


class _Compiler:
    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables  # declared variable -> its type, e.g. "ID!"
        self.params: list[Param] = []
        self.aliases = 0

    def alias(self) -> str:
        self.aliases += 1
        return f"t{self.aliases}"

    def param(self, param: Param) -> str:
        if param not in self.params:
            self.params.append(param)
        return f"${self.params.index(param) + 1}::{CASTS[param.kind]}"

    def argument(self, field: FieldNode, name: str, types: tuple[str, ...]) -> Source | None:
        """An argument given literally or as a variable of one of ``types``; None: absent
        or null."""
        node: ArgumentNode | None = next(
            (a for a in field.arguments or () if a.name.value == name), None
        )
        if node is None or isinstance(node.value, NullValueNode):
            return None
        value = node.value
        if isinstance(value, VariableNode):
            declared = self.variables[value.name.value]
            if declared not in types:
                raise Unsupported(f"${value.name.value}: {declared}")
            return Source(value.name.value)
        if isinstance(value, IntValueNode):
            return Source(None, int(value.value))
        if isinstance(value, StringValueNode):
            return Source(None, value.value)
        raise Unsupported(f"argument {name}")

    def bounded(self, source: Source | None, default: int | None) -> str | None:
        if source is None:
            return None if default is None else str(default)
        if source.variable is not None:
            return self.param(Param(ParamKind.BOUNDED, source.variable))
        value = source.constant
        if type(value) is not int or not 0 <= value <= MAX_PAGE_SIZE:
            raise Unsupported("out of range")  # the resolvers report it
        return str(value)

    def only_arguments(self, field: FieldNode, *names: str) -> None:
        for argument in field.arguments or ():
            if argument.name.value not in names:
                raise Unsupported(f"argument {argument.name.value}")

    # --- objects ---

    def object(
        self,
        type_name: str,
        selections: SelectionSetNode | None,
        build: Callable[[FieldNode], sql.Value],
    ) -> str:
        if selections is None:
            raise Unsupported(type_name)
        pairs: list[tuple[str, sql.Value]] = []
        keys: set[str] = set()
        for selection in selections.selections:
            if not isinstance(selection, FieldNode) or selection.directives:
                raise Unsupported("fragments and directives")
            key = (selection.alias or selection.name).value
            if key in keys:
                raise Unsupported("a response key selected twice")
            keys.add(key)
            typename = selection.name.value == "__typename"
            pairs.append((key, sql.Const(f'"{type_name}"') if typename else build(selection)))
        return sql.json_object(pairs)

    def scalar(self, field: FieldNode, table: Mapping[str, sql.Value], type_name: str) -> sql.Value:
        name = field.name.value
        if name not in table or field.arguments or field.selection_set is not None:
            raise Unsupported(f"{type_name}.{name}")
        return table[name]

    def money(self, field: FieldNode, minor: str, currency: str) -> str:
        values = {
            "amount": sql.money_amount(minor, currency),
            "amountMinor": sql.quoted(f"{minor}::text"),
            "currency": sql.text(currency),
        }
        return self.object("Money", field.selection_set, lambda f: self.scalar(f, values, "Money"))

    def customer(self, field: FieldNode, t: str) -> str:
        values = {
            "id": sql.global_id("Customer", f"{t}.id"),
            "email": sql.text(f"{t}.email"),
            "name": sql.text(f"{t}.name"),
            "country": sql.text(f"{t}.country"),
            "locale": sql.text(f"{t}.locale"),
            "createdAt": sql.datetime_iso(f"{t}.created_at"),
            "updatedAt": sql.datetime_iso(f"{t}.updated_at"),
        }

        def build(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name == "paymentMethods":
                u = self.alias()
                body = self.payment_method(f, u)
                return _list(body, f"payment_methods {u}", u,
                             f"{u}.customer_id = {t}.id AND {u}.detached_at IS NULL")  # fmt: skip
            if name == "subscriptions":
                u = self.alias()
                return _list(self.subscription(f, u), f"subscriptions {u}", u,
                             f"{u}.customer_id = {t}.id")  # fmt: skip
            if name == "invoices":
                self.only_arguments(f, "last")
                last = self.bounded(self.argument(f, "last", ("Int", "Int!")), None)
                u = self.alias()
                return _children(self.invoice(f, u), "invoices", u, f"customer_id = {t}.id", last)
            return self.scalar(f, values, "Customer")

        return self.object("Customer", field.selection_set, build)

    def payment_method(self, field: FieldNode, t: str) -> str:
        values = {
            "id": sql.global_id("PaymentMethod", f"{t}.id"),
            "psp": sql.enum_name(Psp, f"{t}.psp"),
            "type": sql.text(f"{t}.type"),
            "brand": sql.text(f"{t}.brand"),
            "last4": sql.text(f"{t}.last4"),
            "expMonth": sql.plain(f"{t}.exp_month"),
            "expYear": sql.plain(f"{t}.exp_year"),
            "wallet": sql.text(f"{t}.wallet"),
            "email": sql.text(f"{t}.email"),
            "isDefault": sql.plain(f"{t}.is_default"),
            "isDetached": sql.plain(f"{t}.detached_at IS NOT NULL"),
            "createdAt": sql.datetime_iso(f"{t}.created_at"),
        }
        return self.object(
            "PaymentMethod", field.selection_set, lambda f: self.scalar(f, values, "PaymentMethod")
        )

    def subscription(self, field: FieldNode, t: str) -> str:
        values = {
            "id": sql.global_id("Subscription", f"{t}.id"),
            "status": sql.enum_name(SubscriptionStatus, f"{t}.status"),
            "currentPeriodStart": sql.datetime_iso(f"{t}.current_period_start"),
            "currentPeriodEnd": sql.datetime_iso(f"{t}.current_period_end"),
            "trialEnd": sql.datetime_iso(f"{t}.trial_end"),
            "cancelAtPeriodEnd": sql.plain(f"{t}.cancel_at_period_end"),
            "canceledAt": sql.datetime_iso(f"{t}.canceled_at"),
            "endedAt": sql.datetime_iso(f"{t}.ended_at"),
            "nextRetryAt": sql.datetime_iso(f"{t}.next_retry_at"),
            "createdAt": sql.datetime_iso(f"{t}.created_at"),
        }

        def build(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name == "items":
                u = self.alias()
                return _list(self.item(f, u, f"{t}.currency"), f"subscription_items {u}", u,
                             f"{u}.subscription_id = {t}.id")  # fmt: skip
            if name == "invoices":
                u = self.alias()
                return _list(
                    self.invoice(f, u), f"invoices {u}", u, f"{u}.subscription_id = {t}.id"
                )
            if name == "latestInvoice":
                u = self.alias()
                # the newest row first, then its JSON (never the JSON of rows the sort drops)
                newest = (f"SELECT * FROM invoices WHERE subscription_id = {t}.id "
                          "ORDER BY id DESC LIMIT 1")  # fmt: skip
                return sql.or_null(f"(SELECT {self.invoice(f, u)} FROM ({newest}) {u})")
            return self.scalar(f, values, "Subscription")

        return self.object("Subscription", field.selection_set, build)

    def item(self, field: FieldNode, t: str, currency: str) -> str:
        def build(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name == "unitAmount":
                return self.money(f, f"{t}.unit_amount_minor", currency)
            if name == "price":
                u = self.alias()
                return sql.or_null(
                    f"(SELECT {self.price(f, u)} FROM prices {u} WHERE {u}.id = {t}.price_id)"
                )
            return self.scalar(f, {"quantity": sql.plain(f"{t}.quantity")}, "SubscriptionItem")

        return self.object("SubscriptionItem", field.selection_set, build)

    def price(self, field: FieldNode, t: str) -> str:
        values = {
            "id": sql.global_id("Price", f"{t}.id"),
            "type": sql.enum_name(PriceType, f"{t}.type"),
            "trialPeriodDays": sql.plain(f"{t}.trial_period_days"),
            "active": sql.plain(f"{t}.active"),
            "lookupKey": sql.text(f"{t}.lookup_key"),
            "nickname": sql.text(f"{t}.nickname"),
            "createdAt": sql.datetime_iso(f"{t}.created_at"),
        }

        def build(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name == "unitAmount":
                return self.money(f, f"{t}.unit_amount_minor", f"{t}.currency")
            if name == "recurring":
                recurring = {
                    "interval": sql.enum_name(RecurringInterval, f"{t}.recurring_interval"),
                    "intervalCount": sql.plain(f"{t}.recurring_interval_count"),
                }
                body = self.object(
                    "Recurring", f.selection_set, lambda g: self.scalar(g, recurring, "Recurring")
                )
                both = (f"{t}.recurring_interval IS NOT NULL AND "
                        f"{t}.recurring_interval_count IS NOT NULL")  # fmt: skip
                return sql.or_null(f"(CASE WHEN {both} THEN {body} END)")
            return self.scalar(f, values, "Price")

        return self.object("Price", field.selection_set, build)

    def invoice(self, field: FieldNode, t: str) -> str:
        values = {
            "id": sql.global_id("Invoice", f"{t}.id"),
            "number": sql.text(f"{t}.number"),
            "status": sql.enum_name(InvoiceStatus, f"{t}.status"),
            "billingReason": sql.enum_name(BillingReason, f"{t}.billing_reason"),
            "periodStart": sql.datetime_iso(f"{t}.period_start"),
            "periodEnd": sql.datetime_iso(f"{t}.period_end"),
            "attemptCount": sql.plain(f"{t}.attempt_count"),
            "dueDate": sql.datetime_iso(f"{t}.due_date"),
            "paidAt": sql.datetime_iso(f"{t}.paid_at"),
            "createdAt": sql.datetime_iso(f"{t}.created_at"),
        }
        amounts = {
            "subtotal": f"{t}.subtotal_minor",
            "discount": f"{t}.discount_minor",
            "tax": f"{t}.tax_minor",
            "taxIncluded": f"{t}.tax_included_minor",
            "total": f"{t}.total_minor",
            "amountPaid": f"{t}.amount_paid_minor",
            "amountCredited": f"{t}.amount_credited_minor",
            "creditBalanceApplied": f"{t}.balance_applied_minor",
            "amountRemaining": (
                f"({t}.total_minor - {t}.amount_paid_minor - {t}.amount_credited_minor"
                f" - {t}.balance_applied_minor)"
            ),
        }

        def build(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name in amounts:
                return self.money(f, amounts[name], f"{t}.currency")
            if name == "lines":
                u = self.alias()
                return _list(self.line(f, u, f"{t}.currency"), f"invoice_lines {u}", u,
                             f"{u}.invoice_id = {t}.id")  # fmt: skip
            return self.scalar(f, values, "Invoice")

        return self.object("Invoice", field.selection_set, build)

    def line(self, field: FieldNode, t: str, currency: str) -> str:
        values = {
            "description": sql.text(f"{t}.description"),
            "quantity": sql.plain(f"{t}.quantity"),
            "proration": sql.plain(f"{t}.proration"),
            "periodStart": sql.datetime_iso(f"{t}.period_start"),
            "periodEnd": sql.datetime_iso(f"{t}.period_end"),
        }
        amounts = {
            "unitAmount": f"{t}.unit_amount_minor",
            "amount": f"{t}.amount_minor",
            "discount": f"{t}.discount_minor",
            "tax": f"{t}.tax_minor",
            "taxIncluded": f"{t}.tax_included_minor",
        }

        def build(f: FieldNode) -> sql.Value:
            if f.name.value in amounts:
                return self.money(f, amounts[f.name.value], currency)
            return self.scalar(f, values, "InvoiceLine")

        return self.object("InvoiceLine", field.selection_set, build)

    # --- roots ---

    def query(self, field: FieldNode) -> str:
        name = field.name.value
        scope = self.param(Param(ParamKind.SCOPE))
        if name == "customer":
            self.only_arguments(field, "id")
            source = self.argument(field, "id", ("ID!",))
            if source is None:
                raise Unsupported("customer(id: null)")
            if source.variable is not None:
                key = self.param(Param(ParamKind.CUSTOMER, source.variable))
            else:
                try:
                    constant = _customer_key(source.constant)
                    key = self.param(Param(ParamKind.CUSTOMER, constant=constant))
                except FallThrough:
                    raise Unsupported("customer(id:) literal") from None
            t = self.alias()
            where = f"{t}.id = {key} AND ({scope} IS NULL OR {t}.id = {scope})"
            return sql.or_null(
                f"(SELECT {self.customer(field, t)} FROM customers {t} WHERE {where})"
            )
        if name == "customers":
            return self.customers(field, scope)
        raise Unsupported(f"Query.{name}")

    def customers(self, field: FieldNode, scope: str) -> str:
        self.only_arguments(field, "first", "after")
        size = self.bounded(self.argument(field, "first", ("Int",)), DEFAULT_PAGE_SIZE)
        after = self.argument(field, "after", ("String", "String!"))
        conditions = [f"({scope} IS NULL OR c.id = {scope})"]
        if after is not None:
            if after.variable is None:
                try:
                    value = _cursor_key(after.constant)
                except FallThrough:
                    raise Unsupported("customers(after:) literal") from None
                conditions.append(f"c.id < {self.param(Param(ParamKind.CURSOR, constant=value))}")
            else:
                conditions.append(f"c.id < {self.param(Param(ParamKind.CURSOR, after.variable))}")
        t = self.alias()
        in_page = f"{t}._rn <= {size}"

        def edge(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name == "cursor" and f.selection_set is None and not f.arguments:
                return sql.cursor(f"{t}.id")
            if name == "node":
                return self.customer(f, t)
            raise Unsupported(f"CustomerEdge.{name}")

        ids = f"array_agg({t}.id ORDER BY {t}.id %s) FILTER (WHERE {in_page})"
        page_info: dict[str, sql.Value] = {
            "hasNextPage": sql.plain(f"count(*) > {size}"),
            "hasPreviousPage": sql.Const("true" if after is not None else "false"),
            "startCursor": sql.cursor(f"({ids % 'DESC'})[1]"),
            "endCursor": sql.cursor(f"({ids % 'ASC'})[1]"),
        }

        def connection(f: FieldNode) -> sql.Value:
            name = f.name.value
            if name == "edges":
                body = self.object("CustomerEdge", f.selection_set, edge)
                return sql.json_array(body, f"{t}.id DESC", in_page)
            if name == "pageInfo":
                return self.object(
                    "PageInfo", f.selection_set, lambda g: self.scalar(g, page_info, "PageInfo")
                )
            raise Unsupported(f"CustomerConnection.{name}")

        body = self.object("CustomerConnection", field.selection_set, connection)
        return (f"(SELECT {body} FROM (SELECT c.*, row_number() OVER (ORDER BY c.id DESC) AS _rn "
                f"FROM customers c WHERE {' AND '.join(conditions)} ORDER BY c.id DESC "
                f"LIMIT {size} + 1) {t})")  # fmt: skip


def _list(body: str, source: str, t: str, where: str) -> str:
    return f"(SELECT {sql.json_array(body, f'{t}.id')} FROM {source} WHERE {where})"


def _children(body: str, table: str, t: str, where: str, last: str | None) -> str:
    """All rows, or the ``last`` most recent (by time-ordered key), oldest first."""
    if last is None:
        return _list(body, f"{table} {t}", t, f"{t}.{where}")
    return (f"(SELECT {sql.json_array(body, f'{t}.id')} FROM (SELECT * FROM {table} "
            f"WHERE {where} ORDER BY id DESC LIMIT {last}) {t})")  # fmt: skip


def compile_document(schema: GraphQLSchema, trusted: TrustedDocument) -> Plan:
    """The plan of a trusted document; :class:`Unsupported` outside the subset."""
    try:
        document = parse(trusted.text, max_tokens=MAX_TOKENS)
    except GraphQLError:
        raise Unsupported("too many tokens") from None
    # The schema's limits (``app.graphql.limits``): a document beyond them is left to the
    # resolver path, which refuses it.
    if validate(schema, document, [*specified_rules, *VALIDATION_RULES]):
        raise Unsupported("invalid document, or beyond the limits")
    if len(document.definitions) != 1:
        raise Unsupported("one operation, no fragments")
    (operation,) = document.definitions
    if not isinstance(operation, OperationDefinitionNode):
        raise Unsupported("not an operation")
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise Unsupported("queries only")
    variables: dict[str, str] = {}
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None or definition.directives:
            raise Unsupported("variable defaults")
        variables[definition.variable.name.value] = print_ast(definition.type)
    compiler = _Compiler(variables)
    body = compiler.object("Query", operation.selection_set, compiler.query)
    return Plan(
        document=trusted,
        operation_name=operation.name.value if operation.name else None,
        sql=f"/* trusted document {trusted.name} */ SELECT {body}",
        params=tuple(compiler.params),
    )
