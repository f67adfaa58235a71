"""GDPR mutations: erase a customer's personal data, export all of their data."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.resolvers.access import owned_key
from app.resolvers.common import Info, key_of, mutate
from app.resolvers.keyed import mutate_keyed
from app.schema.customer import Customer
from app.schema.customer_export import export_document
from app.schema.gdpr import (
    EraseCustomerInput,
    EraseCustomerPayload,
    ExportCustomerDataInput,
    ExportCustomerDataPayload,
)
from app.schema.payment_method import Psp
from app.schema.scalars import JSON
from app.services import customer_export, erasure


@strawberry.type
class GdprMutations:
    @strawberry.mutation(
        description="Erase a customer's personal data (GDPR art. 17): name, email, locale, "
        "metadata, payment method details, free text, their data in stored PSP events; "
        "deletes them at their PSPs and cancels their subscriptions at once without "
        "proration. Invoices, payments, refunds, disputes and the tax country stay (legal "
        "retention). Idempotent."
    )
    async def erase_customer(
        self,
        info: Info,
        input: Annotated[EraseCustomerInput, strawberry.argument(description="The customer.")],
    ) -> EraseCustomerPayload:
        async def act(session: AsyncSession) -> EraseCustomerPayload:
            erased = await erasure.erase_customer(
                session,
                psps=info.context.runtime.psps,
                clock=info.context.clock,
                principal=info.context.principal.scope,
                customer_id=key_of(input.customer_id, "Customer", "customerId"),
                idempotency_key=input.idempotency_key,
            )
            return EraseCustomerPayload(
                customer=Customer.from_model(erased.customer),
                pending_psp_deletions=[Psp(name) for name in erased.pending_psps],
                user_errors=[],
            )

        return await mutate(info, EraseCustomerPayload, act)

    @strawberry.mutation(
        description="Everything paygate holds about a customer, as one JSON document (GDPR "
        "art. 15 and 20): the customer, payment methods, payments with their events, "
        "refunds and disputes, subscriptions, invoices with their lines, coupons redeemed "
        "and the test clock. Changes nothing."
    )
    async def export_customer_data(
        self,
        info: Info,
        input: Annotated[ExportCustomerDataInput, strawberry.argument(description="The customer.")],
    ) -> ExportCustomerDataPayload:
        async def act(session: AsyncSession) -> ExportCustomerDataPayload:
            records = await customer_export.customer_records(
                session,
                customer_id=await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                ),
            )
            document = export_document(records, exported_at=info.context.clock.now())
            await session.rollback()  # read only: end the transaction
            return ExportCustomerDataPayload(data=JSON(document), user_errors=[])

        return await mutate_keyed(info, ExportCustomerDataPayload, act, input)
