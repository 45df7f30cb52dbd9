"""identity: browser sessions, groups of local accounts, the four-eyes rule of a plan

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Additive: a new table and two columns with defaults, so an older server sharing the
database keeps working (it neither reads nor writes them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
NOW = sa.text("now()")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("identity", JSONB, nullable=True),
        sa.Column("pending", JSONB, nullable=True),
        sa.Column("created_at", TZ, server_default=NOW, nullable=False),
        sa.Column("last_seen_at", TZ, server_default=NOW, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_web_session_secret_hash")),
    )
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"])
    op.add_column(
        "account", sa.Column("groups", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False)
    )
    op.add_column(
        "api_token",
        sa.Column("groups", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column(
        "pre_plan",
        sa.Column("four_eyes", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("pre_plan", "four_eyes")
    op.drop_column("api_token", "groups")
    op.drop_column("account", "groups")
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_table("web_session")
