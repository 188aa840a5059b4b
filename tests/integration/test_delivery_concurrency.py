"""Two delivery loops (say, two worker processes) share one outbox: every delivery of a
subscription reaches the receiver once, in position order, although the receiver fails
now and then and the loops race for the same rows (`FOR UPDATE SKIP LOCKED`)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import psycopg

from application.base import Call
from application.security import Principal
from qualtrace.notify import delivery_loop
from qualtrace.settings import Settings
from tests.receiver import Receiver

ADMIN = Call(Principal("admin-1", "Admin", "admin"), "test")
DESK = Call(Principal("fd-1", "Desk", "front_desk"), "test")
TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "normal",
    "category": "水电维修",
    "description": "漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def test_two_loops_deliver_each_event_once_and_in_order(container: Any) -> None:
    receiver = Receiver().start()
    loops = []
    try:
        app = container.app
        app.org.register_region(ADMIN, "SH", "上海")
        app.org.register_project(ADMIN, "P1", "项目一", "SH")
        hook = app.webhooks.register(ADMIN, receiver.url, ["Ticket.Received"], [], None, [])
        positions = [app.tickets.receive(DESK, **TICKET).position for _ in range(40)]
        container.run_projections_once()
        receiver.script = deque([200] * 3 + [500] + [200] * 7 + [503, 500] + [200] * 9 + [500])
        settings = Settings(
            database_url=container.url,
            delivery_backoff_seconds=0.02,
            delivery_backoff_cap_seconds=0.05,
        )
        loops = [delivery_loop(container.url, settings) for _ in range(2)]
        for loop in loops:
            loop.poll_seconds = 0.05
            loop.start()
        got = receiver.wait_for(len(positions), timeout=30)
        ids = [g.headers["X-Qualtrace-Delivery"] for g in got]
        assert len(ids) == len(set(ids)) == len(positions)  # each once
        assert [g.json["position"] for g in got] == positions  # in position order
        assert receiver.answered.count(500) + receiver.answered.count(503) == 4
        deadline = time.monotonic() + 10  # the last results are recorded after the send
        while True:
            with psycopg.connect(container.url) as conn:
                rows = conn.execute(
                    "SELECT status, attempts FROM qt_deliveries WHERE webhook_id = %s ORDER BY id",
                    (hook["id"],),
                ).fetchall()
            if {s for s, _ in rows} == {"sent"} or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert {s for s, _ in rows} == {"sent"}
        assert sum(a for _, a in rows) == len(positions) + 4  # one attempt more per failure
        assert sum(loop.sent for loop in loops) == len(positions)
    finally:
        for loop in loops:
            loop.stop()
        receiver.stop()
