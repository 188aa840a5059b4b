"""`X-Read-Position` from memory (store/read_positions.py): the tracking table's trigger
notifies at commit, the watch re-reads, and what it reports is never above the stored
minimum read after it, while writers and the projections run."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from application.base import Call
from application.security import Principal
from store.read_positions import APPLICATION_NAME, CHANNEL, ReadPositions, minimum

DESK = Call(Principal("li.na", "Li Na", "supervisor"), "corr-1")
ADMIN = Call(Principal("admin", "Admin", "admin"), "corr-2")


def org(c: Any) -> None:
    c.app.org.register_region(ADMIN, "SH", "上海")
    c.app.org.register_project(ADMIN, "P1", "绿地花园", "SH")


def receive(c: Any, n: int = 1) -> int:
    position = 0
    for i in range(n):
        position = c.app.tickets.receive(
            DESK,
            project="P1",
            kind="repair",
            channel="phone",
            priority="low",
            category="水电",
            description=f"漏水 {i}",
            reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        ).position
    return position


def stored(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return minimum(conn)


def wait_for(predicate: Any, seconds: float = 20.0) -> bool:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_change_to_the_tracking_table_notifies_at_commit_only(container: Any) -> None:
    with (
        psycopg.connect(container.url, autocommit=True) as listen,
        psycopg.connect(container.url) as writer,
    ):
        listen.execute(f"LISTEN {CHANNEL}")
        writer.execute("UPDATE qt_projection_tracking SET updated_at = now() WHERE live")
        assert list(listen.notifies(timeout=0.3)) == []  # not committed: nothing heard
        writer.commit()
        heard = list(listen.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in heard] == [CHANNEL]


def test_the_watch_never_reports_above_the_stored_position(container: Any) -> None:
    org(container)
    watch = ReadPositions(container.url, poll_seconds=5.0)
    assert watch.current() is None  # not following: callers ask the database
    watch.start()
    try:
        assert wait_for(lambda: watch.current() is not None)
        assert watch.current() == stored(container.url)
        done = threading.Event()
        failures: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(15):
                    receive(container, 3)
                    container.run_projections_once()
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                failures.append(e)
            finally:
                done.set()

        worker = threading.Thread(target=work)
        worker.start()
        samples = 0
        seen: set[int] = set()
        with psycopg.connect(container.url, autocommit=True) as conn:
            while not done.is_set():
                known = watch.current()
                real = minimum(conn)  # read after the sample: a lower bound is <= it
                assert known is not None and known <= real, (known, real)
                seen.add(known)
                samples += 1
        worker.join()
        assert not failures, failures
        assert samples > 0 and len(seen) > 1  # it moved while the writers ran
        final = stored(container.url)
        assert final > 0
        # Caught up from the notifications alone (the fallback poll is 5 s, longer than this wait).
        assert wait_for(lambda: watch.current() == final, seconds=4.0), (watch.current(), final)
    finally:
        watch.stop()
    assert watch.current() is None


def test_a_lost_connection_gives_no_value_until_it_is_back(container: Any) -> None:
    watch = ReadPositions(container.url, poll_seconds=0.2)
    watch.start()
    try:
        assert wait_for(lambda: watch.current() is not None)
        reads = watch.reads
        with psycopg.connect(container.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name = %s",
                (APPLICATION_NAME,),
            )
        # It notices (None), then reconnects and reads again.
        assert wait_for(lambda: watch.reads > reads and watch.current() is not None)
        assert watch.current() == stored(container.url)
    finally:
        watch.stop()


def test_reads_report_the_watched_position_and_min_position_still_waits(api: Any) -> None:
    api.setup_org()
    c = api.container
    watch = api.client.app.state.read_positions
    assert wait_for(lambda: watch.current() is not None)
    position = receive(c)
    r = api.get("/tickets", params={"min_position": position})
    assert r.status_code == 200 and int(r.headers["X-Read-Position"]) >= position
    number = r.json()["items"][0]["number"]
    assert wait_for(lambda: (watch.current() or 0) >= position)
    r = api.get(f"/tickets/{number}")
    assert r.status_code == 200
    header = int(r.headers["X-Read-Position"])
    assert position <= header <= stored(c.url)
    # Not following: the same header, read from the database.
    watch.stop()
    r = api.get(f"/tickets/{number}")
    assert int(r.headers["X-Read-Position"]) == stored(c.url)
