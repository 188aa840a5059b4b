"""Qualtrace benchmark: one command, one run, one scratch database on one server.

    .venv/bin/python -m bench.run [--quick] [--admin-url URL] [--json PATH]
    qualtrace bench [--quick] ...

Measures, printing a table and writing JSON (default bench/results.json):

1. append throughput, one event per transaction, at 1, 8 and 32 concurrent writers, for
   raw psycopg INSERTs of the same rows, the library's default recorder (table lock),
   the library's lock-free DB-functions mode, and ours (ratios to raw); a reader tails
   each store meanwhile and the events it skipped are counted (by id for the library,
   with `EventSource` for ours);
2. issue reconstruction p50/p99 at 10, 100 and 1,000 events (bench/reconstruct.py);
3. projection catch-up events/s (bench/catchup.py), and the catch-up of every
   projection over the demo organisation recorded in step 4;
4. the demo organisation (`qualtrace demo`, through the commands) plus, for size,
   `--bulk-tickets` ticket lifecycles recorded through the Ticket aggregate in batches;
5. HTTP `POST /tickets` throughput and p50/p99 at 1, 8 and 32 clients against the
   real service (API + projections) and against bench/crud_app.py, same uvicorn settings
   (bench/serve.py), same database; KPI query p50/p99 (`GET /kpis/...`) on the demo
   store; the service's peak memory (VmHWM).

Speed is measured here and never in tests. The scratch database is dropped at the end
(`--keep` keeps it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.recorder import QualtraceRecorder  # noqa: E402
from store.source import EventSource, ReadCursor  # noqa: E402

TARGETS = {
    "append_vs_raw_8": 0.8,
    "append_vs_raw_32": 0.8,
    "http_vs_crud_32": 0.7,
    "reconstruct_p99_ms_1000": 5.0,
    "kpi_p99_ms": 20.0,
}
STATE = json.dumps(
    {
        "actor": {"id": "bench", "name": "Bench", "role": "front_desk"},
        "correlation_id": "bench",
        "causation_id": None,
        "reason": None,
        "description": "卫生间水管漏水，楼下天花板渗水",
        "timestamp": "2026-01-05T01:00:00+00:00",
    }
).encode()


def with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- 1. appends ------------------------------------------------------------------------
def datastore(url: str, pool: int, db_functions: bool = False) -> PostgresDatastore:
    p = conninfo_to_dict(url)
    return PostgresDatastore(
        dbname=str(p["dbname"]),
        host=str(p.get("host") or "127.0.0.1"),
        port=str(p.get("port") or 5432),
        user=str(p.get("user") or "postgres"),
        password=str(p.get("password") or ""),
        pool_size=pool,
        max_overflow=0,
        lock_timeout=30,
        enable_db_functions=db_functions,
    )


def event() -> StoredEvent:
    return StoredEvent(
        originator_id=uuid.uuid4(),
        originator_version=1,
        topic="domain.tickets:Ticket.Received",
        state=STATE,
    )


def run_writers(writers: int, seconds: float, insert: Callable[[int], int]) -> tuple[int, float]:
    """`writers` threads call insert(writer) (one transaction each) for `seconds`; return
    (events, elapsed)."""
    counts = [0] * writers

    def work(i: int, ready: Callable[[], object], stop: threading.Event) -> None:
        ready()
        while not stop.is_set():
            counts[i] += insert(i)

    elapsed = run_for(writers, seconds, work)
    return sum(counts), elapsed


def run_for(
    workers: int, seconds: float, work: Callable[[int, Callable[[], object], threading.Event], None]
) -> float:
    """Run work(i, ready, stop) in `workers` threads: each calls ready() once set up and
    returns soon after stop is set. The clock runs from when all are ready for `seconds`;
    returns the elapsed seconds."""
    start = threading.Barrier(workers + 1)
    stop = threading.Event()
    threads = [
        threading.Thread(target=work, args=(i, start.wait, stop), daemon=True)
        for i in range(workers)
    ]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


class Tail:
    """A reader tailing a store in a thread while writers run; counts what it saw."""

    def __init__(self, read: Callable[[], list[int]]) -> None:
        self.read, self._stop = read, threading.Event()
        self.seen: set[int] = set()
        self.duplicates = 0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    #: Seconds between reads while tailing: a projection's wake-up rhythm (the recorder's
    #: notifier coalesces commits over 20 ms). It only bounds how often the reader reads;
    #: what it counts (skipped, read twice) does not depend on it.
    POLL = 0.02

    def _run(self) -> None:
        while not self._stop.is_set():
            self._take(self.read())
            time.sleep(self.POLL)

    def _take(self, got: list[int]) -> list[int]:
        self.duplicates += sum(1 for i in got if i in self.seen)
        self.seen.update(got)
        return got

    def finish(self, expected: set[int], settle: float = 15.0) -> int:
        """Stop tailing, catch up until `expected` is seen or `settle` passes; return skipped."""
        self._stop.set()
        self._t.join()
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            if not self._take(self.read()):
                if expected <= self.seen:
                    break
                time.sleep(0.01)
        return len(expected - self.seen)


def tail_reader(name: str, recorder: Any) -> Callable[[], list[int]]:
    """A reader starting at the current end of `recorder`'s store: ours through
    `EventSource` (commit-safe order), the library's by notification id."""
    if name == "qualtrace":
        source = EventSource(recorder, mapper=None)
        box = {"cursor": ReadCursor()}
        while True:  # skip what earlier levels wrote (all settled by now)
            got, box["cursor"] = source.read_notifications(box["cursor"], 5000)
            if not got:
                break

        def read_ours() -> list[int]:
            got, box["cursor"] = source.read_notifications(box["cursor"], 500)
            return [g.id for g in got]

        return read_ours
    state = {"last": recorder.max_notification_id() or 0}

    def read_by_id() -> list[int]:
        got = [
            n.id
            for n in recorder.select_notifications(
                start=state["last"], limit=500, inclusive_of_start=False
            )
        ]
        if got:
            state["last"] = got[-1]
        return got

    return read_by_id


