"""The service follows the store with ONE group runner for every read model: one read
and one commit per batch. A projection that fails is isolated (the others go on, it is
retried from where it stands, nothing skipped); projections at different places are
read separately; two group runners (two service processes) never apply an event twice.
Each projection ends identical to a rebuild from scratch."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from application.base import Call
from projections.audit import AuditTrailProjection
from projections.tickets import TicketListProjection
from store.consumer import GroupRunner, ProjectionRunner
from tests.integration.test_projection_restart import DESK, dump, make_events


class FailingTicketList(TicketListProjection):
    """The ticket list, failing on one event for as long as `broken` is set."""

    broken = True
    fail_at: int | None = None

    def handle(self, cur: Any, rec: Any, schema: str) -> None:
        if self.broken and rec.position == self.fail_at:
            raise RuntimeError("projection bug")
        super().handle(cur, rec, schema)


def more_tickets(app: Any, n: int) -> None:
    for _ in range(n):
        app.tickets.receive(
            Call(principal=DESK, correlation_id="more"),
            project="P1",
            kind="repair",
            channel="phone",
            priority="normal",
            category="水电",
            description="漏水",
            reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        )


def positions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute("SELECT name, position FROM qt_projection_tracking WHERE live").fetchall()
        )


def head(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT max(notification_id) FROM qualtrace_events").fetchone()[0]


def wait_until(check: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_failing_projection_is_isolated_and_retried_from_where_it_stands(container: Any) -> None:
    make_events(container.app, 6)
    failing, audit = FailingTicketList(), AuditTrailProjection()
    failing.fail_at = 9
    group = GroupRunner(container.url, container.source, [failing, audit])
    group.FAILURE_PAUSE = 0.2
    group.start()
    try:
        end = head(container.url)
        assert wait_until(lambda: positions(container.url)["audit"] >= end), (
            "the healthy projection goes on"
        )
        # The failing one stays before its bad event (its whole batch rolled back).
        assert positions(container.url)["tickets"] < failing.fail_at
        assert isinstance(group.error, RuntimeError)
        more_tickets(container.app, 2)  # more events meanwhile: still isolated
        end = head(container.url)
        assert wait_until(lambda: positions(container.url)["audit"] >= end)
        failing.broken = False  # fixed: it carries on from event 9, skipping nothing
        assert wait_until(lambda: positions(container.url)["tickets"] >= end)
    finally:
        group.stop()
    incremental = {p.name: dump(container.url, p) for p in (failing, audit)}
    for p in (failing, audit):
        container.rebuild(p.name)
    assert {p.name: dump(container.url, p) for p in (failing, audit)} == incremental
    assert len(incremental["tickets"]["tickets"]) == 8


def test_a_one_off_catch_up_reports_the_failure_after_moving_the_others(container: Any) -> None:
    make_events(container.app, 3)
    failing, audit = FailingTicketList(), AuditTrailProjection()
    failing.fail_at = 5
    with pytest.raises(RuntimeError, match="projection bug"):
        GroupRunner(container.url, container.source, [failing, audit]).run_once()
    at = positions(container.url)
    assert at["audit"] == head(container.url) and at["tickets"] < failing.fail_at


def test_projections_at_different_places_are_each_brought_to_the_end(container: Any) -> None:
    make_events(container.app, 5)
    ProjectionRunner(container.url, container.source, AuditTrailProjection()).run_once()
    before = positions(container.url)
    assert before["audit"] == head(container.url) and before["tickets"] == 0
    tickets, audit = TicketListProjection(), AuditTrailProjection()
    GroupRunner(container.url, container.source, [tickets, audit]).run_once()
    after = positions(container.url)
    assert after["audit"] == after["tickets"] == head(container.url)
    incremental = dump(container.url, tickets)
    container.rebuild("tickets")
    assert dump(container.url, tickets) == incremental


def test_two_group_runners_racing_apply_every_event_exactly_once(container: Any) -> None:
    make_events(container.app, 1)
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            more_tickets(container.app, 1)

    groups = [
        GroupRunner(
            container.url, container.source, [TicketListProjection(), AuditTrailProjection()]
        )
        for _ in range(2)
    ]
    writer = threading.Thread(target=write)
    for g in groups:
        g.start()
    writer.start()
    time.sleep(3)
    stop.set()
    writer.join()
    end = head(container.url)
    try:
        assert wait_until(
            lambda: min(positions(container.url)[n] for n in ("tickets", "audit")) >= end
        )
    finally:
        for g in groups:
            g.stop()
    assert all(g.error is None for g in groups)
    projections = [TicketListProjection(), AuditTrailProjection()]
    incremental = {p.name: dump(container.url, p) for p in projections}
    for p in projections:
        container.rebuild(p.name)
    assert {p.name: dump(container.url, p) for p in projections} == incremental
    with psycopg.connect(container.url) as conn:
        events = conn.execute("SELECT count(*) FROM qualtrace_events").fetchone()[0]
        trail = conn.execute("SELECT count(*) FROM qt_read.audit_events").fetchone()[0]
    assert trail == events  # every event once in the trail
