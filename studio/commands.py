"""`flow studio` and `flow lsp`: the authoring commands.

flow studio workflows              # then open http://127.0.0.1:8765/studio
flow lsp                           # an editor's language server on stdin/stdout
flow lsp --ws 8766                 # the same over websockets (one server per connection)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.i18n import tr

EXIT_OK, EXIT_INVALID = 0, 2


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "studio",
        help=tr("edit, check, draw and play the flows of a folder in the browser"),
        description=tr(
            "Serve the studio for one folder of flows: an editor with live diagnostics, "
            "completion and quick fixes, the diagram redrawn as you type, cases played on a "
            "simulated clock, and saving of files that check. It listens on 127.0.0.1 "
            "unless --host says otherwise and writes only inside the folder."
        ),
    )
    p.add_argument(
        "folder",
        nargs="?",
        default="workflows",
        metavar="DIR",
        help=tr("the folder of *.flow files (default workflows)"),
    )
    p.add_argument(
        "--host", default="127.0.0.1", help=tr("address to listen on (default 127.0.0.1)")
    )
    p.add_argument("--port", type=int, default=8765, help=tr("port (default 8765)"))
    p.add_argument(
        "--calendars", type=Path, metavar="FILE", help=tr("calendars.yaml (default: beside flows)")
    )
    p.set_defaults(run=run_studio)

    p = sub.add_parser(
        "lsp",
        help=tr("run the language server for editors (stdio, or websockets with --ws)"),
    )
    p.add_argument(
        "--ws",
        type=int,
        metavar="PORT",
        help=tr("serve over websockets on this port instead of stdio"),
    )
    p.add_argument(
        "--host", default="127.0.0.1", help=tr("address to listen on (default 127.0.0.1)")
    )
    p.set_defaults(run=run_lsp)


def run_studio(args: argparse.Namespace) -> int:
    from engine.calendar import CalendarError
    from engine.i18n import choose_language
    from studio.app import serve

    folder = Path(args.folder)
    if not folder.is_dir():
        print(tr("error: {folder} is not a folder", folder=folder), file=sys.stderr)
        return EXIT_INVALID
    print(
        tr(
            "the studio of {folder}: http://{host}:{port}/studio",
            folder=folder.resolve(),
            host=args.host,
            port=args.port,
        ),
        file=sys.stderr,
    )
    try:
        serve(folder, args.host, args.port, args.calendars, choose_language(None))
    except CalendarError as exc:
        print(tr("error: {message}", message=exc), file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def run_lsp(args: argparse.Namespace) -> int:
    """The language server on stdin/stdout until the editor ends it, or on websockets."""
    if args.ws is not None:
        from language_server.websocket import serve

        serve(args.host, args.ws)
    else:
        from language_server.server import main

        main()
    return EXIT_OK
