"""The plan API application; `nightwatch api` and the local stack serve it with uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.routes import router
from nightwatch import __version__
from nightwatch.config import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Nightwatch API",
        version=__version__,
        description="Plans, the action catalog and parameter options. Errors are JSON "
        "`{error, path, reason, problems: [{path, reason}]}` with the paths the CLI prints.",
    )
    app.state.database_url = settings.effective_database_url
    errors.install(app)
    app.include_router(router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