def measure_store(
    name: str, recorder: Any, writers: int, seconds: float, raw_eps: float
) -> dict[str, Any]:
    written: list[int] = []
    lock = threading.Lock()

    def insert(_i: int) -> int:
        ids = recorder.insert_events([event()]) or []
        with lock:
            written.extend(ids)
        return len(ids)

    tail = Tail(tail_reader(name, recorder))
    n, s = run_writers(writers, seconds, insert)
    skipped = tail.finish(set(written), settle=15.0 if name == "qualtrace" else 1.0)
    return {
        "events": n,
        "seconds": s,
        "events_per_second": round(n / s),
        "vs_raw": round(n / s / (raw_eps or 1), 2),
        "tail_read": len(tail.seen),
        "skipped": skipped,
        "read_twice": tail.duplicates,
    }


def bench_appends(
    url: str, levels: list[int], seconds: float, rounds: int = 3
) -> list[dict[str, Any]]:
    """Each level runs `rounds` rounds of every contender (in rotating order, so a load
    swing on a shared machine does not favour whoever runs first), `seconds / rounds`
    each; figures are summed over the rounds."""
    results: list[dict[str, Any]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""CREATE TABLE raw_events (
            originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text NOT NULL,
            state bytea NOT NULL, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))""")
        conn.execute(
            "CREATE UNIQUE INDEX raw_events_notification_id ON raw_events (notification_id)"
        )
    kinds: dict[str, Callable[[int], Any]] = {
        "library_default": lambda w: PostgresApplicationRecorder(
            datastore(url, w + 1), events_table_name="lib_events"
        ),
        "library_db_functions": lambda w: PostgresApplicationRecorder(
            datastore(url, w + 1, True), events_table_name="libfn_events"
        ),
        "qualtrace": lambda w: QualtraceRecorder(
            datastore(url, w + 1), events_table_name="qt_events"
        ),
    }
    for make in kinds.values():  # create the tables once
        r = make(1)
        r.create_table()
        r.datastore.close()
    raw_sql = (
        "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s) RETURNING notification_id"
    )

    def measure_raw(writers: int, secs: float) -> dict[str, Any]:
        conns = [psycopg.connect(url, autocommit=True) for _ in range(writers)]
        try:

            def raw(i: int) -> int:
                e = event()
                conns[i].execute(
                    raw_sql, (e.originator_id, 1, e.topic, e.state), prepare=True
                ).fetchone()
                return 1

            n, s = run_writers(writers, secs, raw)
        finally:
            for c in conns:
                c.close()
        return {"events": n, "seconds": s, "skipped": 0, "tail_read": 0, "read_twice": 0}

    names = ["raw", *kinds]
    # One store open at a time: connections are scarce on a shared server.
    for writers in levels:
        totals: dict[str, dict[str, float]] = {
            n: {"events": 0, "seconds": 0.0, "skipped": 0, "tail_read": 0, "read_twice": 0}
            for n in names
        }
        for rnd in range(rounds):
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                if name == "raw":
                    got = measure_raw(writers, seconds / rounds)
                else:
                    recorder = kinds[name](writers)
                    try:
                        recorder.create_table()  # idempotent; the DB-functions mode prepares its statements here
                        got = measure_store(name, recorder, writers, seconds / rounds, 1)
                    finally:
                        recorder.datastore.close()
                for k in totals[name]:
                    totals[name][k] += got[k]
        raw_eps = totals["raw"]["events"] / totals["raw"]["seconds"]
        row: dict[str, Any] = {
            "writers": writers,
            "raw": {"events": int(totals["raw"]["events"]), "events_per_second": round(raw_eps)},
        }
        for name in kinds:
            t = totals[name]
            eps = t["events"] / t["seconds"] if t["seconds"] else 0.0
            row[name] = {
                "events": int(t["events"]),
                "events_per_second": round(eps),
                "vs_raw": round(eps / raw_eps, 2),
                "tail_read": int(t["tail_read"]),
                "skipped": int(t["skipped"]),
                "read_twice": int(t["read_twice"]),
            }
        log(
            "append x{}: raw {}/s, ".format(writers, row["raw"]["events_per_second"])
            + ", ".join(
                f"{n} {row[n]['events_per_second']}/s ({row[n]['vs_raw']}x, {row[n]['skipped']} skipped)"
                for n in kinds
            )
        )
        results.append(row)
    return results


# -- 4. the demo store, and its projections' catch-up ------------------------------------
def bulk_tickets(url: str, tickets: int, workers: int = 2) -> dict[str, Any]:
    """`tickets` lifecycles through the Ticket aggregate in `workers` processes."""
    import multiprocessing

    t0 = time.perf_counter()
    if workers <= 1:
        _bulk_worker((url, tickets, 7))
    else:
        shares = [
            (url, tickets // workers + (1 if i < tickets % workers else 0), 7 + i)
            for i in range(workers)
        ]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(_bulk_worker, shares)
    s = time.perf_counter() - t0
    return {
        "tickets": tickets,
        "workers": workers,
        "seconds": round(s, 1),
        "tickets_per_second": round(tickets / s),
    }


def _bulk_worker(args: tuple[str, int, int]) -> None:
    url, tickets, seed = args
    _bulk(url, tickets, seed=seed)


def _bulk(url: str, tickets: int, per_transaction: int = 250, seed: int = 7) -> None:
    """Ticket lifecycles through the Ticket aggregate (every domain rule), many per
    transaction: the fast path to a store of a million events."""
    from domain.base import Actor, Ctx
    from domain.tickets import Ticket
    from qualtrace.bootstrap import bootstrap
    from qualtrace.demo import _projects
    from qualtrace.demo_data import YEAR_START
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=False)
    desk, sup, staff = (
        Actor("bulk.desk", "李娜", "front_desk"),
        Actor("bulk.sup", "王强", "supervisor"),
        Actor("bulk.staff", "张伟", "staff"),
    )
    projects = [p[0] for p in _projects(24)]
    rng = random.Random(seed)
    try:
        done = 0
        while done < tickets:
            n = min(per_transaction, tickets - done)
            numbers = c.app.service.next_numbers("ticket", n)
            batch = []
            for k, number in enumerate(numbers):
                at = YEAR_START + timedelta(minutes=rng.randint(0, 365 * 24 * 60 - 3000))
                corr = f"bulk-{done + k}"
                ctx = lambda who, m, at=at, corr=corr: Ctx(who, at + timedelta(minutes=m), corr)  # noqa: E731
                t = Ticket.receive(
                    ctx(desk, 0),
                    number=number,
                    project=rng.choice(projects),
                    kind=rng.choice(["repair", "repair", "complaint", "inquiry"]),
                    channel="phone",
                    priority=rng.choice(["urgent", "high", "normal", "normal", "low"]),
                    category="水电",
                    description="卫生间水管漏水",
                    reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
                    sla=c.app.tickets.sla_policy,
                )
                t.dispatch(ctx(sup, rng.randint(3, 60)), "engineering", "王师傅")
                t.accept(ctx(staff, 90))
                t.resolve(ctx(staff, rng.randint(120, 2000)), "已修复")
                satisfied = rng.random() < 0.9
                t.callback(ctx(desk, 2100), True, satisfied, 5 if satisfied else 2, None)
                if satisfied:
                    t.close(ctx(desk, 2110))
                batch.append(t)
            c.app.save(*batch)
            done += n
    finally:
        c.close()


def catch_up_all(url: str) -> dict[str, Any]:
    """Every projection from position 0 over the whole store (a fresh service's start)."""
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=False)
    try:
        head = c.app.recorder.max_notification_id() or 0
        t0 = time.perf_counter()
        c.run_projections_once()
        s = time.perf_counter() - t0
        projections = len(c.runners)
    finally:
        c.close()
    return {
        "events_in_store": head,
        "projections": projections,
        "seconds": round(s, 1),
        "store_events_per_second": round(head / s) if s else None,
        "applied_events_per_second": round(head * projections / s) if s else None,
    }


