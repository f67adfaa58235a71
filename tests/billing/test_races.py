"""Billing under races, on PostgreSQL and on SQLite (the embedded default): one key makes
one subscription, and a coupon is never redeemed beyond its maximum."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Api
from tests.factories import SUBSCRIPTION_FIELDS, clock_and_customer, monthly_price

pytestmark = pytest.mark.both_databases

CREATE = (
    "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) "
    f"{{ subscription {{ {SUBSCRIPTION_FIELDS} }} userErrors {{ field code message }} }} }}"
)


async def count(api: Api, sql: str) -> int:
    async with api.engine.connect() as connection:
        return int(await connection.scalar(sa.text(sql)))


async def test_twenty_concurrent_creates_with_one_key_make_one_subscription(api: Api) -> None:
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "12.00")
    variables = {
        "i": {
            "idempotencyKey": str(uuid.uuid4()),
            "customerId": customer,
            "items": [{"priceId": price, "quantity": 1}],
        }
    }
    answers = await asyncio.gather(*(api.data(CREATE, variables) for _ in range(20)))
    created = [a["createSubscription"] for a in answers]
    assert {c["subscription"]["id"] for c in created} == {created[0]["subscription"]["id"]}
    assert all(c["userErrors"] == [] for c in created)
    assert created[0]["subscription"]["status"] == "ACTIVE"
    assert await count(api, "SELECT count(*) FROM subscriptions") == 1
    assert await count(api, "SELECT count(*) FROM invoices") == 1
    assert await count(api, "SELECT count(*) FROM payments") == 1  # one charge


async def test_a_coupon_is_never_redeemed_beyond_its_maximum(api: Api) -> None:
    coupon = await api.data(
        "mutation { createCoupon(input: "
        '{code: "THREE", percentOff: "50", maxRedemptions: 3}) { coupon { id } } }'
    )
    assert coupon["createCoupon"]["coupon"]
    price = await monthly_price(api, "20.00")
    customers = [(await clock_and_customer(api, "tok_visa"))[1] for _ in range(10)]

    async def subscribe(customer: str) -> dict[str, Any]:
        variables = {
            "i": {
                "idempotencyKey": str(uuid.uuid4()),
                "customerId": customer,
                "items": [{"priceId": price, "quantity": 1}],
                "couponCode": "three",
            }
        }
        result: dict[str, Any] = (await api.data(CREATE, variables))["createSubscription"]
        return result

    results = await asyncio.gather(*(subscribe(c) for c in customers))
    won = [r for r in results if r["subscription"] is not None]
    refused = [r for r in results if r["subscription"] is None]
    assert len(won) == 3
    assert {e["code"] for r in refused for e in r["userErrors"]} == {"INVALID_COUPON"}
    assert len(refused) == 7
    for r in won:  # half price on each first invoice
        assert r["subscription"]["invoices"][0]["total"]["amountMinor"] == "1000"
    assert await count(api, "SELECT times_redeemed FROM coupons") == 3
    assert await count(api, "SELECT count(*) FROM subscriptions") == 3
