"""Experiment results through GraphQL: counts, revenue, MRR and intervals per variant,
comparisons with the control equal to the domain statistics on the same counts, a fixed
number of SQL statements whatever the data, CUPED, and guardrails that pause."""

from __future__ import annotations

import uuid
from datetime import timedelta
from itertools import islice
from typing import Any

import pytest
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.domain.experiments.stats import compare_proportions, wilson
from app.models import Invoice, Payment, Subscription
from app.resolvers.common import key_of
from app.schema.node import encode_gid
from app.services.experiments import guardrails
from tests.conftest import Api
from tests.experiments.helpers import (
    RESULTS,
    offer,
    price_test,
    product_with_prices,
    results,
    variant_of_customer,
    visitors,
)
from tests.factories import customer_with, pay, refund, subscribe


async def _visit_and_maybe_subscribe(
    api: Api, product: str, price: str, visitor: str, token: str | None, trial: int | None = None
) -> dict[str, Any] | None:
    """A visitor sees the offer; with a card token they sign up and subscribe to it."""
    shown = await offer(api, product, anon=visitor)
    assert shown is not None and shown["price"]["id"] == price
    if token is None:
        return None
    customer = (
        await api.data(
            "mutation($a: String!) { createCustomer(input: {anonymousId: $a}) "
            "{ customer { id } } }",
            {"a": visitor},
        )
    )["createCustomer"]["customer"]["id"]
    await api.data(
        "mutation($c: ID!, $t: String!) { attachPaymentMethod(input: {customerId: $c, "
        "token: $t}) { userErrors { code } } }",
        {"c": customer, "t": token},
    )
    extra = {} if trial is None else {"trialPeriodDays": trial}
    created = await subscribe(api, customer, price, **extra)
    assert created["userErrors"] == [], created
    return created["subscription"]


async def test_results_per_variant_with_intervals_and_comparisons(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices))["experiment"]
    control_ids = list(islice(visitors(experiment, 0), 8))
    lower_ids = list(islice(visitors(experiment, 1), 8))
    # control: 2 paid of 8; lower: 3 paid of 8 and 1 trial
    for n, visitor in enumerate(control_ids):
        await _visit_and_maybe_subscribe(api, product, prices[0], visitor,
                                         "tok_visa" if n < 2 else None)  # fmt: skip
    for n, visitor in enumerate(lower_ids):
        await _visit_and_maybe_subscribe(
            api, product, prices[1], visitor, "tok_visa" if n < 4 else None,
            trial=14 if n == 3 else None,
        )  # fmt: skip
    found = await results(api, experiment["id"])
    data = found["results"]
    assert data["status"] == "RUNNING" and data["alpha"] == 0.05
    control, lower = data["variants"]
    assert (control["exposedUnits"], control["trialsStarted"], control["paidConversions"]) == (
        8,
        0,
        2,
    )
    assert (lower["exposedUnits"], lower["trialsStarted"], lower["paidConversions"]) == (8, 1, 3)
    assert (control["revenue"], lower["revenue"]) == (
        {"amountMinor": "5800"},
        {"amountMinor": "7200"},
    )
    assert (control["mrr"], lower["mrr"]) == ({"amountMinor": "5800"}, {"amountMinor": "7200"})
    assert (control["activeSubscriptions"], lower["activeSubscriptions"]) == (2, 3)
    assert control["revenuePerExposedUnit"]["value"] == pytest.approx(58.00 / 8)
    assert lower["revenuePerExposedUnit"]["value"] == pytest.approx(72.00 / 8)
    interval = wilson(3, 8, 0.95)
    assert interval is not None
    assert lower["conversionRate"] == {
        "events": 3, "units": 8, "value": 0.375,
        "interval": {"low": pytest.approx(interval.low), "high": pytest.approx(interval.high)},
    }  # fmt: skip
    assert control["conversionVsControl"] is None
    expected = compare_proportions((2, 8), (3, 8), alpha=0.05, mixture_lift=0.10)
    versus = lower["conversionVsControl"]
    assert versus["difference"] == pytest.approx(0.125)
    assert versus["pValue"] == pytest.approx(expected.p_value)
    assert versus["alwaysValidPValue"] == pytest.approx(expected.always_valid_p_value)
    assert versus["relativeLift"] == pytest.approx(0.5)
    assert versus["significant"] is False  # 16 units prove nothing, and it says so
    revenue = lower["revenuePerExposedUnitVsControl"]
    assert revenue["difference"] == pytest.approx((72.00 - 58.00) / 8)
    assert revenue["interval"]["low"] < revenue["difference"] < revenue["interval"]["high"]
    assert data["sampleRatio"]["expectedUnits"] == [8.0, 8.0]
    assert (data["sampleRatio"]["pValue"], data["sampleRatio"]["mismatch"]) == (1.0, False)
    assert data["guardrails"] == [] and data["cuped"] is None


