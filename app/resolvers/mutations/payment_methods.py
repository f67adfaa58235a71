"""Mutations of saved payment methods."""

from typing import Annotated

import strawberry

from app.domain.errors import UserInputError
from app.resolvers.common import Info, key_of, user_errors
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
        try:
            customer_id = key_of(input.customer_id, "Customer", "customerId")
            async with info.context.db() as session:
                started = await payment_methods.start_setup(
                    session,
                    registry=info.context.runtime.psps,
                    clock=info.context.clock,
                    customer_id=customer_id,
                    psp=_psp(input.psp),
                    return_url=input.return_url,
                    cancel_url=input.cancel_url,
                )
        except UserInputError as error:
            return StartPaymentMethodSetupPayload(setup=None, user_errors=user_errors(error))
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

    @strawberry.mutation(description="Save a tokenised payment method for a customer.")
    async def attach_payment_method(
        self,
        info: Info,
        input: Annotated[AttachPaymentMethodInput, strawberry.argument(description="Method.")],
    ) -> PaymentMethodPayload:
        try:
            customer_id = key_of(input.customer_id, "Customer", "customerId")
            async with info.context.db() as session:
                row = await payment_methods.attach(
                    session,
                    registry=info.context.runtime.psps,
                    clock=info.context.clock,
                    customer_id=customer_id,
                    psp=_psp(input.psp),
                    token=input.token,
                    set_default=input.set_as_default,
                )
        except UserInputError as error:
            return PaymentMethodPayload(payment_method=None, user_errors=user_errors(error))
        return PaymentMethodPayload(payment_method=PaymentMethod.from_model(row), user_errors=[])

    @strawberry.mutation(description="Remove a payment method at its PSP; kept for history.")
    async def detach_payment_method(
        self,
        info: Info,
        input: Annotated[CustomerPaymentMethodInput, strawberry.argument(description="Method.")],
    ) -> PaymentMethodPayload:
        try:
            customer_id = key_of(input.customer_id, "Customer", "customerId")
            method_id = key_of(input.payment_method_id, "PaymentMethod", "paymentMethodId")
            async with info.context.db() as session:
                row = await payment_methods.detach(
                    session,
                    registry=info.context.runtime.psps,
                    clock=info.context.clock,
                    customer_id=customer_id,
                    payment_method_id=method_id,
                )
        except UserInputError as error:
            return PaymentMethodPayload(payment_method=None, user_errors=user_errors(error))
        return PaymentMethodPayload(payment_method=PaymentMethod.from_model(row), user_errors=[])

    @strawberry.mutation(description="Make one of the customer's methods the default.")
    async def set_default_payment_method(
        self,
        info: Info,
        input: Annotated[CustomerPaymentMethodInput, strawberry.argument(description="Method.")],
    ) -> PaymentMethodPayload:
        try:
            customer_id = key_of(input.customer_id, "Customer", "customerId")
            method_id = key_of(input.payment_method_id, "PaymentMethod", "paymentMethodId")
            async with info.context.db() as session:
                row = await payment_methods.set_default(
                    session,
                    clock=info.context.clock,
                    customer_id=customer_id,
                    payment_method_id=method_id,
                )
        except UserInputError as error:
            return PaymentMethodPayload(payment_method=None, user_errors=user_errors(error))
        return PaymentMethodPayload(payment_method=PaymentMethod.from_model(row), user_errors=[])
