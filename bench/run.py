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
5. `wrk` (an external load generator, bench/wrk_load.py): `POST /tickets` and
   `GET /tickets/{id}` at 32 connections against `qualtrace serve --workers N` as the
   README starts it and against bench/crud_app.py in N uvicorn processes (a plain INSERT,
   a plain SELECT): requests/s, p50/p90/p99, server CPU per request;
6. KPI queries at size: report-cell shapes and live shapes (a dimension, a custom range);
7. only with `--only http`: the older Python-threads HTTP load at 1, 8 and 32 clients
   (bench/http_load.py), KPI queries on the demo store, peak memory (VmHWM).

The targets of issue #17 are printed met / not met at the end (bench/report.py).

Speed is measured here and never in tests. The scratch database is dropped at the end
(`--keep` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.appends import bench_appends
from bench.common import ROOT, log, with_db
from bench.fill import catch_up_all
from bench.http_load import bench_http
from bench.kpi import kpis_at_size
from bench.report import table, targets


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


PHASES = ("append", "reconstruct", "catchup", "demo", "http", "kpi", "wrk", "notify")
#: `http` (Python threads in this process as the load generator) only when asked for: the
#: HTTP ratios are measured by `wrk` (bench/wrk_load.py).
DEFAULT_PHASES = tuple(p for p in PHASES if p != "http")


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
    only = set(args.only.split(",")) if args.only else set(DEFAULT_PHASES)
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
        if "wrk" in only:
            log(
                f"wrk: qualtrace serve --workers {args.wrk_processes} vs crud_app,"
                f" {args.wrk_connections} connections"
            )
            from bench.wrk_load import bench_wrk

            result["wrk"] = bench_wrk(
                url, args.wrk_processes, args.wrk_connections, args.wrk_seconds
            )
            partial(args, result)
        # Before the KPI phase: it grows the store by bulk tickets that only the ticket KPI
        # projection follows, and notifications derived from the store would first have
        # to work through all of them (a --large run delivered nothing within the phase).
        if "notify" in only:  # notify: webhook delivery lag (bench/notify_lag.py)
            log("notify: webhook delivery lag at 200 events/s")
            from bench.notify_lag import bench_notify_lag

            result["notify"] = bench_notify_lag(
                url, rate=200.0, seconds=5.0 if args.quick else 20.0
            )
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
    ap.add_argument(
        "--wrk-processes",
        type=int,
        default=2,
        help="wrk phase: API processes of qualtrace serve (--workers) and of the CRUD app",
    )
    ap.add_argument("--wrk-connections", type=int, default=32, help="wrk phase: connections")
    ap.add_argument("--wrk-seconds", type=float, default=None, help="wrk phase: seconds per run")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument(
        "--only",
        help=f"comma list of phases to run: {','.join(PHASES)} (default: all but http,"
        " the older Python-threads HTTP load; http runs the demo first; the table shows what ran)",
    )
    args = ap.parse_args(argv)
    quick = args.quick
    defaults = {
        "append_seconds": 3.0 if quick else 12.0,
        "rounds": 1 if quick else 3,
        "http_seconds": 3.0 if quick else 10.0,
        "wrk_seconds": 5.0 if quick else 15.0,
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
