"""What follows a payment's creation: confirm (after 3DS/approval), capture, cancel.

Each runs under the caller's idempotency key; the PSP call carries a key derived from it,
so a replayed request reaches the same PSP operation.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.money import Money, parse_money
from app.domain.payments import PaymentStatus
from app.models import Payment
from app.psp import base as psp
from app.psp.registry import PspRegistry
from app.services import idempotency
from app.services.payments.create import settle
from app.services.payments.ledger import get_payment
from app.services.payments.outcomes import Caller, Outcome, replayed, response_of
from app.services.psp_calls import gateway


def _state_error(payment: Payment, action: str) -> UserInputError:
    return UserInputError(
        Problem(
            ErrorCode.INVALID_STATE,
            f"A payment in status {payment.status.value} cannot be {action}.",
            ("paymentId",),
        )
    )


async def _claim(
    session: AsyncSession,
    clock: Clock,
    caller: Caller,
    operation: str,
    arguments: dict[str, Any],
) -> idempotency.Claim:
    return await idempotency.claim(
        session,
        clock=clock,
        principal=caller.principal,
        key=caller.idempotency_key,
        operation=operation,
        arguments=arguments,
    )


def _psp_key(operation: str, claimed: idempotency.Claim) -> str:
    return f"paygate-{operation}-{claimed.key_id.hex}"


async def confirm_payment(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    payment_id: uuid.UUID,
) -> Outcome:
    """Finish a payment the customer has authenticated or approved."""
    payment = await get_payment(session, payment_id)
    provider = gateway(psps, payment.psp, "paymentId")
    claimed = await _claim(session, clock, caller, "confirmPayment", {"payment": str(payment_id)})
    if claimed.replay is not None:
        return await replayed(session, claimed.replay)
    await session.refresh(payment)
    if payment.status is PaymentStatus.REQUIRES_CONFIRMATION or payment.psp_reference is None:
        error = _state_error(payment, "confirmed")
        await idempotency.abandon(session, claimed)  # expires ``payment``: read it before
        raise error
    if payment.status is not PaymentStatus.REQUIRES_ACTION:
        # Already moved on (the PSP's webhook came first): confirming is a no-op.
        outcome = Outcome(payment=payment)
        key_row = await idempotency.key_row(session, claimed)
        idempotency.complete(key_row, response_of(outcome), clock)
        await session.commit()
        return outcome
    await session.commit()
    request = psp.ConfirmRequest(
        psp_reference=payment.psp_reference,
        idempotency_key=_psp_key("confirm", claimed),
        return_url=payment.return_url,
    )
    return await settle(
        session, psp_name=provider.name, payment_id=payment.id, claimed=claimed, clock=clock,
        call=provider.confirm_payment(request),
    )  # fmt: skip


async def capture_payment(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    payment_id: uuid.UUID,
    amount: str | None,
    currency: str | None,
) -> Outcome:
    """Capture an authorised payment, in full or in part (the rest is released)."""
    payment = await get_payment(session, payment_id)
    money: Money | None = None
    if amount is not None:
        money = parse_money(amount, currency or "", field=("amount",))
        if money.currency != payment.currency:
            raise UserInputError(
                Problem(
                    ErrorCode.CURRENCY_MISMATCH,
                    f"The payment is in {payment.currency}.",
                    ("amount", "currency"),
                )
            )
    provider = gateway(psps, payment.psp, "paymentId")
    arguments = {"payment": str(payment_id), "amount": money.amount_minor if money else None}
    claimed = await _claim(session, clock, caller, "capturePayment", arguments)
    if claimed.replay is not None:
        return await replayed(session, claimed.replay)
    await session.refresh(payment)
    problem = _capture_problem(payment, money, provider)
    if problem is not None:
        await idempotency.abandon(session, claimed)
        raise problem
    await session.commit()
    assert payment.psp_reference is not None
    request = psp.CaptureRequest(
        psp_reference=payment.psp_reference,
        amount=money,
        idempotency_key=_psp_key("capture", claimed),
    )
    return await settle(
        session, psp_name=provider.name, payment_id=payment.id, claimed=claimed, clock=clock,
        call=provider.capture_payment(request),
    )  # fmt: skip


def _capture_problem(
    payment: Payment, money: Money | None, provider: psp.Gateway
) -> UserInputError | None:
    if payment.status is not PaymentStatus.REQUIRES_CAPTURE or payment.psp_reference is None:
        return _state_error(payment, "captured")
    if money is None:
        return None
    if not 0 < money.amount_minor <= payment.amount_capturable_minor:
        return UserInputError(
            Problem(
                ErrorCode.AMOUNT_EXCEEDS_CAPTURABLE,
                "The amount must be above zero and at most the capturable amount.",
                ("amount", "amount"),
            )
        )
    partial = money.amount_minor < payment.amount_capturable_minor
    if partial and not provider.capabilities.supports(psp.Operation.PARTIAL_CAPTURE):
        return UserInputError(
            Problem(
                ErrorCode.OPERATION_NOT_SUPPORTED,
                f"{provider.name} cannot capture part of a payment.",
                ("amount",),
            )
        )
    return None


async def cancel_payment(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    payment_id: uuid.UUID,
) -> Outcome:
    """Cancel a payment that has not moved money: an authorisation or a pending challenge."""
    payment = await get_payment(session, payment_id)
    provider = gateway(psps, payment.psp, "paymentId")
    claimed = await _claim(session, clock, caller, "cancelPayment", {"payment": str(payment_id)})
    if claimed.replay is not None:
        return await replayed(session, claimed.replay)
    await session.refresh(payment)
    cancelable = (PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_ACTION)
    if payment.status not in cancelable or payment.psp_reference is None:
        error = _state_error(payment, "canceled")
        await idempotency.abandon(session, claimed)
        raise error
    await session.commit()
    request = psp.CancelRequest(
        psp_reference=payment.psp_reference, idempotency_key=_psp_key("cancel", claimed)
    )
    return await settle(
        session, psp_name=provider.name, payment_id=payment.id, claimed=claimed, clock=clock,
        call=provider.cancel_payment(request),
    )  # fmt: skip
