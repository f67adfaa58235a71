"""Mutations of invoices and subscription changes."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Invoice as InvoiceRow
from app.resolvers.access import owned_key
from app.resolvers.common import Info, key_of, mutate
from app.resolvers.keyed import mutate_keyed
from app.schema.invoice_inputs import (
    CreateInvoiceInput,
    CreateInvoiceItemInput,
    FinalizeInvoiceInput,
    InvoiceActionInput,
    InvoiceItemPayload,
    InvoicePayload,
    PayInvoiceInput,
)
from app.schema.invoices import Invoice, InvoiceLine
from app.schema.subscription_inputs import SubscriptionPayload, UpdateSubscriptionInput
from app.schema.subscriptions import Subscription
from app.services.billing import changes, invoice_actions
from app.services.payments.outcomes import Caller

InvoiceAction = Callable[[AsyncSession, uuid.UUID], Awaitable[InvoiceRow]]
InvoiceInput = FinalizeInvoiceInput | InvoiceActionInput | PayInvoiceInput


async def _on_invoice(
    info: Info, input: InvoiceInput, action: InvoiceAction, *, keyed: bool = True
) -> InvoicePayload:
    async def act(session: AsyncSession) -> InvoicePayload:
        row = await action(
            session, await owned_key(info, session, input.invoice_id, "Invoice", "invoiceId")
        )
        return InvoicePayload(invoice=Invoice.from_model(row), user_errors=[])

    if not keyed:  # its service claims the key itself
        return await mutate(info, InvoicePayload, act)
    return await mutate_keyed(info, InvoicePayload, act, input)


@strawberry.type
class InvoiceMutations:
    @strawberry.mutation(
        description="Change the price or quantity of a subscription, with prorations exact "
        "to the second. Try `previewSubscriptionChange` first: it shows the same invoice."
    )
    async def update_subscription(
        self,
        info: Info,
        input: Annotated[UpdateSubscriptionInput, strawberry.argument(description="Change.")],
    ) -> SubscriptionPayload:
        async def act(session: AsyncSession) -> SubscriptionPayload:
            price = input.price_id
            row = await changes.update_subscription(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                caller=Caller(info.context.principal.scope, input.idempotency_key),
                subscription_id=await owned_key(
                    info, session, input.subscription_id, "Subscription", "subscriptionId"
                ),
                price_id=None if price is None else key_of(price, "Price", "priceId"),
                quantity=input.quantity,
                behavior=input.proration_behavior,
                discount=changes.Discount(input.promotion_code, input.coupon_code),
            )
            return SubscriptionPayload(subscription=Subscription.from_model(row), user_errors=[])

        return await mutate(info, SubscriptionPayload, act)

    @strawberry.mutation(description="Add a one-off charge or credit to the next invoice.")
    async def create_invoice_item(
        self,
        info: Info,
        input: Annotated[CreateInvoiceItemInput, strawberry.argument(description="The item.")],
    ) -> InvoiceItemPayload:
        async def act(session: AsyncSession) -> InvoiceItemPayload:
            subscription = input.subscription_id
            row = await invoice_actions.create_invoice_item(
                session,
                clock=info.context.clock,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                amount=input.amount.amount,
                currency=input.amount.currency,
                description=input.description,
                subscription_id=(
                    None
                    if subscription is None
                    else await owned_key(
                        info, session, subscription, "Subscription", "subscriptionId"
                    )
                ),
            )
            return InvoiceItemPayload(
                invoice_item=InvoiceLine.from_model(row, row.currency), user_errors=[]
            )

        return await mutate_keyed(info, InvoiceItemPayload, act, input)

    @strawberry.mutation(description="Draft an invoice of the customer's pending items.")
    async def create_invoice(
        self,
        info: Info,
        input: Annotated[CreateInvoiceInput, strawberry.argument(description="The invoice.")],
    ) -> InvoicePayload:
        async def act(session: AsyncSession) -> InvoicePayload:
            row = await invoice_actions.create_invoice(
                session,
                clock=info.context.clock,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
                currency=input.currency,
            )
            return InvoicePayload(invoice=Invoice.from_model(row), user_errors=[])

        return await mutate_keyed(info, InvoicePayload, act, input)

    @strawberry.mutation(description="Number a draft invoice and open it for payment.")
    async def finalize_invoice(
        self,
        info: Info,
        input: Annotated[FinalizeInvoiceInput, strawberry.argument(description="Which.")],
    ) -> InvoicePayload:
        clock = info.context.clock
        return await _on_invoice(
            info,
            input,
            lambda session, invoice: invoice_actions.finalize_invoice(
                session, clock=clock, invoice_id=invoice
            ),
        )

    @strawberry.mutation(description="Collect an open invoice now (the customer present).")
    async def pay_invoice(
        self,
        info: Info,
        input: Annotated[PayInvoiceInput, strawberry.argument(description="Which.")],
    ) -> InvoicePayload:
        method = input.payment_method_id

        async def pay(session: AsyncSession, invoice: uuid.UUID) -> InvoiceRow:
            return await invoice_actions.pay_invoice(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                caller=Caller(info.context.principal.scope, input.idempotency_key),
                invoice_id=invoice,
                payment_method_id=(
                    None
                    if method is None
                    else await owned_key(info, session, method, "PaymentMethod", "paymentMethodId")
                ),
            )

        return await _on_invoice(info, input, pay, keyed=False)

    @strawberry.mutation(description="Void an open invoice: it keeps its number, owes nothing.")
    async def void_invoice(
        self,
        info: Info,
        input: Annotated[InvoiceActionInput, strawberry.argument(description="Which.")],
    ) -> InvoicePayload:
        clock = info.context.clock
        return await _on_invoice(
            info,
            input,
            lambda session, invoice: invoice_actions.void_invoice(
                session, clock=clock, invoice_id=invoice
            ),
        )

    @strawberry.mutation(description="Write an open invoice off as uncollectible.")
    async def mark_invoice_uncollectible(
        self,
        info: Info,
        input: Annotated[InvoiceActionInput, strawberry.argument(description="Which.")],
    ) -> InvoicePayload:
        clock = info.context.clock
        return await _on_invoice(
            info,
            input,
            lambda session, invoice: invoice_actions.mark_uncollectible(
                session, clock=clock, invoice_id=invoice
            ),
        )
