"""alerts: routing rules and risk events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Additive: two new tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("matchers", JSONB, nullable=False),
        sa.Column("plan_name", sa.String(200), nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("signal_resolved", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rule")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_rule_name")),
    )
    op.create_table(
        "risk_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("episode", sa.String(200), nullable=False),
        sa.Column("alert_name", sa.String(200), nullable=True),
        sa.Column("severity", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("labels", JSONB, nullable=False),
        sa.Column("annotations", JSONB, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("plan_name", sa.String(200), nullable=True),
        sa.Column("execution_id", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "first_received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False
        ),
        sa.Column(
            "last_received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alert_rule.id"], name=op.f("fk_risk_event_rule_id_alert_rule")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_event")),
        sa.UniqueConstraint(
            "source",
            "fingerprint",
            "episode",
            name=op.f("uq_risk_event_source_fingerprint_episode"),
        ),
    )
    op.create_index("ix_risk_event_state", "risk_event", ["state"])
    op.create_index(
        "ix_risk_event_plan_started",
        "risk_event",
        ["plan_name"],
        postgresql_where=sa.text("outcome = 'STARTED'"),
    )
    op.create_index(op.f("ix_risk_event_execution_id"), "risk_event", ["execution_id"])


def downgrade() -> None:
    op.drop_table("risk_event")
    op.drop_table("alert_rule")
