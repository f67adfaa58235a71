"""The fuzzer's pieces: value strategies for the scalars (``ID`` often a seeded object's, and
``String``, ``CurrencyCode``, ``DateTime`` and ``Metadata`` at and past every limit),
schemathesis's configuration (dictionaries of plausible values by argument name), the
reshaping of generated documents (``prepare``) and the judge of every response (``Tally``)."""

from __future__ import annotations

import json
import re
import string
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from app.schema.node import decode_gid, encode_gid
from tests.security.seed import Seeded

# The seeded objects of the operation being fuzzed, filled before it draws. A draw picks by
# index, so a derandomized run picks the same objects each time (their IDs differ per run).
POOL = Seeded()

TYPES = (
    "Customer", "Product", "Price", "PaymentMethod", "Payment", "Refund", "Dispute",
    "Subscription", "Invoice", "TestClock", "Coupon", "TaxRate",
)  # fmt: skip


def _pick(values: list[str], fallback: str) -> st.SearchStrategy[str]:
    return st.integers(min_value=0, max_value=1 << 16).map(
        lambda index: values[index % len(values)] if values else fallback
    )


def _retyped(index: int, type_name: str) -> str:
    """A real key under another type name: a well-formed global ID of the wrong type."""
    if not POOL.ids:
        return encode_gid(type_name, uuid.UUID(int=index))
    _, key = decode_gid(POOL.ids[index % len(POOL.ids)])
    return encode_gid(type_name, key)


REAL_IDS = _pick(POOL.ids, "none")
IDS = st.one_of(
    REAL_IDS,
    st.builds(_retyped, st.integers(0, 1 << 16), st.sampled_from(TYPES)),
    st.builds(encode_gid, st.sampled_from(TYPES), st.uuids()),
    st.text(max_size=40),
    st.integers(-(2**31), 2**31 - 1).map(str),
)

# Values that reach deep or break things: the sandbox's tokens, amounts at and past the limits,
# malformed numbers, NUL bytes and lone surrogates (PostgreSQL refuses both), long text.
SPECIAL_STRINGS = [
    "tok_visa", "tok_mastercard", "tok_chargeDeclined", "tok_insufficientFunds",
    "tok_threeDSecureRequired", "tok_timeout", "tok_disputed", "tok_unavailable", "pm_123",
    "0", "1", "-1", "0.01", "1.001", "5", "20.00", "100", "100.0001", "12.5", "-0", "00",
    "9223372036854775807", "9223372036854775808", "92233720368547758.07",
    "92233720368547758.08", "-92233720368547758.08", "9" * 30, "9" * 41, "0." + "0" * 40 + "1",
    "1e3", "1E+400", "NaN", "Infinity", "-Infinity", " 1", "1_000", "0x10", "\u0661\u0662",
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\u202e", "\ufeff", "%s%n", "'; --",
    "US", "de", "ZZ", "en-US", "xx-YY", "a@example.com", "not-an-email",
    "https://shop.example/return", "javascript:alert(1)", "http://", "http://[", "h" * 3000,
    "x" * 257, "x" * 5001, "USD", "JPY", "KWD", "eur", "2026-01-15T12:00:00Z",
]  # fmt: skip
# PostgreSQL refuses NUL, UTF-8 cannot encode a lone surrogate: often, for every string.
UNSTORABLE = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff"])
STRINGS = st.one_of(
    st.text(),
    st.sampled_from(SPECIAL_STRINGS),
    UNSTORABLE,
    _pick(POOL.strings, "none"),
    REAL_IDS,
)
CURRENCIES = st.one_of(
    st.sampled_from(["USD", "EUR", "JPY", "KWD"]),
    st.sampled_from(["USD", "EUR"]),
    st.sampled_from(["BHD", "CLF", "XXX", "XTS", "ZZZ", "usd", "", "\x00"]),
    st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3),
    st.text(max_size=5),
)
_offsets = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
# Out of range once in UTC, without an offset, impossible, and near the seeded clock.
SPECIAL_TIMES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00", "2026-01-15T12:00:00Z", "2026-02-15T12:00:00Z",
    "2027-01-15T12:00:00Z", "2126-01-15T12:00:00Z",
    "2026-01-15T12:00:00", "2026-02-30T00:00:00Z", "2026-01-15", "now",
    "", "2026-01-15T25:00:00Z", "1969-12-31T23:59:59.999999Z", "2026-01-15T12:00:00+99:00",
]  # fmt: skip
DATETIMES = st.one_of(
    st.sampled_from(SPECIAL_TIMES),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.datetimes(timezones=_offsets).map(datetime.isoformat),
    st.datetimes(
        min_value=datetime(2025, 6, 1),  # hypothesis wants naive bounds
        max_value=datetime(2028, 1, 1),
        timezones=st.just(UTC),
    ).map(datetime.isoformat),
)
_names = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,45}", fullmatch=True)
_json_scalars = st.one_of(
    STRINGS.map(nodes.String),
    st.integers().map(nodes.Int),
    st.booleans().map(nodes.Boolean),
    st.just(nodes.Null),
)


