"""The worker's command-line options, apart from the worker itself so that defining the
`flow` CLI does not import APScheduler and SQLAlchemy (0.4 s) for every command."""

from __future__ import annotations

import argparse

from engine.i18n import tr


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The worker's options (shared with `flow worker`)."""
    p = parser or argparse.ArgumentParser(
        prog="flow worker", description=tr("Run the live scheduler on a store.")
    )
    p.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help=tr("sqlite:///file.db or postgresql+psycopg://user@host:port/db"),
    )
    p.add_argument("--workflows", required=True, metavar="DIR", help=tr("folder of *.flow files"))
    p.add_argument("--calendars", metavar="FILE", help=tr("calendars.yaml (default: beside flows)"))
    p.add_argument(
        "--poll",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help=tr("safety poll for timers armed by other processes (default 1)"),
    )
    p.add_argument(
        "--late-after",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help=tr("a timer firing more than this after its due time is marked late"),
    )
    p.add_argument("--id", metavar="NAME", help=tr("this worker's name in the timer table"))
    p.add_argument(
        "--deliver-to",
        metavar="FILE",
        help=tr("deliver notifications as JSON lines appended to FILE"),
    )
    p.add_argument(
        "--notifier",
        metavar="MODULE:FUNCTION",
        help=tr("deliver notifications by calling FUNCTION(notification)"),
    )
    p.add_argument(
        "--lease",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help=tr("how long a delivery claim holds before another worker may retry it"),
    )
    p.add_argument("--no-dispatch", action="store_true", help=tr("do not deliver the outbox"))
    return p
