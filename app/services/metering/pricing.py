"""A price row's scheme (``app/domain/metering.py``), and what a licensed quantity costs."""

from __future__ import annotations

from fractions import Fraction

from app.domain.metering import PriceModel, PriceScheme, Tier, line_amount
from app.models import Price, SubscriptionItem


def scheme_of(price: Price) -> PriceScheme:
    unit = (
        Fraction(price.unit_amount_decimal)
        if price.unit_amount_decimal is not None
        else Fraction(price.unit_amount_minor)
    )
    tiers = tuple(
        Tier(
            up_to=None if tier.get("up_to") is None else int(str(tier["up_to"])),
            unit_amount=Fraction(str(tier.get("unit_amount", "0"))),
            flat_amount_minor=int(str(tier.get("flat_amount_minor", 0))),
        )
        for tier in price.tiers or ()
    )
    return PriceScheme(price.model, unit, tiers, price.package_size)


def is_simple(price: Price) -> bool:
    """A whole amount per unit, licensed: what subscription items lock and prorate."""
    return (
        price.model is PriceModel.PER_UNIT
        and price.meter_id is None
        and (
            price.unit_amount_decimal is None
            or Fraction(price.unit_amount_decimal).denominator == 1
        )
    )


def licensed_amount(price: Price, item: SubscriptionItem) -> int:
    """What an item's quantity costs for one period: the locked unit amount times the
    quantity for simple prices, the price's model (tiers, packages, fractions of a minor
    unit) otherwise, rounded once."""
    if is_simple(price):
        return item.unit_amount_minor * item.quantity
    return line_amount(scheme_of(price), Fraction(item.quantity))
