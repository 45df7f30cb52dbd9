"""archive: index on closed_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Additive: each archiver pass asks for the newest `closed_at` and the rows since then; with
the index neither reads the whole archive, however large it has grown.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_history_archive_closed_at", "history_archive", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_history_archive_closed_at", table_name="history_archive")
