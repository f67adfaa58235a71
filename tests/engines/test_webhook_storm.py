"""The webhook storm: a thousand events (``PAYGATE_WEBHOOK_STORM_EVENTS``), each delivered
three times, shuffled, sixteen at a time, end every payment in the state in-order delivery
gives, with every effect once."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import sqlalchemy as sa

from app.domain.money import Money
from app.domain.payments import DisputeStatus, PaymentStatus, RefundStatus
from app.psp.base import DisputeInfo, RefundResult
from app.psp.sandbox import SandboxGateway
from tests.api.test_webhooks import payment_report, post, sandbox_event, snapshot
from tests.conftest import WEBHOOK_STORM_EVENTS, Api
from tests.factories import customer_with, pay


async def events_for(reference: str, n: int, total: int) -> list[dict[str, Any]]:
    """Five events about one authorised payment: stale, current, captured, refunded, disputed."""
    usd = "USD"
    return [
        sandbox_event(f"evt_{n}_a", "payment", "payment.processing",
                      payment=payment_report(reference, PaymentStatus.PROCESSING, 0, total)),
        sandbox_event(f"evt_{n}_b", "payment", "payment.requires_capture",
                      payment=payment_report(reference, PaymentStatus.REQUIRES_CAPTURE, 0, total)),
        sandbox_event(f"evt_{n}_c", "payment", "payment.succeeded",
                      payment=payment_report(reference, PaymentStatus.SUCCEEDED, total, total)),
        sandbox_event(f"evt_{n}_d", "refund", "refund.updated",
                      refund=RefundResult(f"sbxre_ext_{n}", reference, RefundStatus.SUCCEEDED,
                                          Money(100, usd), raw_status="succeeded")),
        sandbox_event(f"evt_{n}_e", "dispute", "dispute.created",
                      dispute=DisputeInfo(f"sbxdp_ext_{n}", reference, Money(total, usd),
                                          "general", DisputeStatus.NEEDS_RESPONSE, None)),
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.both_databases
async def test_events_three_times_shuffled_and_concurrent_end_as_in_order(api: Api) -> None:
    customer = await customer_with(api)
    sandbox: SandboxGateway = api.runtime.psps.sandbox
    # Five events a payment. SQLite serialises its writers: a fifth of the storm proves the
    # same there, in less time.
    per_group = WEBHOOK_STORM_EVENTS // 5
    if api.engine.dialect.name != "postgresql":
        per_group //= 5
    shuffled_ids, ordered_ids, deliveries = [], [], []
    for n in range(per_group * 2):
        payment = (await pay(api, customer, "10.00", captureMethod="MANUAL"))["payment"]
        events = await events_for(payment["pspReference"], n, 1000)
        if n % 2 == 0:
            shuffled_ids.append(payment["id"])
            deliveries.extend(sandbox.signed(event) for event in events for _ in range(3))
        else:
            ordered_ids.append(payment["id"])
            for event in events:  # the reference: each event once, in order
                assert (await post(api, *sandbox.signed(event))).status_code == 200
    assert len(deliveries) == 3 * 5 * per_group  # 1,000 events (full size), each 3 times
    random.Random(7).shuffle(deliveries)
    gate = asyncio.Semaphore(16)

    async def deliver(headers: dict[str, str], body: bytes) -> int:
        async with gate:
            return int((await post(api, headers, body)).status_code)

    statuses = await asyncio.gather(*(deliver(h, b) for h, b in deliveries))
    assert set(statuses) == {200}
    reference_state = await snapshot(api, ordered_ids[0])
    assert reference_state["status"] == "SUCCEEDED"
    assert reference_state["refunds"] == [("SUCCEEDED", "1.00")]
    for payment_id in shuffled_ids:
        assert await snapshot(api, payment_id) == reference_state
    async with api.engine.connect() as connection:
        stored = await connection.execute(
            sa.text("SELECT count(*), sum(deliveries), count(processed_at) FROM webhook_events "
                    "WHERE event_id LIKE 'evt_%'")
        )  # fmt: skip
        events = 2 * 5 * per_group  # each once in order (ordered), three times (shuffled)
        assert tuple(stored.one()) == (events, 2 * events, events)
