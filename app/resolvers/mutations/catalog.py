"""Mutations of the catalog: products and prices."""

from typing import Annotated

import strawberry

from app.domain.errors import UserInputError
from app.resolvers.common import Info, given, key_of, user_errors
from app.schema.catalog import (
    ArchivePriceInput,
    ArchivePricePayload,
    CreatePriceInput,
    CreatePricePayload,
    CreateProductInput,
    CreateProductPayload,
    Price,
    Product,
    UpdateProductInput,
    UpdateProductPayload,
)
from app.services import catalog


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(description="Create a product. Add what it costs with `createPrice`.")
    async def create_product(
        self,
        info: Info,
        input: Annotated[CreateProductInput, strawberry.argument(description="The product.")],
    ) -> CreateProductPayload:
        try:
            async with info.context.db() as session:
                row = await catalog.create_product(
                    session,
                    clock=info.context.clock,
                    name=input.name,
                    description=input.description,
                    active=input.active,
                    metadata=input.metadata,
                )
        except UserInputError as error:
            return CreateProductPayload(product=None, user_errors=user_errors(error))
        return CreateProductPayload(product=Product.from_model(row), user_errors=[])

    @strawberry.mutation(description="Change a product; `active: false` archives it.")
    async def update_product(
        self,
        info: Info,
        input: Annotated[UpdateProductInput, strawberry.argument(description="Changes.")],
    ) -> UpdateProductPayload:
        try:
            product_id = key_of(input.id, "Product", "id")
            async with info.context.db() as session:
                row = await catalog.update_product(
                    session,
                    clock=info.context.clock,
                    product_id=product_id,
                    name=given(input.name),
                    description=given(input.description),
                    active=given(input.active),
                    metadata=given(input.metadata),
                )
        except UserInputError as error:
            return UpdateProductPayload(product=None, user_errors=user_errors(error))
        return UpdateProductPayload(product=Product.from_model(row), user_errors=[])

    @strawberry.mutation(description="Create a price of a product. Prices are immutable.")
    async def create_price(
        self,
        info: Info,
        input: Annotated[CreatePriceInput, strawberry.argument(description="The price.")],
    ) -> CreatePricePayload:
        try:
            product_id = key_of(input.product_id, "Product", "productId")
            recurrence = (
                None
                if input.recurring is None
                else catalog.Recurrence(input.recurring.interval, input.recurring.interval_count)
            )
            async with info.context.db() as session:
                row = await catalog.create_price(
                    session,
                    clock=info.context.clock,
                    product_id=product_id,
                    amount=input.unit_amount.amount,
                    currency=input.unit_amount.currency,
                    recurrence=recurrence,
                    trial_period_days=input.trial_period_days,
                    lookup_key=input.lookup_key,
                    transfer_lookup_key=input.transfer_lookup_key,
                    nickname=input.nickname,
                    metadata=input.metadata,
                )
        except UserInputError as error:
            return CreatePricePayload(price=None, user_errors=user_errors(error))
        return CreatePricePayload(price=Price.from_model(row), user_errors=[])

    @strawberry.mutation(
        description="Archive a price: no new purchases; existing subscriptions keep it."
    )
    async def archive_price(
        self,
        info: Info,
        input: Annotated[ArchivePriceInput, strawberry.argument(description="The price.")],
    ) -> ArchivePricePayload:
        try:
            price_id = key_of(input.id, "Price", "id")
            async with info.context.db() as session:
                row = await catalog.archive_price(
                    session, clock=info.context.clock, price_id=price_id
                )
        except UserInputError as error:
            return ArchivePricePayload(price=None, user_errors=user_errors(error))
        return ArchivePricePayload(price=Price.from_model(row), user_errors=[])
