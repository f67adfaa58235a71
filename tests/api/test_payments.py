"""Payments through GraphQL on the sandbox: charges, declines, 3DS, captures, refunds."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.conftest import Api
from tests.factories import CANCEL, CAPTURE, CONFIRM, customer_with, get_payment, key, pay, refund


async def test_charge_tok_visa(api: Api) -> None:
    customer = await customer_with(api)
    result = await pay(api, customer, "19.99", description="Order 42")
    assert result["userErrors"] == []
    payment = result["payment"]
    assert payment["status"] == "SUCCEEDED"
    assert payment["amountReceived"] == {"amount": "19.99"}
    assert payment["amountCapturable"] == {"amount": "0.00"}
    assert payment["outcomeUnknown"] is False
    assert payment["pspReference"].startswith("sbxpay_")
    assert [(e["type"], e["amount"]) for e in payment["events"]] == [
        ("payment.created", None),
        ("payment.succeeded", None),
        ("payment.captured", {"amount": "19.99"}),
    ]


async def test_a_decline_is_a_failed_payment_and_a_user_error(api: Api) -> None:
    customer = await customer_with(api, "tok_insufficientFunds")
    result = await pay(api, customer)
    assert result["payment"]["status"] == "FAILED"
    assert result["payment"]["decline"] == {
        "code": "INSUFFICIENT_FUNDS",
        "message": "Your card has insufficient funds.",
        "retryAdvice": "RETRY_LATER",
        "providerCode": "insufficient_funds",
    }
    assert [e["code"] for e in result["userErrors"]] == ["PAYMENT_DECLINED"]


async def test_three_d_secure_to_success(api: Api) -> None:
    customer = await customer_with(api, "tok_threeDSecureRequired")
    pending = (await pay(api, customer, returnUrl="https://shop.example/done"))["payment"]
    assert pending["status"] == "REQUIRES_ACTION"
    url = pending["nextAction"]["redirectUrl"]
    assert url.endswith(f"/sandbox/actions/{pending['pspReference']}")

    path = urlsplit(url).path
    page = await api.http.get(path)
    assert page.status_code == 200 and "Complete authentication" in page.text
    answered = await api.http.post(path, data={"outcome": "succeed"})
    assert answered.status_code == 303
    assert answered.headers["location"] == "https://shop.example/done"

    confirmed = (
        await api.data(CONFIRM, {"input": {"idempotencyKey": key(), "paymentId": pending["id"]}})
    )["confirmPayment"]
    assert confirmed["userErrors"] == []
    assert confirmed["payment"]["status"] == "SUCCEEDED"
    assert confirmed["payment"]["nextAction"] is None
    sources = {(e["type"], e["source"]) for e in confirmed["payment"]["events"]}
    assert ("payment.succeeded", "webhook") in sources  # the sandbox's webhook came first


async def test_failed_authentication(api: Api) -> None:
    customer = await customer_with(api, "tok_threeDSecureRequired")
    pending = (await pay(api, customer))["payment"]
    await api.http.post(
        urlsplit(pending["nextAction"]["redirectUrl"]).path, data={"outcome": "fail"}
    )
    payment = await get_payment(api, pending["id"])
    assert payment["status"] == "FAILED"
    assert payment["decline"]["code"] == "AUTHENTICATION_FAILED"
    off_session = (await pay(api, customer, offSession=True))["payment"]
    assert off_session["decline"]["code"] == "AUTHENTICATION_REQUIRED"
    assert off_session["decline"]["retryAdvice"] == "CUSTOMER_ACTION_REQUIRED"


async def test_manual_capture_in_part_then_nothing_more(api: Api) -> None:
    customer = await customer_with(api)
    authorised = (await pay(api, customer, "50.00", captureMethod="MANUAL"))["payment"]
    assert authorised["status"] == "REQUIRES_CAPTURE"
    assert authorised["amountCapturable"] == {"amount": "50.00"}

    too_much = (
        await api.data(
            CAPTURE,
            {"input": {"idempotencyKey": key(), "paymentId": authorised["id"],
                       "amount": {"amount": "50.01", "currency": "USD"}}},
        )
    )["capturePayment"]  # fmt: skip
    assert [e["code"] for e in too_much["userErrors"]] == ["AMOUNT_EXCEEDS_CAPTURABLE"]

    captured = (
        await api.data(
            CAPTURE,
            {"input": {"idempotencyKey": key(), "paymentId": authorised["id"],
                       "amount": {"amount": "30.00", "currency": "USD"}}},
        )
    )["capturePayment"]  # fmt: skip
    assert captured["userErrors"] == []
    assert captured["payment"]["status"] == "SUCCEEDED"
    assert captured["payment"]["amountReceived"] == {"amount": "30.00"}
    again = (
        await api.data(CAPTURE, {"input": {"idempotencyKey": key(), "paymentId": authorised["id"]}})
    )["capturePayment"]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]


async def test_cancel_an_authorisation(api: Api) -> None:
    customer = await customer_with(api)
    authorised = (await pay(api, customer, captureMethod="MANUAL"))["payment"]
    canceled = (
        await api.data(CANCEL, {"input": {"idempotencyKey": key(), "paymentId": authorised["id"]}})
    )["cancelPayment"]
    assert canceled["payment"]["status"] == "CANCELED"
    assert canceled["payment"]["amountReceived"] == {"amount": "0.00"}
    paid = (await pay(api, customer))["payment"]
    refused = (
        await api.data(CANCEL, {"input": {"idempotencyKey": key(), "paymentId": paid["id"]}})
    )["cancelPayment"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_STATE"]


async def test_partial_refunds_twice_then_no_more(api: Api) -> None:
    customer = await customer_with(api)
    paid = (await pay(api, customer, "10.00"))["payment"]
    first = await refund(api, paid["id"], "3.00")
    second = await refund(api, paid["id"], "4.50")
    assert [r["refund"]["status"] for r in (first, second)] == ["SUCCEEDED", "SUCCEEDED"]
    assert second["payment"]["amountRefunded"] == {"amount": "7.50"}
    over = await refund(api, paid["id"], "2.51")
    assert [e["code"] for e in over["userErrors"]] == ["REFUND_EXCEEDS_CAPTURED"]
    assert "2.50 USD" in over["userErrors"][0]["message"]
    rest = await refund(api, paid["id"])  # the rest, when no amount is given
    assert rest["refund"]["amount"] == {"amount": "2.50"}
    payment = await get_payment(api, paid["id"])
    assert [r["amount"]["amount"] for r in payment["refunds"]] == ["3.00", "4.50", "2.50"]
    assert payment["amountRefunded"] == {"amount": "10.00"}


async def test_bad_payment_inputs_change_nothing(api: Api) -> None:
    customer = await customer_with(api)
    nobody = await api.data("mutation { createCustomer(input: {}) { customer { id } } }")
    cases = [
        ({"amount": "0"}, "INVALID_AMOUNT"),
        ({"amount": "1.001"}, "AMOUNT_TOO_PRECISE"),
        ({"amount": "99999999999999999999"}, "AMOUNT_OUT_OF_RANGE"),
        ({"currency": "ZZZ"}, "UNKNOWN_CURRENCY"),
        ({"customerId": "nope"}, "INVALID_ID"),
        ({"customerId": nobody["createCustomer"]["customer"]["id"]}, "PAYMENT_METHOD_REQUIRED"),
        ({"returnUrl": "ftp://x"}, "INVALID_URL"),
        ({"idempotencyKey": ""}, "INVALID"),
        ({"idempotencyKey": "k" * 256}, "INVALID"),
    ]
    for fields, code in cases:
        result = await pay(api, fields.pop("customerId", customer), **fields)  # type: ignore[arg-type]
        assert result["payment"] is None
        assert [e["code"] for e in result["userErrors"]] == [code], (fields, result)
    count = await api.data(
        "{ customers(first: 100) { edges { node { payments { totalCount } } } } }"
    )
    assert sum(e["node"]["payments"]["totalCount"] for e in count["customers"]["edges"]) == 0


async def test_payment_events_are_append_only_in_the_database(api: Api) -> None:
    customer = await customer_with(api)
    await pay(api, customer)
    engine = api.engine
    for statement in ("UPDATE payment_events SET type = 'x'", "DELETE FROM payment_events"):
        async with engine.connect() as connection:
            try:
                await connection.execute(sa.text(statement))
            except DBAPIError as error:
                assert "append-only" in str(error)
            else:
                raise AssertionError(f"{statement} was allowed")
    async with engine.connect() as connection:
        count = await connection.scalar(sa.text("SELECT count(*) FROM payment_events"))
    assert count == 3


async def test_customer_payments_connection(api: Api) -> None:
    customer = await customer_with(api)
    ids = [(await pay(api, customer, f"{n}.00"))["payment"]["id"] for n in range(1, 6)]
    declined_customer = await customer_with(api, "tok_chargeDeclined")
    await pay(api, declined_customer)
    page = await api.data(
        "query($c: ID!) { customer(id: $c) { payments(first: 2) { totalCount "
        "pageInfo { hasNextPage endCursor } edges { node { id } } } } }",
        {"c": customer},
    )
    payments = page["customer"]["payments"]
    assert payments["totalCount"] == 5
    assert [e["node"]["id"] for e in payments["edges"]] == [ids[4], ids[3]]
    failed = await api.data(
        "query($c: ID!) { customer(id: $c) { payments(filter: {status: [FAILED]}) "
        "{ totalCount } } }",
        {"c": declined_customer},
    )
    assert failed["customer"]["payments"]["totalCount"] == 1


async def test_nested_payments_cost_the_same_for_2_and_20_customers(api: Api) -> None:
    for _ in range(20):
        customer = await customer_with(api)
        for _ in range(2):
            paid = (await pay(api, customer))["payment"]
            await refund(api, paid["id"], "1.00")
    query = """query($n: Int!) { customers(first: $n) { edges { node {
      payments(first: 5) { totalCount edges { node { id refunds { id } events { type } } } }
    } } } }"""

    async def statements(n: int) -> int:
        api.sql.clear()
        data = await api.data(query, {"n": n})
        assert all(len(e["node"]["payments"]["edges"]) == 2 for e in data["customers"]["edges"])
        return api.sql.count

    assert await statements(2) == await statements(20) == 5