# -- 5. HTTP ---------------------------------------------------------------------------------
class Server:
    def __init__(self, target: str, url: str, port: int, *extra: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", target, str(port), url, *extra], cwd=ROOT, env=env
        )
        self.port = port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz" if target == "qualtrace" else "/docs")
                c.getresponse().read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{target} server exited") from None
                time.sleep(0.2)
        raise RuntimeError(f"{target} server did not start")

    def peak_memory_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ticket_body(rng: random.Random, projects: list[str]) -> bytes:
    return json.dumps(
        {
            "project": rng.choice(projects),
            "kind": "repair",
            "channel": "phone",
            "priority": "normal",
            "category": "水电",
            "description": "卫生间水管漏水，楼下天花板渗水",
            "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
        },
        ensure_ascii=False,
    ).encode()


def load(
    port: int,
    clients: int,
    seconds: float,
    request: Callable[[random.Random], tuple[str, str, bytes | None]],
    headers: dict[str, str],
    expect: int,
) -> dict[str, Any]:
    """`clients` keep-alive connections, each sending the next request as soon as the last
    answer came, for `seconds`; throughput and latency percentiles of good answers."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    bad = [0] * clients

    def work(i: int, ready: Callable[[], object], stop: threading.Event) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ready()
        while not stop.is_set():
            method, path, body = request(rng)
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status == expect:
                latencies[i].append(time.perf_counter() - t0)
            else:
                bad[i] += 1
        conn.close()

    elapsed = run_for(clients, seconds, work)
    flat = [x for lst in latencies for x in lst]
    return {
        "clients": clients,
        "requests": len(flat),
        "errors": sum(bad),
        "per_second": round(len(flat) / elapsed, 1),
        "p50_ms": round(pct(flat, 50) * 1000, 2),
        "p99_ms": round(pct(flat, 99) * 1000, 2),
    }


def bench_http(url: str, levels: list[int], seconds: float, kpi_samples: int) -> dict[str, Any]:
    from api.tokens import TokenStore
    from qualtrace.demo import _projects

    projects = [p[0] for p in _projects(24)]
    desk = TokenStore(url).create("bench.desk", "李娜", "front_desk", [], None)[1]
    reporting = TokenStore(url).create("bench.reporting", "报表", "reporting", [], None)[1]
    out: dict[str, Any] = {"qualtrace": [], "qualtrace_api_only": [], "crud": []}
    port = 18000 + os.getpid() % 1000
    for variant in ("qualtrace", "qualtrace_api_only", "crud"):
        target = "crud" if variant == "crud" else "qualtrace"
        server = Server(
            target, url, port, *(["no-projections"] if variant == "qualtrace_api_only" else [])
        )
        try:
            headers = {"Content-Type": "application/json"}
            if target == "qualtrace":
                headers["Authorization"] = f"Bearer {desk}"
            load(
                port,
                4,
                1.0,
                lambda rng: ("POST", "/tickets", ticket_body(rng, projects)),
                headers,
                201,
            )  # warm-up
            for clients in levels:
                res = load(
                    port,
                    clients,
                    seconds,
                    lambda rng: ("POST", "/tickets", ticket_body(rng, projects)),
                    headers,
                    201,
                )
                out[variant].append(res)
                log(
                    f"http {variant} x{clients}: {res['per_second']}/s p50 {res['p50_ms']} p99 {res['p99_ms']} errors {res['errors']}"
                )
            if variant == "qualtrace":
                out["kpi_demo_store"] = bench_kpis(port, reporting, kpi_samples)
            out[f"{variant}_peak_memory_mb"] = server.peak_memory_mb()
        finally:
            server.stop()
            port += 1
    return out


def kpis_at_size(url: str, events: int, samples: int) -> dict[str, Any]:
    """Grow the store with bulk ticket lifecycles to about `events` events, bring the
    ticket KPI projection up to date (the other projections are left behind: catching
    all of them up over a million events takes far longer than this run; their KPIs
    keep the demo's figures), fill its report cells (projections.kpis.cells) and time one
    refresh of the cells a few new tickets make dirty, then time the KPI queries over
    HTTP on a service started without projection runners, once the cells are fresh."""
    from api.tokens import TokenStore
    from projections import registry
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings
    from store.consumer import ProjectionRunner

    c = bootstrap(
        Settings(database_url=url, pool_size=2, run_projections=False), setup=True
    )  # alone: --only kpi
    head = c.app.recorder.max_notification_id() or 0
    c.close()
    out: dict[str, Any] = {}
    missing = max(0, events - head)
    if missing:
        out["bulk"] = bulk_tickets(
            url, -(-missing // 6), workers=2
        )  # six events a lifecycle, at least `events`
    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=False)
    try:
        out["events_in_store"] = c.app.recorder.max_notification_id() or 0
        t0 = time.perf_counter()
        caught = 0
        for p in registry.all_projections(c.settings.timezone):
            if p.name == "kpi_tickets":
                caught += ProjectionRunner(c.url, c.source, p).run_once()
        s = time.perf_counter() - t0
        out["kpi_catchup"] = {
            "events_applied": caught,
            "seconds": round(s, 1),
            "events_per_second": round(caught / s) if s else None,
        }
        with psycopg.connect(url) as conn:
            out["ticket_facts"] = conn.execute(
                "SELECT count(*) FROM qt_read.ticket_facts"
            ).fetchone()[0]  # type: ignore[index]
        out["cells"] = ticket_cells(c)
    finally:
        c.close()
    log(f"KPI store: {out['events_in_store']} events, {out['ticket_facts']} ticket facts")
    log(f"KPI cells: {out['cells']}")
    reporting = TokenStore(url).create("bench.reporting2", "报表", "reporting", [], None)[1]
    port = 19500 + os.getpid() % 400
    server = Server("qualtrace", url, port, "no-projections")
    try:
        out["kpi"] = bench_kpis(
            port, reporting, samples, [q for q in KPI_QUERIES if q.startswith("/kpis/tickets")]
        )
        out["peak_memory_mb"] = server.peak_memory_mb()
    finally:
        server.stop()
    return out


def ticket_cells(c: Any, new_tickets: int = 20) -> dict[str, Any]:
    """Fill the ticket KPI report cells (a fresh service's first refresh), then time one
    refresh of the cells that `new_tickets` tickets received at the store's latest
    reception time make dirty (live traffic), and check the cells are as fresh as the
    fact projection (what the API asks of them without `min_position`)."""
    from domain.base import Actor, Ctx
    from domain.tickets import Ticket
    from projections import registry
    from projections.kpis.cells import refresh
    from qualtrace.demo import _projects
    from store.consumer import ProjectionRunner

    p = registry.by_name("kpi_tickets", c.settings.timezone)
    out: dict[str, Any] = {}
    with psycopg.connect(c.url, autocommit=True) as conn:
        t0 = time.perf_counter()
        first = refresh(conn, p)
        out["initial_fill_seconds"] = round(time.perf_counter() - t0, 2)
        out["initial_cells"] = first["cells"] if first else None
        at = conn.execute("SELECT max(received_at) FROM qt_read.ticket_facts").fetchone()[0]  # type: ignore[index]
    if at is not None:
        # Through the Ticket aggregate as the bulk load does (the demo organisation may be absent).
        desk, sup = (
            Actor("bench.desk", "李娜", "front_desk"),
            Actor("bench.sup", "王强", "supervisor"),
        )
        projects = [q[0] for q in _projects(24)]
        batch = []
        for i, number in enumerate(c.app.service.next_numbers("ticket", new_tickets)):
            t = Ticket.receive(
                Ctx(desk, at, f"bench-cells-{i}"),
                number=number,
                project=projects[i % len(projects)],
                kind="repair",
                channel="phone",
                priority="normal",
                category="水电",
                description="卫生间水管漏水",
                reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
                sla=c.app.tickets.sla_policy,
            )
            t.dispatch(
                Ctx(sup, at + timedelta(minutes=5), f"bench-cells-{i}"), "engineering", "王师傅"
            )
            batch.append(t)
        c.app.save(*batch)
        ProjectionRunner(c.url, c.source, p).run_once()
        with psycopg.connect(c.url, autocommit=True) as conn:
            t0 = time.perf_counter()
            again = refresh(conn, p)
            out["refresh_seconds"] = round(time.perf_counter() - t0, 2)
            out["refresh_cells"] = again["cells"] if again else None
            out["refresh_after"] = (
                f"{new_tickets} tickets received and dispatched at {at:%Y-%m-%d %H:%M} UTC"
            )
    with psycopg.connect(c.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT s.position >= t.position FROM qt_read.ticket_kpi_cell_state s, qt_projection_tracking t"
            " WHERE t.name = 'kpi_tickets' AND t.live"
        ).fetchone()
        out["fresh"] = bool(row and row[0])
        out["total_cells"] = conn.execute(
            "SELECT count(*) FROM qt_read.ticket_kpi_cells"
        ).fetchone()[0]  # type: ignore[index]
    if not out["fresh"]:
        raise RuntimeError("the ticket KPI cells are not fresh: the KPI queries would not use them")
    return out


KPI_QUERIES = [
    "/kpis/tickets?from=2025-01&to=2025-12",
    "/kpis/tickets?from=2025-01&to=2025-12&group_by=project",
    "/kpis/tickets?from=2025-03&to=2025-03&group_by=region",
    "/kpis/inspections?from=2025-01&to=2025-12&group_by=project",
    "/kpis/nonconformances?from=2025-01&to=2025-12&group_by=region",
    "/kpis/surveys?from=2025-01&to=2025-12",
]


def bench_kpis(
    port: int, token: str, samples: int, queries: list[str] | None = None
) -> dict[str, Any]:
    queries = queries or KPI_QUERIES
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    per: dict[str, list[float]] = {q: [] for q in queries}
    status: dict[str, int] = {}
    for i in range(samples):
        q = queries[i % len(queries)]
        t0 = time.perf_counter()
        conn.request("GET", q, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        status[q] = r.status
        if r.status == 200:
            per[q].append(time.perf_counter() - t0)
    flat = [x for v in per.values() for x in v]
    return {
        "samples": len(flat),
        "p50_ms": round(pct(flat, 50) * 1000, 2),
        "p99_ms": round(pct(flat, 99) * 1000, 2),
        "by_query": {
            q: {
                "status": status.get(q),
                "p50_ms": round(pct(v, 50) * 1000, 2),
                "p99_ms": round(pct(v, 99) * 1000, 2),
            }
            for q, v in per.items()
        },
    }


# -- the run --------------------------------------------------------------------------------
class PrivateServer:
    """A throw-away PostgreSQL cluster of the machine's own binaries (`initdb`, `pg_ctl`),
    stock settings except `max_connections`: the run then owns its connections and is not
    disturbed by other databases' clients or long transactions on a shared server."""

    def __init__(self, port: int, max_connections: int = 200) -> None:
        import shutil
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="qt-bench-pg-"))
        self.data = self.dir / "data"
        self.bin = next((str(Path(b).parent) for b in [shutil.which("initdb") or ""] if b), "")
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            [
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -c max_connections={max_connections} -k {self.dir}"
        self._run(
            ["pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"]
        )
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, cmd: list[str]) -> None:
        cmd = [str(Path(self.bin) / cmd[0]) if self.bin else cmd[0], *cmd[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        import shutil

        try:
            self._run(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


PHASES = ("append", "reconstruct", "catchup", "demo", "http", "kpi")


def run(args: argparse.Namespace) -> dict[str, Any]:
    private = None
    if args.admin_url is None:
        private = PrivateServer(25000 + os.getpid() % 1000)
        args.admin_url = private.url
        log(f"private PostgreSQL cluster at {private.url}")
    try:
        result = _run(args)
        result["server"] = (
            "private cluster (initdb, stock settings, max_connections=200)"
            if private
            else args.admin_url
        )
        return result
    finally:
        if private is not None:
            private.stop()


def partial(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Write what is measured so far (a long run stopped midway still leaves figures)."""
    Path(args.json).write_text(
        json.dumps({**result, "partial": True}, indent=2, ensure_ascii=False, default=str)
    )


def _run(args: argparse.Namespace) -> dict[str, Any]:
    admin = args.admin_url
    levels = [int(x) for x in args.levels.split(",")]
    scratch = f"qt_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        server_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    url = with_db(admin, scratch)
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": scratch,
        "postgresql": server_version,
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "load_average_at_start": os.getloadavg(),
    }
    only = set(args.only.split(",")) if args.only else set(PHASES)
    try:
        if "append" in only:
            log("appends")
            result["append"] = bench_appends(url, levels, args.append_seconds, rounds=args.rounds)
            partial(args, result)
        if "reconstruct" in only:
            log("reconstruction")
            from bench.reconstruct import run_reconstruct

            result["reconstruct"] = [
                run_reconstruct(admin, events=n, samples=args.samples) for n in (10, 100, 1000)
            ]
            partial(args, result)
        if "catchup" in only:
            log("catch-up (bench/catchup.py)")
            from bench.catchup import run_catchup

            try:
                result["catchup"] = run_catchup(
                    admin, tickets=args.catchup_tickets, sample=min(2000, args.catchup_tickets)
                )
            except Exception as e:  # reported, and the rest of the run goes on
                result["catchup"] = {"error": repr(e)}
                log(f"catch-up failed: {e!r}")
            partial(args, result)
        if only & {"demo", "http"}:
            log("demo organisation")
            from qualtrace.demo import fill

            result["demo"] = fill(
                url,
                tickets=args.demo_tickets,
                projects=24,
                months=3 if args.quick else 12,
                survey_responses=args.survey_responses,
                workers=args.workers,
            )
            partial(args, result)
            log("catch-up of every projection over the demo store")
            result["catchup_all"] = catch_up_all(url)
            partial(args, result)
        if "http" in only:
            log("http")
            result["http"] = bench_http(url, levels, args.http_seconds, args.samples)
            partial(args, result)
        if "kpi" in only:
            log(f"KPI queries at about {args.kpi_events:,} events")
            result["kpi_at_size"] = kpis_at_size(url, args.kpi_events, args.samples)
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result["targets"] = targets(result)
    return result


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    by_writers = {row["writers"]: row for row in r.get("append", [])}
    for w in (8, 32):
        if w in by_writers:
            q = by_writers[w]["qualtrace"]
            out.append(
                {
                    "target": f"append >= 0.8x raw at {w} writers, 0 skipped",
                    "value": f"{q['vs_raw']}x, {q['skipped']} skipped",
                    "met": q["vs_raw"] >= 0.8 and q["skipped"] == 0,
                }
            )
    http = r.get("http", {})
    ours = {x["clients"]: x for x in http.get("qualtrace", [])}
    crud = {x["clients"]: x for x in http.get("crud", [])}
    if 32 in ours and 32 in crud:
        ratio = round(ours[32]["per_second"] / max(crud[32]["per_second"], 1e-9), 2)
        out.append(
            {
                "target": "HTTP commands >= 0.7x CRUD at 32 clients",
                "value": f"{ratio}x",
                "met": ratio >= 0.7,
            }
        )
    for rec in r.get("reconstruct", []):
        if rec["events"] == 1000:
            p99 = rec["latest"]["p99_ms"]
            out.append(
                {
                    "target": "reconstruction p99 < 5 ms at 1,000 events",
                    "value": f"{p99} ms",
                    "met": p99 < 5,
                }
            )
    big = r.get("kpi_at_size", {})
    if "kpi" in big:
        events, p99 = big["events_in_store"], big["kpi"]["p99_ms"]
        out.append(
            {
                "target": "KPI p99 < 20 ms at 1M events (ticket KPIs)",
                "value": f"{p99} ms at {events:,} events",
                "met": p99 < 20 and events >= 1_000_000,
            }
        )
    return out


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Qualtrace bench {r['started']}  PostgreSQL {r['postgresql']}, {r['cpus']} CPUs"
        f"{'  (--quick)' if r['quick'] else ''}",
        "",
        "Appends (events/s, one event per transaction; ratio to raw; skipped by a tailing reader)",
        f"{'writers':>8} {'raw':>8} {'library':>16} {'lib DB-functions':>24} {'qualtrace':>24}",
    ]
    for row in r.get("append", []):
        lib, fn, q = row["library_default"], row["library_db_functions"], row["qualtrace"]
        lines.append(
            f"{row['writers']:>8} {row['raw']['events_per_second']:>8} "
            f"{lib['events_per_second']:>7} ({lib['vs_raw']:.2f}x) "
            f"{fn['events_per_second']:>7} ({fn['vs_raw']:.2f}x) {fn['skipped']:>4} skip "
            f"{q['events_per_second']:>7} ({q['vs_raw']:.2f}x) {q['skipped']:>4} skip"
        )
    http = r.get("http", {})
    if http:
        lines += [
            "",
            "HTTP POST /tickets (requests/s, p50/p99 ms; ratio to crud)",
            f"{'clients':>8} {'qualtrace (API+projections)':>34} {'qualtrace API only':>34} {'crud baseline':>26}",
        ]
        for ours, api, crud in zip(
            http.get("qualtrace", []),
            http.get("qualtrace_api_only", []),
            http.get("crud", []),
            strict=False,
        ):

            def cell(x: dict[str, Any], crud: dict[str, Any] = crud) -> str:
                ratio = x["per_second"] / crud["per_second"] if crud["per_second"] else float("nan")
                return f"{x['per_second']:>8} {x['p50_ms']:>8} {x['p99_ms']:>8} ({ratio:.2f}x)"

            lines.append(
                f"{ours['clients']:>8} {cell(ours):>34} {cell(api):>34} "
                f"{crud['per_second']:>8} {crud['p50_ms']:>8} {crud['p99_ms']:>8}"
            )
        lines.append(
            f"peak memory (VmHWM): qualtrace {http.get('qualtrace_peak_memory_mb')} MB (API+projections),"
            f" {http.get('qualtrace_api_only_peak_memory_mb')} MB (API only),"
            f" crud {http.get('crud_peak_memory_mb')} MB"
        )
        if "kpi_demo_store" in http:
            k = http["kpi_demo_store"]
            lines.append(
                f"KPI queries on the demo store (service running its projections): p50 {k['p50_ms']} ms,"
                f" p99 {k['p99_ms']} ms ({k['samples']} samples)"
            )
    big = r.get("kpi_at_size", {})
    if "kpi" in big:
        k = big["kpi"]
        lines += [
            "",
            f"Ticket KPI queries at {big['events_in_store']:,} events ({big['ticket_facts']:,} tickets): "
            f"p50 {k['p50_ms']} ms, p99 {k['p99_ms']} ms; per query p50/p99:",
        ]
        for q, v in k["by_query"].items():
            lines.append(f"  {q:<62} {v['p50_ms']:>7} / {v['p99_ms']:<7} (HTTP {v['status']})")
        if big.get("bulk"):
            b = big["bulk"]
            lines.append(
                f"  (bulk: {b['tickets']:,} ticket lifecycles in {b['seconds']} s through the Ticket aggregate;"
                f" KPI catch-up {big['kpi_catchup']['events_per_second']} events/s)"
            )
        if big.get("cells"):
            cl = big["cells"]
            lines.append(
                f"  (served from report cells: {cl['total_cells']} cells, first fill {cl['initial_fill_seconds']} s;"
                f" refresh of the {cl.get('refresh_cells')} cells {cl.get('refresh_after')} dirtied:"
                f" {cl.get('refresh_seconds')} s)"
            )
    if r.get("reconstruct"):
        lines += ["", "Reconstruction of one issue (ms): latest p50/p99 | no snapshots p50/p99"]
        for rec in r["reconstruct"]:
            lines.append(
                f"{rec['events']:>8} events: {rec['latest']['p50_ms']:>6} / {rec['latest']['p99_ms']:<6} |"
                f" {rec['no_snapshots']['p50_ms']:>6} / {rec['no_snapshots']['p99_ms']}"
            )
    if r.get("catchup") and "error" not in r["catchup"]:
        c = r["catchup"]
        lines += [
            "",
            f"Catch-up {c['projection']}: {c['batched']['events_per_second']} events/s batched,"
            f" {c['per_event']['events_per_second']} events/s one commit per event ({c['events_in_store']} events)",
        ]
    if r.get("demo"):
        d = r["demo"]
        lines.append(
            f"Demo: {d['events']} events from {d['commands']} commands in {d['seconds']} s "
            f"({d['commands_per_second']} commands/s), {d['rejected_commands']} rejected"
        )
    if r.get("catchup_all"):
        c = r["catchup_all"]
        lines.append(
            f"All projections from 0 over {c['events_in_store']} events: {c['seconds']} s "
            f"({c['store_events_per_second']} store events/s)"
        )
    lines += ["", "Targets"]
    for t in r.get("targets", []):
        lines.append(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.run", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--admin-url",
        help="server where the scratch database is created (default: a private"
        " cluster started with the machine's initdb/pg_ctl for this run, then removed)",
    )
    ap.add_argument("--quick", action="store_true", help="a small, fast run (about a minute)")
    ap.add_argument("--levels", default="1,8,32", help="concurrent writers / HTTP clients")
    ap.add_argument(
        "--append-seconds",
        type=float,
        default=None,
        help="per contender and level, over all rounds",
    )
    ap.add_argument("--rounds", type=int, default=None, help="rounds per level (rotating order)")
    ap.add_argument("--http-seconds", type=float, default=None)
    ap.add_argument("--samples", type=int, default=None, help="reconstruction and KPI samples")
    ap.add_argument("--catchup-tickets", type=int, default=None)
    ap.add_argument(
        "--demo-tickets", type=int, default=None, help="tickets in the demo organisation"
    )
    ap.add_argument("--survey-responses", type=int, default=None)
    ap.add_argument(
        "--kpi-events",
        type=int,
        default=None,
        help="grow the store to this many events (bulk ticket lifecycles) for the KPI queries",
    )
    ap.add_argument(
        "--large", action="store_true", help="KPI queries at 1,000,000 events (adds 10-20 minutes)"
    )
    ap.add_argument("--workers", type=int, default=2, help="demo worker processes")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument(
        "--only",
        help=f"comma list of phases to run (default all): {','.join(PHASES)}"
        " (http runs the demo first; the table shows what ran)",
    )
    args = ap.parse_args(argv)
    quick = args.quick
    defaults = {
        "append_seconds": 3.0 if quick else 12.0,
        "rounds": 1 if quick else 3,
        "http_seconds": 3.0 if quick else 10.0,
        "samples": 60 if quick else 300,
        "catchup_tickets": 500 if quick else 5000,
        "demo_tickets": 150 if quick else 3000,
        "survey_responses": 20 if quick else 200,
        "kpi_events": 1_000_000 if args.large else (20_000 if quick else 200_000),
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    result = run(args)
    Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    print(table(result), flush=True)
    log(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
