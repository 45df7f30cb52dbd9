"""plan authoring: pending parameters, removed steps kept, one live MAIN plan per name

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Additive: two nullable columns and a partial unique index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pre_plan_step",
        sa.Column("pending_params", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("pre_plan_step", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.create_index(
        "uq_pre_plan_main_name",
        "pre_plan",
        ["name"],
        unique=True,
        postgresql_where=sa.text("type = 'MAIN' AND deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_pre_plan_main_name", table_name="pre_plan")
    op.drop_column("pre_plan_step", "deleted_at")
    op.drop_column("pre_plan_step", "pending_params")
