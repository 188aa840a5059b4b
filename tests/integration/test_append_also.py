"""`insert_events(also=…)`: one more INSERT inside the append statement (the idempotency
record of a command): both rows commit together or neither does, in one round trip."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg.types.json import Jsonb

from application.base import Call, Idempotency
from application.security import Principal
from application.service import IDEMPOTENCY_ROW

ADMIN = Principal("admin", "Admin", "admin")


def stored(version: int = 1) -> StoredEvent:
    return StoredEvent(uuid.uuid4(), version, "bench:Probe", b'{"n":1}')


def also_row(key: str) -> tuple[str, tuple[Any, ...]]:
    return (IDEMPOTENCY_ROW, ("p1", key, "f" * 64, 201, Jsonb({"id": "x", "position": None})))


def test_the_extra_row_is_written_by_the_append_statement(container: Any) -> None:
    rec = container.app.recorder
    e = stored()
    ids = rec.insert_events([e], also=also_row("k1"))
    assert len(ids) == 1
    with container.pool.connection() as conn:
        row = conn.execute(
            "SELECT answer, xmin::text FROM idempotency_keys WHERE key = 'k1'"
        ).fetchone()
        event_xmin = conn.execute(
            "SELECT xmin::text FROM qualtrace_events WHERE notification_id = %s", (ids[0],)
        ).fetchone()
    assert row is not None and event_xmin is not None
    assert row[0]["position"] == ids[0]  # the appended row's notification id
    assert row[1] == event_xmin[0]  # one transaction


def test_several_events_and_the_row_keep_their_order(container: Any) -> None:
    rec = container.app.recorder
    oid = uuid.uuid4()
    events = [StoredEvent(oid, v, "bench:Probe", b'{"n":%d}' % v) for v in (1, 2, 3)]
    ids = rec.insert_events(events, also=also_row("k-many"))
    assert ids == sorted(ids) and len(ids) == 3
    with container.pool.connection() as conn:
        answer = conn.execute("SELECT answer FROM idempotency_keys WHERE key = 'k-many'").fetchone()
    assert answer is not None and answer[0]["position"] == ids[-1]
    assert [s.originator_version for s in rec.select_events(oid)] == [1, 2, 3]


def test_when_the_extra_row_fails_no_event_is_recorded(container: Any) -> None:
    rec = container.app.recorder
    rec.insert_events([stored()], also=also_row("taken"))
    head = rec.max_notification_id()
    loser = stored()
    with pytest.raises(IntegrityError):
        rec.insert_events([loser], also=also_row("taken"))
    assert rec.select_events(loser.originator_id) == []
    assert rec.max_notification_id() == head


def test_a_hook_and_also_together_are_refused(container: Any) -> None:
    with pytest.raises(ValueError, match="not both"):
        container.app.recorder.insert_events(
            [stored()], after_insert=lambda cur, ids: None, also=also_row("k2")
        )


def test_a_command_with_a_key_answers_and_replays_with_the_event_position(container: Any) -> None:
    app = container.app
    call = Call(ADMIN, "also-test", idempotency=Idempotency("region-key", "a" * 64))
    first = app.org.register_region(call, "SH", "上海")
    again = app.org.register_region(call, "SH", "上海")  # replayed: no Conflict
    assert again.as_dict() == first.as_dict()
    assert first.position == app.recorder.max_notification_id()
