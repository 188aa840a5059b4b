"""Processes killed between their trigger and their result, then restarted, produce the
result exactly once: a failed inspection item -> its nonconformance, an escalated ticket
-> its nonconformance, a passed due date -> one `Overdue` / `SlaBreached` event.

"Killed" is an exception raised inside the process after the trigger event is stored
(or after the result is stored but before the process's own bookkeeping commits);
"restarted" is a new container (a new process) on the same database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from application.base import Call
from application.security import Principal
from domain.base import id_for
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.tickets import Ticket
from qualtrace.processes import ProcessFollower
from qualtrace.settings import Settings

ADMIN = Principal("admin-1", "Admin", "admin")
QM = Principal("qm-1", "Zhou Min", "quality_manager")
INSPECTOR = Principal("insp-1", "Chen Jie", "inspector")
SUPERVISOR = Principal("sup-1", "Wang Wei", "supervisor")
FRONT = Principal("fd-1", "Li Na", "front_desk")

SECTIONS = [
    {
        "code": "CS",
        "name": "客户服务",
        "items": [
            {"code": "CS-01", "requirement": "前台接待礼貌", "max_points": 10, "critical": False},
            {
                "code": "CS-02",
                "requirement": "投诉24小时内回复",
                "max_points": 10,
                "critical": True,
            },
            {"code": "SEC-02", "requirement": "消防通道畅通", "max_points": 10, "critical": False},
        ],
    },
]


class Killed(RuntimeError):
    """The process died here."""


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id=str(uuid.uuid4()))


class Boot:
    """Start and restart the service on one database."""

    def __init__(self, db_url: str, clock: Any) -> None:
        self.db_url, self.clock = db_url, clock
        self.live: list[Any] = []

    def start(self) -> Any:
        from qualtrace.bootstrap import bootstrap

        c = bootstrap(Settings(database_url=self.db_url, pool_size=2), clock=self.clock, setup=True)
        self.live.append(c)
        return c

    def restart(self, c: Any) -> Any:
        c.close()
        self.live.remove(c)
        return self.start()


@pytest.fixture
def boot(db_url: str, clock: Any) -> Iterator[Boot]:
    b = Boot(db_url, clock)
    yield b
    for c in b.live:
        c.close()


def count(url: str, issue_id: Any, event: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM qualtrace_events WHERE originator_id = %s AND topic LIKE %s",
            (issue_id, f"%.{event}"),
        ).fetchone()
    assert row is not None
    return int(row[0])


def org(app: Any) -> None:
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "一号项目", "SH", 500)


def scored_inspection(app: Any) -> str:
    """An inspection with two failed items, ready to submit."""
    t = app.templates.draft(call(QM), "月检表", SECTIONS)
    app.templates.publish(call(QM), t.number)
    ins = app.inspections.schedule(
        call(INSPECTOR),
        project="P1",
        kind="regional_monthly",
        template_id=t.id,
        planned_for="2026-03-05",
        inspectors=["Chen Jie"],
    )
    app.inspections.start(call(INSPECTOR), ins.number)
    app.inspections.score_item(call(INSPECTOR), ins.number, "CS-01", 9, "pass")
    app.inspections.score_item(
        call(INSPECTOR), ins.number, "CS-02", 3, "fail", "投诉未回复", ["a.jpg"]
    )
    app.inspections.score_item(call(INSPECTOR), ins.number, "SEC-02", 5, "fail", "通道堆物")
    return ins.number


def kill_inline(app: Any) -> None:
    def killed(*_: Any) -> Any:
        raise Killed("killed between the trigger and its result")

    app.processes._complete = killed  # the inline run of the process dies


def test_a_failed_item_process_killed_after_submission_raises_each_nonconformance_once_after_restart(
    boot: Boot,
) -> None:
    c = boot.start()
    org(c.app)
    ref = scored_inspection(c.app)
    kill_inline(c.app)
    answer = c.app.inspections.submit(call(INSPECTOR), ref)
    # The trigger is stored and names both nonconformances; neither exists yet.
    ins = c.app.load(Inspection, ref)
    assert ins.status == "submitted" and answer.version == ins.version
    numbers = [nc["number"] for nc in ins.raised_nonconformances]
    assert len(numbers) == 2
    ids = [id_for("nonconformance", n) for n in numbers]
    assert [count(c.url, i, "Raised") for i in ids] == [0, 0]

    c = boot.restart(c)
    c.run_projections_once()
    assert [count(c.url, i, "Raised") for i in ids] == [1, 1]
    for nc_id, item in zip(ids, ("CS-02", "SEC-02"), strict=True):
        nc = c.app.load(Nonconformance, nc_id)
        assert nc.source["item"] == item and nc.source["id"] == str(ins.id)
        [raised] = list(c.app.events.get(nc_id, lte=1))
        assert raised.causation_id == f"{ins.id}:{ins.version}"  # the Submitted event
        assert raised.actor == {"id": "insp-1", "name": "Chen Jie", "role": "inspector"}

    # However often it runs again, or replays the whole store from the start: still once.
    c = boot.restart(c)
    with psycopg.connect(c.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE qt_projection_tracking SET position=0, cursor_xid=0, cursor_id=0,"
            " pending_position=NULL, pending_xmax=NULL WHERE name='processes'"
        )
    c.run_projections_once()
    c.run_projections_once()
    assert [count(c.url, i, "Raised") for i in ids] == [1, 1]


def test_a_follower_killed_after_raising_but_before_its_tracking_commits_does_not_raise_again(
    boot: Boot,
) -> None:
    c = boot.start()
    org(c.app)
    ref = scored_inspection(c.app)
    kill_inline(c.app)
    c.app.inspections.submit(call(INSPECTOR), ref)
    del c.app.processes._complete
    follower = next(r for r in c.runners if isinstance(r.projection, ProcessFollower))
    raise_then_die = follower.projection.handle

    def handle(*args: Any) -> None:
        raise_then_die(*args)
        raise Killed("killed after the result, before the tracking position moved")

    follower.projection.handle = handle
    with pytest.raises(Killed):
        follower.run_once()
    ins = c.app.load(Inspection, ref)
    ids = [id_for("nonconformance", nc["number"]) for nc in ins.raised_nonconformances]
    assert [count(c.url, i, "Raised") for i in ids] == [1, 1]

    c = boot.restart(c)
    c.run_projections_once()  # reads the trigger again: finds both raised
    assert [count(c.url, i, "Raised") for i in ids] == [1, 1]
    follower = next(r for r in c.runners if isinstance(r.projection, ProcessFollower))
    assert follower.projection.completed == 0


def test_an_escalation_killed_before_its_nonconformance_is_raised_links_both_ways_once_after_restart(
    boot: Boot,
) -> None:
    c = boot.start()
    org(c.app)
    t = c.app.tickets.receive(
        call(FRONT),
        project="P1",
        kind="complaint",
        channel="phone",
        priority="high",
        category="保洁",
        description="楼道三天没有清扫",
        reporter={"name": "张三", "unit": "3-1201", "phone": "13812345678"},
    )
    kill_inline(c.app)
    answer = c.app.tickets.escalate(call(SUPERVISOR), t.number, "重复投诉", "major")
    nc_ref = answer.extra["nonconformance"]
    assert count(c.url, uuid.UUID(nc_ref["id"]), "Raised") == 0

    c = boot.restart(c)
    c.run_projections_once()
    c.run_projections_once()
    assert count(c.url, uuid.UUID(nc_ref["id"]), "Raised") == 1
    nc = c.app.load(Nonconformance, nc_ref["number"])
    ticket = c.app.load(Ticket, t.number)
    assert {"rel": "raised_from", "kind": "ticket", "id": t.id, "number": t.number} in nc.links
    assert {"rel": "escalated_to", "kind": "nonconformance", **nc_ref} in ticket.links
    [raised] = list(c.app.events.get(nc.id, lte=1))
    assert raised.causation_id == f"{t.id}:{answer.version}" and raised.actor["name"] == "Wang Wei"
    assert nc.severity == "major" and nc.source["type"] == "ticket"


def test_the_deadline_watcher_killed_before_or_after_saving_records_each_breach_once_across_restarts(
    boot: Boot,
    clock: Any,
    monkeypatch: Any,
    capsys: Any,
    db_url: str,
) -> None:
    c = boot.start()
    org(c.app)
    nc = c.app.nonconformances.raise_(
        call(INSPECTOR),
        project="P1",
        source={"type": "audit", "ref": "IA-1"},
        severity="minor",
        description="消防通道堆放杂物",
    )
    c.app.nonconformances.notice(
        call(QM), nc.number, "security", "Wang Qiang", None
    )  # due in 7 days
    t = c.app.tickets.receive(
        call(FRONT),
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="水电",
        description="厨房漏水",
        reporter={"name": "李四", "unit": "1-101", "phone": "13900001111"},
    )
    c.run_projections_once()
    clock.advance(days=8)  # both the NC's due date and the ticket's SLA have passed

    # Killed before saving: nothing is recorded; the restarted watcher records it.
    watcher = c.deadline_watcher

    def die(_: Any) -> None:
        raise Killed("killed before saving")

    monkeypatch.setattr(watcher, "save", die)
    report = watcher.run_once()
    assert (report.overdue, report.sla_breaches, len(report.errors)) == (0, 0, 2)
    assert count(c.url, uuid.UUID(nc.id), "Overdue") == 0

    # Killed after saving, before the pass is reported: recorded once.
    c = boot.restart(c)
    c.run_projections_once()
    watcher = c.deadline_watcher
    real_save = watcher.save

    def save_then_die(aggregate: Any) -> None:
        real_save(aggregate)
        raise Killed("killed after saving")

    monkeypatch.setattr(watcher, "save", save_then_die)
    watcher.run_once()
    assert count(c.url, uuid.UUID(nc.id), "Overdue") == 1
    assert count(c.url, uuid.UUID(t.id), "SlaBreached") == 2  # response and resolution

    # Restarted, with the read side still behind (not caught up): nothing twice.
    c = boot.restart(c)
    assert c.deadline_watcher.run_once().overdue == 0
    # `qualtrace deadlines run --once`, twice (each a new process, on the real clock, by
    # which the second NC's due date has passed too): it is recorded by the first only.
    nc2 = c.app.nonconformances.raise_(
        call(INSPECTOR),
        project="P1",
        source={"type": "self_report"},
        severity="minor",
        description="绿化带缺苗",
    )
    c.app.nonconformances.notice(call(QM), nc2.number, "landscaping", "Zhao Lei", None)
    from qualtrace.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("QUALTRACE_POOL_SIZE", "2")
    reports = []
    for _ in range(2):
        assert main(["deadlines", "run", "--once"]) == 0
        reports.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert [(r["overdue"], r["sla_breaches"], r["errors"]) for r in reports] == [
        (1, 0, []),
        (0, 0, []),
    ]
    assert (
        count(c.url, uuid.UUID(nc.id), "Overdue") == 1
        and count(c.url, uuid.UUID(nc2.id), "Overdue") == 1
    )
    assert count(c.url, uuid.UUID(t.id), "SlaBreached") == 2
    [overdue] = [e for e in c.app.events.get(uuid.UUID(nc.id)) if type(e).__name__ == "Overdue"]
    assert overdue.actor["role"] == "system" and overdue.causation_id == f"{nc.id}:2"  # the notice


def test_over_http_a_killed_inline_run_is_completed_by_the_running_follower_before_a_read_at_the_answers_position(
    api: Any,
) -> None:
    api.setup_org()
    app = api.container.app
    ref = scored_inspection(app)
    kill_inline(app)
    r = api.post(f"/inspections/{ref}/submit", role="inspector", user="insp-1", name="Chen Jie")
    del app.processes._complete  # only the inline run died; the follower (same app object) works
    assert r.status_code == 200, r.text
    answer = r.json()
    assert [nc["item"] for nc in answer["nonconformances"]] == ["CS-02", "SEC-02"]
    # The answer is truthful: the numbers are reserved by the stored trigger. The follower
    # (running with the projections) raises them; `min_position` waits for it.
    for nc in answer["nonconformances"]:
        got = api.get(
            f"/nonconformances/{nc['number']}", params={"min_position": answer["position"]}
        )
        assert got.status_code == 200, got.text
        assert got.json()["source"]["item"] == nc["item"]
        events = api.get(
            f"/audit/{nc['number']}", params={"min_position": answer["position"]}
        ).json()["events"]
        assert events[0]["causation_id"] == f"{answer['id']}:{answer['version']}"
    # What makes that read wait: the follower noted how far its events go for this trigger.
    with psycopg.connect(api.container.url) as conn:
        noted = conn.execute(
            "SELECT through FROM qt_process_consequences WHERE trigger_position = %s",
            (answer["position"],),
        ).fetchone()
        last = conn.execute("SELECT max(notification_id) FROM qualtrace_events").fetchone()[0]
    assert noted is not None and answer["position"] < noted[0] <= last
