"""Idempotency keys with Stripe's semantics: replay, reuse refused, concurrent duplicates."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.domain.clock import FrozenClock
from app.services import idempotency
from tests.conftest import Api
from tests.factories import CREATE_PAYMENT, GET_PAYMENT, REFUND, customer_with, key, pay, refund


def count_calls(monkeypatch: pytest.MonkeyPatch, api: Api, method: str) -> list[Any]:
    """Record the sandbox PSP's calls of ``method`` (the PSP, not our database)."""
    sandbox = api.runtime.psps.sandbox
    calls: list[Any] = []
    original = getattr(sandbox, method)

    async def counted(request: Any) -> Any:
        calls.append(request)
        return await original(request)

    monkeypatch.setattr(sandbox, method, counted)
    return calls


async def rows(api: Api, table: str) -> int:
    async with api.engine.connect() as connection:
        return int(await connection.scalar(sa.text(f"SELECT count(*) FROM {table}")))


async def test_same_key_same_input_replays_without_charging_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await customer_with(api)
    calls = count_calls(monkeypatch, api, "create_payment")
    same = key()
    first = await pay(api, customer, "12.00", idempotencyKey=same)
    again = await pay(api, customer, "12.00", idempotencyKey=same)
    assert again["payment"]["id"] == first["payment"]["id"]
    assert again["userErrors"] == first["userErrors"] == []
    assert len(calls) == 1
    assert await rows(api, "payments") == 1


