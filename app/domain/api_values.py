"""Values written as the GraphQL API writes them, for documents built outside a query (the
customer data export, the events' snapshots): money as exact decimal strings, moments as
ISO 8601 in UTC (the ``DateTime`` scalar's ``isoformat``), enums by name, objects by global
ID. ``None`` stays ``None``."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from app.domain.ids import global_id
from app.domain.money import Money


def money(minor: int | None, currency: str | None) -> dict[str, Any] | None:
    """``{"amount": "12.30", "amountMinor": "1230", "currency": "USD"}``."""
    if minor is None or currency is None:
        return None
    return {
        "amount": Money(minor, currency).decimal_string(),
        "amountMinor": str(minor),
        "currency": currency,
    }


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def name(value: enum.Enum | None) -> str | None:
    return None if value is None else value.name


def gid(type_name: str, key: uuid.UUID | None) -> str | None:
    return None if key is None else global_id(type_name, key)
