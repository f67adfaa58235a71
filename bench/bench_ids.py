"""The documented mapping from the bench data set's bigint ids to paygate's keys.

Standard library only: ``render_bodies.py`` (run with any ``python3``) and
``load_paygate.py`` both use it.

Bench row N of a table becomes a UUID laid out like a version 7 UUID (RFC 9562), so that
paygate's keys keep sorting the way the peer's rows sort:

    48 bits  unix time in ms   BASE_MS + N for every table but invoices; for invoices the
                               row's created_at (keys sort by creation, as UUIDv7 keys do)
     4 bits  version 7
    12 bits  table tag         TAGS below: no two tables share a key
     2 bits  variant 0b10
    62 bits  N                 for invoices 2^62 - 1 - N, so that invoices created in the same
                               millisecond come lowest N first when sorted newest first

Hence: customers, payment methods, subscriptions, line items … sort by key exactly as the
peer's rows sort by primary key (the peer's PRIMARY_KEY_ASC/DESC), and invoices sort by key
exactly as the peer's invoices sort by (created_at DESC, id ASC) when listed newest first.
Deterministic: the same N always gives the same key, so a bench id in a workload maps to
the same paygate global ID on every machine.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

BASE_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
TAGS = {
    "customer": 0x001,
    "payment_method": 0x002,
    "product": 0x003,
    "price": 0x004,
    "subscription": 0x005,
    "subscription_item": 0x006,
    "invoice": 0x007,
    "invoice_line": 0x008,
    "payment": 0x009,
    "refund": 0x00A,
}
_LOW = (1 << 62) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _key(tag: int, millis: int, low: int) -> uuid.UUID:
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (tag << 64) | (0b10 << 62) | low)


def bench_key(table: str, n: int) -> uuid.UUID:
    """Paygate's key of bench row ``n`` of ``table`` (every table but invoices)."""
    return _key(TAGS[table], BASE_MS + n, n)


def invoice_key(n: int, created_at: datetime) -> uuid.UUID:
    """Paygate's key of bench invoice ``n``: time-ordered by its creation."""
    millis = (created_at - _EPOCH) // timedelta(milliseconds=1)
    return _key(TAGS["invoice"], millis, _LOW - n)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def global_id(type_name: str, key: uuid.UUID) -> str:
    """Paygate's opaque global ID (``app/schema/node.py``)."""
    return _b64(f"{type_name}:{key}")


def cursor(key: uuid.UUID) -> str:
    """Paygate's connection cursor after ``key`` (``app/services/pagination.py``)."""
    return _b64(f"cursor:v1:{key}")


def customer_global_id(n: int) -> str:
    return global_id("Customer", bench_key("customer", n))


def customer_cursor(n: int) -> str:
    """Paygate's cursor whose page starts right after bench customer ``n`` (newest first:
    the customers with lower bench ids)."""
    return cursor(bench_key("customer", n))
