"""Faults, measured (issue #17 item 6; docs/faults.md). All on 127.0.0.1, against a real
`qualtrace serve` (a supervisor and 2 API processes) plus a worker process, on a private
PostgreSQL cluster started here with `max_connections=100`:

1. `kill -9` of an API process every few seconds while 16 clients send commands with
   an Idempotency-Key and re-send them after a connection error or a 503;
2. PostgreSQL restarted (`pg_ctl restart -m fast`) under the same load: the same
   processes recover (no restart), clients see 503 with Retry-After, never 500;
3. the worker killed (`kill -9`) while it applies a batch, N times;
4. 300 concurrent clients: the service queues or answers 503, never crashes, and holds
   no more connections afterwards than its pools allow.

Then: every acknowledged command is in the store exactly once (lost 0, duplicated 0),
every retried one at most once, and every projection equals a rebuild from scratch.

    python -m bench.faults            # the short version (.ci/run, via tests/faults)
    python -m bench.faults --long     # the figures in docs/faults.md
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.fault_parts import (
    API_APP,
    WORKER_APP,
    Ledger,
    Postgres,
    Service,
    commands_in_store,
    run_client,
    run_crowd,
)
from qualtrace.connections import fit, most
from qualtrace.settings import Settings


@dataclass
class Plan:
    #: API processes (`serve --workers`): with 4, the pools may ask for more than 100.
    api_processes: int = 2
    #: QUALTRACE_POOL_SIZE of every service process (None: the default, 8).
    pool_size: int | None = None
    clients: int = 16
    api_kill_seconds: float = 12.0
    api_kill_every: float = 3.0
    restarts: int = 1
    load_between_restarts: float = 3.0
    worker_kills: int = 5
    crowd: int = 300
    crowd_seconds: float = 5.0
    #: How long a client keeps re-sending one command before it gives up on it.
    command_deadline: float = 60.0


SHORT = Plan()
LONG = Plan(
    api_kill_seconds=90.0,
    api_kill_every=3.0,
    restarts=5,
    load_between_restarts=10.0,
    worker_kills=20,
    crowd_seconds=30.0,
)


@dataclass
class Report:
    plan: dict[str, Any]
    api_kills: int = 0
    api_restarted_by_supervisor: int = 0
    restarts: list[dict[str, Any]] = field(default_factory=list)
    restart_statuses: dict[str, int] = field(default_factory=dict)
    processes_restarted_by_pg_restart: int = 0
    worker_kills: int = 0
    worker_kills_mid_batch: int = 0
    crowd: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    commands_sent: int = 0
    acknowledged: int = 0
    retried: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong_answer: int = 0
    abandoned: int = 0
    abandoned_but_recorded: int = 0
    missing_retry_after: int = 0
    unexpected: list[str] = field(default_factory=list)
    projections_compared: int = 0
    projections_differing: list[str] = field(default_factory=list)
    connections_after_stop: int = 0
    supervisor_exit: int | None = None
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """What breaks the promises; empty when the run passed."""
        out = []
        if self.lost or self.duplicated or self.wrong_answer:
            out.append(
                f"lost {self.lost}, duplicated {self.duplicated}, wrong answer {self.wrong_answer}"
            )
        if self.statuses.get("500"):
            out.append(f"{self.statuses['500']} answers were 500")
        if self.missing_retry_after:
            out.append(f"{self.missing_retry_after} 503 answers without Retry-After")
        if self.unexpected:
            out.append(f"unexpected answers: {self.unexpected[:5]}")
        if self.abandoned:
            out.append(f"{self.abandoned} commands never answered")
        if self.processes_restarted_by_pg_restart:
            out.append("a service process was restarted across the PostgreSQL restart")
        if self.projections_differing:
            out.append(f"projections differ from a rebuild: {self.projections_differing}")
        if not self.projections_compared:
            out.append("no projection compared")
        if self.connections_after_stop:
            out.append(f"{self.connections_after_stop} connections left after the service stopped")
        if self.crowd.get("crashed"):
            out.append("a process crashed under the crowd")
        if self.crowd.get("connections_after", 0) > self.crowd.get("connection_bound", 0):
            out.append(f"connections after the crowd: {self.crowd}")
        if self.supervisor_exit != 0:
            out.append(f"the supervisor exited with {self.supervisor_exit}")
        return out


class Run:
    def __init__(self, plan: Plan, root: Path, say: Any = print) -> None:
        self.plan = plan
        self.root = root
        self.say = say
        self.pg = Postgres(root / "pg", max_connections=100)
        self.ledger = Ledger()
        self.report = Report(plan=asdict(plan))
        self.service: Service | None = None
        self.tokens: list[str] = []
        self.fitted_pool_size = 0  # the pool size the service runs with (set up in `setup`)

    # -- set-up --------------------------------------------------------------------------
    def setup(self) -> Service:
        self.pg.start()
        self.service = Service(
            self.pg.url(), self.root / "service", workers=self.plan.api_processes
        )
        # Here the worker runs on its own (to be killed alone), so it gets the pool size
        # `serve` would pass it: the plan's, or the one fitted to the server.
        self.fitted_pool_size = self.pool_size()
        self.service.env["QUALTRACE_POOL_SIZE"] = str(self.fitted_pool_size)
        (self.root / "service").mkdir(exist_ok=True)
        self.service.start()
        from api.tokens import TokenStore

        store = TokenStore(self.pg.url())
        admin = store.create("admin", "Admin", "admin")[1]
        count = max(self.plan.clients + 1, self.plan.crowd)
        self.tokens = [
            store.create(f"desk-{i}", f"Desk {i}", "front_desk")[1] for i in range(count)
        ]
        headers = {"Authorization": f"Bearer {admin}"}
        for path, body in (
            ("/regions", {"code": "SH", "name": "上海"}),
            ("/projects", {"code": "P1", "name": "绿地花园", "region": "SH", "households": 800}),
        ):
            r = httpx.post(f"{self.service.base}{path}", json=body, headers=headers, timeout=30)
            assert r.status_code == 201, r.text
        return self.service

    def clients(self) -> tuple[threading.Event, list[threading.Thread]]:
        assert self.service is not None
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=run_client,
                args=(
                    self.service.base,
                    self.tokens[i],
                    self.ledger,
                    stop,
                    random.randrange(1 << 30),
                    self.plan.command_deadline,
                ),
                daemon=True,
            )
            for i in range(self.plan.clients)
        ]
        for t in threads:
            t.start()
        return stop, threads

    @staticmethod
    def settle(stop: threading.Event, threads: list[threading.Thread], timeout: float) -> None:
        stop.set()
        for t in threads:
            t.join(timeout)

    # -- 1. API processes killed ---------------------------------------------------------
    def kill_api_processes(self) -> None:
        svc = self.service
        assert svc is not None and svc.proc is not None
        stop, threads = self.clients()
        until = time.monotonic() + self.plan.api_kill_seconds
        rng = random.Random()
        seen = set(svc.api_pids())
        while time.monotonic() < until:
            time.sleep(self.plan.api_kill_every)
            pids = svc.api_pids()
            seen |= set(pids)
            if len(pids) == svc.workers:  # one at a time: the other keeps answering
                signal_pid(rng.choice(pids))
                self.report.api_kills += 1
        self.settle(stop, threads, self.plan.command_deadline + 30)
        wait_for(lambda: len(svc.api_pids()) == svc.workers, 60, "API processes back")
        seen |= set(svc.api_pids())
        self.report.api_restarted_by_supervisor = len(seen) - svc.workers
        self.say(f"1. killed an API process {self.report.api_kills} times")

    # -- 2. PostgreSQL restarted ---------------------------------------------------------
    def restart_postgres(self) -> None:
        svc = self.service
        assert svc is not None and svc.worker is not None
        stop, threads = self.clients()
        probe = httpx.Client(
            base_url=svc.base,
            headers={"Authorization": f"Bearer {self.tokens[self.plan.clients]}"},
            timeout=10,
        )
        try:
            for i in range(self.plan.restarts):
                time.sleep(self.plan.load_between_restarts)
                before = (svc.api_pids(), svc.worker.pid)
                # The read side's backlog under this load, apart from the restart.
                lag = store_head(self.pg) - min_position(self.pg)
                t0 = time.monotonic()
                self.pg.restart()
                t1 = time.monotonic()
                # Resumed: every projection moves past where it stood at the restart.
                stood = positions(self.pg)
                # Meanwhile: when the worker applies a batch again (a write transaction open).
                applying = Stopwatch(lambda: worker_writing(self.pg))
                t_cmd = first_ack(probe, self.ledger, t1)
                t_ready = first_ready(probe, t1)
                wait_for(lambda s=stood: moved_past(self.pg, s), 120, "projections resumed")
                t_moving = time.monotonic()
                head = store_head(self.pg)
                wait_for(lambda h=head: min_position(self.pg) >= h, 120, "projections caught up")
                t_proj = time.monotonic()
                t_applying = applying.result()
                after = (svc.api_pids(), svc.worker.pid)
                if before != after or svc.worker.poll() is not None:
                    self.report.processes_restarted_by_pg_restart += 1
                figures = {
                    "postgres_down_s": round(t1 - t0, 2),
                    "command_ok_after_s": round(t_cmd - t1, 2),
                    "ready_after_s": round(t_ready - t1, 2),
                    "lag_before_restart_events": lag,
                    "worker_applying_after_s": round(t_applying - t1, 2),
                    "projections_moving_after_s": round(t_moving - t1, 2),
                    "projections_caught_up_after_s": round(t_proj - t1, 2),
                }
                self.report.restarts.append(figures)
                with self.ledger.lock:
                    for at, status in self.ledger.timeline:
                        if t0 <= at <= t_cmd:
                            key = status
                            self.report.restart_statuses[key] = (
                                self.report.restart_statuses.get(key, 0) + 1
                            )
                self.say(f"2. PostgreSQL restart {i + 1}: {figures}")
            time.sleep(self.plan.load_between_restarts / 2)
        finally:
            probe.close()
            self.settle(stop, threads, self.plan.command_deadline + 30)

    # -- 3. the worker killed mid-batch --------------------------------------------------
    def kill_worker(self) -> None:
        svc = self.service
        assert svc is not None
        stop, threads = self.clients()
        for _ in range(self.plan.worker_kills):
            if svc.worker is None or svc.worker.poll() is not None:
                svc.start_worker()
            # A batch is a write transaction of the worker's: kill it the moment one is seen.
            mid_batch = wait_for(lambda: worker_writing(self.pg), 30, None, interval=0.002)
            svc.kill_worker()
            self.report.worker_kills += 1
            self.report.worker_kills_mid_batch += int(mid_batch)
        svc.start_worker()
        self.settle(stop, threads, self.plan.command_deadline + 30)
        self.say(
            f"3. killed the worker {self.report.worker_kills} times,"
            f" {self.report.worker_kills_mid_batch} with a batch transaction open"
        )

    # -- 4. a crowd against max_connections=100 ------------------------------------------
    def crowd(self) -> None:
        svc = self.service
        assert svc is not None and svc.proc is not None and svc.worker is not None
        before_pids = (svc.proc.pid, svc.api_pids(), svc.worker.pid)
        before = self.pg.connections()
        peak = [0]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                try:
                    peak[0] = max(peak[0], sum(self.pg.connections().values()))
                except psycopg.OperationalError:
                    pass  # the cluster is full: the crowd is at its peak
                sampling.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        crowd_ledger = Ledger()
        took = run_crowd(
            svc.base,
            self.tokens[: self.plan.crowd],
            crowd_ledger,
            self.plan.crowd_seconds,
            self.plan.command_deadline,
        )
        sampling.set()
        sampler.join()
        self.merge(crowd_ledger)
        time.sleep(2.0)
        after = self.pg.connections()
        crashed = svc.proc.poll() is not None or svc.worker.poll() is not None
        after_pids = (svc.proc.pid, svc.api_pids(), svc.worker.pid)
        self.report.crowd = {
            "clients": self.plan.crowd,
            "seconds": round(took, 1),
            "acknowledged": len(crowd_ledger.acked),
            "statuses": dict(crowd_ledger.statuses),
            "connections_before": sum(before.values()),
            "connections_peak": peak[0],
            "connections_after": sum(after.values()),
            # What the pools may open at most (qualtrace/connections.py), and the server.
            "connections_most": most(self.plan.api_processes, self.fitted_pool_size),
            "connection_bound": self.pg.max_connections,
            "crashed": crashed or before_pids != after_pids,
        }
        self.say(f"4. {self.report.crowd}")

    def pool_size(self) -> int:
        """The pool size the service runs with: the plan's, or what `serve` fitted."""
        chosen = self.plan.pool_size
        size, _ = fit(
            self.pg.url(),
            self.plan.api_processes,
            chosen or Settings().pool_size,
            True,
            explicit=chosen is not None,
        )
        return size

    def merge(self, other: Ledger) -> None:
        with self.ledger.lock:
            self.ledger.acked.update(other.acked)
            for k, n in other.sent.items():
                self.ledger.sent[k] = self.ledger.sent.get(k, 0) + n
            self.ledger.statuses.update(other.statuses)
            self.ledger.unexpected += other.unexpected
            self.ledger.abandoned |= other.abandoned
            self.ledger.missing_retry_after += other.missing_retry_after

    # -- the verdict ---------------------------------------------------------------------
    def verify(self) -> None:
        svc = self.service
        assert svc is not None
        url = self.pg.url()
        head = store_head(self.pg)
        wait_for(lambda: min_position(self.pg) >= head, 120, "projections caught up")
        r = self.report
        # Stopped first: its pools may hold every connection the cluster allows.
        r.supervisor_exit = svc.stop()
        time.sleep(0.5)
        conns = self.pg.connections()
        r.connections_after_stop = conns.get(API_APP, 0) + conns.get(WORKER_APP, 0)
        counts, owners = commands_in_store(url)
        led = self.ledger
        r.commands_sent = len(led.sent)
        r.acknowledged = len(led.acked)
        r.retried = led.retried
        r.statuses = dict(led.statuses)
        r.unexpected = led.unexpected
        r.abandoned = len(led.abandoned)
        r.abandoned_but_recorded = sum(1 for k in led.abandoned if counts[k])
        r.missing_retry_after = led.missing_retry_after
        r.lost = sum(1 for k in led.acked if counts[k] == 0)
        r.duplicated = sum(1 for k in led.sent if counts[k] > 1)
        # A stored command nobody sent would be a duplicate under another key.
        r.duplicated += sum(1 for k in counts if k not in led.sent)
        r.wrong_answer = sum(
            1
            for k, (kind, path, answer) in led.acked.items()
            if counts[k] == 1 and answer["id"] not in owners[k]
        )
        differing, compared = compare_with_rebuild(url)
        r.projections_compared, r.projections_differing = compared, differing

    def run(self) -> Report:
        started = time.monotonic()
        try:
            self.setup()
            self.kill_api_processes()
            self.restart_postgres()
            self.kill_worker()
            self.crowd()
            self.verify()
        finally:
            if self.service is not None:
                self.service.stop()
            self.pg.stop()
        self.report.seconds = round(time.monotonic() - started, 1)
        return self.report


