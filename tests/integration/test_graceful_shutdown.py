"""Graceful shutdown of `qualtrace serve`: a command in flight when SIGTERM arrives is
finished and answered (and its events recorded); new connections are refused."""

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


def test_a_command_in_flight_at_sigterm_is_finished_and_recorded(db_url: str, tmp_path: Path) -> None:
    _, token = TokenStore(db_url).create("admin", "Admin", "admin")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "QUALTRACE_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "qualtrace.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        body = json.dumps({"code": "SH", "name": "上海城市公司"}).encode()
        head = (f"POST /regions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
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
        assert conn.execute("SELECT max(notification_id) FROM qualtrace_events").fetchone() == (position,)
