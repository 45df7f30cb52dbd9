"""The plan API application; `nightwatch api` and the local stack serve it with uvicorn."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import SecretStr

from api import codec, errors
from api.routes import router
from nightwatch import __version__, web
from nightwatch.config import Settings


def create_app(settings: Settings) -> FastAPI:
    app = web.app(
        title="Nightwatch API",
        version=__version__,
        description="Plans, the action catalog and parameter options. Errors are JSON "
        "`{error, path, reason, problems: [{path, reason}]}` with the paths the CLI prints.",
    )
    app.state.database_url = settings.effective_database_url
    app.state.settings = settings
    errors.install(app)
    web.install(app)
    app.include_router(router)
    app.include_router(codec.router)
    origins = settings.entries(SecretStr(settings.codec_cors_origins))
    if origins:  # the Web UI calls the codec endpoint from the browser
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace", "authorization"],
            allow_credentials=True,
        )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
