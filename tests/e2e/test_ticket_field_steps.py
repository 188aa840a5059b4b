"""The service centre's day over HTTP (issue #16 items 1-3): the field steps, the SLA on a
business calendar with a pause on hold, the escalation ladder, the callback deadline and
the three callback ratings, every figure checked against a hand computation; and
(item 4) the before and after photos, in the audit history by digest."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from application.deadlines import DeadlineWatcher
from qualtrace.settings import Settings
from tests.attach_files import pdf, photo

CST = timezone(timedelta(hours=8))  # Asia/Shanghai, no daylight saving


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of March 2026 on Shanghai's wall clock."""
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


#: Minutes; `normal` runs on the calendar below (16 working hours = two working days).
SLA = {
    "response": {"urgent": 15, "high": 30, "normal": 120, "low": 240},
    "resolution": {"urgent": 240, "high": 1440, "normal": 16 * 60, "low": 32 * 60},
}
POLICY = {
    "response_ends": "arrival",
    "callback_minutes": 24 * 60,
    "callback_reopen_below": 3,
    "calendars": {
        "office": {
            "timezone": "Asia/Shanghai",
            "hours": [["09:00", "12:00"], ["13:00", "18:00"]],
            "weekdays": [1, 2, 3, 4, 5],
            "holidays": ["2026-03-04"],  # a Wednesday, as data
            "priorities": ["normal", "low"],
        }
    },
    "project_calendars": {"P1": "office"},
    "escalation": [
        {"to": "supervisor", "after_minutes": {"urgent": 0, "high": 0, "normal": 0, "low": 0}},
        {
            "to": "project_manager",
            "after_minutes": {"urgent": 60, "high": 120, "normal": 480, "low": 960},
        },
    ],
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        pool_size=4,
        read_wait_seconds=5.0,
        sla_policy=SLA,
        ticket_policy=POLICY,
    )


def ticket(priority: str = "normal", project: str = "P1") -> dict[str, Any]:
    return {
        "project": project,
        "kind": "repair",
        "channel": "phone",
        "priority": priority,
        "category": "水电维修",
        "description": "厨房燃气灶不打火",
        "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
    }


class Desk:
    """Posts at exact moments of the injectable clock, as named people."""

    PEOPLE = {
        "desk": {"role": "front_desk", "user": "li.na", "name": "Li Na"},
        "sup": {"role": "supervisor", "user": "zhao.min", "name": "Zhao Min"},
        "wang": {"role": "staff", "user": "wang.wei", "name": "Wang Wei"},
        "li": {"role": "staff", "user": "li.qiang", "name": "Li Qiang"},
    }

    def __init__(self, api: Any, clock: Any) -> None:
        self.api, self.clock = api, clock
        clock.auto_tick = timedelta(0)
        self.position = 0

    def at(self, when: datetime) -> Desk:
        self.clock.now = when.astimezone(timezone.utc)
        return self

    def raw(self, path: str, body: Any = None, who: str = "sup") -> Any:
        return self.api.post(path, body or {}, **self.PEOPLE[who])

    def post(self, path: str, body: Any = None, who: str = "sup") -> dict[str, Any]:
        r = self.raw(path, body, who)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"])
        return r.json()

    def get(self, ref: str) -> dict[str, Any]:
        r = self.api.get(f"/tickets/{ref}", role="supervisor", user="zhao.min")
        assert r.status_code == 200, r.text
        return r.json()

    def upload(
        self, data: bytes, name: str, who: str, media_type: str = "image/jpeg"
    ) -> dict[str, Any]:
        """POST /attachments as one of the people; the answer (digest, ...)."""
        r = self.api.client.post(
            "/attachments",
            files={"file": (name, data, media_type)},
            headers=self.api.token(**self.PEOPLE[who]),
        )
        assert r.status_code == 201, r.text
        return r.json()

    def caught_up(self) -> None:
        r = self.api.get("/tickets", role="supervisor", params={"min_position": self.position})
        assert r.status_code == 200, r.text


