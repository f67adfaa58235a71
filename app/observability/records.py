"""Payments, refunds, disputes and webhook processing, counted from what is committed.

Rather than a metric call beside every place that records a change, one SQLAlchemy session
listener watches what flushes write: the append-only ``payment_events`` rows, and stored
webhook events whose ``processed_at`` gets set. What a flush wrote is held in the session
and counted when its transaction commits, and dropped when it rolls back, so the counts
are exactly the rows the database keeps, whichever path (GraphQL, webhooks, worker,
reconciliation) wrote them. Rows added with ORM ``session.add`` are seen; bulk ``INSERT``
statements would not be.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.util import identity_key

from app.domain.payments import DisputeStatus, PaymentStatus, RefundStatus
from app.models import Payment, PaymentEvent
from app.models import WebhookEvent as StoredEvent
from app.observability.metrics import Metrics, safe_code

_PENDING = "paygate.metrics.pending"
_PAYMENT_STATUSES = frozenset(s.value for s in PaymentStatus)
_REFUND_STATUSES = frozenset(s.value for s in RefundStatus)
_DISPUTE_STATUSES = frozenset(s.value for s in DisputeStatus)

_engines: weakref.WeakKeyDictionary[Engine, Metrics] = weakref.WeakKeyDictionary()
Pending = list[tuple[object, Callable[[], None]]]


def observe(engine: AsyncEngine, metrics: Metrics) -> None:
    """Count what sessions bound to ``engine`` commit, in ``metrics``."""
    _engines[engine.sync_engine] = metrics
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


def _metrics_of(session: Session) -> Metrics | None:
    bind: Any = session.bind
    if bind is None or not _engines:
        return None
    return _engines.get(getattr(bind, "engine", bind))


def _payment_of(session: Session, row: PaymentEvent, new: dict[Any, Payment]) -> Payment | None:
    found = session.identity_map.get(identity_key(Payment, row.payment_id))
    return found if isinstance(found, Payment) else new.get(row.payment_id)


def _count_event(
    metrics: Metrics, row: PaymentEvent, payment: Payment | None
) -> Callable[[], None]:
    psp = payment.psp if payment is not None else "unknown"
    family, _, what = row.type.partition(".")
    if family == "payment":
        if what == "created":
            return metrics.payment_attempts.labels(psp).inc
        if what == "outcome_unknown":
            return metrics.payments_outcome_unknown.labels(psp).inc
        if what in _PAYMENT_STATUSES:
            code = "none"
            if what == PaymentStatus.FAILED.value:
                code = safe_code(payment.decline_code if payment else None, "unknown")
            return metrics.payments.labels(psp, what, code).inc
    elif family == "refund":
        if what == "created":
            return metrics.refunds.labels(psp, RefundStatus.PENDING.value).inc
        if what in _REFUND_STATUSES:
            return metrics.refunds.labels(psp, what).inc
    elif family == "dispute":
        if what == "created":
            return metrics.disputes_opened.labels(psp).inc
        if what in _DISPUTE_STATUSES:
            return metrics.disputes.labels(psp, what).inc
    return _nothing


def _nothing() -> None:
    return None


def _lag(metrics: Metrics, stored: StoredEvent) -> Callable[[], None]:
    assert stored.processed_at is not None
    seconds = max(0.0, (stored.processed_at - stored.occurred_at).total_seconds())
    histogram = metrics.webhook_lag.labels(stored.psp)
    return lambda: histogram.observe(seconds)


def _newly_processed(stored: StoredEvent, is_new: bool) -> bool:
    if stored.processed_at is None:
        return False
    if is_new:
        return True
    history = sa.inspect(stored).attrs.processed_at.history
    return bool(history.added) and not any(history.deleted)


def _after_flush(session: Session, _context: Any) -> None:
    metrics = _metrics_of(session)
    if metrics is None:
        return
    pending: Pending = session.info.setdefault(_PENDING, [])
    new_payments = {o.id: o for o in session.new if isinstance(o, Payment)}
    for obj in session.new:
        if isinstance(obj, PaymentEvent):
            payment = _payment_of(session, obj, new_payments)
            pending.append((obj, _count_event(metrics, obj, payment)))
        elif isinstance(obj, StoredEvent) and _newly_processed(obj, True):
            pending.append((obj, _lag(metrics, obj)))
    for obj in session.dirty:
        if isinstance(obj, StoredEvent) and _newly_processed(obj, False):
            pending.append((obj, _lag(metrics, obj)))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer transaction decides
        return
    pending: Pending | None = session.info.pop(_PENDING, None)
    for obj, count in pending or ():
        if sa.inspect(obj).persistent:  # not rolled back with a savepoint
            count()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (and counted) or rolled back: forget it
        session.info.pop(_PENDING, None)
