"""Mutations of customers."""

from typing import Annotated

import strawberry

from app.domain.errors import UserInputError
from app.resolvers.common import Info, given, key_of, user_errors
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
        try:
            async with info.context.db() as session:
                row = await customers.create_customer(
                    session,
                    clock=info.context.clock,
                    email=input.email,
                    name=input.name,
                    country=input.country,
                    locale=input.locale,
                    metadata=input.metadata,
                )
        except UserInputError as error:
            return CreateCustomerPayload(customer=None, user_errors=user_errors(error))
        return CreateCustomerPayload(customer=Customer.from_model(row), user_errors=[])

    @strawberry.mutation(description="Change a customer's details.")
    async def update_customer(
        self,
        info: Info,
        input: Annotated[UpdateCustomerInput, strawberry.argument(description="Changes.")],
    ) -> UpdateCustomerPayload:
        try:
            customer_id = key_of(input.id, "Customer", "id")
            async with info.context.db() as session:
                row = await customers.update_customer(
                    session,
                    clock=info.context.clock,
                    customer_id=customer_id,
                    email=given(input.email),
                    name=given(input.name),
                    country=given(input.country),
                    locale=given(input.locale),
                    metadata=given(input.metadata),
                )
        except UserInputError as error:
            return UpdateCustomerPayload(customer=None, user_errors=user_errors(error))
        return UpdateCustomerPayload(customer=Customer.from_model(row), user_errors=[])
