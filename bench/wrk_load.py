"""Phase `wrk`: an external load generator against the service as users start it.

`wrk` (Debian package `wrk`; a C program, so no Python thread in the measuring process
competes with the server for the GIL) drives, at `--wrk-connections` (default 32):

1. `POST /tickets` (bench/wrk/post_tickets.lua: a bearer token, a unique
   Idempotency-Key per request) against `qualtrace serve --workers N`, started exactly as
   the README starts it (the `qualtrace` console script of this environment, a subprocess
   of its own; only DATABASE_URL and a rate limit high enough not to throttle the one
   benchmark principal are set), and against `bench/crud_app.py` as N uvicorn worker
   processes (`uvicorn --workers N`, the same uvloop/httptools);
2. `GET /tickets/{id}` (bench/wrk/get_ticket.lua: cycling over up to 2,000 ids recorded in
   step 1) against both: the ticket rebuilt from the event store by Qualtrace (a
   `quality_manager` token: personal data masked, so a read records nothing), one plain
   `SELECT` by primary key in the CRUD app.

Each run: requests/s of good answers (2xx), latency p50/p90/p99/max from wrk's own
histogram (`--latency`), and the errors wrk counted. Qualtrace runs N API processes and
its one worker process (projections, processes, deadline watcher), the CRUD app N
processes, all on the same machine as wrk and PostgreSQL.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.common import ROOT, log

WRK_DIR = ROOT / "bench" / "wrk"
PROJECTS = [("WK01", "压测一期"), ("WK02", "压测二期"), ("WK03", "压测三期"), ("WK04", "压测四期")]


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    return found


def run_wrk(
    port: int, script: str, args: list[str], connections: int, seconds: float, threads: int = 2
) -> dict[str, Any]:
    """One wrk run; its WRK_RESULT line (bench/wrk/common.lua) turned into figures."""
    cmd = [
        wrk_binary(),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_DIR / script),
        f"http://127.0.0.1:{port}",
        "--",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=ROOT)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-800:]} {out.stderr[-800:]}")
    r = json.loads(line.removeprefix("WRK_RESULT "))
    seconds_run = r["duration_us"] / 1e6
    good = r["requests"] - r["errors"]["status"]
    lat = r["latency_us"]
    return {
        "connections": connections,
        "seconds": round(seconds_run, 2),
        "requests": r["requests"],
        "good": good,
        "per_second": round(good / seconds_run, 1) if seconds_run else 0.0,
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 2),
        "errors": r["errors"],
    }


class Service:
    """A server started as a subprocess in its own process group, stopped with SIGTERM."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, process_group=0
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        path = "/healthz" if self.name == "qualtrace" else "/docs"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.output()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", path)
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer on port {self.port}: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def pids(self) -> list[int]:
        """The server and its children (the processes serving), for CPU accounting."""
        out = [self.proc.pid]
        try:
            for child in (
                Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            ):
                out.append(int(child))
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str) -> dict[str, str]:
    """Schema, the benchmark's projects and its two principals' tokens."""
    from api.tokens import TokenStore
    from application.base import Call
    from application.errors import Conflict
    from application.security import Principal
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=True)
    try:
        call = Call(Principal("bench.admin", "压测管理员", "admin"), "bench-wrk")
        try:
            c.app.org.register_region(call, "WK", "压测区域")
        except Conflict:
            pass
        for code, name in PROJECTS:
            try:
                c.app.org.register_project(call, code, name, "WK", 500)
            except Conflict:
                pass
    finally:
        c.close()
    tokens = TokenStore(url)
    return {
        "desk": tokens.create("bench.wrk.desk", "李娜", "front_desk", [], None)[1],
        "reader": tokens.create("bench.wrk.reader", "周敏", "quality_manager", [], None)[1],
    }


def start_qualtrace(url: str, processes: int, port: int) -> Service:
    """`qualtrace serve --workers N` as the README starts it (this environment's script)."""
    script = Path(sys.executable).parent / "qualtrace"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        # the one benchmark principal would otherwise be held to 20 requests/s
        "QUALTRACE_RATE_LIMIT_PER_SECOND": "1000000000",
        "QUALTRACE_RATE_LIMIT_BURST": "1000000000",
    }
    argv = [str(script), "serve", "--workers", str(processes), "--port", str(port)]
    return Service("qualtrace", argv, env, port)


