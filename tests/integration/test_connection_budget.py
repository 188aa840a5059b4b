"""The connection budget of `qualtrace serve` (qualtrace/connections.py) against what the
code opens, and the pool size `serve` picks from it.

The budget decides whether the worker can always connect: CI once saw the fault module's
projections stand still for 2 minutes after 300 clients, because the budget counted 6
single connections in the worker where it opens 15, so two API processes at the default
pool size could take every slot the server had. Here one process runs the API and the
worker at QUALTRACE_POOL_SIZE=1 while everything that opens a connection of its own is
busy (commands, projections, deliveries' LISTEN, an integrity report, a verification, an
event-feed stream), and its connections, sampled every 20 ms, stay within the budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from qualtrace.connections import (
    API_SINGLES,
    WORKER_SINGLES,
    allowed,
    fit,
    largest_pool_size,
    most,
    per_process,
)
from qualtrace.settings import Settings
from tests.attach_files import ticket
from tests.conftest import Api


@pytest.fixture
def settings(db_url: str) -> Settings:
    # Pools of one: what the process holds beyond them is its single connections.
    return Settings(database_url=db_url, pool_size=1, read_wait_seconds=5.0)


class Peak:
    """The most connections to one database seen, sampled in a thread."""

    def __init__(self, admin_url: str, dbname: str) -> None:
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(admin_url, dbname), daemon=True)

    def _run(self, admin_url: str, dbname: str) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)
                time.sleep(0.02)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def peak(pg_admin_url: str, db_url: str) -> Iterator[Peak]:
    with Peak(pg_admin_url, conninfo_to_dict(db_url)["dbname"]) as p:
        yield p


def test_one_process_running_api_and_worker_stays_within_the_budget(peak: Peak, api: Api) -> None:
    c = api.container
    api.setup_org()
    # Commands from 4 threads at once: the pools grow to their maxima.
    errors: list[str] = []

    def write(k: int) -> None:
        for n in range(5):
            r = api.post(
                "/tickets",
                ticket("P1", description=f"厨房水管漏水 {k * 10 + n}"),
                role="front_desk",
                projects=("P1",),
            )
            if r.status_code != 201:
                errors.append(r.text)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # The API's own connections: an integrity report and an event-feed stream.
    assert api.get("/audit/integrity").status_code == 200
    with api.client.stream(
        "GET", "/events/stream", headers=api.token("auditor"), params={"max_seconds": 1}
    ) as r:
        assert r.status_code == 200
        assert b"event:" in b"".join(r.iter_bytes())
    # The worker's: a verification (lock + its own connection) while the groups follow.
    assert c.integrity_watcher is not None and c.integrity_watcher.run_once()
    head = c.app.recorder.max_notification_id()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(c.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT min(position) FROM qt_projection_tracking WHERE live"
            ).fetchone()
        if row and row[0] is not None and row[0] >= head:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # the KPI cell refresher and the deliveries' LISTEN are up by now

    budget = per_process(1) + API_SINGLES + WORKER_SINGLES
    # The sampler saw the projection groups' connections (each has two), so it measured
    # the process, not an empty database; and never more than the budget.
    assert peak.most >= 2 * len(c.groups) + 2, peak.most
    assert peak.most <= budget, (
        f"{peak.most} connections, budget {budget}: qualtrace/connections.py undercounts"
    )


def test_serve_fits_the_pool_size_to_the_server_unless_the_operator_chose_one(
    db_url: str,
) -> None:
    room, _ = allowed(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int"
        ).fetchone()
    assert row is not None and room <= row[0] - row[1]
    # Enough API processes that the default 8 does not fit this server.
    processes = next(n for n in range(1, 50) if most(n, 8) > room)
    size, note = fit(db_url, processes, 8, True, explicit=False)
    if most(processes, 1) <= room:
        assert size == largest_pool_size(processes, room) < 8
        assert most(processes, size) <= room < most(processes, size + 1)
        assert note is not None and f"QUALTRACE_POOL_SIZE={size} (not 8)" in note
    # Chosen by the operator: kept, with a warning naming the bound and the server's limit.
    size, note = fit(db_url, processes, 8, True, explicit=True)
    assert size == 8 and note is not None and note.startswith("warning:")
    assert f"up to {most(processes, 8)} database connections" in note and str(room) in note
    # What fits is left alone, without a word.
    assert fit(db_url, 1, 1, True, explicit=False) == (1, None)
