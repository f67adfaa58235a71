"""The demo catalog of the embedded mode, seeded idempotently (fixed keys)."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.models import Price, PriceType, Product, RecurringInterval

_NAMESPACE = uuid.UUID("5d1b0b4e-6f0a-4c55-9a53-8f1f2a7c0001")

# (lookup key, currency, minor units, interval or None for one-time, trial days)
DemoPrice = tuple[str, str, int, RecurringInterval | None, int | None]
DEMO_CATALOG: list[tuple[str, str, list[DemoPrice]]] = [
    (
        "Starter",
        "For side projects: one seat, community support.",
        [
            ("starter_monthly_usd", "USD", 900, RecurringInterval.MONTH, 14),
            ("starter_monthly_eur", "EUR", 900, RecurringInterval.MONTH, 14),
        ],
    ),
    (
        "Pro",
        "For teams: five seats, priority support.",
        [
            ("pro_monthly_usd", "USD", 2900, RecurringInterval.MONTH, 14),
            ("pro_yearly_usd", "USD", 29000, RecurringInterval.YEAR, None),
            ("pro_monthly_jpy", "JPY", 4200, RecurringInterval.MONTH, 14),
        ],
    ),
    (
        "Onboarding session",
        "A one-hour call with an expert.",
        [("onboarding_usd", "USD", 15000, None, None)],
    ),
]


async def seed_demo_catalog(session: AsyncSession, *, clock: Clock) -> int:
    """Insert what is missing of the demo catalog; return how many rows were added."""
    added = 0
    now = clock.now()
    for name, description, prices in DEMO_CATALOG:
        product_id = uuid.uuid5(_NAMESPACE, name)
        if await session.get(Product, product_id) is None:
            session.add(
                Product(
                    id=product_id,
                    name=name,
                    description=description,
                    active=True,
                    metadata_={"demo": "true"},
                    created_at=now,
                    updated_at=now,
                )
            )
            added += 1
        for lookup_key, currency, minor, interval, trial in prices:
            price_id = uuid.uuid5(_NAMESPACE, lookup_key)
            if await session.get(Price, price_id) is not None:
                continue
            session.add(
                Price(
                    id=price_id,
                    product_id=product_id,
                    currency=currency,
                    unit_amount_minor=minor,
                    type=PriceType.RECURRING if interval else PriceType.ONE_TIME,
                    recurring_interval=interval,
                    recurring_interval_count=1 if interval else None,
                    trial_period_days=trial,
                    lookup_key=lookup_key,
                    active=True,
                    metadata_={"demo": "true"},
                    created_at=now,
                    updated_at=now,
                )
            )
            added += 1
    await session.commit()
    return added