async def test_results_take_the_same_statements_whatever_the_units_and_experiments(
    api: Api,
) -> None:
    """Set-based: the database sums; the number of statements depends on neither the units
    nor the number of experiments listed (a DataLoader batch)."""
    document = (
        "query { experiments(first: 10) { edges { node { key results { "
        "variants { exposedUnits paidConversions conversionRate { value } "
        "revenuePerExposedUnit { value } mrr { amount } conversionVsControl { pValue } } "
        "sampleRatio { pValue } guardrails { breached } } } } } }"
    )
    statements = []
    for key, units in (("first", 2), ("second", 12), ("third", 24)):
        product, prices = await product_with_prices(api, "29.00", "24.00")
        experiment = (await price_test(api, product, prices, key=key))["experiment"]
        for visitor in islice(visitors(experiment, 0, prefix=key), units):
            await offer(api, product, anon=visitor)
        api.sql.clear()
        await api.data(document)
        statements.append(api.sql.count)
    assert statements[0] == statements[1] == statements[2], statements


async def test_cuped_uses_revenue_before_the_first_exposure(api: Api, clock: FrozenClock) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (await price_test(api, product, prices, audience={"newCustomersOnly": False}))[
        "experiment"
    ]
    # Eight customers per variant who spent 0, 0, 25, 25, 50, 50, 75 or 75 before they see
    # the offer; those who spent 50 or more subscribe (prior spend predicts revenue).
    spends: dict[int, list[int]] = {
        0: [0, 0, 25, 25, 50, 50, 75, 75],
        1: [0, 0, 25, 25, 50, 50, 75, 75],
    }
    while spends[0] or spends[1]:
        customer = await customer_with(api)
        arm = variant_of_customer(experiment, customer)
        if not spends[arm]:
            continue
        spent = spends[arm].pop()
        if spent:
            assert (await pay(api, customer, f"{spent}.00"))["payment"]["status"] == "SUCCEEDED"
        clock.advance(timedelta(minutes=5))
        shown = await offer(api, product, customer=customer)
        assert shown is not None and shown["variant"]["name"] == ["control", "lower"][arm]
        if spent >= 50:
            assert (await subscribe(api, customer, shown["price"]["id"]))["userErrors"] == []
    plain = (await results(api, experiment["id"]))["results"]
    adjusted = (await results(api, experiment["id"], cuped=True))["results"]
    assert plain["cuped"] is None
    assert adjusted["cuped"]["theta"] > 0
    assert 0.3 < adjusted["cuped"]["varianceReduction"] < 1
    # the same units and conversions, the same difference in expectation, narrower intervals
    assert [v["paidConversions"] for v in plain["variants"]] == [4, 4]
    assert [v["paidConversions"] for v in adjusted["variants"]] == [4, 4]

    def width(interval: dict[str, float]) -> float:
        return interval["high"] - interval["low"]

    for before, after in zip(plain["variants"], adjusted["variants"], strict=True):
        assert width(after["revenuePerExposedUnit"]["interval"]) < width(
            before["revenuePerExposedUnit"]["interval"]
        )
    before, after = (r["variants"][1]["revenuePerExposedUnitVsControl"] for r in (plain, adjusted))
    assert after["difference"] == pytest.approx(before["difference"])  # equal prior spend
    assert width(after["interval"]) < width(before["interval"])


