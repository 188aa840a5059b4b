"""Two deadline watchers racing each other (and a user) over the escalation ladder:
every breach and every escalation level is recorded exactly once, and nothing the user
wrote meanwhile is lost."""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.persistence import IntegrityError

from application.base import Call
from application.deadlines import DeadlineWatcher, RunReport
from application.security import Principal
from domain.tickets import Ticket

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")
TICKETS = 8


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id="test")


class RacingWatcher(DeadlineWatcher):
    """Holds its first save until the other watcher has loaded the same ticket too."""

    def __init__(self, app: Any, barrier: threading.Barrier) -> None:
        super().__init__(app)
        self.barrier = barrier
        self.first = True
        self.lost_races = 0

    def save(self, aggregate: Any) -> None:
        if self.first:
            self.first = False
            self.barrier.wait()
        try:
            super().save(aggregate)
        except IntegrityError:
            self.lost_races += 1
            raise


def test_racing_watchers_record_each_level_once_and_lose_no_user_event(
    container: Any, clock: Any
) -> None:
    app = container.app
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "绿地花园", "SH")
    ids = [
        app.tickets.receive(
            call(DESK),
            project="P1",
            kind="repair",
            channel="phone",
            priority="urgent",  # response 15 min; ladder +0 supervisor, +60 min project manager
            category="水电",
            description=f"漏水 {n}",
            reporter={"name": "张三", "unit": f"1-{n:03}", "phone": "13812345678"},
        ).id
        for n in range(TICKETS)
    ]
    container.run_projections_once()
    clock.advance(minutes=90)  # response due + 75 min: breach, level 1 and level 2 all due

    barrier = threading.Barrier(2, timeout=20)
    watchers = [RacingWatcher(app, barrier), RacingWatcher(app, barrier)]
    reports: list[RunReport] = []

    def note_each() -> None:
        for tid in ids:
            app.tickets.note(call(SUP), tid, "已联系业主")

    threads = [threading.Thread(target=lambda w=w: reports.append(w.run_once())) for w in watchers]
    threads.append(threading.Thread(target=note_each))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert len(reports) == 2 and not any(r.errors for r in reports), reports
    assert sum(w.lost_races for w in watchers) >= 1  # the race did happen, and was retried

    assert sum(r.sla_breaches for r in reports) == TICKETS
    assert sum(r.sla_escalations for r in reports) == 2 * TICKETS
    for tid in ids:
        t = app.load(Ticket, tid)
        assert t.sla_breaches == ["response"]
        assert [(e["level"], e["to"]) for e in t.sla_escalations] == [
            (1, "supervisor"),
            (2, "project_manager"),
        ]
        assert [n["text"] for n in t.notes] == ["已联系业主"]
    # And once more, by a fresh watcher after the list caught up: nothing left to record.
    container.run_projections_once()
    again = DeadlineWatcher(app).run_once()
    assert (again.tickets_checked, again.sla_breaches, again.sla_escalations) == (0, 0, 0)
    # Three hours on (270 min after receipt): resolution (due at 240) breaches, level 1 at
    # +0 is due, level 2 (+60) not yet.
    clock.advance(minutes=180)
    later = DeadlineWatcher(app).run_once()
    assert (later.sla_breaches, later.sla_escalations) == (TICKETS, TICKETS)
