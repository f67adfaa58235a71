"""Mutations of saved payment methods."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PaymentMethod as PaymentMethodRow
from app.resolvers.access import owned_key
from app.resolvers.common import Info, client_signals
from app.resolvers.keyed import mutate_keyed
from app.schema.payment_method import (
    AttachPaymentMethodInput,
    CustomerPaymentMethodInput,
    PaymentMethod,
    PaymentMethodPayload,
    PaymentMethodSetup,
    Psp,
    StartPaymentMethodSetupInput,
    StartPaymentMethodSetupPayload,
)
from app.services import payment_methods


def _psp(value: Psp | None) -> str | None:
    return None if value is None else value.value


def _method_payload(row: PaymentMethodRow) -> PaymentMethodPayload:
    return PaymentMethodPayload(payment_method=PaymentMethod.from_model(row), user_errors=[])


@strawberry.type
class PaymentMethodMutations:
    @strawberry.mutation(
        description="Begin saving a payment method: returns what the frontend needs to "
        "collect it with the PSP (card data never reaches paygate)."
    )
    async def start_payment_method_setup(
        self,
        info: Info,
        input: Annotated[StartPaymentMethodSetupInput, strawberry.argument(description="Setup.")],
    ) -> StartPaymentMethodSetupPayload:
        async def act(session: AsyncSession) -> StartPaymentMethodSetupPayload:
            started = await payment_methods.start_setup(
                session,
                registry=info.context.runtime.psps,
                clock=info.context.clock,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                psp=_psp(input.psp),
                return_url=input.return_url,
                cancel_url=input.cancel_url,
                request_key=(
                    None
                    if input.idempotency_key is None
                    else f"{info.context.principal.scope}\x1f{input.idempotency_key}"
                ),
            )
            setup = started.setup
            return StartPaymentMethodSetupPayload(
                setup=PaymentMethodSetup(
                    psp=Psp(started.psp),
                    kind=setup.kind,
                    reference=setup.reference,
                    client_secret=setup.client_secret,
                    approval_url=setup.approval_url,
                    token=setup.token,
                ),
                user_errors=[],
            )

        return await mutate_keyed(info, StartPaymentMethodSetupPayload, act, input)

    @strawberry.mutation(description="Save a tokenised payment method for a customer.")
    async def attach_payment_method(
        self,
        info: Info,
        input: Annotated[AttachPaymentMethodInput, strawberry.argument(description="Method.")],
    ) -> PaymentMethodPayload:
        async def act(session: AsyncSession) -> PaymentMethodPayload:
            row = await payment_methods.attach(
                session,
                registry=info.context.runtime.psps,
                clock=info.context.clock,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                psp=_psp(input.psp),
                token=input.token,
                set_default=input.set_as_default,
                policy=info.context.runtime.settings.dunning_policy,
                signals=client_signals(info),
            )
            return _method_payload(row)

        return await mutate_keyed(info, PaymentMethodPayload, act, input)

    @strawberry.mutation(description="Remove a payment method at its PSP; kept for history.")
    async def detach_payment_method(
        self,
        info: Info,
        input: Annotated[CustomerPaymentMethodInput, strawberry.argument(description="Method.")],
    ) -> PaymentMethodPayload:
        async def act(session: AsyncSession) -> PaymentMethodPayload:
            row = await payment_methods.detach(
                session,
                registry=info.context.runtime.psps,
                clock=info.context.clock,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                payment_method_id=await owned_key(
                    info, session, input.payment_method_id, "PaymentMethod", "paymentMethodId"
                ),
            )
            return _method_payload(row)

        return await mutate_keyed(info, PaymentMethodPayload, act, input)

    @strawberry.mutation(
        description="Make one of the customer's methods the default: the open invoices of "
        "past-due and unpaid subscriptions are retried with it at once (once per invoice "
        "and method)."
    )
    async def set_default_payment_method(
        self,
        info: Info,
        input: Annotated[CustomerPaymentMethodInput, strawberry.argument(description="Method.")],
    ) -> PaymentMethodPayload:
        async def act(session: AsyncSession) -> PaymentMethodPayload:
            row = await payment_methods.set_default(
                session,
                registry=info.context.runtime.psps,
                clock=info.context.clock,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                payment_method_id=await owned_key(
                    info, session, input.payment_method_id, "PaymentMethod", "paymentMethodId"
                ),
                policy=info.context.runtime.settings.dunning_policy,
            )
            return _method_payload(row)

        return await mutate_keyed(info, PaymentMethodPayload, act, input)
