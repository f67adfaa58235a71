"""Saved payment methods through GraphQL on the sandbox PSP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Api
from tests.factories import new_customer

CUSTOMER_FIELDS = """
  id
  paymentMethods { id psp type brand last4 expMonth expYear isDefault isDetached }
  defaultPaymentMethod { id last4 }
"""
START = """
mutation($input: StartPaymentMethodSetupInput!) {
  startPaymentMethodSetup(input: $input) {
    setup { psp kind reference token clientSecret approvalUrl }
    userErrors { field code message }
  }
}
"""
ATTACH = """
mutation($input: AttachPaymentMethodInput!) {
  attachPaymentMethod(input: $input) {
    paymentMethod { id psp type brand last4 expMonth expYear isDefault }
    userErrors { field code message }
  }
}
"""
DETACH = """
mutation($input: CustomerPaymentMethodInput!) {
  detachPaymentMethod(input: $input) {
    paymentMethod { id isDetached isDefault }
    userErrors { field code message }
  }
}
"""
SET_DEFAULT = """
mutation($input: CustomerPaymentMethodInput!) {
  setDefaultPaymentMethod(input: $input) {
    paymentMethod { id isDefault }
    userErrors { field code message }
  }
}
"""


async def attach(api: Api, customer: str, token: str, **extra: Any) -> dict[str, Any]:
    data = await api.data(ATTACH, {"input": {"customerId": customer, "token": token, **extra}})
    payload: dict[str, Any] = data["attachPaymentMethod"]
    return payload


async def customer_view(api: Api, customer: str) -> dict[str, Any]:
    query = f"query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"
    view: dict[str, Any] = (await api.data(query, {"id": customer}))["customer"]
    return view


async def test_newcomer_flow_setup_attach_default(api: Api) -> None:
    customer = await new_customer(api, name="P")
    setup = (await api.data(START, {"input": {"customerId": customer}}))["startPaymentMethodSetup"]
    assert setup["userErrors"] == []
    assert setup["setup"]["psp"] == "SANDBOX"
    assert setup["setup"]["kind"] == "TOKEN"
    assert setup["setup"]["token"] == "tok_visa"

    visa = await attach(api, customer, setup["setup"]["token"])
    assert visa["userErrors"] == []
    method = visa["paymentMethod"]
    assert (method["brand"], method["last4"], method["type"]) == ("visa", "4242", "card")
    assert method["isDefault"] is True  # the first method is the default

    mastercard = (await attach(api, customer, "tok_mastercard"))["paymentMethod"]
    assert mastercard["isDefault"] is False
    changed = (
        await api.data(
            SET_DEFAULT,
            {"input": {"customerId": customer, "paymentMethodId": mastercard["id"]}},
        )
    )["setDefaultPaymentMethod"]
    assert changed["userErrors"] == []
    view = await customer_view(api, customer)
    assert view["defaultPaymentMethod"] == {"id": mastercard["id"], "last4": "4444"}
    assert [(m["last4"], m["isDefault"]) for m in view["paymentMethods"]] == [
        ("4242", False),
        ("4444", True),
    ]


@pytest.mark.both_databases
async def test_attaching_the_same_token_twice_is_one_method(api: Api) -> None:
    customer = await new_customer(api, name="P")
    first = (await attach(api, customer, "tok_visa"))["paymentMethod"]
    again = await asyncio.gather(*(attach(api, customer, "tok_visa") for _ in range(5)))
    assert {a["paymentMethod"]["id"] for a in again} == {first["id"]}
    assert len((await customer_view(api, customer))["paymentMethods"]) == 1


async def test_detach_keeps_history_and_hides_the_method(api: Api) -> None:
    customer = await new_customer(api, name="P")
    method = (await attach(api, customer, "tok_visa"))["paymentMethod"]
    detached = (
        await api.data(DETACH, {"input": {"customerId": customer, "paymentMethodId": method["id"]}})
    )["detachPaymentMethod"]
    assert detached["userErrors"] == []
    assert detached["paymentMethod"] == {"id": method["id"], "isDetached": True, "isDefault": False}
    view = await customer_view(api, customer)
    assert view["paymentMethods"] == []
    assert view["defaultPaymentMethod"] is None
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on PaymentMethod { isDetached last4 } } }",
        {"id": method["id"]},
    )
    assert node["node"] == {"isDetached": True, "last4": "4242"}
    refused = (
        await api.data(
            SET_DEFAULT, {"input": {"customerId": customer, "paymentMethodId": method["id"]}}
        )
    )["setDefaultPaymentMethod"]
    assert [e["code"] for e in refused["userErrors"]] == ["PAYMENT_METHOD_DETACHED"]


async def test_another_customers_method_is_not_found(api: Api) -> None:
    owner, intruder = await new_customer(api, name="P"), await new_customer(api, name="P")
    method = (await attach(api, owner, "tok_visa"))["paymentMethod"]
    for mutation, name in (
        (DETACH, "detachPaymentMethod"),
        (SET_DEFAULT, "setDefaultPaymentMethod"),
    ):
        payload = (
            await api.data(
                mutation, {"input": {"customerId": intruder, "paymentMethodId": method["id"]}}
            )
        )[name]
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", "paymentMethodId"], "NOT_FOUND")
        ]
    view = await customer_view(api, owner)
    assert view["paymentMethods"][0]["isDetached"] is False


async def test_refusals_write_nothing(api: Api) -> None:
    customer = await new_customer(api, name="P")
    cases = [
        ({"token": "pm_card_visa"}, "PSP_REJECTED"),  # a Stripe token, not the sandbox's
        ({"token": "tok_unavailable"}, "PSP_UNAVAILABLE"),  # the PSP is down
        ({"token": "tok_visa", "psp": "STRIPE"}, "PSP_NOT_ENABLED"),
        ({"token": "has spaces"}, "INVALID"),
        ({"token": "tok_visa", "customerId": "bad"}, "INVALID_ID"),
    ]
    for fields, code in cases:
        payload = await attach(api, customer, **{"token": fields.pop("token")}, **fields)  # type: ignore[arg-type]
        assert payload["paymentMethod"] is None
        assert [e["code"] for e in payload["userErrors"]] == [code], payload
    assert (await customer_view(api, customer))["paymentMethods"] == []
    unknown_psp = await api.graphql(
        ATTACH, {"input": {"customerId": customer, "token": "tok_visa", "psp": "ADYEN"}}
    )
    assert "ADYEN" in unknown_psp["errors"][0]["message"]


async def test_unavailable_psp_error_says_retry(api: Api) -> None:
    customer = await new_customer(api, name="P")
    payload = await attach(api, customer, "tok_unavailable")
    assert "Retry" in payload["userErrors"][0]["message"]


async def test_setup_validates_urls(api: Api) -> None:
    customer = await new_customer(api, name="P")
    payload = (
        await api.data(
            START, {"input": {"customerId": customer, "returnUrl": "javascript:alert(1)"}}
        )
    )["startPaymentMethodSetup"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "returnUrl"], "INVALID_URL")
    ]


async def test_payment_methods_of_many_customers_load_in_one_statement(api: Api) -> None:
    for _ in range(6):
        customer = await new_customer(api, name="P")
        await attach(api, customer, "tok_visa")
        await attach(api, customer, "tok_mastercard")
    api.sql.clear()
    data = await api.data(
        f"{{ customers(first: 6) {{ edges {{ node {{ {CUSTOMER_FIELDS} }} }} }} }}"
    )
    assert all(len(e["node"]["paymentMethods"]) == 2 for e in data["customers"]["edges"])
    assert api.sql.count == 2, api.sql.statements  # the page, one batch of methods
