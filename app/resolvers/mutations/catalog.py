"""Mutations of the catalog: products and prices."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.resolvers.common import Info, given, key_of
from app.resolvers.keyed import mutate_keyed
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
        async def act(session: AsyncSession) -> CreateProductPayload:
            row = await catalog.create_product(
                session,
                clock=info.context.clock,
                name=input.name,
                description=input.description,
                active=input.active,
                metadata=input.metadata,
                features=input.features,
            )
            return CreateProductPayload(product=Product.from_model(row), user_errors=[])

        return await mutate_keyed(info, CreateProductPayload, act, input)

    @strawberry.mutation(description="Change a product; `active: false` archives it.")
    async def update_product(
        self,
        info: Info,
        input: Annotated[UpdateProductInput, strawberry.argument(description="Changes.")],
    ) -> UpdateProductPayload:
        async def act(session: AsyncSession) -> UpdateProductPayload:
            default_price = given(input.default_price_id)
            if isinstance(default_price, str):
                default_price = key_of(default_price, "Price", "defaultPriceId")
            row = await catalog.update_product(
                session,
                clock=info.context.clock,
                product_id=key_of(input.id, "Product", "id"),
                name=given(input.name),
                description=given(input.description),
                active=given(input.active),
                metadata=given(input.metadata),
                features=given(input.features),
                default_price_id=default_price,
            )
            return UpdateProductPayload(product=Product.from_model(row), user_errors=[])

        return await mutate_keyed(info, UpdateProductPayload, act, input)

    @strawberry.mutation(description="Create a price of a product. Prices are immutable.")
    async def create_price(
        self,
        info: Info,
        input: Annotated[CreatePriceInput, strawberry.argument(description="The price.")],
    ) -> CreatePricePayload:
        async def act(session: AsyncSession) -> CreatePricePayload:
            recurring = input.recurring
            row = await catalog.create_price(
                session,
                clock=info.context.clock,
                product_id=key_of(input.product_id, "Product", "productId"),
                amount=input.unit_amount.amount,
                currency=input.unit_amount.currency,
                recurrence=(
                    None
                    if recurring is None
                    else catalog.Recurrence(recurring.interval, recurring.interval_count)
                ),
                trial_period_days=input.trial_period_days,
                lookup_key=input.lookup_key,
                transfer_lookup_key=input.transfer_lookup_key,
                nickname=input.nickname,
                metadata=input.metadata,
                model=catalog.Model(
                    model=input.model,
                    unit_amount_decimal=input.unit_amount_decimal,
                    tiers=tuple(
                        catalog.TierRequest(t.up_to, t.unit_amount, t.flat_amount)
                        for t in input.tiers or ()
                    ),
                    package_size=input.package_size,
                    meter_id=None
                    if input.meter_id is None
                    else key_of(input.meter_id, "Meter", "meterId"),
                ),
            )
            return CreatePricePayload(price=Price.from_model(row), user_errors=[])

        return await mutate_keyed(info, CreatePricePayload, act, input)

    @strawberry.mutation(
        description="Archive a price: no new purchases; existing subscriptions keep it."
    )
    async def archive_price(
        self,
        info: Info,
        input: Annotated[ArchivePriceInput, strawberry.argument(description="The price.")],
    ) -> ArchivePricePayload:
        async def act(session: AsyncSession) -> ArchivePricePayload:
            row = await catalog.archive_price(
                session, clock=info.context.clock, price_id=key_of(input.id, "Price", "id")
            )
            return ArchivePricePayload(price=Price.from_model(row), user_errors=[])

        return await mutate_keyed(info, ArchivePricePayload, act, input)
