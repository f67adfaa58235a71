"""Entitlements, pause and resume, and incomplete subscriptions that expire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import FrozenClock
from app.domain.declines import RetryAdvice
from app.services.billing import dunning
from app.services.billing.invoices import Attempt
from tests.conftest import Api
from tests.factories import advance, clock_and_customer, subscribe, subscription

ENTITLEMENTS = """
query($c: ID!) {
  customer(id: $c) { entitlements { feature product { name } subscription { status } } }
}
"""


async def featured_price(api: Api, features: list[str], amount: str = "20.00") -> str:
    product = (
        await api.data(
            'mutation($f: [String!]) { createProduct(input: {name: "Team", features: $f}) '
            "{ product { id features } userErrors { code } } }",
            {"f": features},
        )
    )["createProduct"]["product"]
    assert product["features"] == sorted(set(features))
    price = (
        await api.data(
            "mutation($p: ID!, $a: String!) { createPrice(input: {productId: $p, "
            'unitAmount: {amount: $a, currency: "USD"}, recurring: {interval: MONTH}}) '
            "{ price { id } } }",
            {"p": product["id"], "a": amount},
        )
    )["createPrice"]["price"]["id"]
    return str(price)


async def entitlements(api: Api, customer: str) -> list[str]:
    data = await api.data(ENTITLEMENTS, {"c": customer})
    return [e["feature"] for e in data["customer"]["entitlements"]]


async def test_entitlements_follow_the_subscription(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await featured_price(api, ["exports", "seats:5", "exports"])
    assert await entitlements(api, customer) == []
    sub = (await subscribe(api, customer, price))["subscription"]
    assert await entitlements(api, customer) == ["exports", "seats:5"]
    await api.data(
        "mutation($s: ID!) { cancelSubscription(input: {subscriptionId: $s}) "
        "{ subscription { status } } }",
        {"s": sub["id"]},
    )
    assert await entitlements(api, customer) == []
    bad = await api.data(
        'mutation { createProduct(input: {name: "X", features: ["Has Space"]}) '
        "{ product { id } userErrors { field code } } }"
    )
    assert bad["createProduct"]["userErrors"] == [
        {"field": ["input", "features"], "code": "INVALID"}
    ]
    assert clock


async def test_pause_stops_billing_and_resume_restarts_it(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await featured_price(api, ["pro"], "15.00")
    sub = (await subscribe(api, customer, price))["subscription"]
    action = (
        "mutation($s: ID!, $k: String!) {{ {name}(input: {{subscriptionId: $s, "
        "idempotencyKey: $k}}) {{ subscription {{ status currentPeriodStart }} "
        "userErrors {{ code }} }} }}"
    )
    paused = await api.data(
        action.format(name="pauseSubscription"), {"s": sub["id"], "k": str(uuid.uuid4())}
    )
    assert paused["pauseSubscription"]["subscription"]["status"] == "PAUSED"
    await advance(api, clock, "2026-04-10T00:00:00Z")
    assert len((await subscription(api, sub["id"]))["invoices"]) == 1  # nothing billed
    resumed = await api.data(
        action.format(name="resumeSubscription"), {"s": sub["id"], "k": str(uuid.uuid4())}
    )
    restarted = resumed["resumeSubscription"]["subscription"]
    assert restarted == {"status": "ACTIVE", "currentPeriodStart": "2026-04-10T00:00:00+00:00"}
    invoices = (await subscription(api, sub["id"]))["invoices"]
    assert [i["status"] for i in invoices] == ["PAID", "PAID"]
    again = await api.data(
        action.format(name="resumeSubscription"), {"s": sub["id"], "k": str(uuid.uuid4())}
    )
    assert [e["code"] for e in again["resumeSubscription"]["userErrors"]] == ["INVALID_STATE"]


async def test_a_resume_at_the_instant_the_period_began_bills_nothing_again(api: Api) -> None:
    """Paused and resumed with the test clock not moved: the period's invoice stands (this
    failed on the period's unique invoice before)."""
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await featured_price(api, ["pro"], "15.00")
    sub = (await subscribe(api, customer, price))["subscription"]
    action = (
        "mutation($s: ID!, $k: String!) {{ {name}(input: {{subscriptionId: $s, "
        "idempotencyKey: $k}}) {{ subscription {{ status currentPeriodStart }} "
        "userErrors {{ code }} }} }}"
    )
    for name in ("pauseSubscription", "resumeSubscription"):
        done = await api.data(action.format(name=name), {"s": sub["id"], "k": str(uuid.uuid4())})
        assert done[name]["userErrors"] == [], done
    resumed = done["resumeSubscription"]["subscription"]
    assert resumed == {"status": "ACTIVE", "currentPeriodStart": "2026-01-01T00:00:00+00:00"}
    assert [i["status"] for i in (await subscription(api, sub["id"]))["invoices"]] == ["PAID"]


