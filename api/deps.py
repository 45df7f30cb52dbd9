"""Request-scoped dependencies: a database session and the execution service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from executions.inspections import Inspections
from executions.service import Executions
from nightwatch.config import Settings
from nightwatch.temporal import connect
from storage.db import session_factory


def get_session(request: Request) -> Iterator[Session]:
    with session_factory(request.app.state.database_url)() as session:
        yield session


class TemporalLink:
    """The API's one Temporal client, connected at first use (the API answers plan and
    catalog reads while Temporal is still starting)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._executions: Executions | None = None
        self._inspections: Inspections | None = None
        self._lock = asyncio.Lock()

    async def inspections(self) -> Inspections:
        executions = await self.executions()
        if self._inspections is None:
            self._inspections = Inspections(
                executions.client,
                self.settings.task_queue,
                database_url=self.settings.effective_database_url,
            )
        return self._inspections

    async def executions(self) -> Executions:
        async with self._lock:
            if self._executions is None:
                client = await connect(self.settings, identity="nightwatch-api")
                self._executions = Executions(
                    client,
                    self.settings.task_queue,
                    database_url=self.settings.effective_database_url,
                    ring=self.settings.key_ring(),
                )
            return self._executions


async def get_executions(request: Request) -> Executions:
    link: TemporalLink = request.app.state.temporal
    return await link.executions()


async def get_inspections(request: Request) -> Inspections:
    link: TemporalLink = request.app.state.temporal
    return await link.inspections()


SessionDep = Annotated[Session, Depends(get_session)]
InspectionsDep = Annotated[Inspections, Depends(get_inspections)]
ExecutionsDep = Annotated[Executions, Depends(get_executions)]
