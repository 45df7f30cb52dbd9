"""catalog sync: row versions, declared visibility, exactly-once initialisation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Additive: new nullable or defaulted columns and a new index only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pre_plan_action",
        sa.Column("declared_visible", sa.Boolean(), server_default="true", nullable=False),
    )
    for table in ("pre_plan_action", "system_config", "feature_switch"):
        op.add_column(table, sa.Column("synced_by_version", sa.String(length=64), nullable=True))
    op.create_index(
        "uq_init_task_run_once",
        "init_task_run",
        ["task", "deployment"],
        unique=True,
        postgresql_where=sa.text("state = 'SUCCEEDED' AND strategy <> 'EVERY_SERVER'"),
    )


def downgrade() -> None:
    op.drop_index("uq_init_task_run_once", table_name="init_task_run")
    for table in ("pre_plan_action", "system_config", "feature_switch"):
        op.drop_column(table, "synced_by_version")
    op.drop_column("pre_plan_action", "declared_visible")
