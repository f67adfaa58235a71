"""Mutations of customers."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.resolvers.access import owned_key
from app.resolvers.common import Info, given, key_of
from app.resolvers.keyed import mutate_keyed
from app.schema.customer import (
    CreateCustomerInput,
    CreateCustomerPayload,
    Customer,
    UpdateCustomerInput,
    UpdateCustomerPayload,
)
from app.services import customers


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(description="Create a customer.")
    async def create_customer(
        self,
        info: Info,
        input: Annotated[CreateCustomerInput, strawberry.argument(description="The customer.")],
    ) -> CreateCustomerPayload:
        async def act(session: AsyncSession) -> CreateCustomerPayload:
            row = await customers.create_customer(
                session,
                clock=info.context.clock,
                email=input.email,
                name=input.name,
                country=input.country,
                locale=input.locale,
                metadata=input.metadata,
                test_clock_id=(
                    None
                    if input.test_clock_id is None
                    else key_of(input.test_clock_id, "TestClock", "testClockId")
                ),
                anonymous_id=input.anonymous_id,
            )
            return CreateCustomerPayload(customer=Customer.from_model(row), user_errors=[])

        return await mutate_keyed(info, CreateCustomerPayload, act, input)

    @strawberry.mutation(description="Change a customer's details.")
    async def update_customer(
        self,
        info: Info,
        input: Annotated[UpdateCustomerInput, strawberry.argument(description="Changes.")],
    ) -> UpdateCustomerPayload:
        async def act(session: AsyncSession) -> UpdateCustomerPayload:
            row = await customers.update_customer(
                session,
                clock=info.context.clock,
                customer_id=await owned_key(info, session, input.id, "Customer", "id"),
                email=given(input.email),
                name=given(input.name),
                country=given(input.country),
                locale=given(input.locale),
                metadata=given(input.metadata),
            )
            return UpdateCustomerPayload(customer=Customer.from_model(row), user_errors=[])

        return await mutate_keyed(info, UpdateCustomerPayload, act, input)
