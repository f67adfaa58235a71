"""Webhooks to merchants, end to end: GraphQL, the sandbox, the engine, a real receiver that
verifies with the ``standardwebhooks`` library."""

from __future__ import annotations

from datetime import timedelta

from app.domain.clock import FrozenClock
from tests.conftest import Api
from tests.factories import customer_with, paid_payment, refund
from tests.webhooks_out.helpers import create_endpoint, deliver, deliveries, endpoints
from tests.webhooks_out.receiver import receiver

PAYMENTS = ["PAYMENT_SUCCEEDED", "PAYMENT_REFUNDED"]


async def test_a_payment_reaches_the_merchant_signed(api: Api) -> None:
    with receiver() as hooks:
        # given an endpoint for payment.succeeded, made after a first payment
        customer = await customer_with(api)
        await paid_payment(api, customer)
        _endpoint, secret = await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        assert secret.startswith("whsec_")
        # when a customer pays
        payment = await paid_payment(api, customer)
        await deliver(api)
        # then exactly that payment's event arrives, verified, and only it (not the older one,
        # not payment.created, not customer.*)
        assert len(hooks.received) == 1
        got = hooks.received[0]
        assert got.verifies(secret)
        assert got.event["type"] == "payment.succeeded"
        assert got.event["data"]["id"] == payment
        assert got.id == got.event["id"]
        (row,) = await deliveries(api)
        assert row["status"] == "SUCCEEDED" and row["attempts"] == 1
        assert row["responseCode"] == 200 and row["event"]["name"] == "payment.succeeded"
        # and a second round sends nothing again
        await deliver(api)
        assert len(hooks.received) == 1


async def test_a_server_error_is_retried_with_backoff(api: Api, clock: FrozenClock) -> None:
    with receiver() as hooks:
        hooks.answer = lambda n, _r: 500 if n == 0 else 200
        _endpoint, secret = await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        await paid_payment(api, await customer_with(api))
        await deliver(api)
        (row,) = await deliveries(api)
        assert row["status"] == "PENDING" and row["responseCode"] == 500
        assert (await endpoints(api))[0]["failingSince"] is not None
        await deliver(api)  # not due yet
        assert len(hooks.received) == 1
        clock.advance(timedelta(seconds=6))  # past the first back-off (under 5 s, jittered)
        await deliver(api)
        assert len(hooks.received) == 2 and hooks.received[1].verifies(secret)
        assert hooks.received[0].id == hooks.received[1].id  # the same message, again
        (row,) = await deliveries(api)
        assert row["status"] == "SUCCEEDED" and row["attempts"] == 2
        assert (await endpoints(api))[0]["failingSince"] is None


async def test_a_receiver_that_hangs_is_retried(api: Api, clock: FrozenClock) -> None:
    with receiver() as hooks:
        hooks.answer = lambda n, _r: "hang" if n == 0 else 200
        await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        await paid_payment(api, await customer_with(api))
        await deliver(api, timeout=0.3)
        (row,) = await deliveries(api)
        assert row["status"] == "PENDING" and row["lastError"].startswith("timed out")
        clock.advance(timedelta(seconds=6))
        await deliver(api, timeout=0.3)
        (row,) = await deliveries(api)
        assert row["status"] == "SUCCEEDED" and len(hooks.received) == 2


async def test_410_gone_disables_the_endpoint(api: Api, clock: FrozenClock) -> None:
    with receiver() as hooks, receiver() as watcher:
        hooks.answer = lambda _n, _r: 410
        await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        _other, other_secret = await create_endpoint(
            api, watcher.url, ["WEBHOOK_ENDPOINT_DISABLED"]
        )
        customer = await customer_with(api)
        await paid_payment(api, customer)
        await deliver(api)
        gone = next(e for e in await endpoints(api) if e["url"] == hooks.url)
        assert not gone["enabled"] and gone["disabledReason"] == "GONE"
        assert [edge["node"]["status"] for edge in gone["deliveries"]["edges"]] == ["FAILED"]
        # nothing more is sent to it: not the failed delivery, not a new payment
        await paid_payment(api, customer)
        clock.advance(timedelta(days=1))
        await deliver(api)
        assert len(hooks.received) == 1
        # the other endpoint hears of it: webhook_endpoint.disabled
        assert [r.event["type"] for r in watcher.received] == ["webhook_endpoint.disabled"]
        assert watcher.received[0].verifies(other_secret)
        assert watcher.received[0].event["data"]["id"] == gone["id"]
        metrics = api.app.state.observability.metrics
        assert metrics.webhook_endpoints_disabled.labels("gone")._value.get() == 1
        # and /metrics reads it from the database, whichever process delivered
        scraped = (await api.http.get("/metrics")).text
        assert 'paygate_webhook_endpoints_disabled_now{reason="gone"} 1.0' in scraped
        assert "paygate_webhook_deliveries_pending 0.0" in scraped


async def test_a_redirect_is_not_followed(api: Api) -> None:
    with receiver() as hooks:
        hooks.answer = lambda _n, _r: 302
        await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        await paid_payment(api, await customer_with(api))
        await deliver(api)
        assert len(hooks.received) == 1  # the Location was not requested
        (row,) = await deliveries(api)
        assert row["status"] == "PENDING" and row["responseCode"] == 302


async def test_an_objects_events_arrive_in_log_order(api: Api, clock: FrozenClock) -> None:
    with receiver() as hooks:
        # the first event of the payment fails once: the later one waits for it
        hooks.answer = lambda n, _r: 500 if n == 0 else 200
        await create_endpoint(api, hooks.url, PAYMENTS)
        payment = await paid_payment(api, await customer_with(api))
        await refund(api, payment, "5.00")
        await deliver(api)
        assert [r.event["type"] for r in hooks.received] == ["payment.succeeded"]
        clock.advance(timedelta(seconds=6))
        await deliver(api)
        types = [r.event["type"] for r in hooks.received]
        assert types == ["payment.succeeded", "payment.succeeded", "payment.refunded"]
        sequences = [int(r.event["sequence"]) for r in hooks.received[1:]]
        assert sequences == sorted(sequences)


async def test_three_days_of_failures_disable_the_endpoint(api: Api, clock: FrozenClock) -> None:
    with receiver() as hooks:
        hooks.answer = lambda _n, _r: 503
        await create_endpoint(api, hooks.url, ["PAYMENT_SUCCEEDED"])
        await paid_payment(api, await customer_with(api))
        attempts = 0
        while (await endpoints(api))[0]["enabled"]:
            await deliver(api)
            attempts += 1
            assert attempts < 200
            clock.advance(timedelta(hours=1))  # the back-off's cap
        (endpoint,) = await endpoints(api)
        assert endpoint["disabledReason"] == "FAILING"
        assert 72 <= attempts <= 75
        (row,) = await deliveries(api)
        assert row["status"] == "FAILED"
