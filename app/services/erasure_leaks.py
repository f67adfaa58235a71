"""Where an erased customer's data leaked beyond their own rows, and its removal.

- **Webhook events** store the PSP's payload as sent, and PSP objects carry the person's
  data (Stripe's customer and billing details, PayPal's payer). An event *about* the
  customer (its object is one of their payments or refunds, or it names their PSP
  customer or one of their payment methods) loses every value under a personal key and
  every one of their values. Any other event that happens to hold one of their strong
  values (email, name, a long metadata value) loses those values.
- **Idempotency records** keep a caller's key and a response snapshot: either may hold
  the person's strong values, which are replaced (a key by a random one, which keeps the
  (principal, key) constraint and makes the old key unusable for a replay).
- **Events that arrive after the erasure** (Stripe sends ``customer.deleted`` with the
  customer as it was) are stored without what is under personal keys: ``about_erased``.
- ``payment_events`` is append-only and never holds personal data in the first place
  (``payments.ledger.event`` takes no free-form data), so there is nothing to scrub there.

The candidate rows are found in SQL (text search over the JSON, as stored: raw and
JSON-escaped forms), then scrubbed in Python.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.personal_data import Needles, mentions, scrub_json, scrub_text, strings
from app.models import (
    Customer,
    IdempotencyKey,
    Payment,
    PaymentMethod,
    PspCustomer,
    Refund,
    WebhookEvent,
)

# Values this long are specific enough to be looked for in rows not known to be the
# customer's (a shorter metadata value, "gold" or "42", is only removed from their own).
STRONG_LENGTH = 8


def _forms(value: str) -> list[str]:
    """A value as it may appear inside stored JSON text (raw, or JSON-escaped)."""
    escaped = json.dumps(value)[1:-1]
    return list(dict.fromkeys([value.lower(), escaped.lower()]))


def _text_holds(column: Any, values: Iterable[str]) -> sa.ColumnElement[bool]:
    text = sa.func.lower(sa.cast(column, sa.Text))
    return sa.or_(
        sa.false(),
        *(text.contains(form, autoescape=True) for v in values for form in _forms(v)),
    )


async def about_erased(session: AsyncSession, psp: str, payload: Any) -> bool:
    """Whether a PSP payload names an erased customer's PSP customer, payment method or
    payment (one indexed query; every id-shaped string of the payload is a candidate)."""
    candidates = sorted(
        {text for text in strings(payload) if 3 <= len(text) <= 255 and " " not in text}
    )[:1000]
    if not candidates:
        return False
    erased = sa.select(Customer.id).where(Customer.erased_at.is_not(None))
    return bool(
        await session.scalar(
            sa.select(
                sa.or_(
                    sa.exists().where(
                        PspCustomer.psp == psp,
                        PspCustomer.psp_customer_id.in_(candidates),
                        PspCustomer.deletion_requested_at.is_not(None),
                    ),
                    sa.exists().where(
                        PaymentMethod.psp == psp,
                        PaymentMethod.psp_reference.in_(candidates),
                        PaymentMethod.customer_id.in_(erased),
                    ),
                    sa.exists().where(
                        Payment.psp == psp,
                        Payment.psp_reference.in_(candidates),
                        Payment.customer_id.in_(erased),
                    ),
                )
            )
        )
    )


async def scrub(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    needles: Needles,
    strong: Needles,
    method_references: list[tuple[str, str]],
    now: datetime,
) -> None:
    linked = await _linked_events(session, customer_id, method_references)
    await _scrub_events(session, linked, needles, strong, now)
    await _scrub_idempotency(session, strong, now)


async def _linked_events(
    session: AsyncSession, customer_id: uuid.UUID, method_references: list[tuple[str, str]]
) -> sa.ColumnElement[bool]:
    """A condition on webhook events: about this customer, at each of their PSPs. Their
    object is one of the customer's payments or refunds (subqueries, whatever their
    number), or their payload names the customer's PSP customer or a payment method."""
    payments = sa.select(Payment.psp, Payment.psp_reference).where(
        Payment.customer_id == customer_id, Payment.psp_reference.is_not(None)
    )
    refunds = sa.select(Refund.psp, Refund.psp_reference).where(
        Refund.payment_id.in_(sa.select(Payment.id).where(Payment.customer_id == customer_id)),
        Refund.psp_reference.is_not(None),
    )
    objects = sa.union_all(payments, refunds).subquery()
    named: dict[str, set[str]] = defaultdict(set)  # psp -> ids an event may quote
    for psp, psp_customer_id in await session.execute(
        sa.select(PspCustomer.psp, PspCustomer.psp_customer_id).where(
            PspCustomer.customer_id == customer_id
        )
    ):
        named[psp].add(psp_customer_id)
    for psp, reference in method_references:
        named[psp].add(reference)
    about_objects = sa.exists().where(
        objects.c.psp == WebhookEvent.psp,
        objects.c.psp_reference == WebhookEvent.object_reference,
    )
    quoting = [
        sa.and_(WebhookEvent.psp == psp, _text_holds(WebhookEvent.payload, sorted(ids)))
        for psp, ids in sorted(named.items())
    ]
    return sa.or_(about_objects, *quoting)


async def _scrub_events(
    session: AsyncSession,
    linked: sa.ColumnElement[bool],
    needles: Needles,
    strong: Needles,
    now: datetime,
) -> None:
    about = sa.case((linked, sa.true()), else_=sa.false()).label("about")
    rows = await session.execute(
        sa.select(WebhookEvent.id, WebhookEvent.payload, WebhookEvent.snapshot, about).where(
            sa.or_(linked, _text_holds(WebhookEvent.payload, strong.substrings))
        )
    )
    for event_id, payload, snapshot, is_about in rows:
        found = needles if is_about else strong
        cleaned = scrub_json(payload, found, personal_keys=bool(is_about))
        cleaned_snapshot = scrub_json(snapshot, found)
        if cleaned != payload or cleaned_snapshot != snapshot:
            await session.execute(
                sa.update(WebhookEvent)
                .where(WebhookEvent.id == event_id)
                .values(payload=cleaned, snapshot=cleaned_snapshot, updated_at=now)
            )


async def _scrub_idempotency(session: AsyncSession, strong: Needles, now: datetime) -> None:
    if not strong.substrings:
        return
    rows = await session.execute(
        sa.select(
            IdempotencyKey.id,
            IdempotencyKey.key,
            IdempotencyKey.response,
            IdempotencyKey.recovery_point,
        ).where(
            sa.or_(
                _text_holds(IdempotencyKey.key, strong.substrings),
                _text_holds(IdempotencyKey.response, strong.substrings),
                _text_holds(IdempotencyKey.recovery_point, strong.substrings),
            )
        )
    )
    for row_id, key, response, recovery_point in rows:
        values: dict[str, Any] = {"updated_at": now}
        if scrub_text(key, strong) != key:
            values["key"] = f"erased-{uuid.uuid4().hex}"
        if mentions(response, strong):
            values["response"] = scrub_json(response, strong)
        if mentions(recovery_point, strong):
            values["recovery_point"] = scrub_json(recovery_point, strong)
        await session.execute(
            sa.update(IdempotencyKey).where(IdempotencyKey.id == row_id).values(values)
        )
