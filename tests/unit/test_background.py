"""`BackgroundLoop`: a session that fails is reported, kept in `error`, and started again
after `_retry_seconds()`; `stop()` ends it; the thread can be started again."""

from __future__ import annotations

import threading

from store.background import BackgroundLoop


class Flaky(BackgroundLoop):
    thread_name = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.sessions = 0
        self.reported: list[BaseException] = []
        self.steady = threading.Event()

    def _session(self) -> None:
        self.sessions += 1
        if self.sessions <= self.failures:
            raise RuntimeError(f"session {self.sessions} failed")
        self.steady.set()
        self._stop.wait()

    def _failed(self, error: BaseException) -> None:
        self.reported.append(error)

    def _retry_seconds(self) -> float:
        return 0.01


def test_a_failing_session_is_reported_and_started_again_until_it_holds() -> None:
    loop = Flaky(failures=3)
    loop.start()
    assert loop.steady.wait(10), "a session held after the failures"
    assert loop.running and loop.sessions == 4
    assert [str(e) for e in loop.reported] == [
        "session 1 failed",
        "session 2 failed",
        "session 3 failed",
    ]
    assert str(loop.error) == "session 3 failed"
    loop.stop()
    assert not loop.running


def test_a_stopped_loop_starts_again() -> None:
    loop = Flaky(failures=0)
    loop.start()
    assert loop.steady.wait(10)
    loop.start()  # already running: nothing more
    loop.stop()
    loop.steady.clear()
    loop.start()
    assert loop.steady.wait(10) and loop.sessions == 2
    loop.stop()
    assert not loop.running