@pytest.fixture
def desk(api: Any, clock: Any) -> Desk:
    api.setup_org()
    return Desk(api, clock)


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(timezone.utc)


def test_received_rejected_arrived_held_resumed_resolved_rated_closed_with_hand_computed_sla(
    api: Any, desk: Desk
) -> None:
    # Monday 2 March 10:00: a normal repair at P1 (office calendar: 09-12, 13-18, Mon-Fri,
    # Wednesday 4 March a holiday).
    t = desk.at(cst(2, 10)).post("/tickets", ticket(), who="desk")["id"]
    view = desk.get(t)
    # Response 120 working minutes: 10:00 → 12:00 Monday.
    assert utc(view["response_due"]) == cst(2, 12)
    # Resolution 16 working hours: Mon 10-12 + 13-18 (7 h), Tue 9-12 + 13-18 (8 h, 15 h),
    # Wed holiday, Thu 09:00 + 1 h = Thursday 10:00.
    assert utc(view["resolution_due"]) == cst(5, 10)
    assert view["sla_policy"]["calendar"] == "office"

    desk.at(cst(2, 10, 10)).post(
        f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "wang.wei"}
    )
    # 拒单: Wang Wei hands it back to dispatch with a reason.
    r = desk.at(cst(2, 10, 20)).post(f"/tickets/{t}/reject", {"reason": "燃气不属本人技能"}, "wang")
    assert r["status"] == "rejected"
    assert desk.get(t)["assignee"] is None
    desk.at(cst(2, 10, 30)).post(
        f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "li.qiang"}
    )
    # Wang Wei is no longer the assignee: his arrival is refused, and nothing is recorded.
    before = desk.get(t)["version"]
    r = desk.at(cst(2, 11)).raw(f"/tickets/{t}/arrive", {}, "wang")
    assert r.status_code == 403 and "only the assignee (li.qiang)" in r.json()["detail"], r.text
    assert desk.get(t)["version"] == before
    # Li Qiang photographs the fault on arrival ("before", with the phone's GPS position).
    before = desk.upload(photo(color=(180, 40, 40)), "before.jpg", "li")
    assert before["gps_removed"] is True
    # Li Qiang arrives at 11:30: the response SLA (ends at arrival) is met, 30 min to spare.
    arrived = desk.at(cst(2, 11, 30)).post(
        f"/tickets/{t}/arrive", {"attachments": [before["digest"]]}, "li"
    )
    assert arrived["status"] == "in_progress"
    # A hold without a reason: 422 naming it, nothing recorded.
    r = desk.at(cst(2, 11, 40)).raw(f"/tickets/{t}/hold", {}, "li")
    assert r.status_code == 422 and "reason" in r.text
    assert (
        desk.post(f"/tickets/{t}/hold", {"reason": "等待配件: 点火器"}, "li")["status"] == "on_hold"
    )
    # Resumed Tuesday 10:00. Working time on hold: Mon 11:40-12:00 (20 min) + 13:00-18:00
    # (5 h) + Tue 09:00-10:00 (1 h) = 6 h 20 min = 22 800 s.
    desk.at(cst(3, 10)).post(f"/tickets/{t}/resume", {"reason": "配件已到"}, "li")
    view = desk.get(t)
    # The resolution due moves by 6 h 20 working minutes from Thu 10:00: 10-12 (2 h),
    # 13:00 + 4 h 20 = Thursday 17:20.
    assert utc(view["resolution_due"]) == cst(5, 17, 20)
    assert view["sla"]["resolution"]["paused_seconds"] == 22800
    assert view["holds"][0]["paused_seconds"] == 22800 and view["holds"][0]["reason"]
    # Thursday 12:00, past the original due time but not the moved one: the watcher records nothing.
    desk.caught_up()
    desk.at(cst(5, 12))
    assert api.container.deadline_watcher.run_once().sla_breaches == 0
    # Resolved Thursday 16:00: met thanks to the pause, with the "after" photo and the
    # signed work order (PDF).
    after = desk.upload(photo(color=(40, 180, 40)), "after.jpg", "li")
    order = desk.upload(pdf("work order"), "work-order.pdf", "li", "application/pdf")
    desk.at(cst(5, 16)).post(
        f"/tickets/{t}/resolve",
        {"resolution": "更换点火器", "attachments": [after["digest"], order["digest"]]},
        "li",
    )
    # Callback Friday 10:00 (due 24 h after the resolution: Friday 16:00), three ratings.
    r = desk.at(cst(6, 10)).post(
        f"/tickets/{t}/callback",
        {"reached": True, "satisfied": True, "ratings": {"speed": 4, "quality": 5, "attitude": 5}},
        "desk",
    )
    assert r["status"] == "called_back"
    closed = desk.at(cst(6, 10, 5)).post(f"/tickets/{t}/close", {}, "desk")
    assert closed["status"] == "closed"

    sla = desk.get(t)["sla"]
    assert sla["response"] == {
        "due": cst(2, 12).astimezone(timezone.utc).isoformat(),
        "done_at": cst(2, 11, 30).astimezone(timezone.utc).isoformat(),
        "met": True,
        "breached": False,
        "level": 0,
        "ends_at": "arrival",
    }
    assert utc(sla["resolution"]["due"]) == cst(5, 17, 20)
    assert utc(sla["resolution"]["done_at"]) == cst(5, 16)
    assert sla["resolution"]["met"] is True and sla["resolution"]["paused_seconds"] == 22800
    assert utc(sla["callback"]["due"]) == cst(6, 16) and sla["callback"]["met"] is True

    # Every step in the audit history, attributed, each with its summary.
    h = api.get(
        f"/audit/{closed['number']}", role="auditor", params={"min_position": desk.position}
    )
    assert h.status_code == 200, h.text
    events = h.json()["events"]
    assert [e["type"] for e in events] == [
        "Received",
        "Dispatched",
        "Rejected",
        "Dispatched",
        "Arrived",
        "PutOnHold",
        "Resumed",
        "Resolved",
        "CallbackRecorded",
        "Closed",
    ]
    assert [e["actor"]["name"] for e in events][2:8] == ["Wang Wei", "Zhao Min"] + ["Li Qiang"] * 4
    summaries = {e["type"]: e["summary"] for e in events}
    assert summaries["Rejected"] == "Rejected back to dispatch (拒单) by Wang Wei: 燃气不属本人技能"
    assert "6.33 h on hold" in summaries["Resumed"]
    assert "speed 4, quality 5, attitude 5" in summaries["CallbackRecorded"]
    # The photos are in the history by digest (the events' hashes cover them) ...
    data = {e["type"]: e["data"] for e in events}
    assert data["Arrived"]["attachments"] == [before["digest"]]
    assert data["Resolved"]["attachments"] == [after["digest"], order["digest"]]
    assert data["Received"]["attachments"] == []
    # ... and downloadable, byte for byte what the digest says, by roles in P1's scope.
    for upload in (before, after, order):
        for reader in (
            {"role": "auditor"},
            {"role": "supervisor", "projects": ("P1",)},
            {"role": "front_desk", "user": "li.na"},
        ):
            got = api.get(f"/attachments/{upload['digest']}", **reader)
            assert got.status_code == 200, (reader, got.text)
            assert hashlib.sha256(got.content).hexdigest() == upload["digest"]
        # Not by one scoped to P2 (404, as for no file at all), nor a role that reads no issues.
        assert (
            api.get(f"/attachments/{upload['digest']}", role="staff", projects=("P2",)).status_code
            == 404
        )
        assert api.get(f"/attachments/{upload['digest']}", role="reporting").status_code == 403

    # KPIs per rating dimension and the pause, over HTTP and in the reporting SQL, alike.
    r = api.get(
        "/kpis/tickets",
        role="quality_manager",
        params={"min_position": desk.position, "group_by": "project,month"},
    )
    assert r.status_code == 200, r.text
    row = next(x for x in r.json()["rows"] if x["project"] == "P1")
    assert (
        row["callback_speed_avg"],
        row["callback_quality_avg"],
        row["callback_attitude_avg"],
    ) == (
        4.0,
        5.0,
        5.0,
    )
    assert row["on_hold_hours"] == 6.33  # 22 800 s
    assert row["response_sla_met_pct"] == 100.0 and row["resolution_sla_met_pct"] == 100.0
    assert row["response_median_minutes"] == 90.0  # received 10:00 → arrival 11:30
    with psycopg.connect(api.container.url) as conn:
        conn.execute("SET ROLE qualtrace_reporting")
        sql_row = (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM reporting.ticket_kpis_project_month WHERE project = 'P1'")
            .fetchone()
        )
    assert sql_row is not None
    for k in (
        "callback_speed_avg",
        "callback_quality_avg",
        "callback_attitude_avg",
        "on_hold_hours",
    ):
        v = sql_row[k]
        assert (float(v) if isinstance(v, Decimal) else v) == row[k], k


