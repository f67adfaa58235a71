"""The Query fields of discounts for staff: `coupons` and `promotionCodes`."""

from typing import Annotated, Any, cast

import strawberry

from app.models import Coupon as CouponRow
from app.models import PromotionCode as PromotionCodeRow
from app.resolvers.common import Info, key_of
from app.schema.coupons import Coupon
from app.schema.pagination import After, First
from app.schema.promotion_codes import (
    CouponConnection,
    CouponFilter,
    PromotionCode,
    PromotionCodeConnection,
    PromotionCodeFilter,
)
from app.services import pagination
from app.services.billing import coupons, promotion_catalog


@strawberry.type
class PromotionQueries:
    @strawberry.field(description="Coupons, newest first.")
    async def coupons(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            CouponFilter | None, strawberry.argument(description="Which coupons.")
        ] = None,
    ) -> CouponConnection:
        statement = coupons.coupons_query(
            active=None if filter is None else filter.active,
            code=None if filter is None else filter.code,
        )
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, CouponRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return CouponConnection.of(
            page.items, Coupon.from_model, more=page.has_next_page, after=after, count=count
        )

    @strawberry.field(description="Promotion codes, newest first.")
    async def promotion_codes(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            PromotionCodeFilter | None, strawberry.argument(description="Which codes.")
        ] = None,
    ) -> PromotionCodeConnection:
        coupon = None if filter is None else filter.coupon_id
        statement = promotion_catalog.promotion_codes_query(
            active=None if filter is None else filter.active,
            code=None if filter is None else filter.code,
            coupon_id=None if coupon is None else key_of(coupon, "Coupon", "filter", "couponId"),
        )
        async with info.context.db() as session:
            page = await pagination.fetch_page(
                session, statement, cast(Any, PromotionCodeRow.id), first=first, after=after
            )

        async def count() -> int:
            async with info.context.db() as session:
                return await pagination.count(session, statement)

        return PromotionCodeConnection.of(
            page.items, PromotionCode.from_model, more=page.has_next_page, after=after, count=count
        )
