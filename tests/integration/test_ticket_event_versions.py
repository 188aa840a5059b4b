"""Ticket events stored before a field was added still read: a version 1 event (no
`class_version`, without the field) is upcast by the library's mapper, and the ticket
replays as before. `CallbackRecorded` gained `ratings` (issue #16); `Received`, `Arrived`
and `Resolved` gained `attachments` (docs/attachments.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from application.base import Call
from application.security import Principal
from domain.tickets import Ticket

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")
STAFF = Principal("wang.wei", "Wang Wei", "staff")


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id="test")


def _dispatched_ticket(app: Any) -> UUID:
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
    return UUID(str(tid))


def _read_as_version_1(app: Any, stored: Any, field: str, default: Any) -> Any:
    """The stored event as a version 1 writer stored it (no `class_version`, no
    `field`), read back through the mapper; the stored one is version 2 with `default`."""
    state = app.mapper.transcoder.decode(stored.state)
    assert state["class_version"] == 2 and state[field] == default, stored.topic
    del state["class_version"], state[field]
    return app.mapper.to_domain_event(replace(stored, state=app.mapper.transcoder.encode(state)))


def test_a_version_1_callback_event_reads_with_no_ratings(container: Any) -> None:
    app = container.app
    tid = _dispatched_ticket(app)
    app.tickets.accept(call(STAFF), tid)
    app.tickets.resolve(call(SUP), tid, "修好")
    app.tickets.callback(call(DESK), tid, True, True, 5, None)
    stored = [
        s for s in app.recorder.select_events(app.load(Ticket, tid).id) if "Callback" in s.topic
    ]
    (new,) = stored
    event = _read_as_version_1(app, new, "ratings", None)
    assert isinstance(event, Ticket.CallbackRecorded)
    assert event.ratings is None and event.rating == 5 and event.satisfied is True


def test_version_1_ticket_events_read_with_no_attachments(container: Any) -> None:
    app = container.app
    tid = _dispatched_ticket(app)
    app.tickets.arrive(call(STAFF), tid)
    app.tickets.resolve(call(STAFF), tid, "修好")
    ticket = app.load(Ticket, tid)
    read = {}
    for stored in app.recorder.select_events(ticket.id):
        name = stored.topic.rsplit(".", 1)[-1]
        if name in ("Received", "Arrived", "Resolved"):
            read[name] = _read_as_version_1(app, stored, "attachments", [])
    assert {n: e.attachments for n, e in read.items()} == {
        "Received": [],
        "Arrived": [],
        "Resolved": [],
    }
    assert read["Resolved"].resolution == "修好" and ticket.status == "resolved"
