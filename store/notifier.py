"""Wake-ups for readers of the event store, sent after commits.

`NOTIFY` inside an append transaction serialises commits (PostgreSQL takes a global lock
on the notification queue at commit). Appends therefore only poke this in-process
notifier thread, which sends one `NOTIFY` after the commit, coalescing bursts. A lost
notification only delays a reader until its next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

log = logging.getLogger("qualtrace.recorder")


class Notifier:
    """Sends `NOTIFY <channel>` after commits, from one thread, coalescing bursts.

    The thread starts on the first poke and ends (closing its connection) after
    `idle_seconds` without one, so nothing lingers after an application is closed.
    """

    def __init__(
        self, conninfo: str, kwargs: dict[str, Any], channel: str, idle_seconds: float = 2.0
    ) -> None:
        self.conninfo = conninfo
        self.kwargs = {k: v for k, v in kwargs.items() if k != "row_factory"}
        self.statement = SQL("NOTIFY {}").format(Identifier(channel))
        self.idle_seconds = idle_seconds
        #: At most one NOTIFY per this interval: every NOTIFY wakes every projection runner
        #: (a read and a transaction each), so under load the rate must not follow the appends.
        self.coalesce_seconds = 0.02
        self._poked = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def poke(self) -> None:
        # Setting an Event takes its lock; most pokes under load find it set already (a
        # NOTIFY sent after the flag is cleared covers this commit too).
        if not self._poked.is_set():
            self._poked.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="qualtrace-notifier", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            while True:
                if not self._poked.wait(self.idle_seconds):
                    with self._lock:
                        if not self._poked.is_set():
                            self._thread = None
                            return
                self._poked.clear()
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.conninfo, autocommit=True, **self.kwargs)
                        # NOTIFY gives its transaction an xid, so its commit would wait for a
                        # WAL flush, competing with the appends' own; a wake-up needs no durability.
                        conn.execute("SET synchronous_commit = off")
                    conn.execute(self.statement)
                    self.sent += 1
                except psycopg.Error as e:  # a lost wake-up only delays readers until they poll
                    log.warning("NOTIFY failed: %s", e)
                    if conn is not None:
                        conn.close()
                    conn = None
                # Let a burst of commits share one notification.
                time.sleep(self.coalesce_seconds)
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