def test_reclassify_recomputes_the_due_times_from_the_change_and_keeps_both(desk: Desk) -> None:
    t = desk.at(cst(2, 10)).post("/tickets", ticket("normal"), who="desk")["id"]
    first = desk.get(t)
    # The same values again: 422 naming it, nothing recorded.
    r = desk.raw(f"/tickets/{t}/reclassify", {"priority": "normal", "reason": "x"}, "desk")
    assert r.status_code == 422 and "changes nothing" in r.json()["detail"], r.text
    r = desk.raw(f"/tickets/{t}/reclassify", {"reason": "nothing given"}, "desk")
    assert r.status_code == 422
    assert desk.get(t)["version"] == first["version"]
    # At 11:00 it turns out urgent (round the clock): 15 min / 4 h from 11:00.
    desk.at(cst(2, 11)).post(
        f"/tickets/{t}/reclassify",
        {"priority": "urgent", "kind": "complaint", "reason": "燃气泄漏, 实为紧急"},
        "desk",
    )
    view = desk.get(t)
    assert (view["priority"], view["kind"], view["category"]) == ("urgent", "complaint", "水电维修")
    assert utc(view["response_due"]) == cst(2, 11, 15)
    assert utc(view["resolution_due"]) == cst(2, 15)
    assert "calendar" not in view["sla_policy"] and view["sla_policy"]["resolution_minutes"] == 240
    (change,) = view["due_history"]
    assert utc(change["previous_response_due"]) == cst(2, 12)
    assert utc(change["previous_resolution_due"]) == cst(5, 10)
    assert change["previous"] == {"kind": "repair", "category": "水电维修", "priority": "normal"}
    assert change["reason"] == "燃气泄漏, 实为紧急"


