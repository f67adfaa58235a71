"""Coupons and tax rates on subscription invoices: exact, per line, with refusals."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.factories import advance, monthly_price, subscribe, subscription


async def customer_in(api: Api, country: str) -> tuple[str, str]:
    clock = (
        await api.data(
            'mutation { createTestClock(input: {frozenTime: "2026-01-01T00:00:00Z"}) '
            "{ testClock { id } } }"
        )
    )["createTestClock"]["testClock"]["id"]
    customer = (
        await api.data(
            "mutation($c: ID!, $k: String!) { createCustomer(input: {testClockId: $c, "
            "country: $k}) { customer { id } } }",
            {"c": clock, "k": country},
        )
    )["createCustomer"]["customer"]["id"]
    await api.data(
        'mutation($c: ID!) { attachPaymentMethod(input: {customerId: $c, token: "tok_visa"}) '
        "{ userErrors { code } } }",
        {"c": customer},
    )
    return clock, customer


async def coupon(api: Api, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id code "
            "percentOff amountOff { amount } duration timesRedeemed } "
            "userErrors { field code } } }",
            {"i": fields},
        )
    )["createCoupon"]
    return result


async def tax_rate(api: Api, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { taxRate { id "
            "percentage inclusive country } userErrors { field code } } }",
            {"i": fields},
        )
    )["createTaxRate"]
    return result


def money(invoice: dict[str, Any], name: str) -> int:
    return int(invoice[name]["amountMinor"])


async def test_repeating_percent_coupon_and_exclusive_vat(api: Api) -> None:
    vat = await tax_rate(api, displayName="VAT", percentage="19", inclusive=False, country="DE")
    assert vat["taxRate"]["percentage"] == "19.00"
    made = await coupon(api, code="launch25", percentOff="25", duration="REPEATING",
                        durationInMonths=2)  # fmt: skip
    assert made["coupon"]["code"] == "LAUNCH25"
    clock, customer = await customer_in(api, "DE")
    price = await monthly_price(api, "10.00")
    sub = (await subscribe(api, customer, price, couponCode="launch25"))["subscription"]
    assert sub["status"] == "ACTIVE"
    await advance(api, clock, "2026-03-15T00:00:00Z")
    invoices = (await subscription(api, sub["id"]))["invoices"]
    assert [(money(i, "subtotal"), money(i, "discount"), money(i, "tax"), money(i, "total"))
            for i in invoices] == [
        (1000, 250, 142, 892),  # 7.50 x 19 % = 1.425 -> 1.42 (half to even, per line)
        (1000, 250, 142, 892),
        (1000, 0, 190, 1190),  # the coupon's two months are over
    ]  # fmt: skip
    for invoice in invoices:
        assert money(invoice, "total") == (
            money(invoice, "subtotal") - money(invoice, "discount") + money(invoice, "tax")
        )


async def test_inclusive_tax_is_inside_the_price(api: Api) -> None:
    await tax_rate(api, displayName="MwSt", percentage="19", inclusive=True, country="AT")
    _, customer = await customer_in(api, "AT")
    price = await monthly_price(api, "119.00")
    sub = (await subscribe(api, customer, price))["subscription"]
    [invoice] = sub["invoices"]
    assert (money(invoice, "total"), money(invoice, "tax")) == (11900, 0)
    detail = await api.data(
        "query($s: ID!) { subscription(id: $s) { latestInvoice { taxIncluded { amount } "
        "lines { taxIncluded { amount } } } } }",
        {"s": sub["id"]},
    )
    assert detail["subscription"]["latestInvoice"]["taxIncluded"] == {"amount": "19.00"}


async def test_coupon_refusals_create_nothing(api: Api) -> None:
    await coupon(api, code="ONLYONCE", percentOff="10", maxRedemptions=1)
    await coupon(api, code="OLD", percentOff="10", redeemBy="2025-12-31T00:00:00Z")
    await coupon(api, code="EUROS", amountOff={"amount": "5", "currency": "EUR"})
    _, customer = await customer_in(api, "FR")
    price = await monthly_price(api, "10.00")
    first = await subscribe(api, customer, price, couponCode="onlyonce")
    assert first["userErrors"] == []
    for code in ("ONLYONCE", "OLD", "EUROS", "NOPE"):
        refused = await subscribe(api, customer, price, couponCode=code)
        assert refused["subscription"] is None
        assert [e["code"] for e in refused["userErrors"]] == ["INVALID_COUPON"], code
    subs = await api.data(
        "query($c: ID!) { customer(id: $c) { subscriptions { id } } }", {"c": customer}
    )
    assert len(subs["customer"]["subscriptions"]) == 1


async def test_bad_coupon_and_tax_inputs(api: Api) -> None:
    cases = [
        ({"code": "X", "percentOff": "10"}, "INVALID"),
        ({"code": "HALF", "percentOff": "100.5"}, "INVALID"),
        ({"code": "HALF", "percentOff": "12.345"}, "INVALID"),
        ({"code": "BOTH", "percentOff": "5", "amountOff": {"amount": "1", "currency": "USD"}},
         "INVALID"),
        ({"code": "REP", "percentOff": "5", "duration": "REPEATING"}, "INVALID"),
        ({"code": "FIX", "amountOff": {"amount": "1.001", "currency": "USD"}},
         "AMOUNT_TOO_PRECISE"),
    ]  # fmt: skip
    for fields, code in cases:
        result = await coupon(api, **fields)
        assert result["coupon"] is None
        assert code in [e["code"] for e in result["userErrors"]], fields
    await coupon(api, code="TWICE", percentOff="5")
    assert [e["code"] for e in (await coupon(api, code="twice", percentOff="6"))["userErrors"]] == [
        "DUPLICATE_CODE"
    ]
    bad_rate = await tax_rate(api, displayName="X", percentage="abc", inclusive=False, country="ZZ")
    assert {e["code"] for e in bad_rate["userErrors"]} == {"INVALID", "INVALID_COUNTRY"}
