"""automatic inspection: check kinds, inspection plans, runs, results, flapping state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Additive: new tables, and nullable or defaulted columns on `risk_event`, so an older server
sharing the database keeps working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
NOW = sa.text("now()")
TZ = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def upgrade() -> None:
    op.create_table(
        "inspection_check_kind",
        _id(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("user_visible", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("invisible_reason", sa.Text(), nullable=True),
        sa.Column("synced_by_version", sa.String(64), nullable=False),
        sa.Column("retired_at", TZ, nullable=True),
        sa.Column("created_at", TZ, server_default=NOW, nullable=False),
        sa.Column("updated_at", TZ, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_check_kind")),
        sa.UniqueConstraint("code", name=op.f("uq_inspection_check_kind_code")),
    )
    op.create_table(
        "inspection_plan",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.String(250), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("pause_note", sa.Text(), nullable=True),
        sa.Column("missed_runs", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, server_default=NOW, nullable=False),
        sa.Column("updated_at", TZ, server_default=NOW, nullable=False),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_plan")),
        sa.UniqueConstraint("name", name=op.f("uq_inspection_plan_name")),
        sa.UniqueConstraint("schedule_id", name=op.f("uq_inspection_plan_schedule_id")),
    )
    op.create_table(
        "inspection_run",
        _id(),
        sa.Column("workflow_id", sa.String(250), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scheduled_at", TZ, nullable=True),
        sa.Column("started_at", TZ, server_default=NOW, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("checks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("work", JSONB, nullable=False),
        sa.Column("counts", JSONB, nullable=False),
        sa.Column("changes", JSONB, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plan.id"],
            name=op.f("fk_inspection_run_plan_id_inspection_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_run")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_inspection_run_workflow_id")),
    )
    op.create_index("ix_inspection_run_plan_started", "inspection_run", ["plan_id", "started_at"])
    op.create_table(
        "inspection_result",
        _id(),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("check_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("resource", sa.String(600), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("failures", JSONB, nullable=False),
        sa.Column("observed", JSONB, nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("checked_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["inspection_run.id"],
            name=op.f("fk_inspection_result_run_id_inspection_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plan.id"],
            name=op.f("fk_inspection_result_plan_id_inspection_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_result")),
        sa.UniqueConstraint(
            "run_id",
            "check_name",
            "target",
            name=op.f("uq_inspection_result_run_id_check_name_target"),
        ),
    )
    op.create_index(
        "ix_inspection_result_lookup",
        "inspection_result",
        ["plan_id", "check_name", "target", "checked_at"],
    )
    op.create_index("ix_inspection_result_checked_at", "inspection_result", ["checked_at"])
    op.add_column(
        "alert_rule",
        sa.Column("action", sa.String(16), server_default="start", nullable=False),
    )
    op.add_column("risk_event", sa.Column("resource", sa.String(600), nullable=True))
    op.add_column(
        "risk_event",
        sa.Column("sources", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column("risk_event", sa.Column("last_value", sa.Text(), nullable=True))
    op.add_column(
        "risk_event", sa.Column("flapping", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("risk_event", sa.Column("remediation", sa.Text(), nullable=True))
    op.add_column("risk_event", sa.Column("merged_into", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_risk_event_merged_into_risk_event"),
        "risk_event",
        "risk_event",
        ["merged_into"],
        ["id"],
    )
    op.create_index(
        "ix_risk_event_open_resource",
        "risk_event",
        ["resource"],
        postgresql_where=sa.text("state <> 'RESOLVED'"),
    )
    op.create_table(
        "inspection_state",
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("check_name", sa.String(200), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("recent", sa.String(64), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("flapping", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("since", TZ, nullable=False),
        sa.Column("last_run_id", sa.BigInteger(), nullable=False),
        sa.Column("risk_event_id", sa.BigInteger(), nullable=True),
        sa.Column("notified_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plan.id"],
            name=op.f("fk_inspection_state_plan_id_inspection_plan"),
        ),
        sa.ForeignKeyConstraint(
            ["risk_event_id"],
            ["risk_event.id"],
            name=op.f("fk_inspection_state_risk_event_id_risk_event"),
        ),
        sa.PrimaryKeyConstraint(
            "plan_id", "check_name", "target", name=op.f("pk_inspection_state")
        ),
    )
    op.create_table(
        "risk_event_run",
        sa.Column("risk_event_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("seen_at", TZ, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_event_id"],
            ["risk_event.id"],
            name=op.f("fk_risk_event_run_risk_event_id_risk_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["inspection_run.id"],
            name=op.f("fk_risk_event_run_run_id_inspection_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("risk_event_id", "run_id", name=op.f("pk_risk_event_run")),
    )


def downgrade() -> None:
    op.drop_table("risk_event_run")
    op.drop_table("inspection_state")
    op.drop_index("ix_risk_event_open_resource", table_name="risk_event")
    op.drop_column("alert_rule", "action")
    op.drop_constraint(
        op.f("fk_risk_event_merged_into_risk_event"), "risk_event", type_="foreignkey"
    )
    for column in ("merged_into", "remediation", "flapping", "last_value", "sources", "resource"):
        op.drop_column("risk_event", column)
    op.drop_index("ix_inspection_result_checked_at", table_name="inspection_result")
    op.drop_index("ix_inspection_result_lookup", table_name="inspection_result")
    op.drop_table("inspection_result")
    op.drop_index("ix_inspection_run_plan_started", table_name="inspection_run")
    op.drop_table("inspection_run")
    op.drop_table("inspection_plan")
    op.drop_table("inspection_check_kind")
