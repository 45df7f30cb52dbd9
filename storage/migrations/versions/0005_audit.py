"""audit: the history archive (hash chain) and finished executions made immutable

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Additive: one new table; triggers that refuse to change or delete the rows of an execution
once it has ended (`ended_at` set by its final record).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")

IMMUTABLE = """
CREATE FUNCTION nightwatch_finished_execution_is_immutable() RETURNS trigger AS $$
DECLARE
    finished text;
BEGIN
    IF TG_TABLE_NAME = 'pre_plan_execute_order' THEN
        IF OLD.ended_at IS NOT NULL THEN
            finished := OLD.execution_id;
        END IF;
    ELSE
        SELECT e.execution_id INTO finished FROM pre_plan_execute_order e
         WHERE e.id = OLD.execute_order_id AND e.ended_at IS NOT NULL;
    END IF;
    IF finished IS NOT NULL THEN
        RAISE EXCEPTION 'execution % has ended: its rows are immutable', finished
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER finished_execution_is_immutable
    BEFORE UPDATE OR DELETE ON pre_plan_execute_order
    FOR EACH ROW EXECUTE FUNCTION nightwatch_finished_execution_is_immutable();
CREATE TRIGGER finished_execution_is_immutable
    BEFORE UPDATE OR DELETE ON pre_plan_execute_node
    FOR EACH ROW EXECUTE FUNCTION nightwatch_finished_execution_is_immutable();
"""

APPEND_ONLY = """
CREATE FUNCTION nightwatch_archive_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the history archive is append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER archive_is_append_only
    BEFORE UPDATE OR DELETE ON history_archive
    FOR EACH ROW EXECUTE FUNCTION nightwatch_archive_is_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "history_archive",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("workflow_id", sa.String(300), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("execution_id", sa.String(200), nullable=False),
        sa.Column("workflow_type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("history_gz", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_archive")),
        sa.UniqueConstraint(
            "workflow_id", "run_id", name=op.f("uq_history_archive_workflow_id_run_id")
        ),
    )
    op.create_index("ix_history_archive_execution_id", "history_archive", ["execution_id"])
    op.execute(IMMUTABLE)
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TRIGGER archive_is_append_only ON history_archive")
    op.execute("DROP FUNCTION nightwatch_archive_is_append_only()")
    for table in ("pre_plan_execute_order", "pre_plan_execute_node"):
        op.execute(f"DROP TRIGGER finished_execution_is_immutable ON {table}")
    op.execute("DROP FUNCTION nightwatch_finished_execution_is_immutable()")
    op.drop_index("ix_history_archive_execution_id", table_name="history_archive")
    op.drop_table("history_archive")