def test_breach_then_escalation_to_supervisor_then_project_manager_each_once(
    api: Any, desk: Desk
) -> None:
    # Urgent, round the clock: response due 10:15, ladder +0 min supervisor, +60 min PM.
    t = desk.at(cst(2, 10)).post("/tickets", ticket("urgent"), who="desk")["id"]
    desk.caught_up()
    watcher: DeadlineWatcher = api.container.deadline_watcher
    desk.at(cst(2, 10, 14))
    assert watcher.run_once().sla_breaches == 0
    desk.at(cst(2, 10, 16))
    report = watcher.run_once()
    assert (report.sla_breaches, report.sla_escalations) == (1, 1)
    # Again, and a second watcher (a restart), before the list caught up: nothing more.
    assert watcher.run_once().sla_escalations == 0
    assert DeadlineWatcher(api.container.app).run_once().sla_escalations == 0
    desk.position = api.container.app.recorder.max_notification_id()
    desk.caught_up()
    desk.at(cst(2, 11, 14))  # 59 min past due
    assert watcher.run_once().sla_escalations == 0
    desk.at(cst(2, 11, 16))  # 61 min past due: level 2, to the project manager
    assert watcher.run_once().sla_escalations == 1
    desk.position = api.container.app.recorder.max_notification_id()
    desk.caught_up()
    desk.at(cst(2, 20))
    r = watcher.run_once()
    # The resolution (due 14:00) breaches and climbs both levels in one pass; response is done.
    assert (r.sla_breaches, r.sla_escalations) == (1, 2)
    desk.position = api.container.app.recorder.max_notification_id()
    desk.caught_up()
    assert watcher.run_once().tickets_checked == 0  # the list no longer suggests it
    view = desk.get(t)
    assert [(e["phase"], e["level"], e["to"]) for e in view["sla_escalations"]] == [
        ("response", 1, "supervisor"),
        ("response", 2, "project_manager"),
        ("resolution", 1, "supervisor"),
        ("resolution", 2, "project_manager"),
    ]
    h = api.get("/audit/" + view["number"], role="auditor", params={"min_position": desk.position})
    types = [e["type"] for e in h.json()["events"]]
    assert types == [
        "Received",
        "SlaBreached",
        "SlaEscalated",
        "SlaEscalated",
        "SlaBreached",
        "SlaEscalated",
        "SlaEscalated",
    ]
    escalated = [e for e in h.json()["events"] if e["type"] == "SlaEscalated"]
    assert all(e["actor"]["id"] == "system" and e["causation_id"] for e in escalated)
    assert "to the project_manager" in escalated[1]["summary"]


