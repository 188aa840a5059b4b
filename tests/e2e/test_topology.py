"""Several processes, one truth (issue #17 item 4; docs/replicas.md).

Exactly the topology docs/replicas.md describes, on one PostgreSQL database, every process
started as an operator starts it:

- two API processes, `qualtrace serve --no-projections`, on two ports (what a load
  balancer spreads requests over);
- two workers, `qualtrace serve --projections-only`, racing for the same projections.

Commands are spread over both API processes by concurrent clients. Afterwards: every human
number (TK-, NC-) is unique and each client saw its own numbers increase; every projection
equals a rebuild from the events (no event applied twice or skipped although two workers
raced); a token revoked by the CLI is refused at once by BOTH API processes; and the rate
limit is per process, so a principal gets N x the burst across N processes, as documented.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.tokens import TokenStore
from projections.registry import all_projections
from qualtrace.bootstrap import bootstrap
from qualtrace.settings import Settings
from store.principal_cache import LISTENER_NAME
from store.tracking import schema_name
from tests.e2e.test_nonconformance_lifecycle import NC
from tests.e2e.test_ticket_lifecycle import TICKET
from tests.integration.test_graceful_shutdown import QUALTRACE, _free_port, _wait_healthy

#: The rate limit every API process applies on its own (per principal and process).
BURST = 40
CLIENTS = 6
TICKETS_PER_CLIENT = 8
NUMBER = re.compile(r"^(TK|NC)-\d{4}-(\d{6})$")


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """A bounded poll for something other processes are doing."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Topology:
    def __init__(self, db_url: str, tmp: Path) -> None:
        self.url = db_url
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "QUALTRACE_DATA_DIR": str(tmp),
            # The schema is there (the test database is a clone of a set-up one): no
            # process races another on DDL, as under the supervisor.
            "QUALTRACE_SETUP_SCHEMA": "false",
            "QUALTRACE_RATE_LIMIT_BURST": str(BURST),
            "QUALTRACE_RATE_LIMIT_PER_SECOND": "0.01",
            "QUALTRACE_POOL_SIZE": "4",
            "QUALTRACE_LOG_LEVEL": "WARNING",
        }
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.bases: list[str] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            [*QUALTRACE, "serve", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.procs[name] = proc
        return proc

    def up(self) -> None:
        for name in ("api-a", "api-b"):
            port = _free_port()
            self.start(name, "--no-projections", "--host", "127.0.0.1", "--port", str(port))
            self.bases.append(f"http://127.0.0.1:{port}")
        self.start("worker-1", "--projections-only")
        self.start("worker-2", "--projections-only")
        for base, name in zip(self.bases, ("api-a", "api-b"), strict=True):
            _wait_healthy(base, self.procs[name])
        # Each API process listens for revocations once started (its cache is off until then).
        _until(lambda: self._listeners() == 2, "both API processes to listen for revocations")

    def _listeners(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = %s",
                (LISTENER_NAME,),
            ).fetchone()
        return int(row[0]) if row else 0

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
        for name in names or tuple(self.procs):
            proc = self.procs[name]
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def topology(db_url: str, tmp_path: Path) -> Iterator[Topology]:
    t = Topology(db_url, tmp_path)
    try:
        t.up()
        yield t
    finally:
        t.stop()


#: Columns that say when a row was written, not what it holds: the ledger's `sealed_at`.
WHEN_WRITTEN = {"sealed_at"}


def dump(url: str, projection: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of a projection's live generation, sorted, without `WHEN_WRITTEN`."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT generation FROM qt_projection_tracking WHERE name = %s AND live",
            (projection.name,),
        ).fetchone()
        assert row is not None
        schema = schema_name(projection, row[0])
        out = {}
        for table in projection.views:
            columns = [
                c
                for (c,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (schema, table),
                ).fetchall()
                if c not in WHEN_WRITTEN
            ]
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM {schema}.{table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(max(notification_id), 0) FROM qualtrace_events"
        ).fetchone()
    return int(row[0]) if row else 0


def _slowest_projection(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT min(position) FROM qt_projection_tracking WHERE live").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def test_two_api_processes_and_two_racing_workers_keep_one_truth(topology: Topology) -> None:
    url = topology.url
    a, b = topology.bases
    tokens = TokenStore(url)
    admin = _bearer(tokens.create("admin", "Admin", "admin")[1])
    supervisor = _bearer(tokens.create("zhao", "Zhao Lei", "supervisor")[1])
    inspector = _bearer(tokens.create("liu.yang", "Liu Yang", "inspector")[1])
    with httpx.Client(timeout=30) as http:
        _ok(http.post(f"{a}/regions", json={"code": "SH", "name": "上海"}, headers=admin), 201)
        for code, base in (("P1", a), ("P2", b)):
            body = {"code": code, "name": code, "region": "SH", "households": 800}
            _ok(http.post(f"{base}/projects", json=body, headers=admin), 201)

    # -- commands spread over both processes, concurrently ------------------------------
    seen: dict[int, list[str]] = {}
    failures: list[str] = []

    def client(i: int) -> None:
        desk = _bearer(tokens.create(f"desk-{i}", f"Desk {i}", "front_desk")[1])
        numbers: list[str] = []
        try:
            with httpx.Client(timeout=60) as http:
                for n in range(TICKETS_PER_CLIENT):
                    receive_on, dispatch_on = (a, b) if (i + n) % 2 else (b, a)
                    body = {**TICKET, "project": "P1" if n % 2 else "P2"}
                    t = _ok(http.post(f"{receive_on}/tickets", json=body, headers=desk), 201)
                    numbers.append(t["number"])
                    _ok(
                        http.post(
                            f"{dispatch_on}/tickets/{t['number']}/dispatch",
                            json={"department": "engineering", "assignee": f"eng-{i}"},
                            headers=supervisor,
                        )
                    )
                    if n % 4 == 0:
                        nc = {**NC, "project": body["project"]}
                        raised = _ok(
                            http.post(f"{dispatch_on}/nonconformances", json=nc, headers=inspector),
                            201,
                        )
                        numbers.append(raised["number"])
        except AssertionError as e:  # reported by the main thread
            failures.append(f"client {i}: {e}")
        seen[i] = numbers

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not failures, failures + [topology.logs()]
    assert all(not t.is_alive() for t in threads)

    # Numbers: unique over both processes, and increasing in the order each client got them.
    every = [n for numbers in seen.values() for n in numbers]
    assert len(every) == CLIENTS * (TICKETS_PER_CLIENT + TICKETS_PER_CLIENT // 4)
    assert len(set(every)) == len(every), "a number was given out twice"
    for numbers in seen.values():
        for prefix in ("TK", "NC"):
            mine = [int(NUMBER.match(n)[2]) for n in numbers if n.startswith(prefix)]  # type: ignore[index]
            assert mine == sorted(mine) and len(set(mine)) == len(mine), numbers

    # -- the read side: two workers raced; each event applied once -----------------------
    head = _head(url)
    _until(lambda: _slowest_projection(url) >= head, "the workers to catch up", timeout=90)
    assert all(topology.procs[w].poll() is None for w in ("worker-1", "worker-2")), topology.logs()
    with psycopg.connect(url) as conn:
        listed = conn.execute("SELECT number, status FROM qt_read.tickets").fetchall()
        stored = conn.execute(
            "SELECT count(*) FROM qualtrace_events WHERE topic LIKE '%%Ticket.Dispatched'"
        ).fetchone()
    tickets = [n for n in every if n.startswith("TK")]
    assert sorted(n for n, _ in listed) == sorted(tickets)
    assert {s for _, s in listed} == {"dispatched"}
    assert stored == (len(tickets),)
    # Stopped at a committed position, the workers leave read models that equal a rebuild.
    topology.stop("worker-1", "worker-2")
    c = bootstrap(Settings(database_url=url, pool_size=2), setup=False)
    try:
        for projection in all_projections(c.settings.timezone):
            incremental = dump(url, projection)
            c.rebuild(projection.name)
            assert dump(url, projection) == incremental, projection.name
    finally:
        c.close()

    # -- a revocation reaches every API process -----------------------------------------
    token_id, token = tokens.create("u-rev", "Rev", "auditor")
    with httpx.Client(timeout=30, headers=_bearer(token)) as http:
        for base in (a, b):  # accepted, and remembered by each process's cache
            for _ in range(2):
                assert http.get(f"{base}/tickets").status_code == 200
        done = subprocess.run(
            [*QUALTRACE, "token", "revoke", token_id],
            env=topology.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        # The revoker waited for every listening process to drop it: no waiting here.
        assert [http.get(f"{base}/tickets").status_code for base in (a, b)] == [401, 401]

    # -- the rate limit is per principal AND process (docs/replicas.md) -------------------
    busy = _bearer(tokens.create("u-busy", "Busy", "auditor")[1])
    with httpx.Client(timeout=30, headers=busy) as http:
        accepted = 0
        for base in (a, b):
            codes = [http.get(f"{base}/healthz").status_code]  # probes are never limited
            while True:
                r = http.get(f"{base}/me")
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1
                    break
                assert r.status_code == 200, r.text
                accepted += 1
                assert accepted <= 2 * BURST + 2, "the limit was not applied"
            assert codes == [200]
        # Each process let the burst through on its own: N processes x the burst.
        assert accepted == 2 * BURST