async def test_same_key_other_input_is_refused_and_changes_nothing(api: Api) -> None:
    customer = await customer_with(api)
    same = key()
    await pay(api, customer, "12.00", idempotencyKey=same)
    other = await pay(api, customer, "12.01", idempotencyKey=same)
    assert other["payment"] is None
    assert [(e["field"], e["code"]) for e in other["userErrors"]] == [
        (["input", "idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")
    ]
    assert await rows(api, "payments") == 1


async def test_a_declined_result_is_replayed_too(api: Api) -> None:
    customer = await customer_with(api, "tok_chargeDeclined")
    same = key()
    first = await pay(api, customer, idempotencyKey=same)
    again = await pay(api, customer, idempotencyKey=same)
    assert again["payment"]["id"] == first["payment"]["id"]
    assert [e["code"] for e in again["userErrors"]] == ["PAYMENT_DECLINED"]


async def test_refused_inputs_do_not_burn_the_key(api: Api) -> None:
    customer = await customer_with(api)
    paid = (await pay(api, customer, "5.00"))["payment"]
    same = key()
    too_much = await refund(api, paid["id"], "6.00", idempotency_key=same)
    assert [e["code"] for e in too_much["userErrors"]] == ["REFUND_EXCEEDS_CAPTURED"]
    fine = await refund(api, paid["id"], "1.00", idempotency_key=same)
    assert fine["refund"]["status"] == "SUCCEEDED"


@pytest.mark.both_databases
async def test_fifty_concurrent_duplicate_refunds_make_one_refund(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await customer_with(api)
    paid = (await pay(api, customer, "100.00"))["payment"]
    calls = count_calls(monkeypatch, api, "refund")
    variables = {
        "input": {
            "idempotencyKey": key(),
            "paymentId": paid["id"],
            "amount": {"amount": "25.00", "currency": "USD"},
        }
    }
    answers = await asyncio.gather(*(api.data(REFUND, variables) for _ in range(50)))
    refunds = {a["createRefund"]["refund"]["id"] for a in answers}
    assert len(refunds) == 1  # all 50 answers carry the same refund
    assert all(a["createRefund"]["userErrors"] == [] for a in answers)
    assert len(calls) == 1  # one PSP refund call
    assert await rows(api, "refunds") == 1


@pytest.mark.both_databases
async def test_racing_partial_refunds_never_over_refund(api: Api) -> None:
    customer = await customer_with(api)
    for _ in range(5):
        paid = (await pay(api, customer, "10.00"))["payment"]
        first, second = await asyncio.gather(
            refund(api, paid["id"], "6.00"), refund(api, paid["id"], "6.00")
        )
        outcomes = sorted(
            [first["userErrors"][0]["code"] if first["userErrors"] else "OK",
             second["userErrors"][0]["code"] if second["userErrors"] else "OK"]
        )  # fmt: skip
        assert outcomes == ["OK", "REFUND_EXCEEDS_CAPTURED"]
    async with api.engine.connect() as connection:
        over = await connection.scalar(
            sa.text(
                "SELECT count(*) FROM payments p WHERE (SELECT coalesce(sum(amount_minor), 0) "
                "FROM refunds r WHERE r.payment_id = p.id AND r.status <> 'failed') "
                "> p.amount_received_minor"
            )
        )
    assert over == 0


@pytest.mark.both_databases
async def test_four_racing_refunds_after_a_partial_one(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100.00 charged, 10.00 refunded, then four refunds of 60.00 at once: one passes, the
    other three are refused before any PSP call, and ``amountRefunded`` is what succeeded
    (on SQLite the three once reached the PSP and ``amountRefunded`` stayed at 10.00)."""
    customer = await customer_with(api)
    paid = (await pay(api, customer, "100.00"))["payment"]
    assert (await refund(api, paid["id"], "10.00"))["refund"]["status"] == "SUCCEEDED"
    calls = count_calls(monkeypatch, api, "refund")
    answers = await asyncio.gather(*(refund(api, paid["id"], "60.00") for _ in range(4)))
    codes = sorted(a["userErrors"][0]["code"] if a["userErrors"] else "OK" for a in answers)
    assert codes == ["OK"] + ["REFUND_EXCEEDS_CAPTURED"] * 3
    assert len(calls) == 1
    payment = (await api.data(GET_PAYMENT, {"id": paid["id"]}))["payment"]
    assert payment["amountRefunded"]["amount"] == "70.00"
    assert sorted(r["amount"]["amount"] for r in payment["refunds"]) == ["10.00", "60.00"]
    assert {r["status"] for r in payment["refunds"]} == {"SUCCEEDED"}


async def test_keys_are_scoped_per_caller(api: Api) -> None:
    customer = await customer_with(api)
    same = key()
    await pay(api, customer, "1.00", idempotencyKey=same)
    api.app.state.runtime  # noqa: B018 - the scope comes from the request's principal
    async with api.runtime.sessions() as session:
        claimed = await idempotency.claim(
            session,
            clock=api.runtime.clock,
            principal="someone-else",
            key=same,
            operation="createPayment",
            arguments={"other": True},
        )
    assert claimed.owned  # another caller's identical key is a different key


async def test_a_crashed_request_is_resumed_without_a_second_charge(
    api: Api, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await customer_with(api)
    calls = count_calls(monkeypatch, api, "create_payment")
    sandbox = api.runtime.psps.sandbox
    original = sandbox.create_payment

    async def crash_after_charging(request: Any) -> Any:
        await original(request)
        raise RuntimeError("the process died after the PSP charged")

    monkeypatch.setattr(sandbox, "create_payment", crash_after_charging)
    same = key()
    variables = {
        "input": {
            "idempotencyKey": same,
            "customerId": customer,
            "amount": {"amount": "9.00", "currency": "USD"},
        }
    }
    crashed = await api.graphql(CREATE_PAYMENT, variables)
    assert crashed["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"

    in_progress = (await api.data(CREATE_PAYMENT, variables))["createPayment"]
    assert [e["code"] for e in in_progress["userErrors"]] == ["IDEMPOTENCY_KEY_IN_PROGRESS"]

    monkeypatch.setattr(sandbox, "create_payment", original)
    clock.advance(idempotency.STALE_LOCK + timedelta(seconds=1))
    resumed = (await api.data(CREATE_PAYMENT, variables))["createPayment"]
    assert resumed["payment"]["status"] == "SUCCEEDED"
    assert await rows(api, "payments") == 1
    # The retry reached the PSP with the same key: the sandbox answered the first charge.
    assert len({c.idempotency_key for c in calls}) == 1
    assert len(sandbox._payments) == 1
