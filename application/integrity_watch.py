"""The worker's periodic full verification of the store (issue #17; docs/audit.md).

Every `QUALTRACE_INTEGRITY_INTERVAL_SECONDS` (an hour) after the last verification on
record, the worker re-hashes the whole store and records the result
(`store.verifications`), so that `GET /audit/integrity` serves a recent full result and
re-hashes only the events written since. With nothing on record it waits `FIRST_DELAY`
after start-up first (a fresh service is not slowed while it starts). Two workers never
verify at once: a session-level advisory lock; the one that does not get it waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from store import verifications
from store.background import BackgroundLoop

log = logging.getLogger("qualtrace.integrity")

LOCK = "SELECT pg_try_advisory_lock(hashtext('qt_integrity_verify'))"
UNLOCK = "SELECT pg_advisory_unlock(hashtext('qt_integrity_verify'))"


class IntegrityWatcher(BackgroundLoop):
    thread_name = "integrity-watch"
    #: Seconds after start-up before the first verification when none is on record.
    FIRST_DELAY = 60.0

    def __init__(self, audit: Any, interval: float, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.audit = audit
        self.interval = float(interval)
        self.clock = clock
        self.runs = 0

    def due_in(self) -> float:
        """Seconds until the next verification is due."""
        with self.audit._connect() as conn:
            recorded = verifications.last(conn)
        if recorded is None:
            return min(self.FIRST_DELAY, self.interval)
        age = self.clock() - recorded.verified_at.timestamp()
        return max(0.0, self.interval - age)

    def run_once(self) -> bool:
        """Verify and record now, unless another process is verifying (then False)."""
        with self.audit._connect() as conn:
            row = conn.execute(LOCK).fetchone()
            if not (row and row[0]):
                return False
            try:
                started = time.monotonic()
                result = self.audit.verify_and_record("worker")
                self.runs += 1
                log.info(
                    "integrity verified through position %d in %.1f s: %s",
                    result.through_position,
                    time.monotonic() - started,
                    "ok" if result.ok else f"BROKEN at {result.breaks[0].as_dict()}",
                )
            finally:
                conn.execute(UNLOCK)
        return True

    def _session(self) -> None:
        while not self._stop.wait(self.due_in()):
            if not self.run_once():  # another worker is at it: look again later
                self._stop.wait(min(self.FIRST_DELAY, self.interval))
