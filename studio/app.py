"""`flow studio DIR`: the studio alone, for one process owner at their own machine.

The same routes as under `flow serve` (studio/routes.py) behind the local door
(studio/access.py): on 127.0.0.1 unless told otherwise, reachable only by the host names
it was started with, and writing only inside DIR.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from server.app import HERE as SERVER_HERE
from server.app import Door, Settings, install_handlers
from studio.access import LOCAL_HOSTS, local_access
from studio.folder import Folder
from studio.routes import STUDIO_STATIC, studio_router


def create_studio_app(folder: Folder, host: str = "127.0.0.1", language: str = "en") -> FastAPI:
    """The studio over `folder`, reachable as `host` (and the loopback names)."""
    app = FastAPI(title="Flowdesk studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.language = language
    install_handlers(app)
    hosts = {*LOCAL_HOSTS, host}
    app.include_router(
        studio_router(folder, local_access(secrets.token_urlsafe(32), hosts)), prefix="/studio"
    )
    app.mount("/studio/static", StaticFiles(directory=STUDIO_STATIC), name="studio_static")
    app.mount("/static", StaticFiles(directory=SERVER_HERE / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/studio", status_code=303)

    app.add_middleware(Door, settings=Settings(language=language))
    return app


def serve(folder: Path, host: str, port: int, calendars: Path | None, language: str) -> None:
    import uvicorn

    from engine.loader import calendars_for

    chosen = Folder(folder, calendars_for(folder / "x.flow", calendars))
    app = create_studio_app(chosen, host, language)
    uvicorn.run(app, host=host, port=port, log_level="warning")