def test_callback_deadline_breach_is_recorded_once(api: Any, desk: Desk) -> None:
    t = desk.at(cst(2, 9)).post("/tickets", ticket("high", "P2"), who="desk")["id"]
    desk.post(f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "li.qiang"})
    desk.at(cst(2, 9, 10)).post(f"/tickets/{t}/arrive", {}, "li")
    desk.at(cst(2, 10)).post(f"/tickets/{t}/resolve", {"resolution": "修好"}, "li")
    desk.caught_up()
    watcher = api.container.deadline_watcher
    desk.at(cst(3, 9, 59))
    assert watcher.run_once().sla_breaches == 0
    desk.at(cst(3, 10, 1))  # 24 h and 1 min after the resolution, no callback
    assert watcher.run_once().sla_breaches == 1
    assert watcher.run_once().sla_breaches == 0
    view = desk.get(t)
    assert view["sla"]["callback"]["breached"] is True and view["sla"]["callback"]["met"] is False
    assert view["sla_breaches"] == ["callback"]


def test_a_low_rating_reopens_and_the_old_callback_body_still_works(desk: Desk) -> None:
    t = desk.at(cst(2, 9)).post("/tickets", ticket("high", "P2"), who="desk")["id"]
    desk.post(f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "li.qiang"})
    desk.post(f"/tickets/{t}/arrive", {}, "li")
    desk.post(f"/tickets/{t}/resolve", {"resolution": "修好"}, "li")
    # Satisfied overall, but attitude 2 < 3: reopened, and the reason says why.
    r = desk.post(
        f"/tickets/{t}/callback",
        {"reached": True, "satisfied": True, "ratings": {"speed": 4, "quality": 4, "attitude": 2}},
        "desk",
    )
    assert r["status"] == "reopened"
    bad = desk.raw(
        f"/tickets/{t}/callback",
        {"reached": True, "satisfied": True, "ratings": {"speed": 6, "quality": 4, "attitude": 4}},
        "desk",
    )
    assert bad.status_code == 422 and "ratings.speed" in bad.text
    # Back on site and resolved again; the old body (one rating) still closes the loop.
    desk.post(f"/tickets/{t}/arrive", {}, "li")
    desk.post(f"/tickets/{t}/resolve", {"resolution": "再次修好"}, "li")
    r = desk.post(
        f"/tickets/{t}/callback", {"reached": True, "satisfied": True, "rating": 5}, "desk"
    )
    assert r["status"] == "called_back"
    callbacks = desk.get(t)["callbacks"]
    assert [c["ratings"] for c in callbacks] == [
        {"speed": 4, "quality": 4, "attitude": 2},
        None,
    ]
