"""The Query fields of discounts for staff: `coupons` and `promotionCodes`."""

from typing import Annotated

import strawberry

from app.models import Coupon as CouponRow
from app.models import PromotionCode as PromotionCodeRow
from app.resolvers.common import Info, key_of, session_connection
from app.schema.coupons import Coupon
from app.schema.pagination import After, First
from app.schema.promotion_codes import (
    CouponConnection,
    CouponFilter,
    PromotionCode,
    PromotionCodeConnection,
    PromotionCodeFilter,
)
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
        return await session_connection(
            info, statement, CouponRow.id, Coupon.from_model, first, after
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
        return await session_connection(
            info, statement, PromotionCodeRow.id, PromotionCode.from_model, first, after
        )
