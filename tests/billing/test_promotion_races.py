"""Promotion codes under races and replays, on PostgreSQL and on SQLite (the embedded
default): racing checkouts never pass a code's maximum, and a replayed createSubscription
or updateSubscription counts its redemption once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.services import invariants
from tests.billing.promotions import coupon, promotion_code, scalar
from tests.conftest import Api
from tests.factories import SUBSCRIPTION_FIELDS, clock_and_customer, monthly_price

pytestmark = pytest.mark.both_databases

CREATE = (
    "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
    f"{{ subscription {{ {SUBSCRIPTION_FIELDS} }} userErrors {{ field code message }} }} }}"
)
UPDATE = (
    "mutation($i: UpdateSubscriptionInput!) { updateSubscription(input: $i) "
    "{ subscription { id } userErrors { field code message } } }"
)


async def test_racing_checkouts_never_pass_a_codes_maximum(api: Api) -> None:
    # Given a code that three may redeem, of a coupon that eight may
    half = await coupon(api, code="HALF", percentOff="50", maxRedemptions=8)
    await promotion_code(api, half, "THREE-ONLY", maxRedemptions=3)
    price = await monthly_price(api, "20.00")
    customers = [(await clock_and_customer(api, "tok_visa"))[1] for _ in range(10)]

    async def checkout(customer: str) -> dict[str, Any]:
        variables = {
            "i": {
                "idempotencyKey": str(uuid.uuid4()),
                "customerId": customer,
                "items": [{"priceId": price}],
                "promotionCode": "three-only",
            }
        }
        result: dict[str, Any] = (await api.data(CREATE, variables))["createSubscription"]
        return result

    # When ten customers check out with it at once
    results = await asyncio.gather(*(checkout(c) for c in customers))

    # Then three subscribe at half price and seven are refused, with nothing made
    won = [r for r in results if r["subscription"] is not None]
    refused = [r for r in results if r["subscription"] is None]
    assert (len(won), len(refused)) == (3, 7)
    assert {e["code"] for r in refused for e in r["userErrors"]} == {"INVALID_PROMOTION_CODE"}
    assert {e["message"] for r in refused for e in r["userErrors"]} == {
        "This promotion code has been fully redeemed."
    }
    for r in won:
        assert r["subscription"]["invoices"][0]["total"]["amountMinor"] == "1000"
    assert await scalar(api, "SELECT times_redeemed FROM promotion_codes") == 3
    assert await scalar(api, "SELECT count(*) FROM coupon_redemptions") == 3
    assert await scalar(api, "SELECT times_redeemed FROM coupons") == 3
    assert await scalar(api, "SELECT count(*) FROM subscriptions") == 3
    assert await scalar(api, "SELECT count(*) FROM invoices") == 3


async def test_the_coupons_maximum_holds_across_its_codes_and_its_own_code(api: Api) -> None:
    two = await coupon(api, code="TWO-IN-ALL", percentOff="10", maxRedemptions=2)
    await promotion_code(api, two, "FIRST-WAY")
    await promotion_code(api, two, "SECOND-WAY")
    price = await monthly_price(api, "20.00")
    customers = [(await clock_and_customer(api, "tok_visa"))[1] for _ in range(6)]
    discounts = [{"promotionCode": "FIRST-WAY"}, {"promotionCode": "SECOND-WAY"},
                 {"couponCode": "TWO-IN-ALL"}] * 2  # fmt: skip
    results = await asyncio.gather(
        *(
            api.data(CREATE, {"i": {"idempotencyKey": str(uuid.uuid4()), "customerId": c,
                                    "items": [{"priceId": price}], **d}})
            for c, d in zip(customers, discounts, strict=True)
        )
    )  # fmt: skip
    won = [r for r in results if r["createSubscription"]["subscription"] is not None]
    assert len(won) == 2
    assert await scalar(api, "SELECT times_redeemed FROM coupons") == 2
    assert await scalar(api, "SELECT count(*) FROM subscriptions") == 2


async def test_a_replayed_checkout_counts_its_redemption_once(api: Api) -> None:
    quarter = await coupon(api, code="QUARTER", percentOff="25")
    await promotion_code(api, quarter, "REPLAYED", maxRedemptions=5)
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "40.00")
    variables = {
        "i": {
            "idempotencyKey": str(uuid.uuid4()),
            "customerId": customer,
            "items": [{"priceId": price}],
            "promotionCode": "REPLAYED",
        }
    }
    # at once, then again later: one subscription, one redemption
    answers = await asyncio.gather(*(api.data(CREATE, variables) for _ in range(5)))
    answers.append(await api.data(CREATE, variables))
    created = [a["createSubscription"] for a in answers]
    assert all(c["userErrors"] == [] for c in created), created
    assert len({c["subscription"]["id"] for c in created}) == 1
    assert created[0]["subscription"]["invoices"][0]["discount"]["amountMinor"] == "1000"
    assert await scalar(api, "SELECT times_redeemed FROM promotion_codes") == 1
    assert await scalar(api, "SELECT count(*) FROM coupon_redemptions") == 1
    assert await scalar(api, "SELECT times_redeemed FROM coupons") == 1
    assert await scalar(api, "SELECT count(*) FROM payments") == 1
    # the same key with another code is refused, and redeems nothing
    other = {"i": {**variables["i"], "promotionCode": "QUARTER"}}
    reused = (await api.data(CREATE, other))["createSubscription"]
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    # a replayed change that adds a code to a subscription counts it once too
    later = await promotion_code(api, quarter, "LATER", maxRedemptions=5)
    subscription_id = created[0]["subscription"]["id"]
    change = {"i": {"idempotencyKey": str(uuid.uuid4()), "subscriptionId": subscription_id,
                    "promotionCode": "later"}}  # fmt: skip
    changed = await asyncio.gather(*(api.data(UPDATE, change) for _ in range(4)))
    assert all(c["updateSubscription"]["userErrors"] == [] for c in changed), changed
    assert await scalar(api, "SELECT count(*) FROM coupon_redemptions") == 2
    assert await scalar(api, "SELECT times_redeemed FROM coupons") == 2
    assert await scalar(api, "SELECT sum(times_redeemed) FROM promotion_codes") == 2
    assert later


@pytest.mark.breaks_invariants
async def test_a_code_counted_wrongly_is_found_by_verify(api: Api) -> None:
    quarter = await coupon(api, code="QUARTER", percentOff="25")
    await promotion_code(api, quarter, "COUNTED")
    _, customer = await clock_and_customer(api, "tok_visa")
    created = await api.data(
        CREATE,
        {"i": {"idempotencyKey": str(uuid.uuid4()), "customerId": customer,
               "items": [{"priceId": await monthly_price(api)}], "promotionCode": "COUNTED"}},
    )  # fmt: skip
    assert created["createSubscription"]["userErrors"] == []
    async with api.engine.connect() as connection:
        assert await invariants.violations(connection) == []
    async with api.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE promotion_codes SET times_redeemed = 0"))
    async with api.engine.connect() as connection:
        found = await invariants.violations(connection)
    assert [(v.rule, v.detail) for v in found] == [
        ("promotion_code.redemptions", "timesRedeemed 0 (max None), 1 redemptions in the ledger")
    ]
