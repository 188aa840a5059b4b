"""store/repository.py: the latest state of an aggregate in one query equals the library's
two-query read (snapshot, then the events after it) and a full replay."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError, Repository

from domain.base import Actor, Ctx
from domain.org import Project, Region
from domain.tickets import Ticket
from store.repository import OneQueryRepository

DESK = Actor("li.na", "李娜", "front_desk")
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)


def test_latest_state_in_one_query_equals_the_library_reads(container: Any) -> None:
    app = container.app
    assert isinstance(app.repository, OneQueryRepository)
    ctx = Ctx(DESK, T0, "repo-test")
    app.save(Region.register(ctx, "SH", "上海"), Project.register(ctx, "P1", "绿地花园", "SH", 800))
    library = Repository(app.events, snapshot_store=app.snapshots)
    replay = Repository(app.events)
    t = Ticket.receive(
        ctx,
        number="TK-2026-000009",
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="水电",
        description="厨房漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        sla=app.tickets.sla_policy,
    )
    app.save(t)
    seen = []
    # no snapshot yet; exactly at the snapshot (version 50); a tail after it (51..120)
    for target in (1, 3, 50, 51, 120):
        while t.version < target:
            t.add_note(Ctx(DESK, T0 + timedelta(minutes=t.version), "repo-test"), f"n{t.version}")
        app.save(t)
        ours = app.repository.get(t.id)
        assert vars(ours) == vars(library.get(t.id)) == vars(replay.get(t.id))
        assert ours.version == target
        seen.append(len(list(app.snapshots.get(t.id))))
    assert seen == [0, 0, 1, 1, 2]  # snapshots every 50 versions were used
    # an earlier version still goes the library's way
    assert app.repository.get(t.id, version=60).version == 60
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(uuid.uuid4())
