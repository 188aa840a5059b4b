"""A real HTTP receiver on 127.0.0.1 for webhook tests and the notify bench: it answers
each request by a script (a status code, or "timeout": hold the request longer than the
sender waits), then 200, and keeps every request it got."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: Any  # http.server's message: case-insensitive, like any web framework's
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    script: deque[Any] = field(default_factory=deque)
    hold_seconds: float = 2.0
    got: list[Received] = field(default_factory=list)
    answered: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    #: Called (in the server's thread) while a "timeout" request is being held.
    on_hold: Any = None
    hold_checks: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    step = receiver.script.popleft() if receiver.script else 200
                    receiver.answered.append(step)
                    if step == 200:
                        receiver.got.append(Received(self.headers, body, time.monotonic()))
                if step == "timeout":
                    if receiver.on_hold is not None:
                        receiver.hold_checks.append(receiver.on_hold())
                    time.sleep(receiver.hold_seconds)
                    step = 200  # too late: the sender has given up
                try:
                    self.send_response(int(step))
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= n:
                    return list(self.got)
            time.sleep(0.01)
        with self.lock:
            return list(self.got)
