"""Deliveries sent: claimed, signed, POSTed, and their outcome recorded.

1. ``claim``: due deliveries (pending, ``next_attempt_at`` reached, endpoint enabled, no
   earlier pending delivery of the same endpoint and object: an object's events arrive in
   log order) are locked ``FOR UPDATE SKIP LOCKED`` and held for ``claim_for`` (their
   ``next_attempt_at`` moved on, ``attempts`` counted) in a short transaction. A worker
   that dies mid-attempt leaves the delivery pending: it is sent again once the hold ends
   (at least once; receivers deduplicate by ``webhook-id``, as Standard Webhooks says).
2. ``send``: outside any transaction, the envelope signed with the ``standardwebhooks``
   library by every current secret (``webhook-id``, ``webhook-timestamp``,
   ``webhook-signature``), POSTed with a timeout and without following redirects. The URL
   is checked against the SSRF rules again first.
3. ``settle``: a 2xx succeeds; 410 Gone disables the endpoint at once (Standard Webhooks,
   "Retry schedule"); anything else is retried after a back-off with full jitter, and an
   endpoint failing every attempt for ``disable_after`` (3 days) is disabled.

``webhook-timestamp`` is the wall-clock time of the attempt, since receivers check it
against theirs (5 minutes' tolerance); scheduling reads the injected clock.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from standardwebhooks import Webhook

from app.domain.clock import Clock
from app.domain.errors import Problems
from app.domain.ids import global_id
from app.domain.webhooks_out import (
    GONE,
    MAX_ERROR_LENGTH,
    DeliveryStatus,
    DisabledReason,
    backoff,
    is_success,
)
from app.models import Event, WebhookDelivery, WebhookEndpoint
from app.services.outbox.envelope import body
from app.services.webhooks_out import endpoints, urls
from app.services.webhooks_out.config import DeliveryConfig, DeliveryMetrics

USER_AGENT = "paygate-webhooks/1 (+https://www.standardwebhooks.com/)"


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    msg_id: str
    payload: bytes
    event_created_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None


def due_query(now: datetime, limit: int) -> sa.Select[WebhookDelivery]:
    earlier = aliased(WebhookDelivery)
    blocked = (
        sa.select(earlier.id)
        .where(
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.object_id == WebhookDelivery.object_id,
            earlier.status == DeliveryStatus.PENDING,
            earlier.event_seq < WebhookDelivery.event_seq,
        )
        .exists()
    )
    return (
        sa.select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.disabled_at.is_(None),
            ~blocked,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_seq)
        .limit(limit)
    )


async def claim(session: AsyncSession, *, clock: Clock, config: DeliveryConfig) -> list[Attempt]:
    now = clock.now()
    statement = due_query(now, config.batch_size)
    if (await session.connection()).dialect.name == "postgresql":
        statement = statement.with_for_update(of=WebhookDelivery, skip_locked=True)
    deliveries = list(await session.scalars(statement))
    if not deliveries:
        await session.rollback()
        return []
    events = {
        row.seq: row
        for row in await session.scalars(
            sa.select(Event).where(Event.seq.in_([d.event_seq for d in deliveries]))
        )
    }
    targets = {
        row.id: row
        for row in await session.scalars(
            sa.select(WebhookEndpoint).where(
                WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries})
            )
        )
    }
    attempts = []
    for delivery in deliveries:
        delivery.updated_at = now
        event = events.get(delivery.event_seq)
        if event is None:  # past the log's retention
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            delivery.last_error = "the event is no longer retained"
            continue
        delivery.attempts += 1
        delivery.next_attempt_at = now + config.claim_for
        secrets = await endpoints.signing_secrets(session, delivery.endpoint_id, now=now)
        attempts.append(
            Attempt(
                delivery_id=delivery.id,
                endpoint_id=delivery.endpoint_id,
                url=targets[delivery.endpoint_id].url,
                secrets=tuple(secrets),
                msg_id=global_id("Event", event.id),
                payload=body(event),
                event_created_at=event.created_at,
            )
        )
    await session.commit()
    return attempts


def headers(attempt: Attempt, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one ``v1,`` signature per current secret, separated
    by spaces (several during a rotation's overlap)."""
    signatures = " ".join(
        Webhook(s).sign(attempt.msg_id, at, attempt.payload) for s in attempt.secrets
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": attempt.msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def _error(text: str) -> str:
    return text[:MAX_ERROR_LENGTH]


async def send(
    client: httpx.AsyncClient, attempt: Attempt, *, config: DeliveryConfig, wall: Clock
) -> Outcome:
    host = urls.shape(Problems(), attempt.url, production=config.production, field=())
    reason, address = (
        await urls.checked_address(
            host, production=config.production, allowed_hosts=config.allowed_hosts
        )
        if host
        else ("the URL is no longer accepted", None)
    )
    if reason is not None:
        return Outcome(None, 0, _error(f"refused: {reason}"))
    if not attempt.secrets:
        return Outcome(None, 0, "no signing secret")
    url, sent_headers = attempt.url, headers(attempt, wall.now())
    extensions: dict[str, str] = {}
    if address is not None:  # connect to the address checked, not to a fresh resolution
        url, host_header, extensions = urls.pinned(attempt.url, address)
        sent_headers |= host_header
    started = time.monotonic()
    try:
        response = await client.post(
            url,
            content=attempt.payload,
            headers=sent_headers,
            timeout=config.timeout,
            follow_redirects=False,
            extensions=extensions,
        )
    except httpx.TimeoutException:
        return Outcome(None, _ms(started), f"timed out after {config.timeout:g} s")
    except httpx.HTTPError as error:
        # The exception's class only: its text may hold the URL, which may hold a token.
        return Outcome(None, _ms(started), _error(f"request failed: {type(error).__name__}"))
    return Outcome(response.status_code, _ms(started), None)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def settle(
    session: AsyncSession,
    attempt: Attempt,
    outcome: Outcome,
    *,
    clock: Clock,
    wall: Clock,
    config: DeliveryConfig,
    metrics: DeliveryMetrics,
) -> str:
    """Record an attempt's outcome; returns it (succeeded, retry, gone, disabled, stale)."""
    endpoint = await session.scalar(
        sa.select(WebhookEndpoint)
        .where(WebhookEndpoint.id == attempt.endpoint_id)
        .with_for_update()
    )
    delivery = await session.scalar(
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.id == attempt.delivery_id)
        .with_for_update()
    )
    if endpoint is None or delivery is None or delivery.status is not DeliveryStatus.PENDING:
        await session.rollback()  # deleted, or settled meanwhile (disabled, retried)
        return "stale"
    now = clock.now()
    delivery.response_code = outcome.status_code
    delivery.latency_ms = outcome.latency_ms
    delivery.updated_at = now
    code = outcome.status_code
    if code is not None and is_success(code):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
        delivery.delivered_at, delivery.last_error = now, None
        if endpoint.failing_since is not None:
            endpoint.failing_since, endpoint.updated_at = None, now
        result = "succeeded"
        lag = max((wall.now() - attempt.event_created_at).total_seconds(), 0.0)
        await session.commit()
        metrics.webhook_delivered(result, lag)
        return result
    delivery.last_error = outcome.error or f"HTTP {code}"
    if code == GONE:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        await endpoints.disable(session, endpoint, DisabledReason.GONE, now=now, metrics=metrics)
        result = "gone"
    else:
        endpoint.failing_since = endpoint.failing_since or now
        if now - endpoint.failing_since >= config.disable_after:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            await endpoints.disable(
                session, endpoint, DisabledReason.FAILING, now=now, metrics=metrics
            )
            result = "disabled"
        else:
            wait = backoff(delivery.attempts, base=config.retry_base, cap=config.retry_cap)
            delivery.next_attempt_at = now + wait
            result = "retry"
    await session.commit()
    metrics.webhook_delivered(result, None)
    return result
