"""A lost wake-up never stalls a projection: runners LISTEN for a nudge but also poll.

Two ways a notification goes missing in production: the sender drops it (our notifier
sends after commit, from a thread, and gives up on an error), and the listening
connection dies. Both are reproduced here for real: no NOTIFY is sent at all for the
appends below, and the runners' LISTEN connections are terminated by the server.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg

from application.base import Call
from application.security import Principal

ADMIN = Principal("admin-1", "Admin", "admin")


def call() -> Call:
    return Call(principal=ADMIN, correlation_id=str(uuid.uuid4()))


def projected_projects(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT code FROM qt_read.projects").fetchall()}


def wait_for(url: str, codes: set[str], seconds: float = 15.0) -> set[str]:
    deadline = time.monotonic() + seconds
    seen = projected_projects(url)
    while not codes <= seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = projected_projects(url)
    return seen


def listeners(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %%'"
        ).fetchall()
    return [r[0] for r in rows]


def test_appends_without_any_notify_still_reach_the_projections(live: Any) -> None:
    app = live.app
    sent_before = app.recorder.notifier.sent
    app.recorder.notifier.poke = lambda: None  # the sender loses every wake-up from now on
    app.org.register_region(call(), "SH", "上海")
    for code in ("P1", "P2", "P3"):
        app.org.register_project(call(), code, f"项目{code}", "SH", 100)
    assert app.recorder.notifier.sent == sent_before  # really no NOTIFY for these appends
    assert {"P1", "P2", "P3"} <= wait_for(live.url, {"P1", "P2", "P3"})


def test_a_projection_follows_on_after_its_listen_connection_is_killed(live: Any) -> None:
    app = live.app
    app.org.register_region(call(), "SH", "上海")
    app.org.register_project(call(), "P1", "一号", "SH", 100)
    assert "P1" in wait_for(live.url, {"P1"})
    deadline = time.monotonic() + 10
    while not (pids := listeners(live.url)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids, "the runners listen for wake-ups"
    with psycopg.connect(live.url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    app.org.register_project(call(), "P2", "二号", "SH", 100)
    assert "P2" in wait_for(live.url, {"P2"})
    assert all(g._thread is not None and g._thread.is_alive() for g in live.groups)
