"""Diagnostics: prove from inside a worker that the database answers and the schema is current."""

from __future__ import annotations

from sqlalchemy import text
from temporalio import activity

from storage.db import async_engine
from storage.migrate import head_revision
from workflows.diagnostics import DatabaseReport


class DiagnosticsActivities:
    def __init__(self, database_url: str) -> None:
        self._url = database_url

    @activity.defn
    async def check_database(self) -> DatabaseReport:
        async with async_engine(self._url).connect() as conn:
            version = (await conn.execute(text("show server_version"))).scalar_one()
            revision = (
                await conn.execute(text("select max(version_num) from alembic_version"))
            ).scalar_one()
        return DatabaseReport(
            server_version=str(version), schema_revision=revision, code_head=head_revision()
        )