# -- helpers -----------------------------------------------------------------------------
class Stopwatch:
    """When `check` first holds (polled every 10 ms, for up to `timeout`), in a thread."""

    def __init__(self, check: Any, timeout: float = 120.0) -> None:
        self.at = float("nan")

        def watch() -> None:
            if wait_for(check, timeout, None, 0.01):
                self.at = time.monotonic()

        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()

    def result(self) -> float:
        self.thread.join()
        return self.at


def signal_pid(pid: int) -> None:
    import os

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(check: Any, timeout: float, what: str | None, interval: float = 0.05) -> bool:
    """Poll `check` until true (bounded); raise naming `what` on time-out, or return False
    when `what` is None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except psycopg.OperationalError:
            pass
        time.sleep(interval)
    if what is None:
        return False
    raise TimeoutError(f"not within {timeout:g} s: {what}")


def store_head(pg: Postgres) -> int:
    rows = pg.query("SELECT coalesce(max(notification_id), 0) FROM qualtrace_events")
    return int(rows[0][0])


def min_position(pg: Postgres) -> int:
    rows = pg.query("SELECT coalesce(min(position), 0) FROM qt_projection_tracking WHERE live")
    return int(rows[0][0])


def positions(pg: Postgres) -> dict[str, int]:
    rows = pg.query("SELECT name, position FROM qt_projection_tracking WHERE live")
    return {str(name): int(p) for name, p in rows}


def moved_past(pg: Postgres, stood: dict[str, int]) -> bool:
    """Every projection that was behind the head has moved (the worker is applying again)."""
    head = store_head(pg)
    now = positions(pg)
    return all(now.get(n, 0) > p or p >= head for n, p in stood.items())


def worker_writing(pg: Postgres) -> bool:
    """The worker has a transaction with an xid open: it is applying a batch."""
    rows = pg.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        " AND backend_xid IS NOT NULL",
        (WORKER_APP,),
    )
    return bool(rows[0][0])


def first_ack(client: httpx.Client, ledger: Ledger, since: float, timeout: float = 120.0) -> float:
    """Send one command (retried with its key) until acknowledged; when it was."""
    from bench.fault_parts import Commands

    commands = Commands(ledger, random.Random())
    key, kind, path, body = commands.next()
    deadline = since + timeout
    while time.monotonic() < deadline:
        r = None
        try:
            r = client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as e:
            ledger.saw(key, f"connection error ({type(e).__name__})")
        if r is not None and commands.answered(key, kind, path, r):
            if r.status_code in (200, 201):
                return time.monotonic()
            raise AssertionError(f"probe command refused: {r.status_code} {r.text}")
        time.sleep(0.05)
    raise TimeoutError("no command acknowledged after the restart")


def first_ready(client: httpx.Client, since: float, timeout: float = 120.0) -> float:
    deadline = since + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError("not ready after the restart")


def compare_with_rebuild(url: str) -> tuple[list[str], int]:
    """Each read model's live tables against a rebuild from scratch (the service stopped)."""
    from projections import registry
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings
    from store.tracking import schema_name

    def dump(projection: Any) -> dict[str, list[tuple[Any, ...]]]:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT generation FROM qt_projection_tracking WHERE name=%s AND live",
                (projection.name,),
            ).fetchone()
            assert row is not None
            schema = schema_name(projection, row[0])
            out = {}
            for t in projection.views:
                # Not compared: when the runner wrote a row (`DEFAULT now()`, the ledger's
                # `sealed_at`), which no event decides.
                cols = [
                    c
                    for (c,) in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_schema=%s"
                        " AND table_name=%s AND coalesce(column_default, '') NOT LIKE '%%now()%%'"
                        " ORDER BY ordinal_position",
                        (schema, t),
                    ).fetchall()
                ]
                rows = conn.execute(f"SELECT {', '.join(cols)} FROM {schema}.{t}").fetchall()
                out[t] = sorted(rows, key=repr)
            return out

    c = bootstrap(Settings(database_url=url, pool_size=2), setup=False)
    differing, compared = [], 0
    try:
        for projection in registry.all_projections(c.settings.timezone):
            live = dump(projection)
            c.rebuild(projection.name)
            compared += 1
            if dump(projection) != live:
                differing.append(projection.name)
    finally:
        c.close()
    return differing, compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--long", action="store_true", help="the long version (docs/faults.md)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--api-processes", type=int, help="serve --workers N (default: 2)")
    parser.add_argument("--pool-size", type=int, help="QUALTRACE_POOL_SIZE (default: 8)")
    parser.add_argument("--keep", type=Path, help="run in a new directory under this one, kept")
    args = parser.parse_args(argv)
    plan = LONG if args.long else SHORT
    if args.api_processes:
        plan = replace(plan, api_processes=args.api_processes)
    if args.pool_size:
        plan = replace(plan, pool_size=args.pool_size)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = Run(plan, Path(tempfile.mkdtemp(prefix="qt-faults-", dir=args.keep))).run()
    else:
        with tempfile.TemporaryDirectory(prefix="qt-faults-") as tmp:
            report = Run(plan, Path(tmp)).run()
    text = json.dumps(asdict(report), indent=2, ensure_ascii=False, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    problems = report.problems()
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
