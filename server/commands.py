"""`flow serve` and `flow users`: the server's two commands.

    flow users add zhang --name 张敏 --role 客服专员          # asks for the password
    flow users token zhang ci                                 # prints a new API token once
    flow serve --db sqlite:///flowdesk.db --workflows workflows --users users.yaml

Nothing is served without a log-in but the log-in page and /healthz; there is no default
user or password. The same process runs the timer worker unless --no-worker (for several
server processes and separate `flow worker`s on one PostgreSQL).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from engine.i18n import Listing, msg, safe, tr

Run = Callable[[argparse.Namespace], int]
EXIT_INVALID = 2


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`serve` and `users` with their options."""
    p = sub.add_parser(
        "serve",
        help=tr("run the HTTP server: the JSON API, the staff console and webhooks"),
        description=tr(
            "Serve the cases of a store over HTTP: the JSON API (OpenAPI at /docs) "
            "for programs and the console for staff, with the timer worker in the "
            "same process unless --no-worker."
        ),
    )
    p.add_argument(
        "--db", required=True, metavar="URL", help=tr("sqlite:///FILE or a PostgreSQL URL")
    )
    p.add_argument(
        "--workflows", required=True, metavar="DIR", help=tr("the folder of *.flow files")
    )
    p.add_argument("--calendars", metavar="FILE", help=tr("calendars.yaml (default: beside flows)"))
    p.add_argument("--users", required=True, metavar="FILE", help=tr("the people (flow users)"))
    p.add_argument("--webhooks", metavar="FILE", help=tr("endpoints that receive notifications"))
    p.add_argument(
        "--host", default="127.0.0.1", help=tr("address to listen on (default 127.0.0.1)")
    )
    p.add_argument("--port", type=int, default=8000, help=tr("port (default 8000)"))
    p.add_argument(
        "--no-worker",
        action="store_true",
        help=tr("do not fire timers here (run `flow worker` beside the servers)"),
    )
    p.add_argument(
        "--secure-cookies",
        action="store_true",
        help=tr("mark cookies Secure (when served behind HTTPS)"),
    )
    p.set_defaults(run=run_serve)

    p = sub.add_parser(
        "users", help=tr("add people who may log in, set passwords, make API tokens")
    )
    p.add_argument("action", choices=["list", "add", "passwd", "token", "disable", "enable"])
    p.add_argument("id", nargs="?", metavar="ID", help=tr("the person's user id"))
    p.add_argument("token_id", nargs="?", metavar="TOKEN", help=tr("token: the token's name"))
    p.add_argument(
        "--users",
        default="users.yaml",
        metavar="FILE",
        help=tr("the users file (default users.yaml)"),
    )
    p.add_argument("--name", help=tr("add: the name shown to colleagues"))
    p.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help=tr("add: a role from the flows (repeat for several)"),
    )
    p.add_argument(
        "--workflows",
        default="workflows",
        metavar="DIR",
        help=tr("add: check roles against these flows (default workflows)"),
    )
    p.add_argument(
        "--studio",
        action="store_true",
        help=tr("add: may edit and save the flows in the studio (/studio)"),
    )
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help=tr("read the password from standard input instead of asking"),
    )
    p.set_defaults(run=run_users)


def _fail(text: str) -> int:
    print(tr("error: {message}", message=safe(text)), file=sys.stderr)
    return EXIT_INVALID


def flow_roles(folder: Path) -> set[str]:
    """Every role named by the flows in `folder`."""
    from engine.loader import calendars_for, compile_flow_file

    calendars = calendars_for(folder / "x.flow")
    return {
        r
        for path in sorted(folder.glob("*.flow"))
        for r in compile_flow_file(path, calendars).roles
    }


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(tr("password: "))
    if first != getpass.getpass(tr("again: ")):
        raise ValueError(msg("the two passwords differ"))
    return first


