"""A projection stopped mid-stream (or crashed mid-batch) and restarted ends identical
to a rebuild from scratch: no duplicate, no missing row."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from application.base import Call
from application.security import Principal
from projections.audit import AuditTrailProjection
from projections.tickets import TicketListProjection
from store.consumer import ProjectionRunner
from store.tracking import schema_name

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")


def make_events(app: Any, tickets: int) -> None:
    c = lambda p: Call(principal=p, correlation_id="t")  # noqa: E731
    app.org.register_region(c(ADMIN), "SH", "上海")
    app.org.register_project(c(ADMIN), "P1", "绿地花园", "SH")
    for i in range(tickets):
        t = app.tickets.receive(
            c(DESK),
            project="P1",
            kind="repair",
            channel="phone",
            priority="normal",
            category="水电",
            description=f"漏水 {i}",
            reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        )
        app.tickets.dispatch(c(SUP), t.id, "engineering", "wang.wei")
        if i % 2:
            app.tickets.note(c(SUP), t.id, "跟进")


def dump(url: str, projection: Any) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        gen = conn.execute(
            "SELECT generation FROM qt_projection_tracking WHERE name=%s AND live",
            (projection.name,),
        ).fetchone()[0]
        schema = schema_name(projection, gen)
        out = {}
        for table in projection.views:
            rows = conn.execute(f"SELECT * FROM {schema}.{table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out


@pytest.mark.parametrize("projection_class", [TicketListProjection, AuditTrailProjection])
def test_stopped_midstream_and_restarted_equals_a_rebuild(
    container: Any, projection_class: Any
) -> None:
    make_events(container.app, 15)
    projection = projection_class()
    runner = ProjectionRunner(container.url, container.source, projection)
    runner.BATCH = 7
    # Stop after two batches, as if the process were stopped.
    assert runner.run_once(max_batches=2) == 14
    # A new runner (a restarted process) carries on from the committed position.
    restarted = ProjectionRunner(container.url, container.source, projection_class())
    restarted.BATCH = 7
    assert restarted.run_once() > 0
    incremental = dump(container.url, projection)
    rebuilt_info = container.rebuild(projection.name)
    assert rebuilt_info["generation"] == 2
    assert dump(container.url, projection) == incremental
    assert sum(len(v) for v in incremental.values()) > 0


class ExplodingProjection(TicketListProjection):
    """The ticket list, crashing in the middle of one batch."""

    explode_at: int | None = None

    def handle(self, cur: Any, rec: Any, schema: str) -> None:
        if self.explode_at is not None and rec.position == self.explode_at:
            raise RuntimeError("crash mid-batch")
        super().handle(cur, rec, schema)


def test_a_crash_mid_batch_commits_nothing_of_that_batch(container: Any) -> None:
    make_events(container.app, 10)
    projection = ExplodingProjection()
    projection.explode_at = 12
    runner = ProjectionRunner(container.url, container.source, projection)
    runner.BATCH = 5
    with pytest.raises(RuntimeError):
        runner.run_once()
    with psycopg.connect(container.url) as conn:
        position = conn.execute(
            "SELECT position FROM qt_projection_tracking WHERE name='tickets' AND live"
        ).fetchone()[0]
    assert position == 10  # the batch 11..15 was rolled back whole
    projection.explode_at = None
    runner.run_once()
    incremental = dump(container.url, projection)
    container.rebuild("tickets")
    assert dump(container.url, projection) == incremental
    assert len(incremental["tickets"]) == 10
