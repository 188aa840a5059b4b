"""Phase 1: append throughput against raw psycopg and the library's recorders, with a tailing reader counting skipped events."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict

from bench.common import STATE, log
from store.recorder import QualtraceRecorder
from store.source import EventSource, ReadCursor


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
