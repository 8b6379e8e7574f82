"""The language server over a websocket: the studio's editor, or `flow lsp --ws PORT`.

One server per connection, so two browser tabs never share documents. A message is one
JSON-RPC text frame (no Content-Length header). The bridge refuses what a browser must not
do to the process serving it: `exit` closes the connection instead of the process, a frame
over the size limit closes it, and a document outside the folder given is not opened.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from engine import limits
from language_server.server import FlowServer, create_server

MAX_FRAME = limits.MAX_FILE_BYTES + 64 * 1024  # a whole flow, with its JSON-RPC envelope
TOO_BIG = 1009  # the websocket close code for a message too big to process
log = logging.getLogger(__name__)


class _Writer:
    """pygls' writer interface onto a Starlette websocket; a send after the browser left is
    dropped, not raised into the event loop."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket

    def write(self, data: bytes) -> Awaitable[None]:
        return self._send(data.decode("utf-8"))

    async def _send(self, text: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.socket.send_text(text)

    def close(self) -> Awaitable[None]:
        return self.socket.close()


def document_uri(message: dict[str, Any]) -> str | None:
    """The `textDocument.uri` a message is about, if any."""
    params = message.get("params")
    document = params.get("textDocument") if isinstance(params, dict) else None
    uri = document.get("uri") if isinstance(document, dict) else None
    return uri if isinstance(uri, str) else None


async def serve_socket(
    socket: WebSocket,
    may_open: Callable[[str], bool] = lambda uri: True,
    language: str | None = None,
) -> None:
    """Serve one accepted websocket until the client leaves (in `language`, when given:
    the page's, which a browser's client does not say in `initialize`)."""
    ls = create_server()
    if language is not None:
        ls.language = language
    ls.protocol.set_writer(_Writer(socket), include_headers=False)
    try:
        while True:
            text = await socket.receive_text()
            if len(text) > MAX_FRAME:
                await socket.close(TOO_BIG)
                return
            outcome = _handle(ls, text, may_open)
            if outcome is _END:
                await socket.close()
                return
            if outcome is not None:
                await socket.send_text(json.dumps(outcome))
    except WebSocketDisconnect:
        pass
    finally:
        ls.forget_all()


_END: dict[str, Any] = {}


def _handle(ls: FlowServer, text: str, may_open: Callable[[str], bool]) -> dict[str, Any] | None:
    """Pass one frame to the server. Returns a refusal to send back, `_END` when the
    connection should end, or None."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None  # not JSON-RPC: nothing to answer to
    if not isinstance(raw, dict):
        return None
    if raw.get("method") == "exit":
        return _END
    uri = document_uri(raw)
    if uri is not None and not may_open(uri):
        if "id" not in raw:
            return None
        error = {"code": -32602, "message": f"{uri[:200]} is outside the studio's folder"}
        return {"jsonrpc": "2.0", "id": raw["id"], "error": error}
    try:
        ls.protocol.handle_message(json.loads(text, object_hook=ls.protocol.structure_message))
    except Exception:  # a malformed message is the client's problem, not the server's end
        log.exception("language server message refused")
    return None


def websocket_app() -> Any:
    """A Starlette app serving the language server at `/` (for `flow lsp --ws`)."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def endpoint(socket: WebSocket) -> None:
        await socket.accept()
        await serve_socket(socket)

    return Starlette(routes=[WebSocketRoute("/", endpoint)])


def serve(host: str, port: int) -> None:
    """`flow lsp --ws PORT`: serve editors over websockets until interrupted."""
    import uvicorn

    uvicorn.run(websocket_app(), host=host, port=port, log_level="warning", ws_max_size=MAX_FRAME)
