"""What every command needs: the settings (logging configured once) and database sessions."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from nightwatch.config import Settings, load_settings
from nightwatch.logs import configure_logging
from storage.db import session_factory


def settings() -> Settings:
    loaded = load_settings()
    configure_logging(loaded, command_line=True)
    return loaded


def sessions() -> sessionmaker[Session]:
    return session_factory(settings().effective_database_url)
