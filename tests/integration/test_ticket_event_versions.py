"""Events stored before issue #16 still read: a version 1 `CallbackRecorded` (no
`ratings`) is upcast by the library's mapper, and the ticket replays as before."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from application.base import Call
from application.security import Principal
from domain.tickets import Ticket

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id="test")


def test_a_version_1_callback_event_reads_with_no_ratings(container: Any) -> None:
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
    app.tickets.accept(call(Principal("wang.wei", "Wang Wei", "staff")), tid)
    app.tickets.resolve(call(SUP), tid, "修好")
    app.tickets.callback(call(DESK), tid, True, True, 5, None)
    stored = [
        s for s in app.recorder.select_events(app.load(Ticket, tid).id) if "Callback" in s.topic
    ]
    (new,) = stored
    state = app.mapper.transcoder.decode(new.state)
    assert state["class_version"] == 2 and state["ratings"] is None
    # What a version 1 writer stored: no class_version, no ratings.
    del state["class_version"], state["ratings"]
    old = replace(new, state=app.mapper.transcoder.encode(state))
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, Ticket.CallbackRecorded)
    assert event.ratings is None and event.rating == 5 and event.satisfied is True
