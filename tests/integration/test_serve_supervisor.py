"""`qualtrace serve --workers 2` as an operator runs it: a supervisor of two API processes
sharing one port and one worker process that follows the store. The worker, killed, is
restarted (commands keep reaching the read side); SIGTERM stops everything and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from api.tokens import TokenStore
from tests.e2e.test_ticket_lifecycle import TICKET
from tests.integration.test_graceful_shutdown import (
    QUALTRACE,
    _free_port,
    _gone,
    _wait_healthy,
)


def _children(pid: int) -> dict[int, str]:
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
        if int(fields[1]) == pid and fields[0] != "Z":  # ppid, not a zombie
            found[int(entry.name)] = cmdline
    return found


def _worker_pid(supervisor: int, not_pid: int | None = None, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [
            pid
            for pid, cmd in _children(supervisor).items()
            if "--projections-only" in cmd and pid != not_pid
        ]
        if workers:
            assert len(workers) == 1, workers
            return workers[0]
        time.sleep(0.1)
    raise AssertionError("no worker process under the supervisor")


def _token(env: dict[str, str], role: str) -> str:
    out = subprocess.run(
        [*QUALTRACE, "token", "create", "--user", role, "--name", role, "--role", role],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def _listed(base: str, headers: dict[str, str], ticket_id: str, position: int) -> bool:
    """Poll (bounded) the ticket list until the read side has processed `position`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(
            f"{base}/tickets",
            params={"min_position": position, "limit": 500},
            headers=headers,
            timeout=15,
        )
        assert r.status_code == 200, r.text
        if int(r.headers["X-Read-Position"]) >= position:
            return ticket_id in {t["id"] for t in r.json()["items"]}
    return False


def test_serve_supervises_two_api_processes_and_a_worker_it_restarts(
    db_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "QUALTRACE_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [*QUALTRACE, "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    children: dict[int, str] = {}
    try:
        # The first token with the CLI, as the service prints it, while the service starts.
        admin = {"Authorization": f"Bearer {_token(env, 'admin')}"}
        desk = {
            "Authorization": f"Bearer {TokenStore(db_url).create('desk', 'Desk', 'front_desk')[1]}"
        }
        _wait_healthy(base, proc)
        # Two API processes on the shared socket and one worker.
        children = _children(proc.pid)
        api = [p for p, cmd in children.items() if "--no-projections" in cmd]
        assert len(api) == 2 and len(children) == 3, children
        worker = _worker_pid(proc.pid)

        # A command through the API is read back through the worker's projections.
        r = httpx.post(f"{base}/regions", json={"code": "SH", "name": "上海"}, headers=admin)
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{base}/projects",
            json={"code": "P1", "name": "Project P1", "region": "SH", "households": 800},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        r = httpx.post(f"{base}/tickets", json=TICKET, headers=desk, timeout=15)
        assert r.status_code == 201, r.text
        assert _listed(base, desk, r.json()["id"], r.json()["position"])

        # The worker dies; the supervisor starts another and the read side keeps up.
        os.kill(worker, signal.SIGKILL)
        restarted = _worker_pid(proc.pid, not_pid=worker)
        assert restarted != worker
        r = httpx.post(f"{base}/tickets", json=TICKET, headers=desk, timeout=15)
        assert r.status_code == 201, r.text
        assert _listed(base, desk, r.json()["id"], r.json()["position"])
        children = _children(proc.pid)
        assert restarted in children and set(api) <= set(children)

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Nothing is left behind: every child stopped with the supervisor.
    assert children
    assert all(_gone(pid, timeout=2) for pid in children), children
