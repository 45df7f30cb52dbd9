"""the risk dashboard: shelving, resolving, the timeline, and indexes for its filters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Additive: nullable columns, generated columns, a new table and indexes, so an older server
sharing the database keeps working (it never writes the new state SHELVED).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
TZ = sa.DateTime(timezone=True)
ORIGIN = (
    "CASE WHEN source = 'inspection' THEN 'inspection' "
    "WHEN source = 'diagnosis' THEN 'diagnosis' ELSE 'alert' END"
)
SEARCH = (
    "lower(coalesce(alert_name, '') || ' ' || coalesce(resource, '') || ' ' || "
    "coalesce(plan_name, '') || ' ' || fingerprint)"
)
SHOWN = "merged_into IS NULL"
SEVERITY_RANK = (
    "CASE lower(severity) WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'major' THEN 2 "
    "WHEN 'error' THEN 3 WHEN 'warning' THEN 4 WHEN 'minor' THEN 5 WHEN 'info' THEN 6 "
    "WHEN 'none' THEN 7 ELSE 8 END"
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("risk_event", sa.Column("shelved_until", TZ, nullable=True))
    op.add_column("risk_event", sa.Column("resolved_by", sa.String(200), nullable=True))
    op.add_column("risk_event", sa.Column("resolved_at", TZ, nullable=True))
    op.add_column(
        "risk_event",
        sa.Column("origin", sa.String(16), sa.Computed(ORIGIN, persisted=True), nullable=True),
    )
    op.add_column(
        "risk_event",
        sa.Column("search", sa.Text(), sa.Computed(SEARCH, persisted=True), nullable=True),
    )
    op.add_column(
        "risk_event",
        sa.Column(
            "severity_rank",
            sa.SmallInteger(),
            sa.Computed(SEVERITY_RANK, persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_risk_event_severity_rank",
        "risk_event",
        ["severity_rank", sa.text("last_received_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text(SHOWN),
    )
    # The dashboard's list: newest first, filtered by any of these, one index each.
    op.create_index(
        "ix_risk_event_newest",
        "risk_event",
        ["last_received_at", "id"],
        postgresql_where=sa.text(SHOWN),
    )
    for column in ("severity", "origin", "state", "plan_name"):
        op.create_index(
            f"ix_risk_event_{column}_newest",
            "risk_event",
            [column, "last_received_at", "id"],
            postgresql_where=sa.text(SHOWN),
        )
    op.create_index(
        "ix_risk_event_resource_newest",
        "risk_event",
        ["resource", "last_received_at"],
        postgresql_where=sa.text(SHOWN),
    )
    # The counts of what is not resolved, and the trend (events first seen per day).
    op.create_index(
        "ix_risk_event_unresolved",
        "risk_event",
        ["severity", "origin", "state"],
        postgresql_where=sa.text(f"{SHOWN} AND state <> 'RESOLVED'"),
    )
    op.create_index(
        "ix_risk_event_trend",
        "risk_event",
        ["first_received_at", "severity"],
        postgresql_where=sa.text(SHOWN),
    )
    op.create_index(
        "ix_risk_event_search",
        "risk_event",
        ["search"],
        postgresql_using="gin",
        postgresql_ops={"search": "gin_trgm_ops"},
        postgresql_where=sa.text(SHOWN),
    )
    op.create_index(
        "ix_risk_event_shelved",
        "risk_event",
        ["shelved_until"],
        postgresql_where=sa.text("state = 'SHELVED'"),
    )
    op.create_table(
        "risk_event_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("risk_event_id", sa.BigInteger(), nullable=False),
        sa.Column("at", TZ, server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("proven_by", sa.String(200), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("details", JSONB, server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.ForeignKeyConstraint(
            ["risk_event_id"],
            ["risk_event.id"],
            name=op.f("fk_risk_event_entry_risk_event_id_risk_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_event_entry")),
    )
    op.create_index("ix_risk_event_entry_event", "risk_event_entry", ["risk_event_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_risk_event_entry_event", table_name="risk_event_entry")
    op.drop_table("risk_event_entry")
    for name in (
        "ix_risk_event_severity_rank",
        "ix_risk_event_shelved",
        "ix_risk_event_search",
        "ix_risk_event_trend",
        "ix_risk_event_unresolved",
        "ix_risk_event_resource_newest",
        "ix_risk_event_plan_name_newest",
        "ix_risk_event_state_newest",
        "ix_risk_event_origin_newest",
        "ix_risk_event_severity_newest",
        "ix_risk_event_newest",
    ):
        op.drop_index(name, table_name="risk_event")
    for column in (
        "severity_rank",
        "search",
        "origin",
        "resolved_at",
        "resolved_by",
        "shelved_until",
    ):
        op.drop_column("risk_event", column)
