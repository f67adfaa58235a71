"""Pricing experiments: the experiment and its variants, the units assigned to them
(sticky), and the log of offers shown (exposures, append-only)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.experiments.lifecycle import ExperimentStatus, Platform
from app.domain.ids import new_id
from app.models.base import Base, Entity, JSONDocument, UTCDateTime, enum_column


class Experiment(Entity):
    __tablename__ = "experiments"
    __table_args__ = (
        sa.CheckConstraint("traffic_bp BETWEEN 1 AND 10000", name="traffic_range"),
        sa.CheckConstraint(
            "layer_offset IS NULL OR (layer_offset >= 0 AND layer_offset + traffic_bp <= 10000)",
            name="layer_range",
        ),
        sa.CheckConstraint("alpha_bp BETWEEN 1 AND 2000", name="alpha_range"),
        sa.CheckConstraint("mde_bp BETWEEN 1 AND 10000", name="mde_range"),
    )

    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    hypothesis: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[ExperimentStatus] = mapped_column(
        enum_column(ExperimentStatus, "experiment_status", 16), index=True
    )
    # Why it was last paused or concluded (a guardrail, or the person's note).
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id"), index=True)
    # Visitors asking for another currency are not in the experiment; revenue is in it.
    currency: Mapped[str] = mapped_column(sa.String(3))
    traffic_bp: Mapped[int]  # share of the layer's units, in basis points
    salt: Mapped[str] = mapped_column(sa.String(64))
    layer: Mapped[str] = mapped_column(sa.String(64), index=True)
    # The first of the layer's buckets it owns while running or paused (null otherwise).
    layer_offset: Mapped[int | None]
    new_customers_only: Mapped[bool] = mapped_column(default=True)
    countries: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    platforms: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    max_refund_rate_bp: Mapped[int | None]
    max_dispute_rate_bp: Mapped[int | None]
    max_payment_failure_rate_bp: Mapped[int | None]
    guardrail_min_payments: Mapped[int] = mapped_column(default=50)
    alpha_bp: Mapped[int] = mapped_column(default=500)
    mde_bp: Mapped[int] = mapped_column(default=1000)
    winner_variant_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey(
            "experiment_variants.id",
            use_alter=True,
            name="fk_experiments_winner_variant_id_experiment_variants",
        )
    )
    winner_shipped: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    concluded_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class ExperimentVariant(Entity):
    """One arm: its weight, and what it changes (a price, a trial length, a coupon).
    Position 0 is the control."""

    __tablename__ = "experiment_variants"
    __table_args__ = (
        sa.UniqueConstraint("experiment_id", "position", name="uq_experiment_variants_position"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_experiment_variants_name"),
        sa.CheckConstraint("weight BETWEEN 1 AND 10000", name="weight_range"),
        sa.CheckConstraint(
            "trial_period_days IS NULL OR trial_period_days BETWEEN 0 AND 730",
            name="trial_range",
        ),
    )

    experiment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("experiments.id"), index=True)
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    name: Mapped[str] = mapped_column(sa.String(64))
    weight: Mapped[int]
    price_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("prices.id"))
    trial_period_days: Mapped[int | None] = mapped_column(sa.SmallInteger)
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("coupons.id"))


class ExperimentAssignment(Entity):
    """A unit's variant in an experiment: made once, at its first offer, and kept (sticky
    even if the audience or the unit's country change). An anonymous visitor's assignment
    is linked to the customer they become (``customer_id``)."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (
        sa.UniqueConstraint("experiment_id", "unit", name="uq_experiment_assignments_unit"),
        # NULLs are distinct: many anonymous rows, one row per customer and experiment.
        sa.UniqueConstraint(
            "experiment_id", "customer_id", name="uq_experiment_assignments_customer"
        ),
    )

    experiment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("experiments.id"))
    variant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("experiment_variants.id"), index=True
    )
    unit: Mapped[str] = mapped_column(sa.String(200))
    anonymous_id: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    platform: Mapped[Platform | None] = mapped_column(enum_column(Platform, "platform", 16))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    first_exposed_at: Mapped[datetime | None]
    # The customer's net payments before the first exposure: CUPED's covariate.
    pre_revenue_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ExperimentExposure(Base):
    """An offer shown to an assigned unit: what was shown, when, where. Append-only."""

    __tablename__ = "experiment_exposures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("experiments.id"), index=True)
    assignment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("experiment_assignments.id"), index=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("experiment_variants.id"))
    price_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("prices.id"))
    trial_period_days: Mapped[int | None] = mapped_column(sa.SmallInteger)
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("coupons.id"))
    platform: Mapped[Platform | None] = mapped_column(enum_column(Platform, "platform", 16))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
