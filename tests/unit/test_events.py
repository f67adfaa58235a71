"""The in-process registry of domain-event handlers: explicit wiring, loud when unwired."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.clock import FrozenClock
from app.domain.events import InvoicePaymentSucceeded
from app.services import events
from app.services.billing import settlement
from app.wiring import wire

CLOCK = FrozenClock(datetime(2026, 1, 15, tzinfo=UTC))
PAID = InvoicePaymentSucceeded(payment_id=uuid.uuid4(), invoice_id=uuid.uuid4())
SESSION: Any = object()  # the handlers under test never touch it


async def test_a_required_event_without_a_handler_fails_loudly() -> None:
    registry = events.Registry()
    assert registry.missing() == {InvoicePaymentSucceeded}
    with pytest.raises(events.UnhandledEvent, match="InvoicePaymentSucceeded"):
        await registry.dispatch(SESSION, PAID, clock=CLOCK)


async def test_handlers_run_in_order_with_the_callers_session_once_each() -> None:
    registry = events.Registry()
    seen: list[tuple[str, object, object, object]] = []

    async def first(session: Any, event: InvoicePaymentSucceeded, clock: Any) -> None:
        seen.append(("first", session, event, clock))

    async def second(session: Any, event: InvoicePaymentSucceeded, clock: Any) -> None:
        seen.append(("second", session, event, clock))

    registry.register(InvoicePaymentSucceeded, first)
    registry.register(InvoicePaymentSucceeded, second)
    registry.register(InvoicePaymentSucceeded, first)  # again: no second run
    await registry.dispatch(SESSION, PAID, clock=CLOCK)
    assert seen == [("first", SESSION, PAID, CLOCK), ("second", SESSION, PAID, CLOCK)]
    assert registry.missing() == frozenset()


def test_wiring_handles_every_required_event_and_is_idempotent() -> None:
    registry = events.Registry()
    assert wire(registry) is registry
    wire(registry)
    assert registry.missing() == frozenset()
    assert registry._handlers[InvoicePaymentSucceeded] == [settlement.invoice_paid]


def test_the_process_is_wired() -> None:
    """Every entry point wires the process's registry (the tests' fixture does here)."""
    assert events.registry.missing() == frozenset()


def test_events_are_plain_frozen_values() -> None:
    with pytest.raises(AttributeError):
        PAID.invoice_id = uuid.uuid4()  # type: ignore[misc]
    assert InvoicePaymentSucceeded(PAID.payment_id, PAID.invoice_id) == PAID
