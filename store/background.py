"""One shape for the service's background threads (projection runners, the KPI cell
refresher, the deadline watcher, the token revocation listener).

A `BackgroundLoop` runs `_session()` in a daemon thread until `stop()`: a session does a
stretch of work (typically: connect, then follow something until `_stop` is set) and
returns when stopped. An exception out of a session is caught here and nowhere else: it
is kept in `error`, reported by `_failed` (a traceback unless overridden), and a new
session starts after `_retry_seconds()`. A thread that keeps a service's read side or
revocations alive must outlive any one failure, so this is deliberately broad.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("qualtrace.background")


class BackgroundLoop:
    thread_name = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except Exception as e:  # noqa: BLE001 - the one place a background failure is caught (see above)
                self.error = e
                self._failed(e)
                self._stop.wait(self._retry_seconds())

    def _session(self) -> None:
        raise NotImplementedError

    def _failed(self, error: BaseException) -> None:
        """Report a failed session (called inside the `except`, so a traceback is at hand)."""
        log.exception("%s failed; retrying", self.thread_name)

    def _retry_seconds(self) -> float:
        return 1.0
