"""The orjson transcoder in the store: events stored before it (by the library's
JSONTranscoder) load unchanged, what it stores is byte for byte what the library stored,
and every stored state is JSON PostgreSQL itself reads (`convert_from(state)::jsonb`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from eventsourcing.application import Repository
from eventsourcing.persistence import JSONTranscoder, Mapper

from domain.base import Actor, Ctx
from domain.org import Project, Region
from domain.tickets import Ticket
from store.transcoder import OrjsonTranscoder

DESK = Actor("li.na", "李娜", "front_desk")
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)
DESCRIPTION = "卫生间水管漏水，楼下天花板渗水"


def library_mapper(app: Any) -> Mapper[Any]:
    """The mapper as the library built it before: its JSONTranscoder, same registrations."""
    transcoder = JSONTranscoder()
    app.register_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def ticket(app: Any, number: str, notes: int) -> Ticket:
    t = Ticket.receive(
        Ctx(DESK, T0, "transcoder-test"),
        number=number,
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="水电",
        description=DESCRIPTION,
        reporter={"name": "张三", "unit": "3-1201", "phone": "13812345678"},
        sla=app.tickets.sla_policy,
    )
    for i in range(notes):
        t.add_note(Ctx(DESK, T0 + timedelta(minutes=i + 1), "transcoder-test"), f"跟进 {i}")
    return t


def test_events_stored_by_the_library_transcoder_load_unchanged(container: Any) -> None:
    app = container.app
    assert isinstance(app.mapper.transcoder, OrjsonTranscoder)
    ctx = Ctx(DESK, T0, "transcoder-test")
    app.save(Region.register(ctx, "SH", "上海"), Project.register(ctx, "P1", "绿地花园", "SH", 800))

    # written the old way: the library's mapper, straight into the recorder
    old = ticket(app, "TK-2026-000001", notes=3)
    pending = old.collect_events()
    old_mapper = library_mapper(app)
    stored = [old_mapper.to_stored_event(e) for e in pending]
    app.recorder.insert_events(stored)

    # the new transcoder maps the same events to the same bytes
    assert [app.mapper.to_stored_event(e).state for e in pending] == [s.state for s in stored]

    loaded = app.load(Ticket, old.id)
    assert loaded.version == old.version == 4
    assert loaded.description == DESCRIPTION
    assert loaded.received_at == T0 and loaded.received_at.tzinfo is not None
    assert [n["text"] for n in loaded.notes] == ["跟进 0", "跟进 1", "跟进 2"]
    assert vars(loaded) == vars(old)


def test_stored_states_are_json_postgresql_reads_with_chinese_kept(container: Any) -> None:
    app = container.app
    ctx = Ctx(DESK, T0, "transcoder-test")
    app.save(Region.register(ctx, "SH", "上海"), Project.register(ctx, "P1", "绿地花园", "SH", 800))
    t = ticket(app, "TK-2026-000002", notes=60)  # past the snapshot interval (50)
    app.save(t)
    with container.pool.connection() as conn:
        rows = conn.execute(
            "SELECT (convert_from(state, 'UTF8')::jsonb) AS doc, occurred_at, state"
            " FROM qualtrace_events WHERE originator_id = %s ORDER BY originator_version",
            (t.id,),
        ).fetchall()
        snapshots = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb FROM qualtrace_snapshots"
            " WHERE originator_id = %s",
            (t.id,),
        ).fetchall()
    assert len(rows) == 61 and len(snapshots) == 1
    first = rows[0][0]
    assert first["description"] == DESCRIPTION
    assert first["timestamp"] == {"_type_": "datetime_iso", "_data_": "2026-01-05T01:00:00+00:00"}
    assert DESCRIPTION.encode() in bytes(rows[0][2])  # UTF-8, not \\u escapes
    # the trigger read each event's time from the bytes the new transcoder wrote
    assert [r[1] for r in rows] == [T0 + timedelta(minutes=i) for i in range(61)]
    snap = snapshots[0][0]
    assert snap["state"]["description"] == DESCRIPTION
    assert len(snap["state"]["notes"]) == 49

    # the snapshot (orjson both ways) gives the state a replay of every event gives
    from_snapshot = app.repository.get(t.id)
    replayed = Repository(app.events).get(t.id)
    assert vars(from_snapshot) == vars(replayed) == vars(t)
