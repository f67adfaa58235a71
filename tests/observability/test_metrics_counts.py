"""/metrics reports exactly what happened: a scripted day of payments, declines, 3-D Secure,
refunds and webhooks (one duplicate, one refused) through the public API."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.domain.payments import PaymentStatus
from app.main import create_app
from app.models import Payment, PaymentEvent
from app.schema.node import decode_gid
from tests.api.test_webhooks import payment_report, post, sandbox_event
from tests.conftest import Api
from tests.factories import CONFIRM, customer_with, key, pay, refund
from tests.observability.scrape import Scrape, scrape

SANDBOX = {"psp": "sandbox"}


async def test_a_scripted_sequence_is_counted_exactly(api: Api) -> None:
    # Given: two charges that succeed, three declines, a 3-D Secure payment, two refunds
    visa = await customer_with(api)
    first = (await pay(api, visa, "20.00"))["payment"]
    second = (await pay(api, visa, "20.00"))["payment"]
    for token, times in (("tok_chargeDeclined", 1), ("tok_insufficientFunds", 2)):
        customer = await customer_with(api, token)
        for _ in range(times):
            assert (await pay(api, customer))["payment"]["status"] == "FAILED"
    secure = await customer_with(api, "tok_threeDSecureRequired")
    pending = (await pay(api, secure, returnUrl="https://shop.example/done"))["payment"]
    path = urlsplit(pending["nextAction"]["redirectUrl"]).path
    assert (await api.http.post(path, data={"outcome": "succeed"})).status_code == 303
    confirmed = await api.data(
        CONFIRM, {"input": {"idempotencyKey": key(), "paymentId": pending["id"]}}
    )
    assert confirmed["confirmPayment"]["payment"]["status"] == "SUCCEEDED"
    assert (await refund(api, first["id"], "5.00"))["refund"]["status"] == "SUCCEEDED"
    assert (await refund(api, first["id"], "15.00"))["refund"]["status"] == "SUCCEEDED"
    # and a webhook delivered twice, a tampered one and one for a PSP we do not have
    sandbox = api.runtime.psps.sandbox
    report = payment_report(second["pspReference"], PaymentStatus.SUCCEEDED, 2000, 2000)
    headers, body = sandbox.signed(sandbox_event("evt_twice", "payment", "x", payment=report))
    assert (await post(api, headers, body)).json() == {"received": "processed"}
    assert (await post(api, headers, body)).json() == {"received": "duplicate"}
    assert (await post(api, headers, body.replace(b"2000", b"9000"))).status_code == 400
    assert (await post(api, headers, body, psp="adyen")).status_code == 404

    # When Prometheus scrapes
    metrics = await scrape(api)

    # Then: payments by outcome and decline code
    assert metrics.series("paygate_payment_attempts_total") == {(("psp", "sandbox"),): 6}
    assert metrics.series("paygate_payments_total") == {
        (("decline_code", "none"), ("psp", "sandbox"), ("status", "succeeded")): 3,
        (("decline_code", "none"), ("psp", "sandbox"), ("status", "requires_action")): 1,
        (("decline_code", "card_declined"), ("psp", "sandbox"), ("status", "failed")): 1,
        (("decline_code", "insufficient_funds"), ("psp", "sandbox"), ("status", "failed")): 2,
    }
    assert metrics.series("paygate_refunds_total") == {
        (("psp", "sandbox"), ("status", "pending")): 2,
        (("psp", "sandbox"), ("status", "succeeded")): 2,
    }
    assert metrics.series("paygate_disputes_total") == {}
    assert metrics.series("paygate_payments_outcome_unknown_total") == {}
    assert metrics.series("paygate_graphql_user_errors_total") == {
        (("code", "PAYMENT_DECLINED"),): 3
    }
    # webhooks: the sandbox reports each charge and refund before our own call returns (so
    # those 8 wait for it), the 3-D Secure page's report is applied at once, and ours
    assert metrics.series("paygate_webhook_receipts_total") == {
        (("psp", "sandbox"), ("result", "waiting")): 8,
        (("psp", "sandbox"), ("result", "processed")): 2,
        (("psp", "sandbox"), ("result", "duplicate")): 1,
        (("psp", "sandbox"), ("result", "refused")): 1,
        (("psp", "unknown"), ("result", "refused")): 1,
    }
    assert metrics.value("paygate_webhook_processing_lag_seconds_count", **SANDBOX) == 10
    assert metrics.value("paygate_webhook_backlog", **SANDBOX) == 0
    # PSP calls by operation and outcome, with their latency
    assert metrics.series("paygate_psp_requests_total") == {
        (("operation", "create_customer"), ("outcome", "ok"), ("psp", "sandbox")): 4,
        (("operation", "attach_payment_method"), ("outcome", "ok"), ("psp", "sandbox")): 4,
        (("operation", "create_payment"), ("outcome", "ok"), ("psp", "sandbox")): 3,
        (("operation", "create_payment"), ("outcome", "declined"), ("psp", "sandbox")): 3,
        (("operation", "refund"), ("outcome", "ok"), ("psp", "sandbox")): 2,
        (("operation", "parse_webhook"), ("outcome", "ok"), ("psp", "sandbox")): 11,
        (
            ("operation", "parse_webhook"),
            ("outcome", "webhook_verification_error"),
            ("psp", "sandbox"),
        ): 1,
    }
    assert metrics.total("paygate_psp_request_duration_seconds_count") == 28
    # HTTP by route template, never the raw path
    webhooks = {"method": "POST", "route": "/webhooks/{psp}"}
    count = "paygate_http_request_duration_seconds_count"
    assert metrics.value(count, **webhooks, status_class="2xx") == 2
    assert metrics.value(count, **webhooks, status_class="4xx") == 2
    assert metrics.value(count, method="POST", route="/sandbox/actions/{reference}",
                         status_class="3xx") == 1  # fmt: skip
    assert pending["pspReference"] not in metrics.text

    # And the counts agree with the rows the database keeps
    async with api.engine.connect() as connection:
        types = Counter(
            (await connection.scalars(sa.text("SELECT type FROM payment_events"))).all()
        )
        processed = await connection.scalar(
            sa.text("SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL")
        )
    assert types["payment.created"] == metrics.total("paygate_payment_attempts_total")
    assert types["payment.succeeded"] == metrics.total("paygate_payments_total", status="succeeded")
    assert types["payment.failed"] == metrics.total("paygate_payments_total", status="failed")
    assert types["refund.created"] == metrics.total("paygate_refunds_total", status="pending")
    assert processed == metrics.total("paygate_webhook_processing_lag_seconds_count")


async def test_disputes_and_unknown_outcomes(
    api: Api, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disputed = await customer_with(api, "tok_disputed")
    await pay(api, disputed, "30.00")
    slow = await customer_with(api, "tok_timeout")
    monkeypatch.setattr(api.runtime.psps.sandbox, "sink", None)  # no webhook tells us either
    assert (await pay(api, slow, "10.00"))["payment"]["outcomeUnknown"] is True
    metrics = await scrape(api)
    assert metrics.series("paygate_disputes_opened_total") == {(("psp", "sandbox"),): 1}
    assert metrics.series("paygate_disputes_total") == {
        (("psp", "sandbox"), ("status", "needs_response")): 1
    }
    assert metrics.series("paygate_payments_outcome_unknown_total") == {(("psp", "sandbox"),): 1}
    assert metrics.value("paygate_psp_requests_total", psp="sandbox", operation="create_payment",
                         outcome="psp_outcome_unknown") == 1  # fmt: skip
    # stuck: unknown for longer than PAYGATE_METRICS_STUCK_AFTER_MINUTES (15)
    assert metrics.value("paygate_payments_stuck_unknown_outcome", **SANDBOX) == 0
    clock.advance(timedelta(minutes=16))
    assert (await scrape(api)).value("paygate_payments_stuck_unknown_outcome", **SANDBOX) == 1


async def test_each_app_counts_for_itself(api: Api) -> None:
    await pay(api, await customer_with(api))
    assert (await scrape(api)).total("paygate_payment_attempts_total") == 1
    other = create_app(api.runtime.settings, clock=api.runtime.clock)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://other") as http:
        text = (await http.get("/metrics")).text
    await other.state.runtime.dispose()
    assert Scrape(text).total("paygate_payment_attempts_total") == 0


async def test_only_committed_rows_count(api: Api) -> None:
    """Savepoints released into a transaction that rolls back, or rolled back themselves,
    leave nothing counted; a released one inside a committed transaction counts."""
    paid = (await pay(api, await customer_with(api)))["payment"]
    payment_id = decode_gid(paid["id"])[1]
    before = (await scrape(api)).total("paygate_payments_total", status="canceled")

    def canceled() -> PaymentEvent:
        return PaymentEvent(
            payment_id=payment_id,
            type="payment.canceled",
            source="api",
            status="canceled",
            data={},
            created_at=api.runtime.clock.now(),
        )

    async with api.runtime.sessions() as session:
        await session.get(Payment, payment_id)
        async with session.begin_nested():
            session.add(canceled())
        await session.rollback()  # released, then the whole transaction rolled back
        nested = await session.begin_nested()
        session.add(canceled())
        await session.flush()
        await nested.rollback()  # the savepoint rolled back, the transaction committed
        await session.commit()
        assert (await scrape(api)).total("paygate_payments_total", status="canceled") == before
        await session.get(Payment, payment_id)
        async with session.begin_nested():
            session.add(canceled())
        await session.commit()
    assert (await scrape(api)).total("paygate_payments_total", status="canceled") == before + 1