def _object(fields: dict[str, graphql.ValueNode]) -> graphql.ObjectValueNode:
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value)
            for name, value in fields.items()
        ]
    )


METADATA = st.one_of(
    st.dictionaries(_names, STRINGS.map(nodes.String), max_size=6).map(_object),
    st.dictionaries(_names, _json_scalars, max_size=60).map(_object),
    st.lists(_json_scalars, max_size=3).map(nodes.List),
    _json_scalars,
    st.dictionaries(_names, st.dictionaries(_names, _json_scalars, max_size=2).map(_object)).map(
        _object
    ),
)


# Plausible values for arguments by name (schemathesis dictionaries), half of the time, so
# that more documents pass every check at once and reach the services' deeper paths.
_DICTIONARIES = {
    "amounts": ["20.00", "5", "0.01", "1", "12.34", "1000", "0", "-5.00", "92233720368547758.07"],
    "emails": ["ada@example.com", "a@b.co", "x@localhost"],
    "countries": ["US", "DE", "GB", "JP", "fr"],
    "locales": ["en-US", "de", "pt-BR", "ja_JP"],
    "urls": ["https://shop.example/return", "http://127.0.0.1:9/cb", "https://[::1", "http://"],
    "tokens": ["tok_visa", "tok_mastercard", "tok_chargeDeclined", "tok_threeDSecureRequired",
               "tok_timeout", "tok_disputed", "tok_unavailable", "tok_insufficientFunds"],
    "percentages": ["10", "12.5", "100", "0.01", "19", "7.7"],
    "codes": ["FUZZ10", "fuzz10", "NOPE", "SUMMER-25"],
    "keys": ["pro_monthly", "basic.yearly", "x"],
    "idempotency": ["6b1f2c3e-0000-4000-8000-000000000001", "key-2", "key-3", "key-4", "key-5"],
    "counts": [1, 2, 3, 12],
    "pages": [0, 1, 2, 20, 100],
}  # fmt: skip
_PARAMETERS = {
    "amount.amount": "amounts", "unitAmount.amount": "amounts", "amountOff.amount": "amounts",
    "email": "emails", "country": "countries", "locale": "locales", "returnUrl": "urls",
    "cancelUrl": "urls", "token": "tokens", "percentOff": "percentages",
    "percentage": "percentages", "couponCode": "codes", "code": "codes", "lookupKey": "keys",
    "idempotencyKey": "idempotency", "quantity": "counts", "items[*].quantity": "counts",
    "recurring.intervalCount": "counts", "trialPeriodDays": "counts",
}  # fmt: skip
_ARGUMENTS = {"*.*.first": "pages", "Query.price.lookupKey": "keys"}
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "dictionaries": {name: {"values": values} for name, values in _DICTIONARIES.items()},
        "parameters": {
            f"*.*.input.{path}": {"dictionary": name, "probability": 0.5}
            for path, name in _PARAMETERS.items()
        }
        | {path: {"dictionary": name, "probability": 0.5} for path, name in _ARGUMENTS.items()},
    }
)


