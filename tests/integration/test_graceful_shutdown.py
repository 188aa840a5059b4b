"""Graceful shutdown of `qualtrace serve`, run as a user runs it (a subprocess): a command
in flight when SIGTERM arrives is finished and answered (and its events recorded); new
connections are refused; projections stop at a committed position; an embedded
PostgreSQL stops with the service. (uvicorn re-raises the signal after its own shutdown,
which used to kill the process before the container closed.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from api.tokens import TokenStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become healthy")


def test_a_command_in_flight_at_sigterm_is_finished_and_recorded(
    db_url: str, tmp_path: Path
) -> None:
    _, token = TokenStore(db_url).create("admin", "Admin", "admin")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "QUALTRACE_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qualtrace.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        body = json.dumps({"code": "SH", "name": "上海城市公司"}).encode()
        head = (
            f"POST /regions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            # The request is in flight: headers and half of the body are in.
            conn.sendall(head + body[:10])
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            # The service no longer accepts connections ...
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                refused = False
            except httpx.TransportError:
                refused = True
            assert refused
            # ... but finishes the command it was reading.
            conn.sendall(body[10:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
        position = json.loads(answer.split(b"\r\n\r\n", 1)[1])["position"]
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT max(notification_id) FROM qualtrace_events").fetchone() == (
            position,
        )


QUALTRACE = [sys.executable, "-m", "qualtrace.cli"]


def _token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [*QUALTRACE, "token", "create", "--user", "admin", "--name", "Admin", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has exited (a zombie waiting for its parent to reap it counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def _terminate(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_sigterm_stops_projections_at_a_committed_position(db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "QUALTRACE_DATA_DIR": str(tmp_path)}
    token = _token(env)
    proc = subprocess.Popen(
        [*QUALTRACE, "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        headers = {"Authorization": f"Bearer {token}"}
        r = httpx.post(
            f"{base}/regions", json={"code": "SH", "name": "上海"}, headers=headers, timeout=10
        )
        assert r.status_code == 201, r.text
        position = r.json()["position"]
    finally:
        code = _terminate(proc)
    assert code == 0
    # Every projection's tracking row is at a committed position no later than the head,
    # and nothing is left half-applied: re-running the projections applies the rest once.
    with psycopg.connect(db_url) as conn:
        rows = dict(
            conn.execute("SELECT name, position FROM qt_projection_tracking WHERE live").fetchall()
        )
        head = conn.execute("SELECT max(notification_id) FROM qualtrace_events").fetchone()[0]
    assert head == position
    assert rows and all(0 <= p <= head for p in rows.values())


def test_sigterm_stops_the_embedded_postgres(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["QUALTRACE_DATA_DIR"] = str(tmp_path / "data")
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [*QUALTRACE, "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        pid_file = tmp_path / "data" / "pgdata" / "postmaster.pid"
        assert pid_file.exists()
        postmaster = int(pid_file.read_text().splitlines()[0])
    finally:
        code = _terminate(proc)
    assert code == 0
    # The embedded server stopped with the service: no postmaster.pid, no process.
    assert not pid_file.exists()
    assert _gone(postmaster)
    handles = json.loads((tmp_path / "data" / "pgdata" / ".handle_pids.json").read_text() or "[]")
    assert handles == []
