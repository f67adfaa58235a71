"""metering: meters, usage events (partitioned by month on PostgreSQL), their keys, hourly
roll-ups and distinct values; usage prices; invoices that bill usage in arrears

Expand only (new tables, new nullable or defaulted columns): the previous release keeps
working and bills flat prices as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
NUMBER = sa.String(80).with_variant(postgresql.NUMERIC(), "postgresql")


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


REASONS = ("subscription_create", "subscription_cycle", "subscription_update", "manual")


def _reasons(*values: str) -> sa.TextClause:
    return sa.text("billing_reason IN (" + ", ".join(f"'{v}'" for v in values) + ")")


def _recreate() -> str:
    """SQLite changes a CHECK constraint only by copying the table; PostgreSQL alters it."""
    return "auto" if op.get_bind().dialect.name == "postgresql" else "always"


def _when() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "meters",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column(
            "aggregation",
            _enum(
                "aggregation", 16, "count", "sum", "max", "unique_count", "latest", "weighted_sum"
            ),
            nullable=False,
        ),
        sa.Column("value_property", sa.String(length=100), nullable=True),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        _when(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("key", name=op.f("uq_meters_key")),
    )
    op.create_index(op.f("ix_meters_created_at"), "meters", ["created_at"], unique=False)
    op.create_table(
        "usage_keys",
        sa.Column("sender", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender", "idempotency_key", name=op.f("pk_usage_keys")),
    )
    op.create_index("ix_usage_keys_received_at", "usage_keys", ["received_at"], unique=False)
    op.create_table(
        "usage_events",
        sa.Column("sender", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("value", NUMBER, nullable=True),
        sa.Column("distinct_value", sa.String(length=255), nullable=True),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "sender", "idempotency_key", "timestamp", name=op.f("pk_usage_events")
        ),
        postgresql_partition_by="RANGE (timestamp)",
    )
    op.create_index(
        "ix_usage_events_customer_meter_time",
        "usage_events",
        ["customer_id", "meter_id", "timestamp"],
        unique=False,
    )
    op.create_index(
        "ix_usage_events_timestamp_brin",
        "usage_events",
        ["timestamp"],
        postgresql_using="brin",
    )
    if postgres:
        # The default partition takes what no month holds (a test clock's far future); the
        # worker creates months ahead (app/services/metering/partitions.py).
        op.execute("CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT")
        now = datetime.now(UTC)
        for offset in range(-2, 3):
            total = now.year * 12 + now.month - 1 + offset
            start = datetime(total // 12, total % 12 + 1, 1, tzinfo=UTC)
            after = total + 1
            end = datetime(after // 12, after % 12 + 1, 1, tzinfo=UTC)
            op.execute(
                f"CREATE TABLE usage_events_{start:%Y_%m} PARTITION OF usage_events "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
    op.create_table(
        "usage_rollups",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", NUMBER, nullable=False),
        sa.Column("maximum", NUMBER, nullable=True),
        sa.Column("latest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_key", sa.String(length=255), nullable=True),
        sa.Column("latest_value", NUMBER, nullable=True),
        sa.Column("weighted", NUMBER, nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_usage_rollups_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint("meter_id", "customer_id", "hour", name=op.f("pk_usage_rollups")),
    )
    op.create_table(
        "usage_distinct",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint(
            "meter_id", "customer_id", "hour", "value", name=op.f("pk_usage_distinct")
        ),
    )
    with op.batch_alter_table("prices") as batch:
        batch.add_column(
            sa.Column(
                "model",
                _enum(
                    "price_model", 24, "per_unit", "tiered_graduated", "tiered_volume", "package"
                ),
                server_default="per_unit",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("unit_amount_decimal", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("tiers", JSON, nullable=True))
        batch.add_column(sa.Column("package_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("meter_id", sa.Uuid(), nullable=True))
        batch.create_index(batch.f("ix_prices_meter_id"), ["meter_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_prices_meter_id_meters"), "meters", ["meter_id"], ["id"]
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("invoice_finalizes_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("usage_threshold_minor", sa.BigInteger(), nullable=True))
    op.create_table(
        "usage_alerts",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.String(length=80), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        _when(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_usage_alerts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_usage_alerts_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_alerts")),
    )
    op.create_index(op.f("ix_usage_alerts_created_at"), "usage_alerts", ["created_at"])
    op.create_index(op.f("ix_usage_alerts_meter_id"), "usage_alerts", ["meter_id"])
    op.create_table(
        "usage_alert_triggers",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.String(length=80), nullable=False),
        sa.Column("threshold", sa.String(length=80), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _when(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["usage_alerts.id"],
            name=op.f("fk_usage_alert_triggers_alert_id_usage_alerts"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_usage_alert_triggers_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_usage_alert_triggers_meter_id_meters")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_alert_triggers_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_alert_triggers")),
        sa.UniqueConstraint(
            "alert_id", "customer_id", "period_start", name="uq_usage_alert_triggers_period"
        ),
    )
    op.create_index(
        op.f("ix_usage_alert_triggers_created_at"), "usage_alert_triggers", ["created_at"]
    )
    op.create_index(
        op.f("ix_usage_alert_triggers_customer_id"), "usage_alert_triggers", ["customer_id"]
    )
    with op.batch_alter_table("invoices", recreate=_recreate()) as batch:
        batch.add_column(sa.Column("usage_period_start", sa.DateTime(timezone=True), nullable=True))
        # a new billing reason: an invoice issued mid-period at a usage threshold
        batch.drop_constraint(op.f("ck_invoices_billing_reason"), type_="check")
        batch.create_check_constraint(
            op.f("ck_invoices_billing_reason"), _reasons(*REASONS, "subscription_threshold")
        )
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column("usage_quantity", sa.String(length=80), nullable=True))
        batch.add_column(
            sa.Column(
                "usage_adjustment", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_column("usage_adjustment")
        batch.drop_column("usage_quantity")
    with op.batch_alter_table("invoices", recreate=_recreate()) as batch:
        batch.drop_column("usage_period_start")
        batch.drop_constraint(op.f("ck_invoices_billing_reason"), type_="check")
        batch.create_check_constraint(op.f("ck_invoices_billing_reason"), _reasons(*REASONS))
    op.drop_table("usage_alert_triggers")
    op.drop_table("usage_alerts")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("usage_threshold_minor")
        batch.drop_column("invoice_finalizes_at")
    with op.batch_alter_table("prices") as batch:
        batch.drop_constraint(batch.f("fk_prices_meter_id_meters"), type_="foreignkey")
        batch.drop_index(batch.f("ix_prices_meter_id"))
        batch.drop_column("meter_id")
        batch.drop_column("package_size")
        batch.drop_column("tiers")
        batch.drop_column("unit_amount_decimal")
        batch.drop_column("model")
    op.drop_table("usage_distinct")
    op.drop_table("usage_rollups")
    op.drop_table("usage_events")  # and its partitions
    op.drop_table("usage_keys")
    op.drop_table("meters")