def register_scalars() -> None:
    """paygate's custom scalars, and the built-in ID and String with the values above."""
    schemathesis.graphql.scalar("ID", IDS.map(nodes.String))
    schemathesis.graphql.scalar("String", STRINGS.map(nodes.String))
    schemathesis.graphql.scalar("CurrencyCode", CURRENCIES.map(nodes.String))
    schemathesis.graphql.scalar("DateTime", DATETIMES.map(nodes.String))
    schemathesis.graphql.scalar("Metadata", METADATA)


def prepare(
    document: str, schema: graphql.GraphQLSchema, *, as_variables: bool, omit: int = 0
) -> tuple[str, dict[str, Any]]:
    """The generated document, asking for ``userErrors { code }`` when the root field has
    them (to tally which checks answered); without the root field's optional arguments
    whose bit is set in ``omit`` (schemathesis passes them all, often as null, and omitted
    differs from null); and with the arguments moved into variables when ``as_variables``:
    JSON input is coerced by other code than literals (``parse_value``, not
    ``parse_literal``) and reaches the resolvers in other shapes."""
    try:
        ast = graphql.parse(document)
    except graphql.GraphQLError:  # e.g. a lone surrogate: the server refuses it as it is
        return document, {}
    operation = next(d for d in ast.definitions if isinstance(d, graphql.OperationDefinitionNode))
    root_type = (
        schema.mutation_type
        if operation.operation is graphql.OperationType.MUTATION
        else schema.query_type
    )
    root = operation.selection_set.selections[0]
    assert root_type is not None and isinstance(root, graphql.FieldNode)
    field_ = root_type.fields[root.name.value]
    selections = tuple(root.selection_set.selections) if root.selection_set else ()
    returned = graphql.get_named_type(field_.type)
    if isinstance(returned, graphql.GraphQLObjectType) and "userErrors" in returned.fields:
        selections += (_field("userErrors", _field("code")),)
    definitions: list[graphql.VariableDefinitionNode] = []
    arguments = tuple(
        argument
        for index, argument in enumerate(root.arguments or ())
        if graphql.is_non_null_type(field_.args[argument.name.value].type)
        or not omit & (1 << index)
    )
    variables: dict[str, Any] = {}
    if as_variables:
        moved = []
        for argument in arguments:
            name = argument.name.value
            variables[name] = graphql.value_from_ast_untyped(argument.value)
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(
                graphql.VariableDefinitionNode(
                    variable=variable, type=graphql.parse_type(str(field_.args[name].type))
                )
            )
            moved.append(graphql.ArgumentNode(name=argument.name, value=variable))
        arguments = tuple(moved)
    new_root = graphql.FieldNode(
        alias=root.alias,
        name=root.name,
        arguments=arguments,
        directives=root.directives,
        selection_set=graphql.SelectionSetNode(selections=selections) if selections else None,
    )
    new_operation = graphql.OperationDefinitionNode(
        operation=operation.operation,
        name=operation.name,
        variable_definitions=tuple(definitions),
        directives=operation.directives,
        selection_set=graphql.SelectionSetNode(selections=(new_root,)),
    )
    return graphql.print_ast(graphql.DocumentNode(definitions=(new_operation,))), variables


def _field(name: str, *children: graphql.FieldNode) -> graphql.FieldNode:
    return graphql.FieldNode(
        name=graphql.NameNode(value=name),
        arguments=(),
        directives=(),
        selection_set=graphql.SelectionSetNode(selections=children) if children else None,
    )


# Words that only an unmasked exception would put in an error message.
LEAKS = re.compile(
    r"sqlalchemy|asyncpg|psycopg|Traceback|File \"|SELECT |INSERT |UPDATE |DELETE FROM"
    r"|relation \"|violates|IntegrityError|DataError|ProgrammingError|\bpg_|\.py\b",
    re.IGNORECASE,
)
MASKED = re.compile(r"^Internal error\. Quote request id \S+ to support\.$")