async def test_incomplete_expires_after_23_hours(api: Api) -> None:
    clock, customer = await clock_and_customer(api, "tok_threeDSecureRequired")
    price = await featured_price(api, ["pro"])
    sub = (await subscribe(api, customer, price))["subscription"]
    assert sub["status"] == "INCOMPLETE"
    assert await entitlements(api, customer) == []  # nothing until it is paid
    await advance(api, clock, "2026-01-01T22:00:00Z")
    assert (await subscription(api, sub["id"]))["status"] == "INCOMPLETE"
    await advance(api, clock, "2026-01-02T00:00:00Z")
    expired = await subscription(api, sub["id"])
    assert expired["status"] == "INCOMPLETE_EXPIRED"
    assert expired["invoices"][0]["status"] == "VOID"


async def test_a_move_the_state_machine_refuses_is_a_user_error(api: Api) -> None:
    """Pausing a canceled subscription (``subscription_states``): INVALID_STATE, nothing changed."""
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await featured_price(api, ["pro"])
    sub = (await subscribe(api, customer, price))["subscription"]
    await api.data(
        "mutation($s: ID!) { cancelSubscription(input: {subscriptionId: $s}) "
        "{ subscription { status } } }",
        {"s": sub["id"]},
    )
    paused = await api.data(
        "mutation($s: ID!, $k: String!) { pauseSubscription(input: {subscriptionId: $s, "
        "idempotencyKey: $k}) { subscription { status } userErrors { field code message } } }",
        {"s": sub["id"], "k": str(uuid.uuid4())},
    )
    assert paused["pauseSubscription"] == {
        "subscription": None,
        "userErrors": [
            {
                "field": ["input", "subscriptionId"],
                "code": "INVALID_STATE",
                "message": "A canceled subscription cannot be paused.",
            }
        ],
    }
    assert (await subscription(api, sub["id"]))["status"] == "CANCELED"


async def test_a_charge_that_settles_after_a_cancel_does_not_revive_the_subscription(
    api: Api,
) -> None:
    """The race of ``dunning.after_attempt``: a renewal's charge was running when the
    subscription was canceled; when the attempt's outcome arrives, even a paid one, the
    subscription stays canceled (the state machine has no move out of CANCELED) and no
    retry is scheduled."""
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await featured_price(api, ["pro"])
    sub = (await subscribe(api, customer, price))["subscription"]
    canceled = await api.data(
        "mutation($s: ID!) { cancelSubscription(input: {subscriptionId: $s}) "
        "{ subscription { status } } }",
        {"s": sub["id"]},
    )
    assert canceled["cancelSubscription"]["subscription"]["status"] == "CANCELED"
    async with api.engine.connect() as connection:
        subscription_id, invoice_id = (
            await connection.execute(sa.text("SELECT subscription_id, id FROM invoices"))
        ).one()
    for paid, advice in ((True, None), (False, RetryAdvice.RETRY_LATER)):
        attempt = Attempt(invoice_id=invoice_id, payment=None, paid=paid, advice=advice)
        async with AsyncSession(api.engine, expire_on_commit=False) as session:
            await dunning.after_attempt(
                session,
                subscription_id,
                attempt,
                FrozenClock(datetime(2026, 2, 1, tzinfo=UTC)),
                first=True,
            )
        after = await subscription(api, sub["id"])
        assert after["status"] == "CANCELED"
    async with api.engine.connect() as connection:
        assert (await connection.scalar(sa.text("SELECT next_retry_at FROM subscriptions"))) is None
