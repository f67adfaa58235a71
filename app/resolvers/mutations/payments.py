"""Money-moving mutations: payments and refunds. Each takes an idempotency key."""

import uuid
from collections.abc import Awaitable
from typing import Annotated, Protocol

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.errors import UserInputError
from app.psp.registry import PspRegistry
from app.resolvers.access import owned_key
from app.resolvers.common import Info, client_signals, mutate, user_errors
from app.schema.errors import UserError
from app.schema.payment import Payment, Refund
from app.schema.payment_inputs import (
    CapturePaymentInput,
    CreatePaymentInput,
    CreateRefundInput,
    PaymentActionInput,
    PaymentPayload,
    RefundPayload,
)
from app.security.principals import Actor
from app.services.payments import actions, create, refunds
from app.services.payments.outcomes import Caller, Outcome


def _caller(info: Info, idempotency_key: str) -> Caller:
    return Caller(principal=info.context.principal.scope, idempotency_key=idempotency_key)


def _problems(outcome: Outcome) -> list[UserError]:
    return user_errors(UserInputError(outcome.problems)) if outcome.problems else []


def _payment_payload(outcome: Outcome) -> PaymentPayload:
    return PaymentPayload(
        payment=Payment.from_model(outcome.payment), user_errors=_problems(outcome)
    )


class PaymentAction(Protocol):
    def __call__(
        self,
        session: AsyncSession,
        *,
        psps: PspRegistry,
        clock: Clock,
        caller: Caller,
        payment_id: uuid.UUID,
    ) -> Awaitable[Outcome]: ...


async def _act_on_payment(
    info: Info, input: PaymentActionInput, action: PaymentAction
) -> PaymentPayload:
    """Confirm or cancel: the same input, the same payload."""

    async def act(session: AsyncSession) -> PaymentPayload:
        outcome = await action(
            session,
            psps=info.context.runtime.psps,
            clock=info.context.clock,
            caller=_caller(info, input.idempotency_key),
            payment_id=await owned_key(info, session, input.payment_id, "Payment", "paymentId"),
        )
        return _payment_payload(outcome)

    return await mutate(info, PaymentPayload, act)


@strawberry.type
class PaymentMutations:
    @strawberry.mutation(
        description="Charge a customer's payment method once. Declines come back as the "
        "payment with `status: FAILED`, its `decline`, and a `PAYMENT_DECLINED` user error."
    )
    async def create_payment(
        self,
        info: Info,
        input: Annotated[CreatePaymentInput, strawberry.argument(description="The charge.")],
    ) -> PaymentPayload:
        async def act(session: AsyncSession) -> PaymentPayload:
            method = input.payment_method_id
            outcome = await create.create_payment(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                caller=_caller(info, input.idempotency_key),
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                amount=input.amount.amount,
                currency=input.amount.currency,
                payment_method_id=(
                    None
                    if method is None
                    else await owned_key(info, session, method, "PaymentMethod", "paymentMethodId")
                ),
                capture_method=input.capture_method,
                off_session=input.off_session,
                return_url=input.return_url,
                description=input.description,
                metadata=input.metadata,
                signals=client_signals(info),
                review_hours=info.context.runtime.settings.risk_review_hours,
            )
            return _payment_payload(outcome)

        return await mutate(info, PaymentPayload, act)

    @strawberry.mutation(
        description="Go on with a payment after the customer authenticated (3DS) or approved."
    )
    async def confirm_payment(
        self,
        info: Info,
        input: Annotated[PaymentActionInput, strawberry.argument(description="The payment.")],
    ) -> PaymentPayload:
        return await _act_on_payment(info, input, actions.confirm_payment)

    @strawberry.mutation(description="Capture an authorised payment, in full or in part.")
    async def capture_payment(
        self,
        info: Info,
        input: Annotated[CapturePaymentInput, strawberry.argument(description="The capture.")],
    ) -> PaymentPayload:
        async def act(session: AsyncSession) -> PaymentPayload:
            outcome = await actions.capture_payment(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                caller=_caller(info, input.idempotency_key),
                payment_id=await owned_key(info, session, input.payment_id, "Payment", "paymentId"),
                amount=input.amount.amount if input.amount else None,
                currency=input.amount.currency if input.amount else None,
            )
            return _payment_payload(outcome)

        return await mutate(info, PaymentPayload, act)

    @strawberry.mutation(description="Cancel an authorisation or a payment awaiting the customer.")
    async def cancel_payment(
        self,
        info: Info,
        input: Annotated[PaymentActionInput, strawberry.argument(description="The payment.")],
    ) -> PaymentPayload:
        return await _act_on_payment(info, input, actions.cancel_payment)

    @strawberry.mutation(
        description="Refund a payment, fully or in part; the refunds of a payment never add "
        "up to more than was captured."
    )
    async def create_refund(
        self,
        info: Info,
        input: Annotated[CreateRefundInput, strawberry.argument(description="The refund.")],
    ) -> RefundPayload:
        async def act(session: AsyncSession) -> RefundPayload:
            outcome = await refunds.create_refund(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                caller=_caller(info, input.idempotency_key),
                payment_id=await owned_key(info, session, input.payment_id, "Payment", "paymentId"),
                amount=input.amount.amount if input.amount else None,
                currency=input.amount.currency if input.amount else None,
                reason=input.reason,
                limits=(
                    info.context.runtime.settings.auth.support_refund_limit
                    if info.context.principal.actor is Actor.SUPPORT
                    else None
                ),
            )
            return RefundPayload(
                refund=Refund.from_model(outcome.refund) if outcome.refund else None,
                payment=Payment.from_model(outcome.payment),
                user_errors=_problems(outcome),
            )

        return await mutate(info, RefundPayload, act)
