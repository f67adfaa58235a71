"""Refunds: full or partial, several per payment, never more than was captured.

The refund is reserved against the payment under the payment's row lock before the PSP is
called (``amount_refunded`` counts pending and succeeded refunds, and a CHECK constraint
keeps it within ``amount_received``), so two racing refunds can never both pass. A failed
or canceled refund gives its reservation back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.ids import new_id
from app.domain.money import Money, exponent_of, parse_money
from app.domain.payments import RefundReason, RefundStatus
from app.models import Refund
from app.psp import base as psp
from app.psp.errors import (
    OperationNotSupported,
    PspAuthError,
    PspBadResponse,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspUnavailable,
)
from app.psp.registry import PspRegistry
from app.services import idempotency
from app.services.payments import reports
from app.services.payments.ledger import (
    apply_refund,
    event,
    get_payment,
    lock_payment,
    settle_refund,
)
from app.services.payments.outcomes import Caller, Outcome, replayed, response_of
from app.services.psp_calls import gateway


def _within_limit(requested_minor: int, currency: str, limits: Mapping[str, Decimal]) -> None:
    limit = limits.get(currency)
    cap = 0 if limit is None else int(limit.scaleb(exponent_of(currency)))
    if requested_minor > cap:
        shown = f"{limit} {currency}" if limit is not None else f"any amount in {currency}"
        raise UserInputError(
            Problem(
                ErrorCode.REFUND_LIMIT_EXCEEDED,
                f"Your role may refund at most {shown}; ask an admin for more.",
                ("amount",),
            )
        )


async def create_refund(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    payment_id: uuid.UUID,
    amount: str | None,
    currency: str | None,
    reason: RefundReason,
    limits: Mapping[str, Decimal] | None = None,
) -> Outcome:
    """Refund ``amount`` (or all that is left) of a payment. ``limits``, when given, caps
    the refund per currency (the support role's limit); a currency not listed is refused."""
    payment = await get_payment(session, payment_id)
    money = None if amount is None else parse_money(amount, currency or "", field=("amount",))
    if money is not None and money.currency != payment.currency:
        raise UserInputError(
            Problem(
                ErrorCode.CURRENCY_MISMATCH,
                f"The payment is in {payment.currency}.",
                ("amount", "currency"),
            )
        )
    if limits is not None:
        requested = (
            money.amount_minor
            if money is not None
            else payment.amount_received_minor - payment.amount_refunded_minor
        )
        _within_limit(requested, payment.currency, limits)
    provider = gateway(psps, payment.psp, "paymentId")
    claimed = await idempotency.claim(
        session,
        clock=clock,
        principal=caller.principal,
        key=caller.idempotency_key,
        operation="createRefund",
        arguments={
            "payment": str(payment_id),
            "amount": money.amount_minor if money else None,
            "reason": reason.value,
        },
    )
    if claimed.replay is not None:
        return await replayed(session, claimed.replay)
    await session.refresh(payment)  # claiming may have rolled back (and expired it)
    if claimed.recovery_point is not None:
        refund = await session.get(Refund, uuid.UUID(claimed.recovery_point["refund_id"]))
        assert refund is not None
    else:
        refund = await _reserve(session, payment_id, money, reason, claimed, clock)
    await session.commit()

    assert payment.psp_reference is not None
    try:
        result = await provider.refund(
            psp.RefundRequest(
                payment_reference=payment.psp_reference,
                amount=Money(refund.amount_minor, refund.currency),
                reason=reason,
                idempotency_key=refund.psp_idempotency_key,
            )
        )
    except (PspOutcomeUnknown, PspBadResponse):
        return await _finish(session, refund, claimed, clock, unknown=True)
    except (PspUnavailable, PspAuthError):
        return await _finish(
            session, refund, claimed, clock, failure="The payment provider was unavailable.",
            problem=Problem(
                ErrorCode.PSP_UNAVAILABLE,
                "The payment provider is unavailable; nothing was refunded. Retry with a new "
                "idempotency key.",
                (),
            ),
        )  # fmt: skip
    except (PspInvalidRequest, OperationNotSupported) as error:
        return await _finish(
            session, refund, claimed, clock, failure=str(error)[:500],
            problem=Problem(ErrorCode.PSP_REJECTED, f"The PSP refused: {error}", ()),
        )  # fmt: skip
    return await _finish(session, refund, claimed, clock, result=result)


async def _reserve(
    session: AsyncSession,
    payment_id: uuid.UUID,
    money: Money | None,
    reason: RefundReason,
    claimed: idempotency.Claim,
    clock: Clock,
) -> Refund:
    payment = await lock_payment(session, payment_id)
    refundable = payment.amount_received_minor - payment.amount_refunded_minor
    wanted = refundable if money is None else money.amount_minor
    refused: Problem | None = None
    if payment.psp_reference is None or payment.amount_received_minor == 0:
        refused = Problem(
            ErrorCode.INVALID_STATE,
            f"A payment in status {payment.status.value} has nothing captured to refund.",
            ("paymentId",),
        )
    elif not 0 < wanted <= refundable:
        left = Money(refundable, payment.currency).decimal_string()
        refused = Problem(
            ErrorCode.REFUND_EXCEEDS_CAPTURED,
            f"At most {left} {payment.currency} is left to refund (and more than zero).",
            ("amount", "amount"),
        )
    if refused is not None:
        await idempotency.abandon(session, claimed)
        raise UserInputError(refused)
    refund_id = new_id()
    refund = Refund(
        id=refund_id,
        payment_id=payment.id,
        psp=payment.psp,
        psp_idempotency_key=f"paygate-refund-{refund_id.hex}",
        status=RefundStatus.PENDING,
        reason=reason,
        currency=payment.currency,
        amount_minor=wanted,
        outcome_unknown_since=clock.now(),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(refund)
    payment.amount_refunded_minor += wanted
    payment.updated_at = clock.now()
    await session.flush()
    session.add(
        event(payment, "refund.created", source="api", clock=clock, amount=wanted,
              refund_id=refund.id)
    )  # fmt: skip
    key_row = await idempotency.key_row(session, claimed)
    idempotency.set_recovery_point(key_row, {"refund_id": str(refund.id)}, clock)
    return refund


async def _finish(
    session: AsyncSession,
    refund: Refund,
    claimed: idempotency.Claim,
    clock: Clock,
    *,
    result: psp.RefundResult | None = None,
    unknown: bool = False,
    failure: str | None = None,
    problem: Problem | None = None,
) -> Outcome:
    payment = await lock_payment(session, refund.payment_id)
    await session.refresh(refund, with_for_update=True)
    if result is not None:
        apply_refund(session, payment, refund, result, source="api", clock=clock)
        await reports.apply_pending(session, refund.psp, result.psp_reference, clock=clock)
    elif not unknown:
        settle_refund(session, payment, refund, RefundStatus.FAILED, clock, "api", failure)
    outcome = Outcome(payment=payment, refund=refund, problems=(problem,) if problem else ())
    key_row = await idempotency.key_row(session, claimed)
    idempotency.complete(key_row, response_of(outcome), clock)
    await session.commit()
    return outcome
