"""Notify bench phase: webhook delivery lag at a steady event rate.

A real service container (the notifier and the delivery loop running, as in the worker)
on the scratch database; a webhook subscribed to `Ticket.Received` pointing at a local
HTTP receiver on 127.0.0.1; tickets received at `rate` events/s for `seconds`. The lag of
each event is its arrival at the receiver minus the moment its command returned
(committed). Reports p50/p99/max, the delivered count and the achieved rate.

    .venv/bin/python -m bench.run --only notify [--quick]
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import log, pct

TICKET = {
    "kind": "repair",
    "channel": "phone",
    "priority": "normal",
    "category": "水电维修",
    "description": "卫生间水管漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


class _Receiver:
    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                position = json.loads(body)["position"]
                with receiver.lock:
                    receiver.arrived.setdefault(position, now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def bench_notify_lag(url: str, rate: float = 200.0, seconds: float = 10.0) -> dict[str, Any]:
    from application.base import Call
    from application.security import Principal
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    admin = Call(Principal("bench.admin", "Bench Admin", "admin"), "bench-notify")
    desk = Call(Principal("bench.fd", "Bench Desk", "front_desk"), "bench-notify")
    c = bootstrap(Settings(database_url=url, pool_size=4), setup=True)
    receiver = _Receiver()
    try:
        if not c.app.service.exists(__import__("domain.org", fromlist=["Region"]).Region, "BN"):
            c.app.org.register_region(admin, "BN", "Bench notify")
            c.app.org.register_project(admin, "BN-1", "Bench notify 1", "BN")
        c.app.webhooks.register(admin, receiver.url, ["Ticket.Received"], [], None, [])
        c.start_projections()
        committed: dict[int, float] = {}
        wall: dict[int, float] = {}  # the same moments on the wall clock (the database's)
        n = int(rate * seconds)
        threads = 4  # each paced at rate/threads: the commands overlap like clients do
        start = time.monotonic() + 0.2

        def produce(k: int) -> None:
            interval = threads / rate
            for i in range(k, n, threads):
                wait = start + (i // threads) * interval + k * interval / threads - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                r = c.app.tickets.receive(desk, project="BN-1", **TICKET)
                committed[int(r.position or 0)] = time.monotonic()
                wall[int(r.position or 0)] = time.time()

        workers = [threading.Thread(target=produce, args=(k,)) for k in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        produced_in = time.monotonic() - start
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with receiver.lock:
                if len(receiver.arrived) >= len(committed):
                    break
            time.sleep(0.05)
        with receiver.lock:
            lags = [
                (receiver.arrived[p] - t) * 1000
                for p, t in committed.items()
                if p in receiver.arrived
            ]
        import psycopg

        with psycopg.connect(url) as conn:
            stages = conn.execute(
                "SELECT position, extract(epoch FROM created_at), extract(epoch FROM sent_at)"
                " FROM qt_deliveries WHERE channel = 'webhook'"
            ).fetchall()
        derive = [(float(cr) - wall[p]) * 1000 for p, cr, _ in stages if p in wall]
        send = [(float(st) - float(cr)) * 1000 for _, cr, st in stages if st is not None]
        out = {
            "rate_target": rate,
            "rate_achieved": round(n / produced_in, 1),
            "events": n,
            "delivered": len(lags),
            "lag_ms_p50": round(pct(lags, 50), 1),
            "lag_ms_p99": round(pct(lags, 99), 1),
            "lag_ms_max": round(max(lags), 1) if lags else None,
            # where the lag is: commit -> outbox row (the notifier), outbox row -> sent
            "derive_ms_p50": round(pct(derive, 50), 1),
            "derive_ms_p99": round(pct(derive, 99), 1),
            "send_ms_p50": round(pct(send, 50), 1),
            "send_ms_p99": round(pct(send, 99), 1),
        }
        log(f"notify: {out}")
        return out
    finally:
        receiver.stop()
        c.close()