def run_users(args: argparse.Namespace) -> int:
    from engine.errors import FlowdeskError
    from server.users import Directory, UsersFileError

    try:
        directory = Directory.load(args.users)
        if args.action == "list":
            for p in directory.people.values():
                state = tr("disabled") if p.disabled else ""
                print(f"{p.id}\t{p.name}\t{Listing(p.roles).localize('en')}\t{state}".rstrip())
            return 0
        if not args.id:
            return _fail(msg("`flow users {action}` needs the person's ID", action=args.action))
        if args.action == "add":
            known = flow_roles(Path(args.workflows))
            unknown = [r for r in args.role if r not in known]
            if not args.role or unknown:
                return _fail(
                    msg(
                        "give --role with roles from the flows ({known}); not roles: {unknown}",
                        known=Listing(sorted(known)),
                        unknown=Listing(unknown) or msg("none given"),
                    )
                )
            directory.add(
                args.id, args.name or args.id, args.role, _password(args), studio=args.studio
            )
        elif args.action == "passwd":
            directory.set_password(args.id, _password(args))
        elif args.action == "token":
            if not args.token_id:
                return _fail(msg("`flow users token ID TOKEN` needs a name for the token"))
            token = directory.new_token(args.id, args.token_id)
            directory.save()
            print(token)
            print(
                tr("keep it now: it is stored only as a hash and cannot be shown again"),
                file=sys.stderr,
            )
            return 0
        else:
            directory.set_disabled(args.id, args.action == "disable")
        directory.save()
    except (UsersFileError, FlowdeskError, ValueError) as exc:
        return _fail(str(exc))
    print(
        tr("{file}: {action} {id}", file=args.users, action=args.action, id=args.id),
        file=sys.stderr,
    )
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.errors import FlowdeskError
    from engine.i18n import choose_language
    from engine.scheduling.worker import Worker
    from engine.service import Service
    from server.app import Settings, create_app
    from server.users import Directory, UsersFileError
    from server.webhooks import WebhookConfigError, Webhooks, load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        directory = Directory.load(args.users)
        if not any(p.password or p.tokens for p in directory.people.values()):
            return _fail(
                msg(
                    "{file} has nobody who can log in: add someone with `flow users "
                    "add ID --role ROLE --users {file}`",
                    file=args.users,
                )
            )
        config = load_config(args.webhooks) if args.webhooks else None
        service = Service(args.db, args.workflows, args.calendars)
    except (UsersFileError, WebhookConfigError, FlowdeskError) as exc:
        return _fail(str(exc))
    known = {r for runtime in service.flows.values() for r in runtime.roles}
    for person in directory.people.values():
        strange = [r for r in person.roles if r not in known]
        if strange:
            logging.warning("%s: roles no flow has: %s", person.id, ", ".join(strange))
    hooks = Webhooks(service.store, config) if config else None
    service.notifier = hooks.enqueue if hooks else None
    app = create_app(
        service,
        directory,
        Settings(
            language=choose_language(None), secure_cookies=args.secure_cookies, webhooks=hooks
        ),
    )
    stopping = threading.Event()
    threads = []
    worker = None if args.no_worker else Worker(service)
    if worker is not None:
        threads.append(
            threading.Thread(
                target=worker.run, kwargs={"signals": False}, name="flowdesk-worker", daemon=True
            )
        )
    if hooks is not None:
        threads.append(
            threading.Thread(
                target=_send_webhooks, args=(hooks, stopping), name="flowdesk-webhooks", daemon=True
            )
        )
    for thread in threads:
        thread.start()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        stopping.set()
        if worker is not None:
            worker.stop()
        for thread in threads:
            thread.join(timeout=15)
        if hooks is not None:
            hooks.close()
        service.close()
    return 0


def _send_webhooks(hooks: object, stopping: threading.Event, every: float = 1.0) -> None:
    from server.webhooks import Webhooks

    assert isinstance(hooks, Webhooks)
    while not stopping.wait(every):
        try:
            hooks.deliver_due()
        except Exception:
            logging.getLogger("flowdesk.webhooks").exception("delivery round failed")
