"""Wake-ups for the event feed (`GET /events/stream`): one thread per process LISTENs
on the store's channel and, after each notification, watches one consumer's tracked
position (the audit projection's) until it moves; every stream waiting for a position
beyond the old one is then woken.

A stream holds no database connection while it waits: it waits on this watch (an
`asyncio.Event` per waiter, set from the thread with `call_soon_threadsafe`) and takes a
pooled connection only to read. A lost notification only delays the streams until the
fallback poll (`poll_seconds`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from store.background import BackgroundLoop


class FeedWatch(BackgroundLoop):
    """The live position of the consumer `name`, and async waits for it to pass a value."""

    thread_name = "feed-watch"

    def __init__(
        self,
        conninfo: str,
        name: str = "audit",
        channel: str = "qualtrace_events",
        poll_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.conninfo = conninfo
        self.name = name
        self.channel = channel
        self.poll_seconds = poll_seconds
        #: After a notification, how long the position is watched (the consumer applies
        #: the batch shortly after the append commits) before falling back to LISTEN.
        self.follow_seconds = 2.0
        self.position = -1  # unknown until the thread's first read
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = set()

    # -- the waiting side (event loop) ----------------------------------------------------
    async def wait_beyond(self, position: int, timeout: float) -> bool:
        """Wait until the tracked position passes `position` (True) or `timeout` (False).
        Starts the thread on first use."""
        if not self.running:
            with self._lock:  # two streams starting at once start one thread
                if not self.running:
                    self.start()
        if self.position > position:
            return True
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event, position)
        with self._lock:
            self._waiters.add(entry)
        try:
            if self.position > position:  # moved between the check and registering
                return True
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return False
            return True
        finally:
            with self._lock:
                self._waiters.discard(entry)

    # -- the thread -------------------------------------------------------------------------
    def _read(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT position FROM qt_projection_tracking WHERE live AND name = %s", (self.name,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _moved(self, position: int) -> None:
        self.position = position
        with self._lock:
            due = [(loop, ev) for loop, ev, p in self._waiters if position > p]
        for loop, ev in due:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # that loop has closed
                pass

    def _session(self) -> None:
        with (
            psycopg.connect(self.conninfo, autocommit=True) as conn,
            psycopg.connect(self.conninfo, autocommit=True) as listen,
        ):
            listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._moved(self._read(conn))
            while not self._stop.is_set():
                heard = False
                for _ in listen.notifies(timeout=self.poll_seconds, stop_after=1):
                    heard = True
                seen = self.position
                now = self._read(conn)
                if now != seen:
                    self._moved(now)
                    continue
                if not heard:
                    continue
                # Appends committed; the consumer applies them shortly: watch for it.
                until = time.monotonic() + self.follow_seconds
                while not self._stop.is_set() and time.monotonic() < until:
                    time.sleep(0.01)
                    now = self._read(conn)
                    if now != seen:
                        self._moved(now)
                        break
