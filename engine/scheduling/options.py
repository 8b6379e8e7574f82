"""The worker's command-line options, apart from the worker itself so that defining the
`flow` CLI does not import APScheduler and SQLAlchemy (0.4 s) for every command."""

from __future__ import annotations

import argparse


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The worker's options (shared with `flow worker`)."""
    p = parser or argparse.ArgumentParser(
        prog="flow worker", description="Run the live scheduler on a store."
    )
    p.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="sqlite:///file.db or postgresql+psycopg://user@host:port/db",
    )
    p.add_argument("--workflows", required=True, metavar="DIR", help="folder of *.flow files")
    p.add_argument("--calendars", metavar="FILE", help="calendars.yaml (default: beside flows)")
    p.add_argument(
        "--poll",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="safety poll for timers armed by other processes (default 1)",
    )
    p.add_argument(
        "--late-after",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="a timer firing more than this after its due time is marked late",
    )
    p.add_argument("--id", metavar="NAME", help="this worker's name in the timer table")
    p.add_argument(
        "--deliver-to", metavar="FILE", help="deliver notifications as JSON lines appended to FILE"
    )
    p.add_argument(
        "--notifier",
        metavar="MODULE:FUNCTION",
        help="deliver notifications by calling FUNCTION(notification)",
    )
    p.add_argument(
        "--lease",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a delivery claim holds before another worker may retry it",
    )
    p.add_argument("--no-dispatch", action="store_true", help="do not deliver the outbox")
    return p