def start_crud(url: str, processes: int, port: int) -> Service:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.crud_app:create_app",
        "--factory",
        "--workers",
        str(processes),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Service("crud", argv, env, port)


def _ids(url: str, sql: str, limit: int = 2000) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(sql, (limit,)).fetchall()
    ids = [str(r[0]) for r in rows]
    random.Random(17).shuffle(ids)
    return ids


def _cpu_by_role(pids: list[int]) -> dict[str, float]:
    """CPU seconds of the serving processes by role: Qualtrace's worker process
    (projections, processes, deadlines) apart from the API processes."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        role = "worker" if b"--projections-only" in cmdline else "api"
        out[role] = out.get(role, 0.0) + _cpu_seconds([pid])
    return out


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _cpu_per_request(
    run: dict[str, Any], before: dict[str, float], after: dict[str, float]
) -> None:
    """Server CPU (user + system, PostgreSQL not included) per good answer, in total and by
    role (`api`, and Qualtrace's `worker`)."""
    per = {
        role: round((after.get(role, 0.0) - before.get(role, 0.0)) * 1000 / max(run["good"], 1), 2)
        for role in after
    }
    run["server_cpu_ms_per_request"] = round(sum(per.values()), 2)
    run["server_cpu_ms_per_request_by_role"] = per


def bench_wrk(
    url: str, processes: int = 2, connections: int = 32, seconds: float = 10.0
) -> dict[str, Any]:
    tokens = prepare(url)
    run_id = uuid.uuid4().hex[:8]
    projects = ",".join(code for code, _ in PROJECTS)
    out: dict[str, Any] = {
        "tool": subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True)
        .stdout.splitlines()[0]
        .strip(),
        "processes": processes,
        "connections": connections,
        "seconds": seconds,
        "load_average_before": os.getloadavg(),
    }
    ids_file = Path(tempfile.mkstemp(prefix="qt-wrk-ids-")[1])
    try:
        for target in ("qualtrace", "crud"):
            port = _free_port()
            service = (start_qualtrace if target == "qualtrace" else start_crud)(
                url, processes, port
            )
            try:
                post_args = [tokens["desk"] if target == "qualtrace" else "-", run_id, projects]
                # warm-up: connections, prepared statements, caches
                run_wrk(port, "post_tickets.lua", [*post_args[:1], f"{run_id}w", projects], 8, 2)
                roles0 = _cpu_by_role(service.pids())
                post = run_wrk(port, "post_tickets.lua", post_args, connections, seconds)
                _cpu_per_request(post, roles0, _cpu_by_role(service.pids()))
                log(
                    f"wrk POST /tickets {target} x{connections}: {post['per_second']}/s"
                    f" p50 {post['p50_ms']} p99 {post['p99_ms']} ms, errors {post['errors']}"
                )
                if target == "qualtrace":
                    ids = _ids(
                        url,
                        "SELECT originator_id FROM qualtrace_events WHERE topic ="
                        " 'domain.tickets:Ticket.Received' ORDER BY notification_id DESC LIMIT %s",
                    )
                else:
                    ids = _ids(url, "SELECT id FROM crud_tickets ORDER BY number DESC LIMIT %s")
                ids_file.write_text("\n".join(ids) + "\n")
                get_args = [tokens["reader"] if target == "qualtrace" else "-", str(ids_file)]
                run_wrk(port, "get_ticket.lua", get_args, 8, 2)  # warm-up
                roles0 = _cpu_by_role(service.pids())
                get = run_wrk(port, "get_ticket.lua", get_args, connections, seconds)
                _cpu_per_request(get, roles0, _cpu_by_role(service.pids()))
                log(
                    f"wrk GET /tickets/{{id}} {target} x{connections}: {get['per_second']}/s"
                    f" p50 {get['p50_ms']} p99 {get['p99_ms']} ms, errors {get['errors']}"
                )
                out[target] = {"post": post, "get": get, "ids": len(ids)}
            finally:
                service.stop()
    finally:
        ids_file.unlink(missing_ok=True)
    q, c = out["qualtrace"], out["crud"]
    out["post_vs_crud"] = round(q["post"]["per_second"] / max(c["post"]["per_second"], 1e-9), 2)
    out["get_vs_select"] = round(q["get"]["per_second"] / max(c["get"]["per_second"], 1e-9), 2)
    out["load_average_after"] = os.getloadavg()
    return out
