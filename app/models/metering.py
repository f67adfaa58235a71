"""Metering: meters, the raw usage events they count, and what keeps reading them cheap.

- ``usage_events`` is append-only; on PostgreSQL it is partitioned by month of the event's
  time (``RANGE (timestamp)``, created ahead by the worker, with a default partition so that
  no event is ever refused for want of one), with a BRIN index on time;
- ``usage_keys`` makes each sender's idempotency key count once: a unique constraint cannot
  span partitions, so the keys live in a table of their own, purged after 35 days;
- ``usage_rollups`` holds each meter's per-customer figures of each hour, kept current by an
  upsert in the same transaction as the events, so that a period is read from at most a few
  hundred roll-up rows plus the raw events of the (at most two) hours its bounds cut;
- ``usage_distinct`` holds each hour's distinct values of a ``UNIQUE_COUNT`` meter.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.metering import Aggregation
from app.models.base import Base, Entity, ExactDecimal, JSONDocument, UTCDateTime, enum_column


class Meter(Entity):
    __tablename__ = "meters"

    key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    aggregation: Mapped[Aggregation] = mapped_column(enum_column(Aggregation, "aggregation", 16))
    # The property whose value is aggregated (null: the event's own ``value``).
    value_property: Mapped[str | None] = mapped_column(sa.String(100))
    # Only events whose properties have one of the listed values for each key count.
    filters: Mapped[dict[str, list[str]]] = mapped_column(JSONDocument, default=dict)
    archived_at: Mapped[datetime | None]


class UsageKey(Base):
    __tablename__ = "usage_keys"
    # the keys arrive in time order: BRIN finds the expired ones (migration 0014)
    __table_args__ = (
        sa.Index("ix_usage_keys_received_at_brin", "received_at", postgresql_using="brin"),
    )

    sender: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (
        sa.Index("ix_usage_events_customer_meter_time", "customer_id", "meter_id", "timestamp"),
        sa.Index("ix_usage_events_timestamp_brin", "timestamp", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (timestamp)"},
    )
    __mapper_args__ = {"primary_key": ("sender", "idempotency_key", "timestamp")}

    # A sender's key is unique: usage_keys says so, and the table has no primary key of its
    # own on PostgreSQL (migration 0014); the mapper's identity is the same three columns.
    sender: Mapped[str] = mapped_column(sa.String(100))
    idempotency_key: Mapped[str] = mapped_column(sa.String(255))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    # No foreign keys: ingestion checked them, and a partitioned table's checks cost every
    # insert (customers are never deleted; an erasure pseudonymises them).
    meter_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID]
    subscription_id: Mapped[uuid.UUID | None]
    value: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    distinct_value: Mapped[str | None] = mapped_column(sa.String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # Whether the meter's filters admitted it when it arrived (recomputed if they change).
    counted: Mapped[bool]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageRollup(Base):
    __tablename__ = "usage_rollups"

    meter_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("meters.id"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)
    total: Mapped[Decimal] = mapped_column(ExactDecimal())
    maximum: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    latest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    latest_key: Mapped[str | None] = mapped_column(sa.String(255))
    latest_value: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    weighted: Mapped[Decimal] = mapped_column(ExactDecimal())  # sum of value x epoch


class UsageDistinct(Base):
    __tablename__ = "usage_distinct"

    meter_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(255), primary_key=True)


class UsageAlert(Entity):
    """Tell the merchant (event ``usage.alert_triggered``) when a customer's usage of a meter
    in a billing period reaches ``quantity``: one customer's, or every customer's."""

    __tablename__ = "usage_alerts"

    meter_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("meters.id"), index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("customers.id"))
    quantity: Mapped[str] = mapped_column(sa.String(80))  # exact decimal text
    archived_at: Mapped[datetime | None]


class UsageAlertTrigger(Entity):
    """An alert reached, once per customer and billing period (a unique key)."""

    __tablename__ = "usage_alert_triggers"
    __table_args__ = (
        sa.UniqueConstraint(
            "alert_id", "customer_id", "period_start", name="uq_usage_alert_triggers_period"
        ),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("usage_alerts.id"))
    meter_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("meters.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("subscriptions.id"))
    period_start: Mapped[datetime]
    quantity: Mapped[str] = mapped_column(sa.String(80))  # the usage when it was seen
    threshold: Mapped[str] = mapped_column(sa.String(80))
