"""Webhook endpoints: create, change, delete, rotate their secret; retry a delivery.

A secret is ``whsec_`` and the base64 of 32 random bytes, the Standard Webhooks format
(https://www.standardwebhooks.com/, "Signature scheme": 24 to 64 bytes). It is stored as is
(it signs every delivery) and shown by the API only when created or rotated. After a
rotation the previous secret keeps signing beside the new one for ``secret_overlap``
(24 hours): the ``webhook-signature`` header then carries two ``v1,`` signatures, so a
receiver may switch to the new secret any time within that day.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.event_types import EventType
from app.domain.updates import KEEP, Keep
from app.domain.webhooks_out import (
    MAX_DESCRIPTION_LENGTH,
    SECRET_BYTES,
    SECRET_PREFIX,
    DeliveryStatus,
    DisabledReason,
)
from app.models import WebhookDelivery, WebhookEndpoint, WebhookSecret
from app.services.outbox import log, recorder
from app.services.webhooks_out import urls
from app.services.webhooks_out.config import DeliveryConfig, DeliveryMetrics, NoMetrics


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True)
class WithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def _types(problems: Problems, types: Collection[EventType]) -> list[str]:
    if not types:
        problems.add(ErrorCode.REQUIRED, "Subscribe to at least one event type.", "eventTypes")
    return sorted({t.value for t in types})


async def create(
    session: AsyncSession,
    *,
    clock: Clock,
    config: DeliveryConfig,
    url: str,
    event_types: Collection[EventType],
    description: str | None,
) -> WithSecret:
    problems = Problems()
    types = _types(problems, event_types)
    text = check.text(problems, description, "description", max_length=MAX_DESCRIPTION_LENGTH)
    problems.raise_if_any()
    checked = await urls.check(
        url, production=config.production, allowed_hosts=config.allowed_hosts, field=("url",)
    )
    now = clock.now()
    row = WebhookEndpoint(
        url=checked,
        description=text,
        event_types=types,
        seq=await log.last_seq(session),  # only events committed from now on go out
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    secret = new_secret()
    session.add(WebhookSecret(endpoint_id=row.id, secret=secret, created_at=now))
    await session.commit()
    return WithSecret(row, secret)


async def get(
    session: AsyncSession, endpoint_id: uuid.UUID, *field: str, lock: bool = False
) -> WebhookEndpoint:
    statement = sa.select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    row = await session.scalar(statement.with_for_update() if lock else statement)
    if row is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such webhook endpoint.", field))
    return row


async def update(
    session: AsyncSession,
    *,
    clock: Clock,
    config: DeliveryConfig,
    endpoint_id: uuid.UUID,
    url: str | Keep = KEEP,
    event_types: Collection[EventType] | Keep = KEEP,
    description: str | Keep | None = KEEP,
    enabled: bool | Keep | None = KEEP,
    metrics: DeliveryMetrics | None = None,
) -> WebhookEndpoint:
    problems = Problems()
    types = None if event_types is KEEP else _types(problems, event_types)
    text = (
        KEEP
        if description is KEEP
        else check.text(problems, description, "description", max_length=MAX_DESCRIPTION_LENGTH)
    )
    problems.raise_if_any()
    checked = None
    if url is not KEEP:
        checked = await urls.check(
            url, production=config.production, allowed_hosts=config.allowed_hosts, field=("url",)
        )
    row = await get(session, endpoint_id, "id", lock=True)
    now = clock.now()
    if checked is not None:
        row.url = checked
    if types is not None:
        row.event_types = types
    if text is not KEEP:
        row.description = text
    if enabled is True and row.disabled_at is not None:
        # Fan-out resumes after the last event it handed over before the endpoint was
        # disabled; deliveries failed by the disabling stay failed (retryWebhookDelivery).
        row.disabled_at, row.disabled_reason, row.failing_since = None, None, None
    elif enabled is False and row.disabled_at is None:
        await disable(session, row, DisabledReason.MANUAL, now=now, metrics=metrics)
    row.updated_at = now
    await session.commit()
    return row


async def delete(session: AsyncSession, *, endpoint_id: uuid.UUID) -> uuid.UUID:
    row = await get(session, endpoint_id, "id", lock=True)
    await session.delete(row)  # its secrets and deliveries go with it (ON DELETE CASCADE)
    await session.execute(sa.delete(WebhookSecret).where(WebhookSecret.endpoint_id == row.id))
    await session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id))
    await session.commit()
    return endpoint_id


async def rotate_secret(
    session: AsyncSession, *, clock: Clock, config: DeliveryConfig, endpoint_id: uuid.UUID
) -> WithSecret:
    row = await get(session, endpoint_id, "id", lock=True)
    now = clock.now()
    expires = now + config.secret_overlap
    for current in await session.scalars(
        sa.select(WebhookSecret).where(WebhookSecret.endpoint_id == row.id)
    ):
        if current.expires_at is None or current.expires_at > expires:
            current.expires_at = expires
    secret = new_secret()
    session.add(WebhookSecret(endpoint_id=row.id, secret=secret, created_at=now))
    row.updated_at = now
    await session.commit()
    return WithSecret(row, secret)


async def signing_secrets(
    session: AsyncSession, endpoint_id: uuid.UUID, *, now: datetime
) -> list[str]:
    """The secrets that sign a delivery now, newest first."""
    rows = await session.scalars(
        sa.select(WebhookSecret.secret)
        .where(
            WebhookSecret.endpoint_id == endpoint_id,
            sa.or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.created_at.desc(), WebhookSecret.id.desc())
    )
    return list(rows)


async def disable(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    reason: DisabledReason,
    *,
    now: datetime,
    metrics: DeliveryMetrics | None = None,
) -> None:
    """Stop delivering to ``endpoint`` (locked by the caller): its pending deliveries fail,
    and the fact is an event (``webhook_endpoint.disabled``) for the other endpoints."""
    endpoint.disabled_at, endpoint.disabled_reason = now, reason
    endpoint.failing_since = None
    endpoint.updated_at = now
    await session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            last_error="endpoint disabled",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    recorder.record(session.sync_session, EventType.WEBHOOK_ENDPOINT_DISABLED, endpoint)
    (metrics or NoMetrics()).webhook_endpoint_disabled(reason.value)


async def retry_delivery(
    session: AsyncSession, *, clock: Clock, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again, now (whatever its status)."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such webhook delivery.", ("deliveryId",))
        )
    endpoint = await get(session, delivery.endpoint_id, "deliveryId", lock=True)
    await session.refresh(delivery, with_for_update=True)
    if endpoint.disabled_at is not None:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                "The endpoint is disabled: enable it first (updateWebhookEndpoint).",
                ("deliveryId",),
            )
        )
    now = clock.now()
    delivery.status, delivery.next_attempt_at, delivery.updated_at = (
        DeliveryStatus.PENDING,
        now,
        now,
    )
    await session.commit()
    return delivery


def endpoints_query() -> sa.Select[WebhookEndpoint]:
    return sa.select(WebhookEndpoint)


def deliveries_query(
    endpoint_id: uuid.UUID, status: DeliveryStatus | None
) -> sa.Select[WebhookDelivery]:
    statement = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return statement