async def test_a_breached_guardrail_pauses_the_experiment(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (
        await price_test(
            api,
            product,
            prices,
            guardrails={"maxPaymentFailureRate": "20", "maxRefundRate": "50", "minimumPayments": 3},
        )
    )["experiment"]
    lower = list(islice(visitors(experiment, 1), 4))
    # three declined first payments in the lower-price variant
    for visitor in lower[:3]:
        shown = await offer(api, product, anon=visitor)
        assert shown is not None
        customer = (
            await api.data(
                "mutation($a: String!) { createCustomer(input: {anonymousId: $a}) "
                "{ customer { id } } }",
                {"a": visitor},
            )
        )["createCustomer"]["customer"]["id"]
        await api.data(
            "mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, "
            'token: "tok_chargeDeclined"}) { userErrors { code } } }',
            {"c": customer},
        )
        sub = (await subscribe(api, customer, prices[1]))["subscription"]
        assert sub["status"] == "INCOMPLETE"
    found = await results(api, experiment["id"])
    data = found["results"]
    assert data["status"] == "PAUSED"  # the experiment's own fields were read before
    after = await results(api, experiment["id"])
    assert after["status"] == "PAUSED"
    assert after["statusReason"] == (
        "Guardrail: payment failure rate of variant 'lower' is 100.00 % over 3 payments, "
        "above the 20 % threshold."
    )
    breached = [g for g in data["guardrails"] if g["breached"]]
    assert breached == [
        {"metric": "PAYMENT_FAILURE_RATE", "variant": {"name": "lower"}, "rate": 1.0,
         "events": 3, "payments": 3, "threshold": "20.00", "evaluated": True, "breached": True}
    ]  # fmt: skip
    assert data["variants"][1]["paymentFailureRate"] == {"events": 3, "units": 3, "value": 1.0}
    # paused: the next visitor of that variant gets the default offer
    shown = await offer(api, product, anon=lower[3])
    assert shown is not None and shown["experiment"] is None


async def test_refunds_and_disputes_are_watched_by_the_worker_check(api: Api) -> None:
    product, prices = await product_with_prices(api, "29.00", "24.00")
    experiment = (
        await price_test(
            api,
            product,
            prices,
            guardrails={"maxRefundRate": "40", "maxDisputeRate": "40", "minimumPayments": 2},
        )
    )["experiment"]
    for visitor, token in zip(
        islice(visitors(experiment, 0), 3), ("tok_visa", "tok_disputed", "tok_visa"), strict=True
    ):
        sub = await _visit_and_maybe_subscribe(api, product, prices[0], visitor, token)
        assert sub is not None
    # one refund of three payments: 33 % < 40 %; one dispute: 33 % < 40 %
    async with api.runtime.sessions() as session:
        assert await guardrails.check_running(session, clock=api.runtime.clock) == []
    found = await results(api, experiment["id"])
    control = found["results"]["variants"][0]
    assert control["disputeRate"] == {"events": 1, "units": 3, "value": pytest.approx(1 / 3)}
    # two refunds of three: 67 % > 40 %: the worker's check pauses it
    paid = await _invoice_payments(api, experiment["id"])
    for payment in paid[:2]:
        assert (await refund(api, payment))["userErrors"] == []
    async with api.runtime.sessions() as session:
        paused = await guardrails.check_running(session, clock=api.runtime.clock)
    assert len(paused) == 1
    status = await api.data(
        "query($id: ID!) { experiment(id: $id) { status statusReason } }",
        {"id": experiment["id"]},
    )
    assert status["experiment"]["status"] == "PAUSED"
    assert "refund rate of variant 'control'" in status["experiment"]["statusReason"]


async def _invoice_payments(api: Api, experiment: str) -> list[str]:
    """The payments of the experiment's subscriptions, from the database."""
    async with api.runtime.sessions() as session:
        rows = await session.scalars(
            sa.select(Payment.id)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(Subscription.experiment_id == key_of(experiment, "Experiment"))
            .order_by(Payment.id)
        )
        return [encode_gid("Payment", row) for row in rows]


async def test_results_of_an_unknown_experiment_are_null(api: Api) -> None:
    body = await api.data(RESULTS, {"id": encode_gid("Experiment", uuid.UUID(int=7))})
    assert body["experiment"] is None
