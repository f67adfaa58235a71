"""Mutations of promotion codes and coupons' lifecycle: create and deactivate codes,
deactivate coupons, and the checkout's `validatePromotionCode`."""

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.resolvers.access import owned_key
from app.resolvers.common import Info, key_of
from app.resolvers.keyed import mutate_keyed
from app.schema.coupons import Coupon, CouponPayload
from app.schema.money import Money
from app.schema.promotion_codes import (
    CreatePromotionCodeInput,
    DeactivateCouponInput,
    DeactivatePromotionCodeInput,
    PromotionCode,
    PromotionCodePayload,
    PromotionCodeValidation,
    ValidatePromotionCodeInput,
)
from app.services.billing import coupons, promotion_catalog, promotion_codes


@strawberry.type
class PromotionMutations:
    @strawberry.mutation(
        description="Create a promotion code: a code customers type at checkout for a coupon, "
        "with restrictions of its own."
    )
    async def create_promotion_code(
        self,
        info: Info,
        input: Annotated[CreatePromotionCodeInput, strawberry.argument(description="The code.")],
    ) -> PromotionCodePayload:
        async def act(session: AsyncSession) -> PromotionCodePayload:
            customer = input.customer_id
            minimum = input.minimum_amount
            row = await promotion_catalog.create_promotion_code(
                session,
                clock=info.context.clock,
                coupon_id=key_of(input.coupon_id, "Coupon", "couponId"),
                code=input.code,
                max_redemptions=input.max_redemptions,
                expires_at=input.expires_at,
                first_time_only=input.first_time_only,
                minimum_amount=None if minimum is None else (minimum.amount, minimum.currency),
                customer_id=(
                    None if customer is None else key_of(customer, "Customer", "customerId")
                ),
            )
            return PromotionCodePayload(
                promotion_code=PromotionCode.from_model(row), user_errors=[]
            )

        return await mutate_keyed(info, PromotionCodePayload, act, input)

    @strawberry.mutation(
        description="Deactivate a promotion code: no new redemptions; subscriptions that "
        "redeemed it keep their discount."
    )
    async def deactivate_promotion_code(
        self,
        info: Info,
        input: Annotated[DeactivatePromotionCodeInput, strawberry.argument(description="Which.")],
    ) -> PromotionCodePayload:
        async def act(session: AsyncSession) -> PromotionCodePayload:
            row = await promotion_catalog.deactivate_promotion_code(
                session,
                clock=info.context.clock,
                promotion_code_id=key_of(input.id, "PromotionCode", "id"),
            )
            return PromotionCodePayload(
                promotion_code=PromotionCode.from_model(row), user_errors=[]
            )

        return await mutate_keyed(info, PromotionCodePayload, act, input)

    @strawberry.mutation(
        description="Deactivate a coupon: no new redemptions, by its code or any of its "
        "promotion codes; subscriptions that redeemed it keep their discount."
    )
    async def deactivate_coupon(
        self,
        info: Info,
        input: Annotated[DeactivateCouponInput, strawberry.argument(description="Which.")],
    ) -> CouponPayload:
        async def act(session: AsyncSession) -> CouponPayload:
            row = await coupons.deactivate_coupon(
                session, clock=info.context.clock, coupon_id=key_of(input.id, "Coupon", "id")
            )
            return CouponPayload(coupon=Coupon.from_model(row), user_errors=[])

        return await mutate_keyed(info, CouponPayload, act, input)

    @strawberry.mutation(
        description="Check a promotion code at checkout, before subscribing: whether it "
        "applies to these prices and the discount of the first invoice. Nothing is redeemed. "
        "For customer sessions and visitors; counted against the caller's limit of guessable "
        "inputs, so that codes cannot be enumerated."
    )
    async def validate_promotion_code(
        self,
        info: Info,
        input: Annotated[ValidatePromotionCodeInput, strawberry.argument(description="Checkout.")],
    ) -> PromotionCodeValidation:
        async def act(session: AsyncSession) -> PromotionCodeValidation:
            principal = info.context.principal
            customer_id = principal.customer_id if principal.is_customer else None
            if input.customer_id is not None:
                customer_id = await owned_key(
                    info, session, input.customer_id, "Customer", "customerId"
                )
            quote = await promotion_codes.validate(
                session,
                clock=info.context.clock,
                code=input.code,
                price_ids=[
                    key_of(price, "Price", "priceIds", str(i))
                    for i, price in enumerate(input.price_ids)
                ],
                customer_id=customer_id,
            )
            return PromotionCodeValidation(
                valid=quote.refusal is None,
                reason=quote.refusal,
                coupon=None if quote.coupon is None else Coupon.from_model(quote.coupon),
                subtotal=Money.of(quote.subtotal, quote.currency),
                discount=Money.of(quote.discount, quote.currency),
                user_errors=[],
            )

        return await mutate_keyed(info, PromotionCodeValidation, act, input)
