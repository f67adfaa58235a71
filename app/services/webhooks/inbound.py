"""Inbound PSP webhooks: verified first, stored raw, deduplicated, then applied exactly
once by the payments ledger (``app.services.payments.reports``, which also says how an event
that raced our own response waits for it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.ids import new_id
from app.domain.personal_data import strip_personal
from app.models import WebhookEvent as StoredEvent
from app.psp import base as psp
from app.psp.codec import encode_event
from app.psp.registry import PspRegistry
from app.services import erasure_leaks
from app.services.payments.reports import Receipt, apply_report


async def receive(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    psp_name: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Receipt:
    """Verify (raises ``WebhookVerificationError``), store, deduplicate and apply."""
    parsed = await psps.get(psp_name).parse_webhook(headers, body, now=clock.now())
    stored = await _store(session, parsed, body, clock)
    if stored is None:
        return Receipt.DUPLICATE
    receipt = await apply_report(session, parsed, stored, clock)
    await session.commit()
    return receipt


def _raw(body: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(body)
    except ValueError:
        return {"raw": body.decode("utf-8", errors="replace")}
    return loaded if isinstance(loaded, dict) else {"raw": loaded}


def _reference(parsed: psp.WebhookEvent) -> str | None:
    """The PSP reference an event waits for when we do not know it yet: the payment's, or
    the refund's own (our refund row learns it from the synchronous response)."""
    if parsed.payment is not None:
        return parsed.payment.psp_reference
    if parsed.refund is not None:
        return parsed.refund.psp_reference
    if parsed.dispute is not None:
        return parsed.dispute.payment_reference
    return None


async def _store(
    session: AsyncSession, parsed: psp.WebhookEvent, body: bytes, clock: Clock
) -> StoredEvent | None:
    """The new stored event, or None when this event id was seen before. An event about an
    erased customer is stored without its personal data (GDPR)."""
    payload = _raw(body)
    if await erasure_leaks.about_erased(session, parsed.psp, payload):
        payload = strip_personal(payload)
    stored = StoredEvent(
        id=new_id(),
        psp=parsed.psp,
        event_id=parsed.event_id,
        type=parsed.type[:128],
        kind=parsed.kind.value,
        object_reference=_reference(parsed),
        occurred_at=parsed.occurred_at,
        payload=payload,
        snapshot=encode_event(parsed),
        deliveries=1,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(stored)
    try:
        await session.flush()
        return stored
    except IntegrityError:
        await session.rollback()
    await session.execute(
        sa.update(StoredEvent)
        .where(StoredEvent.psp == parsed.psp, StoredEvent.event_id == parsed.event_id)
        .values(deliveries=StoredEvent.deliveries + 1, updated_at=clock.now())
    )
    await session.commit()
    return None
