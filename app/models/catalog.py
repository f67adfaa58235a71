"""The price catalog: products and their prices (immutable once created, as in Stripe)."""

from __future__ import annotations

import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.billing import RecurringInterval
from app.domain.metering import PriceModel
from app.models.base import Entity, JSONDocument, enum_column


class PriceType(enum.Enum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"


class Product(Entity):
    __tablename__ = "products"

    name: Mapped[str] = mapped_column(sa.String(256))
    description: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", default=dict)
    # Feature keys a subscription to this product entitles a customer to.
    features: Mapped[list[str]] = mapped_column(
        JSONDocument, default=list, server_default=sa.text("'[]'")
    )

    # The price new customers are offered (``checkoutOffer``) outside experiments.
    default_price_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("prices.id", use_alter=True, name="fk_products_default_price_id_prices")
    )

    prices: Mapped[list[Price]] = relationship(
        back_populates="product", lazy="raise", foreign_keys="Price.product_id"
    )


class Price(Entity):
    __tablename__ = "prices"
    __table_args__ = (
        sa.CheckConstraint("unit_amount_minor >= 0", name="unit_amount_not_negative"),
        sa.CheckConstraint(
            "(type = 'recurring' AND recurring_interval IS NOT NULL"
            " AND recurring_interval_count BETWEEN 1 AND 365)"
            " OR (type = 'one_time' AND recurring_interval IS NULL"
            " AND recurring_interval_count IS NULL AND trial_period_days IS NULL)",
            name="recurring_shape",
        ),
        sa.CheckConstraint(
            "trial_period_days IS NULL OR trial_period_days BETWEEN 1 AND 730",
            name="trial_period_days_range",
        ),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    currency: Mapped[str] = mapped_column(sa.String(3))
    unit_amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[PriceType] = mapped_column(enum_column(PriceType, "price_type", 16))
    recurring_interval: Mapped[RecurringInterval | None] = mapped_column(
        enum_column(RecurringInterval, "recurring_interval", 16)
    )
    recurring_interval_count: Mapped[int | None] = mapped_column(sa.SmallInteger)
    trial_period_days: Mapped[int | None] = mapped_column(sa.SmallInteger)
    active: Mapped[bool] = mapped_column(default=True)
    lookup_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    nickname: Mapped[str | None] = mapped_column(sa.String(256))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", default=dict)
    # Usage-based pricing (app/domain/metering.py). ``unit_amount_decimal`` is the exact
    # unit amount in minor units (``"0.25"``: a quarter of a cent), ``unit_amount_minor``
    # its whole part; ``tiers`` are ``[{"up_to", "unit_amount", "flat_amount_minor"}]``
    # with decimal text amounts. A price with a meter bills that meter's usage in arrears.
    model: Mapped[PriceModel] = mapped_column(
        enum_column(PriceModel, "price_model", 24), default=PriceModel.PER_UNIT,
        server_default=PriceModel.PER_UNIT.value,
    )  # fmt: skip
    unit_amount_decimal: Mapped[str | None] = mapped_column(sa.String(40))
    tiers: Mapped[list[dict[str, object]] | None] = mapped_column(JSONDocument)
    package_size: Mapped[int | None]
    meter_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("meters.id"), index=True)

    product: Mapped[Product] = relationship(
        back_populates="prices", lazy="raise", foreign_keys=[product_id]
    )