@dataclass
class Tally:
    """What one operation's fuzzing saw."""

    label: str
    examples: int = 0
    requests: int = 0
    with_variables: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    executed: int = 0  # got past parsing, validation and coercion: the resolvers ran
    accepted: int = 0
    user_errors: Counter[str] = field(default_factory=Counter)  # and typed errors, by code
    typed_errors: int = 0
    request_errors: int = 0
    server_errors: int = 0
    internal_errors: int = 0
    unmasked: int = 0
    leaks: int = 0
    findings: list[str] = field(default_factory=list)
    cause: str | None = None  # the server-side exception of the current request, if logged
    seconds: tuple[float, float] = (0.0, 0.0)  # generating, sending

    def judge(self, document: str, variables: dict[str, Any], status: int, text: str) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        sent = json.dumps({"query": document, "variables": variables}, ensure_ascii=False)
        if status >= 500:
            self.server_errors += 1
            self._finding(f"HTTP {status}", document, variables, text)
            return
        try:
            body = json.loads(text)
        except ValueError:
            self._finding(f"HTTP {status} without JSON", document, variables, text)
            return
        errors = (body.get("errors") if isinstance(body, dict) else None) or []
        data = body.get("data") if isinstance(body, dict) else None
        # Executed: data came back, or an error was raised at a field (it has a path). A
        # document refused before execution has neither (GraphQL spec, "Response").
        if isinstance(data, dict) or any(isinstance(e, dict) and e.get("path") for e in errors):
            self.executed += 1
        for payload in (data or {}).values():
            user_errors = payload.get("userErrors") if isinstance(payload, dict) else None
            if user_errors:
                self.user_errors.update(str(e.get("code")) for e in user_errors)
            elif payload is not None:
                self.accepted += 1  # the operation did its work: deeper code ran
        for error in errors:
            message = str(error.get("message", ""))
            extensions = error.get("extensions") or {}
            code = extensions.get("code")
            if code == "INTERNAL_ERROR" or MASKED.match(message):
                self.internal_errors += 1
                self._finding("INTERNAL_ERROR", document, variables, text)
            elif code is None and error.get("path"):
                # Raised while executing, yet neither typed nor masked.
                self.unmasked += 1
                self._finding("unmasked error", document, variables, text)
            elif code is None:
                self.request_errors += 1  # syntax, validation, coercion: before execution
            else:
                self.typed_errors += 1
                self.user_errors[str(code)] += 1
            leaked = LEAKS.search(json.dumps(error, ensure_ascii=False))
            if leaked and leaked.group().lower() not in sent.lower():
                self.leaks += 1
                self._finding(f"leak {leaked.group()!r}", document, variables, text)

    def as_json(self) -> dict[str, Any]:
        names = (
            "label", "examples", "with_variables", "requests", "executed", "accepted",
            "typed_errors", "request_errors", "server_errors", "internal_errors", "unmasked",
            "leaks",
        )  # fmt: skip
        return {
            **{name: getattr(self, name) for name in names},
            "statuses": self.statuses,
            "codes": dict(self.user_errors),
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        codes = ", ".join(f"{code} {n}" for code, n in self.user_errors.most_common(5))
        generating, sending = self.seconds
        return (
            f"{self.label}: {self.examples} examples ({self.with_variables} with variables) "
            f"generated in {generating:.1f} s, {self.requests} requests in {sending:.1f} s; "
            f"HTTP {self.statuses}; executed {self.executed}; "
            f"accepted {self.accepted}; typed errors {self.typed_errors} and user errors "
            f"{sum(self.user_errors.values()) - self.typed_errors} ({codes}); request errors "
            f"{self.request_errors}; 5xx {self.server_errors}; internal "
            f"{self.internal_errors}; unmasked {self.unmasked}; leaks {self.leaks}"
        )

    def _finding(self, kind: str, document: str, variables: dict[str, Any], text: str) -> None:
        self.findings.append(
            f"{self.label}: {kind}\n  document: {document[:2000]!r}\n"
            f"  variables: {json.dumps(variables)[:2000]}\n  response: {text[:1000]}"
            + (f"\n  cause: {self.cause}" if self.cause else "")
        )
