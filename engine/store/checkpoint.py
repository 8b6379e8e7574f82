"""SQLite's WAL checkpoints, off the commit path.

By default SQLite checkpoints inside whichever commit pushes the write-ahead log past 1,000
pages: that commit then copies the log into the database file and syncs it, tens of
milliseconds on a large store, and the step committing pays for it (the timer waiting behind
it fires that much late). A store opened on a file turns that off and runs a `Checkpointer`
instead: a thread of its own that checkpoints (PASSIVE: never waiting for readers or
writers) a few times a second, while steps keep committing into the log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("flowdesk.store")

INTERVAL = 0.25  # seconds between checkpoints: the log stays about as short as SQLite keeps it


class Checkpointer:
    """A daemon thread checkpointing one SQLite file every `interval` seconds until `stop`."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowdesk-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=1.0, check_same_thread=False)
        except sqlite3.Error:
            log.exception("cannot open %s to checkpoint it", self.path)
            return
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy (another process checkpoints), or gone
                    log.debug("checkpoint of %s skipped: %s", self.path, exc)
        finally:
            conn.close()

    def stop(self) -> None:
        """End the thread and close its connection."""
        self._stop.set()
        self._thread.join(timeout=5)
