"""Builders of the promotion-code tests: coupons, promotion codes, validations."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.conftest import Api

PROMOTION_FIELDS = (
    "id code active maxRedemptions timesRedeemed expiresAt firstTimeOnly "
    "minimumAmount { amount currency } customerId coupon { id code timesRedeemed }"
)
VALIDATE = (
    "mutation($i: ValidatePromotionCodeInput!) { validatePromotionCode(input: $i) { valid "
    "reason coupon { id name percentOff } subtotal { amountMinor currency } "
    "discount { amount amountMinor currency } userErrors { field code message } } }"
)


async def coupon(api: Api, **fields: Any) -> str:
    """A new coupon's global ID."""
    made = await api.data(
        "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } "
        "userErrors { field code } } }",
        {"i": fields},
    )
    assert made["createCoupon"]["userErrors"] == [], made
    return str(made["createCoupon"]["coupon"]["id"])


async def create_code(api: Api, **fields: Any) -> dict[str, Any]:
    """``createPromotionCode``'s payload."""
    result: dict[str, Any] = (
        await api.data(
            "mutation($i: CreatePromotionCodeInput!) { createPromotionCode(input: $i) "
            f"{{ promotionCode {{ {PROMOTION_FIELDS} }} userErrors {{ field code message }} }} }}",
            {"i": fields},
        )
    )["createPromotionCode"]
    return result


async def promotion_code(api: Api, coupon_id: str, code: str, **fields: Any) -> str:
    """A new promotion code's global ID."""
    made = await create_code(api, couponId=coupon_id, code=code, **fields)
    assert made["userErrors"] == [], made
    return str(made["promotionCode"]["id"])


async def validate(api: Api, code: str, prices: list[str], **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(VALIDATE, {"i": {"code": code, "priceIds": prices, **fields}})
    )["validatePromotionCode"]
    return result


async def scalar(api: Api, sql: str) -> int:
    async with api.engine.connect() as connection:
        return int(await connection.scalar(sa.text(sql)))
