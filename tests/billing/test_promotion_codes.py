"""Promotion codes: a customer enters one at checkout and its first invoice is discounted;
each reason a code is refused; a discount added to a subscription that exists; the staff's
lists, deactivation and bad input. Races and replays: test_promotion_races.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.domain.clock import FrozenClock
from app.main import create_app
from app.settings import Settings
from tests.billing.promotions import (
    VALIDATE,
    coupon,
    create_code,
    promotion_code,
    scalar,
    validate,
)
from tests.conftest import Api, StatementLog
from tests.events.helpers import all_events, as_the_api_shows
from tests.factories import (
    advance,
    clock_and_customer,
    key,
    monthly_price,
    subscribe,
    subscription,
)
from tests.security.conftest import Secure, secured


def minor(invoice: dict[str, Any], name: str) -> int:
    return int(invoice[name]["amountMinor"])


@pytest.fixture
async def shop(settings: Settings, clock: FrozenClock) -> AsyncIterator[Secure]:
    """A gateway that refuses anonymous callers what the policy does not give them."""
    app = create_app(secured(settings), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        yield Secure(Api(http=http, sql=StatementLog(), app=app))
    await app.state.runtime.dispose()


@pytest.mark.both_databases
async def test_a_customer_enters_a_code_at_checkout_and_sees_the_discounted_first_invoice(
    shop: Secure,
) -> None:
    # Given growth's coupon and its promotion code, and a customer with a card
    growth, admin = await shop.key("growth"), await shop.key("admin")
    made = await shop.data(
        growth,
        'mutation { createCoupon(input: {code: "SPRING-INTERNAL", name: "Spring", '
        'percentOff: "25"}) { coupon { id } } }',
    )
    coupon_id = made["createCoupon"]["coupon"]["id"]
    code = await shop.data(
        growth,
        'mutation($c: ID!) { createPromotionCode(input: {couponId: $c, code: "Spring25", '
        "maxRedemptions: 100, firstTimeOnly: true}) { promotionCode { id code } "
        "userErrors { code } } }",
        {"c": coupon_id},
    )
    assert code["createPromotionCode"]["promotionCode"]["code"] == "SPRING25"
    api = shop.api
    made_product = await shop.data(
        admin, 'mutation { createProduct(input: {name: "Pro"}) { product { id } } }'
    )
    product = made_product["createProduct"]["product"]["id"]
    price = (
        await shop.data(
            admin,
            "mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: "
            '{amount: "40.00", currency: "USD"}, recurring: {interval: MONTH}}) '
            "{ price { id } } }",
            {"p": product},
        )
    )["createPrice"]["price"]["id"]
    made_customer = await shop.data(
        admin, 'mutation { createCustomer(input: {name: "Ada"}) { customer { id } } }'
    )
    customer = made_customer["createCustomer"]["customer"]["id"]
    token = shop.token(customer)
    attached = await shop.data(
        token,
        'mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "tok_visa"}) '
        "{ userErrors { code } } }",
        {"c": customer},
    )
    assert attached["attachPaymentMethod"]["userErrors"] == []

    # When a visitor, then the signed-in customer, checks the code they typed
    for credential in (None, token):
        checked = (
            await shop.data(credential, VALIDATE, {"i": {"code": "spring25", "priceIds": [price]}})
        )["validatePromotionCode"]
        assert checked["valid"] is True and checked["reason"] is None
        assert checked["discount"] == {"amount": "10.00", "amountMinor": "1000", "currency": "USD"}
        assert checked["coupon"]["percentOff"] == "25.00"
    # … and subscribes with it
    created = (await shop.data(
        token,
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { "
        "subscription { status latestInvoice { status subtotal { amount } discount { amount } "
        "total { amount } amountPaid { amount } } } userErrors { field code message } } }",
        {"i": {"idempotencyKey": key(), "customerId": customer, "items": [{"priceId": price}],
               "promotionCode": " spring25 "}},
    ))["createSubscription"]  # fmt: skip

    # Then the first invoice shows the discount, paid
    assert created["userErrors"] == []
    assert created["subscription"]["status"] == "ACTIVE"
    assert created["subscription"]["latestInvoice"] == {
        "status": "PAID",
        "subtotal": {"amount": "40.00"},
        "discount": {"amount": "10.00"},
        "total": {"amount": "30.00"},
        "amountPaid": {"amount": "30.00"},
    }
    listed = await shop.data(
        await shop.key("support"),
        '{ promotionCodes(filter: {code: "spring25"}) { totalCount edges { node { '
        "timesRedeemed coupon { timesRedeemed } } } } }",
    )
    assert listed["promotionCodes"]["totalCount"] == 1
    assert listed["promotionCodes"]["edges"][0]["node"] == {
        "timesRedeemed": 1,
        "coupon": {"timesRedeemed": 1},
    }
    # a first-time code: not again for this customer, who has paid now
    again = (await shop.data(token, VALIDATE, {"i": {"code": "SPRING25", "priceIds": [price]}}))[
        "validatePromotionCode"
    ]
    assert (again["valid"], again["reason"]) == (False, "NOT_FIRST_TIME")
    assert again["discount"]["amountMinor"] == "0" and again["coupon"] is None
    # Customers and visitors neither list codes nor create them
    for credential in (None, token):
        body = await shop.body(credential, "{ promotionCodes { totalCount } }")
        assert body["data"] is None
        body = await shop.body(
            credential,
            'mutation($c: ID!) { createPromotionCode(input: {couponId: $c, code: "MINE"}) '
            "{ promotionCode { id } } }",
            {"c": coupon_id},
        )
        assert body["data"] is None
    assert await scalar(api, "SELECT count(*) FROM promotion_codes") == 1


async def test_each_reason_a_code_is_refused_and_nothing_is_redeemed(api: Api) -> None:
    price = await monthly_price(api, "40.00")
    _, alice = await clock_and_customer(api, "tok_visa")
    _, bob = await clock_and_customer(api, "tok_visa")
    late_clock, late = await clock_and_customer(api, "tok_visa")
    await advance(api, late_clock, "2026-03-01T00:00:00Z")
    quarter = await coupon(api, code="QUARTER", percentOff="25")
    euros = await coupon(api, code="FIVE-EUROS", amountOff={"amount": "5", "currency": "EUR"})
    retired = await coupon(api, code="RETIRED", percentOff="10")
    await promotion_code(api, quarter, "ONE-ONLY", maxRedemptions=1)
    await promotion_code(api, quarter, "UNTIL-FEB", expiresAt="2026-02-01T00:00:00Z")
    await promotion_code(api, quarter, "NEWBIES", firstTimeOnly=True)
    await promotion_code(api, quarter, "BIG-ORDERS", minimumAmount={"amount": "50",
                                                                    "currency": "USD"})  # fmt: skip
    await promotion_code(api, quarter, "FOR-ALICE", customerId=alice)
    await promotion_code(api, euros, "EURO-FIVE")
    await promotion_code(api, retired, "OLD-COUPON")
    stopped = await promotion_code(api, quarter, "STOPPED")
    await api.data(
        "mutation($i: ID!) { deactivatePromotionCode(input: {id: $i}) { userErrors { code } } }",
        {"i": stopped},
    )
    await api.data(
        "mutation($i: ID!) { deactivateCoupon(input: {id: $i}) { coupon { active } } }",
        {"i": retired},
    )
    # alice uses ONE-ONLY up, and has paid: NEWBIES is not for her any more
    used = await subscribe(api, alice, price, promotionCode="one-only")
    assert used["userErrors"] == [] and minor(used["subscription"]["invoices"][0], "total") == 3000
    cases = [
        (bob, "ONE-ONLY", "EXHAUSTED"),
        (late, "UNTIL-FEB", "EXPIRED"),  # the customer's clock is past the expiry
        (alice, "NEWBIES", "NOT_FIRST_TIME"),
        (bob, "BIG-ORDERS", "BELOW_MINIMUM"),
        (bob, "FOR-ALICE", "OTHER_CUSTOMER"),
        (bob, "EURO-FIVE", "CURRENCY_MISMATCH"),
        (bob, "STOPPED", "INACTIVE"),
        (bob, "OLD-COUPON", "INACTIVE"),
        (bob, "NO-SUCH-CODE", "UNKNOWN"),
        (bob, "bad code\u0000", "UNKNOWN"),
    ]
    for customer, code, reason in cases:
        checked = await validate(api, code, [price], customerId=customer)
        assert (checked["valid"], checked["reason"]) == (False, reason), code
        assert checked["discount"]["amountMinor"] == "0" and checked["userErrors"] == []
        refused = await subscribe(api, customer, price, promotionCode=code)
        assert refused["subscription"] is None, code
        assert [e["code"] for e in refused["userErrors"]] == ["INVALID_PROMOTION_CODE"], code
        assert refused["userErrors"][0]["field"] == ["input", "promotionCode"]
    # the same codes apply where their restrictions hold
    for customer, code in ((bob, "UNTIL-FEB"), (bob, "NEWBIES"), (alice, "FOR-ALICE")):
        checked = await validate(api, code, [price], customerId=customer)
        assert (checked["valid"], checked["discount"]["amountMinor"]) == (True, "1000"), code
    big = await validate(api, "BIG-ORDERS", [price, price], customerId=bob)  # 80.00
    assert (big["valid"], big["subtotal"]["amountMinor"]) == (True, "8000")
    assert await scalar(api, "SELECT count(*) FROM subscriptions") == 1
    assert await scalar(api, "SELECT sum(times_redeemed) FROM promotion_codes") == 1
    assert await scalar(api, "SELECT count(*) FROM coupon_redemptions") == 1
    assert await scalar(api, "SELECT times_redeemed FROM coupons WHERE code = 'QUARTER'") == 1


async def test_a_discount_added_to_a_subscription_applies_from_its_next_invoice(
    api: Api,
) -> None:
    # Given two subscriptions paid in full on 1 January
    clock, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "20.00")
    first = (await subscribe(api, customer, price))["subscription"]
    second = (await subscribe(api, customer, price))["subscription"]
    half = await coupon(api, code="HALF-TWO-MONTHS", percentOff="50", duration="REPEATING",
                        durationInMonths=2)  # fmt: skip
    once = await coupon(api, code="FIVE-OFF-ONCE", amountOff={"amount": "5", "currency": "USD"})
    await promotion_code(api, once, "WELCOME-BACK")
    await advance(api, clock, "2026-01-10T00:00:00Z")
    change = (
        "mutation($i: UpdateSubscriptionInput!) { updateSubscription(input: $i) { "
        "subscription { id invoices { total { amountMinor } } } userErrors { field code } } }"
    )
    # When support adds a coupon to one, and a promotion code to the other, mid-period
    for sub, extra in ((first, {"couponCode": "half-two-months"}),
                       (second, {"promotionCode": "welcome-back"})):  # fmt: skip
        changed = (
            await api.data(
                change, {"i": {"idempotencyKey": key(), "subscriptionId": sub["id"], **extra}}
            )
        )["updateSubscription"]
        assert changed["userErrors"] == [], changed
        # nothing is billed now: the paid January invoice stands
        assert [i["total"]["amountMinor"] for i in changed["subscription"]["invoices"]] == ["2000"]
    # Then the renewals show it: two months at half price, then full; 5.00 off once
    await advance(api, clock, "2026-04-15T00:00:00Z")
    totals = [
        [minor(i, "total") for i in (await subscription(api, sub["id"]))["invoices"]]
        for sub in (first, second)
    ]
    assert totals == [[2000, 1000, 1000, 2000], [2000, 1500, 2000, 2000]]
    redeemed = "SELECT times_redeemed FROM coupons WHERE code = 'HALF-TWO-MONTHS'"
    assert await scalar(api, redeemed) == 1
    # the same code twice on one subscription is refused, and changes nothing
    again = (
        await api.data(change, {"i": {"idempotencyKey": key(), "subscriptionId": second["id"],
                                      "promotionCode": "WELCOME-BACK"}})
    )["updateSubscription"]  # fmt: skip
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_PROMOTION_CODE"]
    assert await scalar(api, "SELECT times_redeemed FROM promotion_codes") == 1
    assert half  # (the coupon redeemed by its code)


async def test_an_unpaid_checkout_gives_its_redemption_back_when_it_expires(api: Api) -> None:
    clock, declined = await clock_and_customer(api, "tok_chargeDeclined")
    price = await monthly_price(api, "20.00")
    only = await coupon(api, code="ONE-SHOT", percentOff="10", maxRedemptions=1)
    await promotion_code(api, only, "JUST-ONCE", maxRedemptions=1)
    attempt = await subscribe(api, declined, price, promotionCode="JUST-ONCE")
    assert attempt["subscription"]["status"] == "INCOMPLETE"
    assert await scalar(api, "SELECT times_redeemed FROM promotion_codes") == 1
    # the first invoice is never paid: after 23 hours the subscription expires
    await advance(api, clock, "2026-01-02T00:00:00Z")
    assert (await subscription(api, attempt["subscription"]["id"]))["status"] == (
        "INCOMPLETE_EXPIRED"
    )
    assert await scalar(api, "SELECT times_redeemed FROM promotion_codes") == 0
    assert await scalar(api, "SELECT times_redeemed FROM coupons") == 0
    assert (
        await scalar(api, "SELECT count(*) FROM coupon_redemptions WHERE released_at IS NOT NULL")
        == 1
    )
    _, other = await clock_and_customer(api, "tok_visa")
    paid = await subscribe(api, other, price, promotionCode="JUST-ONCE")
    assert paid["userErrors"] == [] and paid["subscription"]["status"] == "ACTIVE"


async def test_staff_list_and_deactivate_coupons_and_codes(api: Api) -> None:
    ten = await coupon(api, code="TEN", percentOff="10")
    twenty = await coupon(api, code="TWENTY", percentOff="20")
    first = await promotion_code(api, ten, "SAVE-10")
    await promotion_code(api, twenty, "SAVE-20")
    duplicate = await create_code(api, couponId=twenty, code="save-10")
    assert [e["code"] for e in duplicate["userErrors"]] == ["DUPLICATE_CODE"]
    deactivated = await api.data(
        "mutation($i: ID!) { deactivatePromotionCode(input: {id: $i}) "
        "{ promotionCode { active } userErrors { code } } }",
        {"i": first},
    )
    assert deactivated["deactivatePromotionCode"]["promotionCode"] == {"active": False}
    # an inactive code's text may be given to a new one
    reused = await create_code(api, couponId=twenty, code="Save-10")
    assert reused["userErrors"] == [] and reused["promotionCode"]["code"] == "SAVE-10"
    await api.data("mutation($i: ID!) { deactivateCoupon(input: {id: $i}) { coupon { id } } }",
                   {"i": ten})  # fmt: skip
    lists = await api.data(
        "query($c: ID!) { all: coupons { totalCount edges { node { code active } } } "
        "live: coupons(filter: {active: true}) { totalCount } "
        'byCode: coupons(filter: {code: "twenty"}) { edges { node { id } } } '
        "codes: promotionCodes(first: 2) { totalCount pageInfo { hasNextPage } "
        "edges { node { code active } } } "
        'active: promotionCodes(filter: {active: true, code: "save-10"}) { totalCount } '
        "ofTwenty: promotionCodes(filter: {couponId: $c}) { totalCount } }",
        {"c": twenty},
    )
    assert lists["all"]["totalCount"] == 2
    assert [e["node"] for e in lists["all"]["edges"]] == [
        {"code": "TWENTY", "active": True},
        {"code": "TEN", "active": False},
    ]
    assert lists["live"]["totalCount"] == 1
    assert lists["byCode"]["edges"] == [{"node": {"id": twenty}}]
    assert lists["codes"]["totalCount"] == 3 and lists["codes"]["pageInfo"]["hasNextPage"]
    assert [e["node"] for e in lists["codes"]["edges"]] == [
        {"code": "SAVE-10", "active": True},
        {"code": "SAVE-20", "active": True},
    ]
    assert (lists["active"]["totalCount"], lists["ofTwenty"]["totalCount"]) == (1, 2)
    # a deactivated coupon: its code and its promotion codes are no longer redeemed
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "10.00")
    refused = await subscribe(api, customer, price, couponCode="TEN")
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_COUPON"]
    events = await api.data(
        '{ auditEvents(first: 50, filter: {operation: "deactivateCoupon"}) '
        "{ edges { node { outcome targetIds } } } }"
    )
    assert [e["node"] for e in events["auditEvents"]["edges"]] == [
        {"outcome": "ok", "targetIds": [ten]}
    ]


async def test_bad_input_gets_a_clear_error_and_creates_nothing(api: Api) -> None:
    quarter = await coupon(api, code="QUARTER", percentOff="25")
    fixed = await coupon(api, code="FIXED", amountOff={"amount": "5", "currency": "USD"})
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "10.00")
    cases: list[tuple[dict[str, Any], str, list[str]]] = [
        ({"couponId": customer, "code": "OK-CODE"}, "WRONG_ID_TYPE", ["couponId"]),
        ({"couponId": "nope", "code": "OK-CODE"}, "INVALID_ID", ["couponId"]),
        ({"couponId": quarter, "code": "X"}, "INVALID", ["code"]),
        ({"couponId": quarter, "code": "TAB\tCODE"}, "INVALID", ["code"]),
        ({"couponId": quarter, "code": "OK-CODE", "maxRedemptions": 0}, "INVALID",
         ["maxRedemptions"]),
        ({"couponId": quarter, "code": "OK-CODE", "expiresAt": "2025-01-01T00:00:00Z"},
         "INVALID", ["expiresAt"]),
        ({"couponId": quarter, "code": "OK-CODE", "minimumAmount": {"amount": "0",
          "currency": "USD"}}, "INVALID_AMOUNT", ["minimumAmount"]),
        ({"couponId": quarter, "code": "OK-CODE", "minimumAmount": {
          "amount": "99999999999999999999", "currency": "USD"}}, "AMOUNT_OUT_OF_RANGE",
         ["minimumAmount", "amount"]),
        ({"couponId": quarter, "code": "OK-CODE", "minimumAmount": {"amount": "1",
          "currency": "XXX"}}, "UNKNOWN_CURRENCY", ["minimumAmount", "currency"]),
        ({"couponId": fixed, "code": "OK-CODE", "minimumAmount": {"amount": "20",
          "currency": "EUR"}}, "CURRENCY_MISMATCH", ["minimumAmount"]),
        ({"couponId": quarter, "code": "OK-CODE", "customerId": price}, "WRONG_ID_TYPE",
         ["customerId"]),
    ]  # fmt: skip
    for fields, code, field in cases:
        made = await create_code(api, **fields)
        assert made["promotionCode"] is None, fields
        assert (made["userErrors"][0]["code"], made["userErrors"][0]["field"]) == (
            code,
            ["input", *field],
        ), made
    card = await api.graphql(
        "mutation($c: ID!) { createPromotionCode(input: {couponId: $c, "
        'code: "4111111111111111"}) { userErrors { code } } }',
        {"c": quarter},
    )
    assert card["errors"][0]["extensions"]["code"] == "CARD_DATA_NOT_ALLOWED"
    assert await scalar(api, "SELECT count(*) FROM promotion_codes") == 0
    await promotion_code(api, quarter, "GOOD")
    product = (await api.data("query($p: ID!) { price(id: $p) { product { id } } }",
                              {"p": price}))["price"]["product"]["id"]  # fmt: skip
    euro = (
        await api.data(
            'mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: {amount: "9", '
            'currency: "EUR"}, recurring: {interval: MONTH}}) { price { id } } }',
            {"p": product},
        )
    )["createPrice"]["price"]["id"]
    bad_prices = [([], "INVALID"), ([customer], "WRONG_ID_TYPE"),
                  ([price, euro], "CURRENCY_MISMATCH"), ([price] * 21, "INVALID")]  # fmt: skip
    for prices, code in bad_prices:
        checked = await validate(api, "GOOD", prices)
        assert checked["valid"] is None and code in [e["code"] for e in checked["userErrors"]]
    both = await subscribe(api, customer, price, promotionCode="GOOD", couponCode="QUARTER")
    assert [(e["field"], e["code"]) for e in both["userErrors"]] == [
        (["input", "promotionCode"], "INVALID")
    ]
    assert await scalar(api, "SELECT count(*) FROM subscriptions") == 0
    assert await scalar(api, "SELECT sum(times_redeemed) FROM coupons") == 0


async def test_checking_codes_is_rate_limited_as_guessable_input(
    settings: Settings, clock: FrozenClock
) -> None:
    limited = secured(settings, rate_limit_mutations="1000/minute", rate_limit_guessable="3/minute")
    app = create_app(limited, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate.test") as http:
        shop = Secure(Api(http=http, sql=StatementLog(), app=app))
        growth, admin = await shop.key("growth"), await shop.key("admin")
        made = await shop.data(
            growth, 'mutation { createCoupon(input: {code: "TEN", percentOff: "10"}) '
            "{ coupon { id } } }",
        )  # fmt: skip
        coupon_id = made["createCoupon"]["coupon"]["id"]
        # staff creating codes are not guessing: five codes pass the guessable budget of 3
        for n in range(5):
            created = await shop.data(
                growth,
                "mutation($c: ID!, $k: String!) { createPromotionCode(input: "
                "{couponId: $c, code: $k}) { userErrors { code } } }",
                {"c": coupon_id, "k": f"REAL-{n}"},
            )
            assert created["createPromotionCode"]["userErrors"] == []
        product = (
            await shop.data(
                admin, 'mutation { createProduct(input: {name: "P"}) { product { id } } }'
            )
        )["createProduct"]["product"]["id"]
        price = (
            await shop.data(
                admin,
                "mutation($p: ID!) { createPrice(input: {productId: $p, unitAmount: "
                '{amount: "10", currency: "USD"}, recurring: {interval: MONTH}}) '
                "{ price { id } } }",
                {"p": product},
            )
        )["createPrice"]["price"]["id"]

        async def guess(credential: str | None, code: str) -> dict[str, Any]:
            return await shop.body(credential, VALIDATE, {"i": {"code": code, "priceIds": [price]}})

        # a visitor trying codes: three answers, then refused before any lookup
        answers = [await guess(None, f"GUESS-{n}") for n in range(3)]
        assert [a["data"]["validatePromotionCode"]["reason"] for a in answers] == ["UNKNOWN"] * 3
        refused = await guess(None, "REAL-1")
        assert refused["data"] is None
        (error,) = refused["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfterSeconds"] >= 1
        assert "REAL-1" not in str(refused)  # nothing about the code leaks
        # another caller has its own budget
        customer = (
            await shop.data(
                admin, 'mutation { createCustomer(input: {name: "C"}) { customer { id } } }'
            )
        )["createCustomer"]["customer"]["id"]
        token = shop.token(customer)
        found = await guess(token, "real-1")
        assert found["data"]["validatePromotionCode"]["valid"] is True
        audit = await shop.data(
            admin,
            '{ auditEvents(first: 20, filter: {operation: "validatePromotionCode"}) '
            "{ edges { node { actor outcome } } } }",
        )
        outcomes = [e["node"] for e in audit["auditEvents"]["edges"]]
        assert {"actor": "anonymous", "outcome": "rate_limited"} in outcomes
    await app.state.runtime.dispose()


async def test_codes_and_coupons_state_their_events_as_the_api_shows_them(api: Api) -> None:
    ten = await coupon(api, code="TEN", percentOff="10")
    code = await promotion_code(api, ten, "EVENTFUL", maxRedemptions=9,
                                minimumAmount={"amount": "12.5", "currency": "USD"})  # fmt: skip
    _, customer = await clock_and_customer(api, "tok_visa")
    price = await monthly_price(api, "20.00")
    # a redemption changes the counts, and is not an event of the code
    assert (await subscribe(api, customer, price, promotionCode="EVENTFUL"))["userErrors"] == []
    await api.data(
        "mutation($i: ID!) { deactivatePromotionCode(input: {id: $i}) { userErrors { code } } }",
        {"i": code},
    )
    await api.data(
        "mutation($i: ID!) { deactivateCoupon(input: {id: $i}) { userErrors { code } } }",
        {"i": ten},
    )
    types = ["PROMOTION_CODE_CREATED", "PROMOTION_CODE_UPDATED", "COUPON_UPDATED"]
    events = await all_events(api, types=types)
    assert [(e["type"], e["objectId"]) for e in events] == [
        ("PROMOTION_CODE_CREATED", code),
        ("PROMOTION_CODE_UPDATED", code),
        ("COUPON_UPDATED", ten),
    ]
    created, deactivated, retired = events
    assert created["data"]["minimumAmount"]["amountMinor"] == "1250"
    assert created["data"]["timesRedeemed"] == 0
    assert deactivated["previousAttributes"] == {"active": True}
    assert deactivated["data"]["timesRedeemed"] == 1
    assert retired["previousAttributes"]["active"] is True
    for event in (deactivated, retired):  # the last events show the objects as they are
        assert await as_the_api_shows(api, event) == event["data"]
