"""bench/wrk's Lua scripts and the parser of bench/wrk_load.py, against a small recording
HTTP server on 127.0.0.1 (speed is measured by the benchmark, never asserted here): every
POST carries the bearer token, a JSON ticket body and an Idempotency-Key no other request
of the run carries; GETs cycle through the given ids."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench.wrk_load import run_wrk

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def _answer(self, status: int) -> None:
        body = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with self.lock:
            self.seen.append(
                {
                    "method": "POST",
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "key": self.headers.get("Idempotency-Key"),
                    "body": json.loads(body.decode("utf-8")),
                }
            )
        self._answer(201)

    def do_GET(self) -> None:  # noqa: N802
        with self.lock:
            self.seen.append(
                {"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")}
            )
        self._answer(200)

    def log_message(self, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    """Keeps the handlers' errors (instead of printing them) for the test to judge: wrk
    closing its connections at the end may reset one mid-request, nothing else may fail."""

    errors: list[BaseException] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError("unknown"))


@pytest.fixture
def server() -> Any:
    Recorder.seen = []
    srv = Server(("127.0.0.1", 0), Recorder)
    srv.errors = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    assert all(isinstance(e, ConnectionError) for e in srv.errors), srv.errors


def test_post_script_sends_unique_keys_token_and_tickets(server: Any) -> None:
    port = server.server_address[1]
    r = run_wrk(port, "post_tickets.lua", ["secret-token", "run1", "WK01,WK02"], 4, 1, threads=2)
    posts = [s for s in Recorder.seen if s["method"] == "POST"]
    assert r["good"] > 0 and sum(r["errors"].values()) == 0
    assert r["requests"] <= len(posts)  # wrk counts completed answers
    assert {s["path"] for s in posts} == {"/tickets"}
    assert {s["auth"] for s in posts} == {"Bearer secret-token"}
    keys = [s["key"] for s in posts]
    assert len(set(keys)) == len(keys) and all(k.startswith("run1-") for k in keys)
    assert {s["body"]["project"] for s in posts} == {"WK01", "WK02"}
    assert posts[0]["body"]["reporter"]["name"] == "张三"
    assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]


def test_get_script_cycles_through_the_ids_without_a_token_for_the_baseline(
    server: Any, tmp_path: Path
) -> None:
    ids = tmp_path / "ids"
    ids.write_text("a1\nb2\nc3\n")
    port = server.server_address[1]
    r = run_wrk(port, "get_ticket.lua", ["-", str(ids)], 2, 1, threads=1)
    gets = [s for s in Recorder.seen if s["method"] == "GET"]
    assert r["good"] > 0 and sum(r["errors"].values()) == 0
    assert {s["path"] for s in gets} == {"/tickets/a1", "/tickets/b2", "/tickets/c3"}
    assert {s["auth"] for s in gets} == {None}
