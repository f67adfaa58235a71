"""Creating a one-off payment, and ``settle``: the last phase of every payment operation
(``actions`` confirms, captures and cancels through it).

Each operation runs in atomic phases under an idempotency key (see ``idempotency``):
validate, claim the key, record the payment (with a recovery point), call the PSP with a
key derived from the payment, then apply the result and store the response in one
transaction. A PSP timeout leaves the payment ``processing`` with an unknown outcome for
reconciliation; it is never reported as a failure.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.clock import Clock
from app.domain.declines import Decline, DeclineCode
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.ids import new_id
from app.domain.money import Money, parse_money
from app.domain.payments import CaptureMethod, PaymentStatus
from app.domain.risk import AttemptKind, RiskAction
from app.models import Payment, PaymentMethod, PspCustomer
from app.psp import base as psp
from app.psp.errors import (
    OperationNotSupported,
    PspAuthError,
    PspBadResponse,
    PspError,
    PspInvalidRequest,
    PspOutcomeUnknown,
    PspUnavailable,
)
from app.psp.registry import PspRegistry
from app.security.client_ip import ClientSignals
from app.services import idempotency
from app.services.customers import ensure_not_erased, live_customer
from app.services.payments import reports, review_queue
from app.services.payments.ledger import (
    apply_result,
    event,
    lock_payment,
    lock_reference,
    record_decline,
)
from app.services.payments.outcomes import Caller, Outcome, replayed, response_of
from app.services.psp_calls import gateway
from app.services.risk import screening

logger = logging.getLogger("paygate.payments")


async def _method_for(
    session: AsyncSession, customer_id: uuid.UUID, method_id: uuid.UUID | None
) -> PaymentMethod:
    if method_id is None:
        method = await session.scalar(
            sa.select(PaymentMethod).where(
                PaymentMethod.customer_id == customer_id, PaymentMethod.is_default.is_(True)
            )
        )
        if method is None:
            raise UserInputError(
                Problem(
                    ErrorCode.PAYMENT_METHOD_REQUIRED,
                    "The customer has no default payment method; name one.",
                    ("paymentMethodId",),
                )
            )
        return method
    method = await session.get(PaymentMethod, method_id)
    if method is None or method.customer_id != customer_id:
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such payment method.", ("paymentMethodId",))
        )
    if method.detached_at is not None:
        raise UserInputError(
            Problem(
                ErrorCode.PAYMENT_METHOD_DETACHED,
                "This payment method was detached.",
                ("paymentMethodId",),
            )
        )
    return method


async def create_payment(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    customer_id: uuid.UUID,
    amount: str,
    currency: str,
    payment_method_id: uuid.UUID | None,
    capture_method: CaptureMethod,
    off_session: bool,
    return_url: str | None,
    description: str | None,
    metadata: object,
    invoice_id: uuid.UUID | None = None,
    signals: ClientSignals | None = None,
    review_hours: int = 72,
) -> Outcome:
    """``signals``: the client's, when the charge is screened by the risk rules (charges a
    customer or a merchant asks for; the billing engine's renewals are not: merchant
    initiated, on a method screened when attached)."""
    problems = Problems()
    money: Money | None = None
    try:
        money = parse_money(amount, currency, field=("amount",))
        if money.amount_minor == 0:
            problems.add(ErrorCode.INVALID_AMOUNT, "A payment must be above zero.", "amount")
    except UserInputError as error:
        problems.extend(error.problems)
    return_url = check.url(problems, return_url, "returnUrl")
    description = check.text(problems, description, "description", max_length=1000)
    checked_metadata = check.metadata(problems, metadata, "metadata") or {}
    problems.raise_if_any()
    assert money is not None
    customer = await live_customer(session, customer_id, "customerId")
    method = await _method_for(session, customer.id, payment_method_id)
    provider = gateway(psps, method.psp, "paymentMethodId")
    _check_capabilities(provider, money, capture_method)
    requested_capture = capture_method
    # Claiming may roll back, which expires loaded rows: keep what we need as plain values.
    method_id, method_reference = method.id, method.psp_reference

    claimed = await idempotency.claim(
        session,
        clock=clock,
        principal=caller.principal,
        key=caller.idempotency_key,
        operation="createPayment",
        arguments={
            "customer": str(customer_id),
            "amount": [money.amount_minor, money.currency],
            "method": str(method_id),
            "capture": capture_method.value,
            "off_session": off_session,
            "return_url": return_url,
            "description": description,
            "metadata": checked_metadata,
            "invoice": str(invoice_id) if invoice_id else None,
        },
    )
    if claimed.replay is not None:
        return await replayed(session, claimed.replay)
    may_hold = True  # a review may wait on this payment
    if claimed.recovery_point is not None:
        payment = await lock_payment(session, uuid.UUID(claimed.recovery_point["payment_id"]))
        capture_method = payment.capture_method
    else:
        screened = None
        if signals is not None:
            screened = await screening.screen(
                session,
                clock=clock,
                kind=AttemptKind.CHARGE,
                customer=await live_customer(session, customer_id, "customerId"),
                signals=signals,
                method=await session.get(PaymentMethod, method_id),
                amount_minor=money.amount_minor,
                currency=money.currency,
            )
        held = may_hold = screened is not None and screened.action is RiskAction.REVIEW
        if (
            held
            and invoice_id is None
            and CaptureMethod.MANUAL in provider.capabilities.capture_methods
        ):
            # authorised only, until a person decides
            capture_method = CaptureMethod.MANUAL
        payment = _new_payment(
            customer_id, method_id, provider.name, money, capture_method, off_session, clock
        )
        payment.return_url, payment.description = return_url, description
        payment.metadata_, payment.invoice_id = checked_metadata, invoice_id
        session.add(payment)
        await session.flush()
        try:
            await ensure_not_erased(session, customer_id, "customerId")
        except UserInputError:
            await idempotency.abandon(session, claimed)
            raise
        session.add(event(payment, "payment.created", source="api", clock=clock))
        if screened is not None:
            screened.attempt.payment_id = payment.id
            if screened.action is RiskAction.BLOCK:
                return await _blocked(session, payment, claimed, clock)
            if held:
                review_queue.open_review(
                    session, payment, screened.decision, clock=clock, hours=review_hours,
                    capture_on_approve=payment.capture_method is not requested_capture,
                )  # fmt: skip
        key_row = await idempotency.key_row(session, claimed)
        idempotency.set_recovery_point(key_row, {"payment_id": str(payment.id)}, clock)
    psp_customer = await session.scalar(
        sa.select(PspCustomer.psp_customer_id).where(
            PspCustomer.customer_id == customer_id, PspCustomer.psp == provider.name
        )
    )
    # No transaction is open during the PSP call: behind a transaction pooler it would hold
    # a server connection for the call's whole length.
    await session.commit()

    request = psp.PaymentRequest(
        amount=money,
        psp_customer_id=psp_customer,
        payment_method=method_reference,
        capture_method=capture_method,
        off_session=off_session,
        return_url=return_url,
        idempotency_key=payment.psp_idempotency_key,
        description=description,
        metadata={"paygate_payment_id": str(payment.id)},
    )
    outcome = await settle(
        session, psp_name=provider.name, payment_id=payment.id, claimed=claimed, clock=clock,
        call=provider.create_payment(request), creating=True,
    )  # fmt: skip
    if may_hold and outcome.payment.status is PaymentStatus.FAILED:
        await review_queue.close_if_failed(session, outcome.payment.id, clock=clock)
    return outcome


async def _blocked(
    session: AsyncSession, payment: Payment, claimed: idempotency.Claim, clock: Clock
) -> Outcome:
    """The rules blocked the charge: it fails here, never sent to the PSP (Stripe records
    such a charge with ``outcome.type: blocked``; the decline is ``fraudulent``, which the
    networks' rules say never to retry)."""
    _failed_before_psp(
        session, payment, clock, code=DeclineCode.FRAUDULENT.value,
        message="The payment was blocked by the risk rules; it was not sent to the provider.",
    )  # fmt: skip
    outcome = Outcome(
        payment=payment,
        problems=(
            Problem(
                ErrorCode.RISK_BLOCKED,
                "The payment was blocked by the risk rules; nothing was charged.",
                (),
            ),
        ),
    )
    key_row = await idempotency.key_row(session, claimed)
    idempotency.complete(key_row, response_of(outcome), clock)
    await session.commit()
    return outcome


def _new_payment(
    customer_id: uuid.UUID,
    method_id: uuid.UUID,
    psp_name: str,
    money: Money,
    capture_method: CaptureMethod,
    off_session: bool,
    clock: Clock,
) -> Payment:
    payment_id = new_id()
    return Payment(
        id=payment_id,
        customer_id=customer_id,
        payment_method_id=method_id,
        psp=psp_name,
        psp_idempotency_key=f"paygate-pay-{payment_id.hex}",
        status=PaymentStatus.REQUIRES_CONFIRMATION,
        outcome_unknown_since=clock.now(),  # in flight until the PSP answers
        capture_method=capture_method,
        off_session=off_session,
        currency=money.currency,
        amount_minor=money.amount_minor,
        amount_capturable_minor=0,
        amount_received_minor=0,
        amount_refunded_minor=0,
        metadata_={},
        created_at=clock.now(),
        updated_at=clock.now(),
    )


def _check_capabilities(provider: psp.Gateway, money: Money, capture: CaptureMethod) -> None:
    caps = provider.capabilities
    if not caps.supports_currency(money.currency):
        raise UserInputError(
            Problem(
                ErrorCode.OPERATION_NOT_SUPPORTED,
                f"{provider.name} does not accept {money.currency}.",
                ("amount", "currency"),
            )
        )
    if capture not in caps.capture_methods:
        raise UserInputError(
            Problem(
                ErrorCode.OPERATION_NOT_SUPPORTED,
                f"{provider.name} does not support {capture.value} capture.",
                ("captureMethod",),
            )
        )


async def settle(
    session: AsyncSession,
    *,
    psp_name: str,
    payment_id: uuid.UUID,
    claimed: idempotency.Claim,
    clock: Clock,
    call: Awaitable[psp.PaymentResult],
    creating: bool = False,
) -> Outcome:
    """Await the PSP call, then apply its result and store the response, atomically."""
    problems: list[Problem] = []
    result: psp.PaymentResult | None = None
    fault: PspError | None = None
    try:
        result = await call
    except (PspOutcomeUnknown, PspBadResponse, PspUnavailable, PspAuthError) as error:
        fault = error
    except (PspInvalidRequest, OperationNotSupported) as error:
        fault = error
        problems.append(Problem(ErrorCode.PSP_REJECTED, f"The PSP refused: {error}", ()))
    if result is not None:
        await lock_reference(session, psp_name, result.psp_reference)
    payment = await lock_payment(session, payment_id)
    if result is not None:
        await apply_result(session, payment, result, source="api", clock=clock)
        if result.psp_reference:
            await reports.apply_pending(session, psp_name, result.psp_reference, clock=clock)
        if result.status is PaymentStatus.FAILED and result.decline is not None:
            problems.append(Problem(ErrorCode.PAYMENT_DECLINED, result.decline.message, ()))
    elif isinstance(fault, PspOutcomeUnknown | PspBadResponse):
        _outcome_unknown(session, payment, fault, clock)
        if payment.psp_reference is not None:  # its webhook may have told us already
            await reports.apply_pending(session, psp_name, payment.psp_reference, clock=clock)
    elif isinstance(fault, PspUnavailable | PspAuthError):
        if isinstance(fault, PspAuthError):
            logger.error("PSP %s refused our credentials", psp_name)
        problems.append(
            Problem(
                ErrorCode.PSP_UNAVAILABLE,
                f"The payment provider is unavailable ({psp_name}); nothing was charged. "
                "Retry with a new idempotency key.",
                (),
            )
        )
        if creating:
            _failed_before_psp(session, payment, clock)
    elif creating:
        _failed_before_psp(session, payment, clock, code="unknown", message=str(fault))
    if not creating and result is None and not isinstance(fault, PspOutcomeUnknown):
        payment.outcome_unknown_since = None
    outcome = Outcome(payment=payment, problems=tuple(problems))
    key_row = await idempotency.key_row(session, claimed)
    idempotency.complete(key_row, response_of(outcome), clock)
    await session.commit()
    return outcome


def _outcome_unknown(
    session: AsyncSession, payment: Payment, fault: PspError, clock: Clock
) -> None:
    reference = getattr(fault, "psp_reference", None)
    if reference and payment.psp_reference is None:
        payment.psp_reference = reference
    if payment.status is PaymentStatus.REQUIRES_CONFIRMATION:
        payment.status = PaymentStatus.PROCESSING
    payment.outcome_unknown_since = payment.outcome_unknown_since or clock.now()
    payment.updated_at = clock.now()
    session.add(event(payment, "payment.outcome_unknown", source="api", clock=clock))


def _failed_before_psp(
    session: AsyncSession,
    payment: Payment,
    clock: Clock,
    *,
    code: str = "processing_error",
    message: str = "The payment provider was unavailable; nothing was charged.",
) -> None:
    payment.status = PaymentStatus.FAILED
    payment.outcome_unknown_since = None
    record_decline(payment, Decline(DeclineCode(code), message))
    payment.updated_at = clock.now()
    session.add(event(payment, "payment.failed", source="api", clock=clock))
