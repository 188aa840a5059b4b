"""Ticket KPIs computed by hand from a known scenario, over HTTP and in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai


def ticket(project: str, kind: str, priority: str) -> dict[str, Any]:
    return {
        "project": project,
        "kind": kind,
        "channel": "phone",
        "priority": priority,
        "category": "维修",
        "description": "测试",
        "reporter": {"name": "张三", "unit": "1-101", "phone": "13812345678"},
    }


class Desk:
    """Drives tickets over HTTP at exact times."""

    def __init__(self, api: Any, clock: Any) -> None:
        self.api, self.clock = api, clock
        clock.auto_tick = timedelta(0)
        self.position = 0

    def at(self, when: datetime) -> Desk:
        self.clock.now = when
        return self

    def post(self, path: str, body: Any = None, role: str = "supervisor") -> dict[str, Any]:
        r = self.api.post(path, body or {}, role=role)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"])
        return r.json()

    def receive(self, when: datetime, project: str, kind: str, priority: str) -> str:
        return self.at(when).post("/tickets", ticket(project, kind, priority), role="front_desk")[
            "id"
        ]

    def dispatch(self, when: datetime, t: str, department: str = "engineering") -> None:
        self.at(when).post(f"/tickets/{t}/dispatch", {"department": department, "assignee": "wang"})

    def resolve(self, when: datetime, t: str) -> None:
        self.at(when).post(f"/tickets/{t}/accept", role="staff")
        self.post(f"/tickets/{t}/resolve", {"resolution": "done"}, role="staff")

    def callback(self, when: datetime, t: str, satisfied: bool, rating: int) -> None:
        self.at(when).post(
            f"/tickets/{t}/callback",
            {"reached": True, "satisfied": satisfied, "rating": rating},
            role="front_desk",
        )


@pytest.fixture
def march(api: Any, clock: Any) -> Desk:
    """Four tickets in March 2026 (Shanghai), times chosen to make the figures easy."""
    clock.now = T0 - timedelta(hours=1)
    api.setup_org()
    d = Desk(api, clock)
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    # T1: P1 repair, high: dispatched after 10 min, resolved after 2 h, satisfied (5), closed.
    t1 = d.receive(T0, "P1", "repair", "high")
    d.dispatch(T0 + 10 * m, t1)
    d.resolve(T0 + 2 * h, t1)
    d.callback(T0 + 3 * h, t1, True, 5)
    d.at(T0 + 3 * h).post(f"/tickets/{t1}/close", role="front_desk")
    # T2: P1 complaint, normal: dispatched after 3 h (late), resolved after 80 h (late),
    # unsatisfied (2) -> reopened, resolved again after 90 h, satisfied (4), closed.
    r2 = T0 + 4 * h
    t2 = d.receive(r2, "P1", "complaint", "normal")
    d.dispatch(r2 + 3 * h, t2, "customer_service")
    d.resolve(r2 + 80 * h, t2)
    d.callback(r2 + 81 * h, t2, False, 2)
    d.dispatch(r2 + 82 * h, t2, "customer_service")
    d.resolve(r2 + 90 * h, t2)
    d.callback(r2 + 91 * h, t2, True, 4)
    d.at(r2 + 91 * h).post(f"/tickets/{t2}/close", role="front_desk")
    # T3: P2 inquiry, low: cancelled as a duplicate.
    t3 = d.receive(T0 + 5 * h, "P2", "inquiry", "low")
    d.at(T0 + 6 * h).post(f"/tickets/{t3}/cancel", {"reason": "duplicate"}, role="front_desk")
    # T4: P1 repair, urgent: dispatched after 5 min, escalated, still open.
    t4 = d.receive(T0 + 6 * h, "P1", "repair", "urgent")
    d.dispatch(T0 + 6 * h + 5 * m, t4)
    d.at(T0 + 7 * h).post(f"/tickets/{t4}/escalate", {"reason": "漏水反复", "severity": "major"})
    d.at(datetime(2026, 3, 20, tzinfo=timezone.utc))
    api.container.run_projections_once()  # caught up now, however busy the machine
    return d


def kpis(
    api: Any, d: Desk, role: str = "quality_manager", projects: tuple[str, ...] = (), **params: Any
) -> list[dict[str, Any]]:
    r = api.get(
        "/kpis/tickets", role=role, projects=projects, params={"min_position": d.position, **params}
    )
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_ticket_kpis_per_project_and_month_match_the_hand_computed_figures(
    api: Any, march: Desk
) -> None:
    rows = kpis(api, march, group_by="project,month")
    by = {(r["project"], r["month"]): r for r in rows}
    assert set(by) == {("P1", "2026-03"), ("P2", "2026-03")}
    p1 = by[("P1", "2026-03")]
    assert p1["received"] == 3 and p1["cancelled"] == 0 and p1["resolved"] == 2
    assert p1["closed"] == 2 and p1["backlog"] == 1 and p1["escalations"] == 1
    # Response times 5, 10, 180 min: median 10; p90 = 10 + 0.8 × 170 = 146.
    assert p1["response_median_minutes"] == 10.0 and p1["response_p90_minutes"] == 146.0
    # Resolution times 2 h and 90 h (the latest resolution): median 46; p90 = 2 + 0.9 × 88 = 81.2.
    assert p1["resolution_median_hours"] == 46.0 and p1["resolution_p90_hours"] == 81.2
    # Response met by T1 and T4, missed by T2; resolution met by T1, missed by T2, T4 undecided.
    assert p1["response_sla_met_pct"] == 66.67 and p1["resolution_sla_met_pct"] == 50.0
    assert p1["sla_met_pct"] == 50.0 and p1["sla_breaches"] == 1
    # Both resolved tickets were called back; 2 of 3 reached callbacks satisfied; ratings 5, 2, 4.
    assert p1["callback_rate_pct"] == 100.0 and p1["satisfaction_pct"] == 66.67
    assert p1["callback_rating_avg"] == 3.67
    assert p1["reopened"] == 1 and p1["reopen_rate_pct"] == 50.0
    p2 = by[("P2", "2026-03")]
    assert p2["received"] == 1 and p2["cancelled"] == 1 and p2["backlog"] == 0 and p2["closed"] == 0
    assert p2["response_median_minutes"] is None and p2["callback_rate_pct"] is None


def test_ticket_kpis_roll_up_to_the_region_and_company_and_split_by_dimension(
    api: Any, march: Desk
) -> None:
    (region,) = kpis(api, march, group_by="region,quarter")
    assert region["region"] == "SH" and region["quarter"] == "2026-Q1"
    assert region["received"] == 4 and region["closed"] == 2 and region["backlog"] == 1
    (company,) = kpis(api, march)
    assert company["received"] == 4 and company["cancelled"] == 1 and company["backlog"] == 1
    by_kind = {r["kind"]: r for r in kpis(api, march, group_by="kind")}
    assert {k: r["received"] for k, r in by_kind.items()} == {
        "complaint": 1,
        "inquiry": 1,
        "repair": 2,
    }
    assert by_kind["repair"]["response_median_minutes"] == 7.5
    rows = kpis(api, march, group_by="department,priority,channel")
    assert {(r["department"], r["priority"], r["channel"]): r["received"] for r in rows} == {
        ("customer_service", "normal", "phone"): 1,
        ("engineering", "high", "phone"): 1,
        ("engineering", "urgent", "phone"): 1,
        ("none", "low", "phone"): 1,
    }


def test_a_ticket_received_2330_utc_on_31_march_counts_in_april_in_shanghai(
    api: Any, clock: Any
) -> None:
    clock.now = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)
    api.setup_org()
    d = Desk(api, clock)
    d.receive(
        datetime(2026, 3, 31, 15, 59, tzinfo=timezone.utc), "P1", "repair", "low"
    )  # 23:59 local, March
    d.receive(
        datetime(2026, 3, 31, 23, 30, tzinfo=timezone.utc), "P1", "repair", "low"
    )  # 07:30 local, April
    d.at(datetime(2026, 4, 2, tzinfo=timezone.utc))
    api.container.run_projections_once()
    rows = {r["month"]: r["received"] for r in kpis(api, d, group_by="month")}
    assert rows == {"2026-03": 1, "2026-04": 1}
    # Backlog at each month's end: one open at the end of March, two now.
    assert {r["month"]: r["backlog"] for r in kpis(api, d, group_by="month")} == {
        "2026-03": 1,
        "2026-04": 2,
    }
    # from/to are local dates too.
    (april,) = kpis(api, d, **{"from": "2026-04-01", "to": "2026-04-30"})
    assert april["received"] == 1


def test_kpis_answer_csv_and_name_an_unknown_group_by(api: Any, march: Desk) -> None:
    r = api.get("/kpis/tickets", role="reporting", params={"group_by": "project", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("project,received,") and len(lines) == 3
    r = api.get(
        "/kpis/tickets",
        role="reporting",
        params={"group_by": "project"},
        headers={"Accept": "text/csv"},
    )
    assert r.text.strip().splitlines()[1].startswith("P1,3,")
    r = api.get("/kpis/tickets", role="reporting", params={"group_by": "project,colour"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "group_by"
    r = api.get("/kpis/tickets", role="reporting", params={"from": "March"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "from"
    assert api.get("/kpis/tickets", role="front_desk").status_code == 403


def test_a_project_manager_of_p1_never_sees_p2_figures(api: Any, march: Desk) -> None:
    rows = kpis(api, march, role="project_manager", projects=("P1",), group_by="project")
    assert [r["project"] for r in rows] == ["P1"]
    assert (
        kpis(api, march, role="project_manager", projects=("P1",), project="P2", group_by="project")
        == []
    )
    (total,) = kpis(api, march, role="project_manager", projects=("P1",), group_by="region")
    assert total["received"] == 3


def test_http_and_reporting_sql_ticket_figures_agree(api: Any, march: Desk) -> None:
    http = kpis(api, march, group_by="project,region,month")
    with psycopg.connect(api.container.url) as conn:
        conn.execute("SET ROLE qualtrace_reporting")
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT * FROM reporting.ticket_kpis_project_month WHERE month <= '2026-03' ORDER BY project, region, month"
            )
            .fetchall()
        )
    assert [
        {k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows
    ] == http
