"""The studio's routes: its page, the folder's files, the diagram, playing a case, and the
language server over a websocket. Mounted at /studio by `flow studio` and by `flow serve`;
only the door (`studio/access.py`) differs between the two. (No `from __future__ import
annotations`: FastAPI must see the dependency `User`, which is local to `studio_router`.)"""

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from dsl.formatter import format_source
from engine import limits
from engine.i18n import current_language, html_lang, msgn, tr
from language_server.websocket import serve_socket
from server.app import request_language
from server.diagram import layout
from server.problems import Problem
from studio.access import Access, StudioUser
from studio.folder import Folder
from studio.page_text import page_text
from studio.play import Edited, PlayRequest, ScenarioRun, compiled, play_by_hand, run_scenario_file

HERE = Path(__file__).parent
STUDIO_STATIC = HERE / "static"
POLICY_VIOLATION = 1008  # websocket close code: the door said no

# the bundle's address changes with its content, so a browser never runs a stale editor
BUNDLE_VERSION = hashlib.sha256((STUDIO_STATIC / "studio.js").read_bytes()).hexdigest()[:12]
templates = Jinja2Templates(directory=[HERE / "templates", HERE.parent / "server" / "templates"])
templates.env.globals.update(_=tr, html_lang=html_lang)


class Saving(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=limits.MAX_FILE_BYTES)
    confirm: bool = False  # save although the flow has errors


class Drawing(Edited):
    current: str | None = Field(default=None, max_length=200)


def studio_router(folder: Folder, access: Access) -> APIRouter:
    """The studio over one folder, behind one door."""
    router = APIRouter(include_in_schema=False)

    def studio_user(conn: HTTPConnection) -> StudioUser:
        return access(conn)

    User = Annotated[StudioUser, Depends(studio_user)]

    @router.get("", response_class=HTMLResponse)
    def page(request: Request, user: User) -> HTMLResponse:
        base = request.scope.get("root_path", "") + "/studio"
        config = {
            "base": base,
            "csrf": user.csrf,
            "folder_uri": folder.root.as_uri() + "/",
            "flows": folder.flows(),
            "language": current_language(),
            "text": page_text(),
        }
        return templates.TemplateResponse(
            request,
            "studio.html",
            {
                "config": json.dumps(config, ensure_ascii=False).replace("<", "\\u003c"),
                "user": user,
                "base": base,
                "folder": folder.root.name,
                "version": BUNDLE_VERSION,
            },
        )

    @router.get("/api/files")
    def files(user: User) -> dict[str, Any]:
        return {
            "flows": folder.flows(),
            "scenarios": [{"name": s.name, "flow": s.flow} for s in folder.scenarios()],
        }

    @router.get("/api/files/{name}")
    def read(name: str, user: User) -> dict[str, Any]:
        return {"name": name, "uri": folder.uri(name), "text": folder.read(name)}

    @router.put("/api/files/{name}")
    def save(name: str, body: Saving, user: User) -> dict[str, Any]:
        """Save the text formatted; a text with errors only when `confirm` says so."""
        result = folder.check(name, body.text)
        errors = len(result.errors)
        if errors and not body.confirm:
            raise Problem(
                409,
                "flow_has_errors",
                msgn(
                    "the flow has {count} error; it was not saved",
                    "the flow has {count} errors; it was not saved",
                    errors,
                ),
            )
        # a text that parsed formats (format_source refuses only what does not parse)
        text = format_source(body.text, name) if result.flow is not None else body.text
        folder.save(name, text)
        return {"name": name, "text": text, "formatted": text != body.text, "errors": errors}

    @router.post("/api/diagram")
    def diagram(body: Drawing, user: User) -> dict[str, Any]:
        """The flow drawn, or `svg: null` while the text has errors (the page keeps the last
        drawing, greyed)."""
        try:
            definition = compiled(folder, body)
        except Problem:
            return {"svg": None}
        drawing = layout(definition, body.current)
        title = definition.label or definition.name
        svg = templates.get_template("_diagram.html").render(drawing=drawing, title=title)
        return {
            "svg": svg,
            "flow": definition.name,
            "roles": list(definition.roles),
            "openers": list(definition.openers) or list(definition.roles),
        }

    @router.post("/api/play")
    def play(body: PlayRequest, user: User) -> dict[str, Any]:
        return play_by_hand(folder, body, current_language())

    @router.post("/api/scenario")
    def scenario(body: ScenarioRun, user: User) -> dict[str, Any]:
        return run_scenario_file(folder, body, current_language())

    @router.websocket("/lsp")
    async def language_server(socket: WebSocket) -> None:
        try:
            access(socket)
        except Problem:
            await socket.close(POLICY_VIOLATION)
            return
        await socket.accept()
        chosen = request_language(socket.scope, socket.app.state.language)
        await serve_socket(socket, folder.owns, chosen)

    return router
