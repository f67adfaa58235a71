"""Custom scalars."""

from typing import Any, NewType

import strawberry

CurrencyCode = strawberry.scalar(
    NewType("CurrencyCode", str),
    description=(
        "An ISO 4217 alphabetic currency code in upper case, such as `USD`, `EUR` or `JPY`. "
        "Unknown codes are reported as `UNKNOWN_CURRENCY` user errors."
    ),
    serialize=str,
    parse_value=lambda value: _string(value, "CurrencyCode"),
)

Metadata = strawberry.scalar(
    NewType("Metadata", object),
    description=(
        "Your own key-value data as a JSON object of strings: up to 50 keys of at most 40 "
        'characters, values of at most 500 characters, for example `{"crm_id": "A-42"}`. '
        "Never put card numbers or secrets here."
    ),
    serialize=lambda value: value,
    parse_value=lambda value: value,
)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value
