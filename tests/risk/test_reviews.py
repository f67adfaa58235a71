"""The review queue: a held charge is authorised and not captured, a person approves
(captured) or rejects it (cancelled), once; nobody deciding in time applies the default."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app.domain.clock import FrozenClock
from app.domain.reviews import ReviewDefault
from app.services.payments import reviews
from tests.risk.conftest import Client, Gate

QUEUE = (
    "query($s: ReviewStatus) { reviews(status: $s) { totalCount edges { node { id status "
    "reason closedReason closedBy note payment { id status amountReceived { amount } } } } } }"
)
DECIDE = (
    "mutation($id: ID!, $note: String) { %s(input: {reviewId: $id, note: $note}) "
    "{ review { status closedReason note payment { status } } userErrors { code message } } }"
)


async def held(gate: Gate, amount: str = "150.00", token: str = "tok_visa") -> tuple[Client, Any]:
    await gate.rule(
        name="Above 100",
        condition={"amountAbove": {"amount": "100.00", "currency": "USD"}},
        action="REVIEW",
        score=40,
    )
    client = await gate.client("203.0.113.30")
    method = (await client.attach(token))["paymentMethod"]["id"]
    return client, await client.pay(amount, method)


async def queue(gate: Gate, status: str | None = "OPEN") -> list[dict[str, Any]]:
    found = (await gate.data(QUEUE, {"s": status}))["reviews"]
    return [edge["node"] for edge in found["edges"]]


async def decide(gate: Gate, mutation: str, review: str, note: str | None = None) -> Any:
    return (await gate.data(DECIDE % mutation, {"id": review, "note": note}))[mutation]


async def test_a_held_charge_waits_and_approving_captures_it(gate: Gate) -> None:
    _, paid = await held(gate)
    payment = paid["payment"]
    assert paid["userErrors"] == []
    assert (payment["status"], payment["captureMethod"]) == ("REQUIRES_CAPTURE", "MANUAL")
    assert (await gate.risk(payment["id"]))["risk"]["action"] == "REVIEW"
    [review] = await queue(gate)
    assert review["payment"]["id"] == payment["id"]
    assert review["reason"] == "Above 100: amount above the rule's limit"
    approved = await decide(gate, "approveReview", review["id"], "known customer")
    assert approved["userErrors"] == []
    assert approved["review"] == {
        "status": "CLOSED",
        "closedReason": "APPROVED",
        "note": "known customer",
        "payment": {"status": "SUCCEEDED"},
    }
    again = await decide(gate, "rejectReview", review["id"])
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_STATE"]
    assert await queue(gate) == []


async def test_rejecting_cancels_the_authorisation(gate: Gate) -> None:
    await held(gate)
    [review] = await queue(gate)
    rejected = await decide(gate, "rejectReview", review["id"], "stolen card")
    assert rejected["review"]["closedReason"] == "REJECTED"
    assert rejected["review"]["payment"] == {"status": "CANCELED"}


async def test_a_merchant_who_asked_for_manual_capture_keeps_it(gate: Gate) -> None:
    await gate.rule(
        name="Above 100",
        condition={"amountAbove": {"amount": "100.00", "currency": "USD"}},
        action="REVIEW",
    )
    client = await gate.client("203.0.113.31")
    method = (await client.attach("tok_visa"))["paymentMethod"]["id"]
    paid = await client.pay("150.00", method, captureMethod="MANUAL")
    [review] = await queue(gate)
    approved = await decide(gate, "approveReview", review["id"])
    # approved, not captured: capturing stays the merchant's
    assert approved["review"]["payment"] == {"status": "REQUIRES_CAPTURE"}
    assert paid["payment"]["status"] == "REQUIRES_CAPTURE"


async def test_a_held_charge_the_issuer_declines_leaves_nothing_to_review(gate: Gate) -> None:
    _, paid = await held(gate, token="tok_chargeDeclined")
    assert paid["payment"]["status"] == "FAILED"
    assert await queue(gate) == []
    [closed] = await queue(gate, None)
    assert (closed["status"], closed["closedReason"]) == ("CLOSED", "REJECTED")


@pytest.mark.both_databases
async def test_approve_and_reject_at_once_one_decision_wins(gate: Gate) -> None:
    await held(gate)
    [review] = await queue(gate)
    approved, rejected = await asyncio.gather(
        decide(gate, "approveReview", review["id"]), decide(gate, "rejectReview", review["id"])
    )
    outcomes = sorted(
        [
            ("approve", [e["code"] for e in approved["userErrors"]]),
            ("reject", [e["code"] for e in rejected["userErrors"]]),
        ],
        key=lambda o: o[1],
    )
    winner = outcomes[0][0]
    assert outcomes[0][1] == [] and outcomes[1][1] == ["INVALID_STATE"]
    [closed] = await queue(gate, "CLOSED")
    expected = {"approve": ("APPROVED", "SUCCEEDED"), "reject": ("REJECTED", "CANCELED")}
    assert (closed["closedReason"], closed["payment"]["status"]) == expected[winner]


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("default", "status", "received"),
    [(ReviewDefault.REJECT, "CANCELED", "0.00"), (ReviewDefault.APPROVE, "SUCCEEDED", "150.00")],
)
async def test_nobody_deciding_in_time_applies_the_default(
    gate: Gate, clock: FrozenClock, default: ReviewDefault, status: str, received: str
) -> None:
    await held(gate)
    runtime = gate.api.runtime

    async def job() -> int:
        async with runtime.sessions() as session:
            return await reviews.close_due(
                session, psps=runtime.psps, clock=runtime.clock, default=default
            )

    assert await job() == 0  # not yet: 72 hours by default
    clock.advance(timedelta(hours=72, seconds=1))
    assert await asyncio.gather(job(), job()) in ([1, 0], [0, 1])  # two workers, one closes
    [closed] = await queue(gate, "CLOSED")
    assert closed["closedReason"] == "EXPIRED"
    assert closed["payment"]["status"] == status
    assert closed["payment"]["amountReceived"]["amount"] == received
