"""SQL expressions that format values exactly as the GraphQL layer serialises them
(PostgreSQL): global IDs, cursors, DateTime strings, enum names, Money amounts."""

from __future__ import annotations

import enum

from app.domain.currencies import CURRENCIES


def b64url(raw_sql: str) -> str:
    """base64url without padding of a text expression (NULL stays NULL). ``encode`` wraps
    lines every 76 characters: the newlines are dropped with the ``+/`` translation."""
    return f"rtrim(translate(encode(convert_to({raw_sql}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"


def global_id(type_name: str, key_sql: str) -> str:
    """``app.schema.node.encode_gid``."""
    return b64url(f"'{type_name}:' || {key_sql}::text")


def cursor(key_sql: str) -> str:
    """``app.services.pagination.encode_cursor``."""
    return b64url(f"'cursor:v1:' || {key_sql}::text")


def datetime_iso(sql: str) -> str:
    """``datetime.isoformat()`` of a UTC timestamp: microseconds only when not zero."""
    utc = f"({sql} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN to_char({utc}, 'US') = '000000' THEN '' ELSE to_char({utc}, '.US') END "
        "|| '+00:00')"
    )


def enum_name(cls: type[enum.Enum], sql: str) -> str:
    """The GraphQL enum value (the member's name) of a column storing the member's value."""
    cases = " ".join(f"WHEN '{m.value}' THEN '{m.name}'" for m in cls)
    return f"(CASE {sql} {cases} END)"


def _places_by_currency() -> dict[int, list[str]]:
    places: dict[int, list[str]] = {}
    for code, currency in CURRENCIES.items():
        places.setdefault(currency.minor_units, []).append(code)
    return places


def money_amount(minor_sql: str, currency_sql: str) -> str:
    """``Money.decimal_string()``: the minor units scaled by the currency's decimal places,
    with exactly that many places."""
    cases = " ".join(
        f"WHEN {currency_sql} IN ({', '.join(repr(c) for c in sorted(codes))}) "
        f"THEN round({minor_sql}::numeric / {10**places}, {places})::text"
        for places, codes in sorted(_places_by_currency().items())
    )
    return f"(CASE {cases} END)"
