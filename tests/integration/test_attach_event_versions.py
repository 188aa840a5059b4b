"""Events stored before steps could name evidence files still read: a version 1
`Received`, `Arrived` or `Resolved` (no `attachments`) is upcast with none, and the
ticket replays as before (docs/attachments.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from application.base import Call
from application.security import Principal
from domain.tickets import Ticket

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")
STAFF = Principal("wang.wei", "Wang Wei", "staff")


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id="test")


def test_version_1_ticket_events_read_with_no_attachments(container: Any) -> None:
    app = container.app
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "绿地花园", "SH")
    tid = app.tickets.receive(
        call(DESK),
        project="P1",
        kind="repair",
        channel="phone",
        priority="high",
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
    ).id
    app.tickets.dispatch(call(SUP), tid, "engineering", "wang.wei")
    app.tickets.arrive(call(STAFF), tid)
    app.tickets.resolve(call(STAFF), tid, "修好")
    ticket = app.load(Ticket, tid)
    read = {}
    for stored in app.recorder.select_events(ticket.id):
        name = stored.topic.rsplit(".", 1)[-1]
        if name not in ("Received", "Arrived", "Resolved"):
            continue
        state = app.mapper.transcoder.decode(stored.state)
        assert state["class_version"] == 2 and state["attachments"] == [], name
        # What a version 1 writer stored: no class_version, no attachments.
        del state["class_version"], state["attachments"]
        event = app.mapper.to_domain_event(
            replace(stored, state=app.mapper.transcoder.encode(state))
        )
        read[name] = event
    assert {n: e.attachments for n, e in read.items()} == {
        "Received": [],
        "Arrived": [],
        "Resolved": [],
    }
    assert read["Resolved"].resolution == "修好" and ticket.status == "resolved"
