"""usage ingestion's indexes: usage_events without its primary key on PostgreSQL, and the
keys' arrival time indexed by BRIN

Each usage event's uniqueness is usage_keys' (its sender and key, unique for 35 days): the
events' own primary key (sender, key, time) checked nothing more and cost a random-order
B-tree insert per event (a third of the event's write-ahead log). The keys arrive in time
order, so a BRIN index finds the expired ones as well as a B-tree at a tiny fraction of its
upkeep. SQLite keeps its key (its recount updates events one by one through it).

Both indexes are built and dropped CONCURRENTLY on PostgreSQL: ingestion goes on meanwhile.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("ix_usage_keys_received_at_brin", "usage_keys", ["received_at"])
        op.drop_index("ix_usage_keys_received_at", table_name="usage_keys")
        return
    op.execute("ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS pk_usage_events")
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_usage_keys_received_at_brin"
            " ON usage_keys USING brin (received_at)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_usage_keys_received_at")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("ix_usage_keys_received_at", "usage_keys", ["received_at"])
        op.drop_index("ix_usage_keys_received_at_brin", table_name="usage_keys")
        return
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_usage_keys_received_at"
            " ON usage_keys (received_at)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_usage_keys_received_at_brin")
    op.execute(
        "ALTER TABLE usage_events ADD CONSTRAINT pk_usage_events"
        " PRIMARY KEY (sender, idempotency_key, timestamp)"
    )
