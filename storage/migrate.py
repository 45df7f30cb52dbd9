"""Bring the schema to head: safe when several servers start at once, and never backwards.

Migrations run under a PostgreSQL advisory lock, so concurrent servers queue and the
later ones find nothing to do. A database already migrated by a newer server (a revision
this code does not know) is left as it is: migrations are additive, so this server keeps
working on the newer schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from nightwatch.errors import DatabaseError
from nightwatch.logs import get_logger
from storage.db import check_reachable, engine, shown_url

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed 64-bit number; shared by every Nightwatch version so they all queue on it.
MIGRATION_LOCK_KEY = 0x4E57_4D49_4752  # "NWMIGR"
LOCK_WAIT = "120s"

log = get_logger("nightwatch.storage.migrate")


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None
    head: str
    newer_schema: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "storage/migrations has no revision"
    return head


def current_revision(url: str) -> str | None:
    with engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> MigrationResult:
    """Upgrade to head under the migration lock; raise DatabaseError in one line on failure."""
    check_reachable(url)
    script = ScriptDirectory.from_config(alembic_config())
    head = head_revision()
    try:
        with engine(url).connect() as conn:
            conn.execute(text(f"set lock_timeout = '{LOCK_WAIT}'"))
            conn.execute(text("select pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                before = MigrationContext.configure(conn).get_current_revision()
                conn.commit()
                if before is not None and not _known(script, before):
                    log.warning(
                        "database schema is newer than this server; leaving it as it is",
                        database_revision=before,
                        server_head=head,
                    )
                    return MigrationResult(before, before, head, newer_schema=True)
                config = alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
                after = MigrationContext.configure(conn).get_current_revision()
                conn.commit()
            finally:
                conn.execute(text("select pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "lock timeout" in reason:
            reason = f"another server held the migration lock for over {LOCK_WAIT}"
        raise DatabaseError(shown_url(url), f"migration failed: {reason}") from None
    if before != after:
        log.info("database schema upgraded", before=before, after=after)
    return MigrationResult(before, after, head)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        return False
