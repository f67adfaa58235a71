"""dispute evidence: the draft, its submission and its reminder on disputes; uploaded files

Expand only (a new table, new nullable columns): the previous release keeps working.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_files_size_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index(op.f("ix_files_created_at"), "files", ["created_at"], unique=False)
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("evidence", JSON, nullable=True))
        batch.add_column(sa.Column("evidence_updated_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("evidence_submitted_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("evidence_reminded_for", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.drop_column("evidence_reminded_for")
        batch.drop_column("evidence_submitted_at")
        batch.drop_column("evidence_updated_at")
        batch.drop_column("evidence")
    op.drop_index(op.f("ix_files_created_at"), table_name="files")
    op.drop_table("files")
