"""What the money-moving mutations answer, and who asks: the types every caller of payments
shares (billing, the resolvers), kept apart from the operations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem
from app.models import Payment, Refund


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a money-moving mutation answers: its objects and the problems to report."""

    payment: Payment
    refund: Refund | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, for scoping idempotency keys, and their key for this request."""

    principal: str
    idempotency_key: str


def response_of(outcome: Outcome) -> dict[str, Any]:
    return {
        "payment_id": str(outcome.payment.id),
        "refund_id": str(outcome.refund.id) if outcome.refund else None,
        "problems": [
            {"code": p.code.value, "message": p.message, "field": list(p.field)}
            for p in outcome.problems
        ],
    }


async def replayed(session: AsyncSession, response: dict[str, Any]) -> Outcome:
    payment = await session.get(Payment, uuid.UUID(response["payment_id"]))
    refund = (
        await session.get(Refund, uuid.UUID(response["refund_id"]))
        if response.get("refund_id")
        else None
    )
    assert payment is not None
    problems = tuple(
        Problem(ErrorCode(p["code"]), p["message"], tuple(p["field"]))
        for p in response.get("problems", [])
    )
    return Outcome(payment=payment, refund=refund, problems=problems)
