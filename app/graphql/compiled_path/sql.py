"""SQL expressions that write values as JSON text exactly as the GraphQL layer serialises
them (orjson over the resolvers' results): global IDs, cursors, DateTime strings, enum names,
Money amounts, and the objects and lists around them.

A compiled statement concatenates text instead of calling ``json_build_object`` /
``json_agg``: PostgreSQL 15 looks up every argument's type output function on every call of
those, and writes ``{"a" : 1}`` and ``[1, 2]`` where orjson writes ``{"a":1}`` and ``[1,2]``.
Every expression here yields non-null JSON text (``null`` for SQL NULL); the values that come
from our own formatting (IDs, times, enum names, numbers) need no escaping, free text goes
through ``to_json``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.currencies import CURRENCIES


@dataclass(frozen=True, slots=True)
class Const:
    """JSON text known when the document is compiled (``__typename``, a fixed flag)."""

    json: str


Value = str | Const  # a SQL expression yielding JSON text, or a constant


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def concat(parts: Iterable[Value]) -> str:
    """One text expression of the parts in order, adjacent constants merged."""
    pieces: list[str] = []
    pending = ""
    for part in parts:
        if isinstance(part, Const):
            pending += part.json
            continue
        if pending:
            pieces.append(literal(pending))
            pending = ""
        pieces.append(part)
    if pending or not pieces:
        pieces.append(literal(pending))
    return pieces[0] if len(pieces) == 1 else "(" + " || ".join(pieces) + ")"


def json_object(pairs: Iterable[tuple[str, Value]]) -> str:
    """``{"key":value,...}``; keys are GraphQL names (no character to escape)."""
    parts: list[Value] = [Const("{")]
    for i, (key, value) in enumerate(pairs):
        parts.append(Const(("," if i else "") + f'"{key}":'))
        parts.append(value)
    parts.append(Const("}"))
    return concat(parts)


def json_array(element_sql: str, order_sql: str, where: str = "") -> str:
    """The aggregate of a ``SELECT``: ``[element,...]`` in order, ``[]`` without rows."""
    filtered = f" FILTER (WHERE {where})" if where else ""
    elements = f"string_agg({element_sql}, ',' ORDER BY {order_sql}){filtered}"
    return f"('[' || coalesce({elements}, '') || ']')"


def or_null(sql: str) -> str:
    """JSON text, or ``null`` where the expression (a subquery, a CASE) gives none."""
    return f"coalesce({sql}, 'null')"


def text(sql: str) -> str:
    """Free text as a JSON string (escaped by PostgreSQL as orjson does), or null."""
    return f"coalesce(to_json({sql})::text, 'null')"


def quoted(sql: str) -> str:
    """A string of our own format (no character to escape), or null."""
    return f"coalesce('\"' || {sql} || '\"', 'null')"


def plain(sql: str) -> str:
    """A number or a boolean, or null."""
    return f"coalesce(({sql})::text, 'null')"


def b64url(raw_sql: str) -> str:
    """base64url without padding of a text expression (NULL stays NULL). ``encode`` wraps
    lines every 76 characters: the newlines are dropped with the ``+/`` translation."""
    return f"rtrim(translate(encode(convert_to({raw_sql}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"


def _b64url_uuid(prefix: str, uuid_sql: str) -> str:
    """base64url without padding of ``prefix || uuid::text``. A uuid's text is always 36
    characters, so the length and the padding are known here, and ``encode`` wraps no line
    below 57 bytes: two ``replace`` calls instead of ``translate`` (which walks multibyte
    characters one by one, several times slower)."""
    size = len(prefix.encode()) + 36
    if size > 57:
        return b64url(f"{literal(prefix)} || {uuid_sql}::text")
    encoded = (
        f"replace(replace(encode(convert_to({literal(prefix)} || {uuid_sql}::text, 'UTF8'), "
        "'base64'), '+', '-'), '/', '_')"
    )
    padding = -size % 3
    return f"left({encoded}, {(size + padding) // 3 * 4 - padding})" if padding else encoded


def global_id(type_name: str, key_sql: str) -> str:
    """``app.schema.node.encode_gid`` of a uuid key (JSON text)."""
    return quoted(_b64url_uuid(f"{type_name}:", key_sql))


def cursor(key_sql: str) -> str:
    """``app.services.pagination.encode_cursor`` (JSON text; null for a NULL key)."""
    return quoted(_b64url_uuid("cursor:v1:", key_sql))


def datetime_iso(sql: str) -> str:
    """``datetime.isoformat()`` of a UTC timestamp, microseconds only when not zero (JSON
    text)."""
    formatted = f"to_char(({sql} AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    return quoted(f"replace({formatted}, '.000000+', '+')")


def enum_name(cls: type[enum.Enum], sql: str) -> str:
    """The GraphQL enum value (the member's name) of a column storing the member's value."""
    cases = " ".join(f"WHEN {literal(m.value)} THEN {literal(m.name)}" for m in cls)
    return quoted(f"(CASE {sql} {cases} END)")


def _places_by_currency() -> dict[int, list[str]]:
    places: dict[int, list[str]] = {}
    for code, currency in CURRENCIES.items():
        places.setdefault(currency.minor_units, []).append(code)
    return places


def money_amount(minor_sql: str, currency_sql: str) -> str:
    """``Money.decimal_string()``: the minor units scaled by the currency's decimal places,
    with exactly that many places (JSON text)."""
    cases = " ".join(
        f"WHEN {currency_sql} IN ({', '.join(literal(c) for c in sorted(codes))}) "
        f"THEN round({minor_sql}::numeric / {10**places}, {places})::text"
        for places, codes in sorted(_places_by_currency().items())
    )
    return quoted(f"(CASE {cases} END)")
