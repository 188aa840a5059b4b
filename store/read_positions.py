"""The read side's position, known in memory: `X-Read-Position` without a query per read.

Every change to `qt_projection_tracking` (a consumer's batch committed, a generation
added, switched or dropped) sends `NOTIFY qualtrace_positions` from the changing
transaction itself (a statement trigger, `store.schema.TRACKING`), so the notification is
delivered at its commit and only then. One thread per API process LISTENs on that channel
on its own connection and, after LISTEN is established and after each notification,
reads the minimum of the live consumers' positions (`store.tracking.positions`, the same
query `X-Read-Position` used per request).

What `current()` promises: a value the read side's minimum position **was** at some
moment since this thread's last read began. A consumer's position only grows, so every
live consumer has processed every event up to it: a lower bound of what a query would
read now, at most one notification's round trip behind it (`poll_seconds` if a
notification were lost). Two moments where the stored minimum itself goes down, and
the value may for that round trip be above it: a consumer deployed for the first time
(its generation 1 starts at 0; its first batch's commit notifies), and a rebuild's switch
(the new generation has consumed everything the old one had, see
`store.generations.rebuild`; only its number settles a moment later, so "processed up to
here" stays true of the read model's contents). No value while LISTEN is not established
(`current()` is None: before the first read, after the connection is lost, until it is
back): reads then ask the database, as they do for `min_position`
(`api.deps.read_position`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from store.background import BackgroundLoop
from store.tracking import positions

#: The channel the tracking table's trigger notifies (`store.schema.TRACKING`).
CHANNEL = "qualtrace_positions"
#: The watch's connection's `application_name` (seen in `pg_stat_activity`).
APPLICATION_NAME = "qualtrace-read-positions"


def minimum(conn: psycopg.Connection[Any]) -> int:
    """Where the whole read side stands: the smallest live consumer's position."""
    pos = positions(conn)
    return min(pos.values()) if pos else 0


class ReadPositions(BackgroundLoop):
    """The read side's minimum position, refreshed on every change to the tracking table."""

    thread_name = "read-positions"

    def __init__(self, conninfo: str, poll_seconds: float = 1.0) -> None:
        super().__init__()
        self.conninfo = conninfo
        #: A fallback re-read when nothing was heard (a notification is never relied on alone).
        self.poll_seconds = poll_seconds
        self._value: int | None = None
        #: How many reads were made (tests wait on it).
        self.reads = 0

    def current(self) -> int | None:
        """The position (see the module's promise), or None: ask the database."""
        return self._value

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._value = None

    def _session(self) -> None:
        try:
            with psycopg.connect(
                self.conninfo, autocommit=True, application_name=APPLICATION_NAME
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                # Read only after LISTEN: any change committed after this read notifies.
                while not self._stop.is_set():
                    value = minimum(conn)
                    self.reads += 1
                    self._value = value
                    # One notification wakes us; those queued behind it are covered by the
                    # next read (they committed before it), so drain them without reading.
                    for _ in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                        pass
                    for _ in conn.notifies(timeout=0):
                        pass
        finally:
            self._value = None
