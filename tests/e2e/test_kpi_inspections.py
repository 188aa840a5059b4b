"""Inspection KPIs computed by hand from a known month of inspections, over HTTP and in SQL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

TEMPLATE = {
    "name": "月度品质检查表",
    "sections": [
        {
            "code": "CS",
            "name": "客户服务",
            "items": [
                {
                    "code": "CS-01",
                    "requirement": "前台接待礼貌",
                    "max_points": 10,
                    "critical": False,
                },
                {
                    "code": "CS-02",
                    "requirement": "投诉24小时内回复",
                    "max_points": 10,
                    "critical": True,
                },
            ],
        },
        {
            "code": "SEC",
            "name": "安全管理",
            "items": [
                {
                    "code": "SEC-01",
                    "requirement": "夜间巡逻记录完整",
                    "max_points": 10,
                    "critical": False,
                },
                {
                    "code": "SEC-02",
                    "requirement": "消防通道畅通",
                    "max_points": 10,
                    "critical": False,
                },
            ],
        },
    ],
}
QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
PM = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


class Inspections:
    """Runs inspections over HTTP at chosen times."""

    def __init__(self, api: Any, clock: Any) -> None:
        self.api, self.clock = api, clock
        self.position = 0
        t = self.post("/checklist-templates", TEMPLATE, who=QM)
        self.post(f"/checklist-templates/{t['id']}/publish", who=QM)
        self.template = t["number"]

    def post(self, path: str, body: Any = None, who: dict[str, Any] = QM) -> dict[str, Any]:
        r = self.api.post(path, body or {}, **who)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"] or 0)
        return r.json()

    def run(
        self,
        project: str,
        kind: str,
        planned: str,
        scores: dict[str, tuple[float | None, str]],
        submit_at: datetime | None,
    ) -> str:
        who = {**PM, "projects": (project,)} if kind == "self_check" else QM
        ref = self.post(
            "/inspections",
            {
                "project": project,
                "kind": kind,
                "template_id": self.template,
                "planned_for": planned,
                "inspectors": ["王主管"],
            },
            who=who,
        )["number"]
        if submit_at is None:
            return ref
        self.post(f"/inspections/{ref}/start", who=who)
        for item, (points, result) in scores.items():
            body: dict[str, Any] = {"item": item, "points": points, "result": result}
            if result == "fail":
                body["finding"] = "不符合要求"
            self.post(f"/inspections/{ref}/scores", body, who=who)
        self.clock.now = submit_at
        self.post(f"/inspections/{ref}/submit", who=who)
        return ref


ALL_PASS = {
    "CS-01": (10, "pass"),
    "CS-02": (10, "pass"),
    "SEC-01": (10, "pass"),
    "SEC-02": (10, "pass"),
}


@pytest.fixture
def march(api: Any, clock: Any) -> Inspections:
    """Six inspections planned in March/April 2026 (the second Monday of March 2026 is the 9th)."""
    clock.now = utc(2026, 3, 1, 1, 0)
    api.setup_org()
    ins = Inspections(api, clock)
    # I1 P1 regional monthly: 10 + 4 (fail) + 10 + 10 = 34 / 40 = 85 → C.
    ins.run(
        "P1",
        "regional_monthly",
        "2026-03-10",
        {**ALL_PASS, "CS-02": (4, "fail")},
        utc(2026, 3, 10, 3, 0),
    )
    # I2 P2 regional monthly: 39 / 40 = 97.5 → A.
    ins.run(
        "P2",
        "regional_monthly",
        "2026-03-12",
        {**ALL_PASS, "SEC-02": (9, "pass")},
        utc(2026, 3, 12, 3, 0),
    )
    # I3 P1 self-check submitted 23:30 Shanghai on Monday 9 March (on time): CS-02 not applicable,
    # 10 + 9 + 5 (fail) = 24 / 30 = 80 → C; the appeal raises SEC-02 to 8 (still failed): 27 / 30 = 90 → B.
    i3 = ins.run(
        "P1",
        "self_check",
        "2026-03-05",
        {
            "CS-01": (10, "pass"),
            "CS-02": (None, "na"),
            "SEC-01": (9, "pass"),
            "SEC-02": (5, "fail"),
        },
        utc(2026, 3, 9, 15, 30),
    )
    ins.post(
        f"/inspections/{i3}/appeal",
        {"items": ["SEC-02"], "reason": "杂物系临时卸货"},
        who={**PM, "projects": ("P1",)},
    )
    ins.post(
        f"/inspections/{i3}/appeal-decision",
        {"accepted": True, "adjustments": [{"item": "SEC-02", "points": 8}], "reason": "部分采纳"},
    )
    # I4 P2 self-check submitted 00:30 Shanghai on Tuesday 10 March: late. 40 / 40 = 100 → A.
    ins.run("P2", "self_check", "2026-03-05", ALL_PASS, utc(2026, 3, 9, 16, 30))
    # I5 P1 night check, cancelled.
    i5 = ins.run("P1", "night_check", "2026-03-20", {}, None)
    ins.post(f"/inspections/{i5}/cancel", {"reason": "停电改期"})
    # I6 P1 regional monthly planned in April, not done yet.
    ins.run("P1", "regional_monthly", "2026-04-02", {}, None)
    clock.now = utc(2026, 4, 3, 0, 0)
    api.container.run_projections_once()  # caught up now, however busy the machine
    return ins


def kpis(api: Any, ins: Inspections, **params: Any) -> list[dict[str, Any]]:
    r = api.get(
        "/kpis/inspections", role="reporting", params={"min_position": ins.position, **params}
    )
    assert r.status_code == 200, r.text
    return r.json()["rows"]


MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_scores_ranking_grades_and_done_vs_planned_per_project_and_month(
    api: Any, march: Inspections
) -> None:
    by = {(r["project"], r["month"]): r for r in kpis(api, march, group_by="project,month")}
    assert set(by) == {("P1", "2026-03"), ("P2", "2026-03"), ("P1", "2026-04")}
    p1, p2 = by[("P1", "2026-03")], by[("P2", "2026-03")]
    # P1: I1, I3, I5 planned; I1 and I3 done; I5 cancelled.
    assert (p1["planned"], p1["done"], p1["cancelled"], p1["done_pct"]) == (3, 2, 1, 66.67)
    # Scores 85 and 90 (after the appeal): mean and median 87.5.
    assert (p1["score_avg"], p1["score_median"], p1["score_min"], p1["score_max"]) == (
        87.5,
        87.5,
        85.0,
        90.0,
    )
    # 85 + 90; pay adjustments 0 % (C) and +5 % (B).
    assert (p1["score_sum"], p1["pay_adjustment_sum"], p1["pay_adjustment_avg"]) == (
        175.0,
        5.0,
        2.5,
    )
    assert (p1["grade_b"], p1["grade_c"], p1["grade_a"]) == (1, 1, 0)
    assert (p1["appealed"], p1["appeals_accepted"], p1["nonconformances_raised"]) == (1, 1, 2)
    # P2: 97.5 and 100 → 98.75, ranked first in March; P1 second.
    assert (p2["planned"], p2["done"], p2["done_pct"], p2["score_avg"], p2["grade_a"]) == (
        2,
        2,
        100.0,
        98.75,
        2,
    )
    assert (p2["score_rank"], p1["score_rank"]) == (1, 2)
    # Self-checks: P1's submitted 23:30 local on the 9th (on time); P2's 00:30 local on the 10th (late).
    assert (p1["self_checks"], p1["self_checks_on_time"], p1["self_checks_on_time_pct"]) == (
        1,
        1,
        100.0,
    )
    assert (p2["self_checks"], p2["self_checks_on_time"], p2["self_checks_on_time_pct"]) == (
        1,
        0,
        0.0,
    )
    april = by[("P1", "2026-04")]
    assert (april["planned"], april["done"], april["score_avg"], april["score_rank"]) == (
        1,
        0,
        None,
        None,
    )
    # The quarter for the company: 6 planned, 4 done.
    (q1,) = kpis(api, march, group_by="quarter", **{"to": "2026-03-31"})
    assert (q1["quarter"], q1["planned"], q1["done"], q1["done_pct"]) == ("2026-Q1", 5, 4, 80.0)


def test_most_failed_items_and_sections_and_the_grade_distribution(
    api: Any, march: Inspections
) -> None:
    items = {r["item"]: r for r in kpis(api, march, group_by="item", **MARCH)}
    # CS-02 failed once of three applicable scorings (I3 had it not applicable); SEC-02 once of four.
    assert {
        k: (r["items_scored"], r["items_failed"], r["item_fail_rate_pct"], r["fail_rank"])
        for k, r in items.items()
    } == {
        "CS-01": (4, 0, 0.0, 3),
        "CS-02": (3, 1, 33.33, 1),
        "SEC-01": (4, 0, 0.0, 3),
        "SEC-02": (4, 1, 25.0, 1),
    }
    sections = {
        r["section"]: (r["items_scored"], r["items_failed"], r["item_fail_rate_pct"])
        for r in kpis(api, march, group_by="section", **MARCH)
    }
    assert sections == {"CS": (7, 1, 14.29), "SEC": (8, 1, 12.5)}
    grades = {r["grade"]: r["planned"] for r in kpis(api, march, group_by="grade", **MARCH)}
    assert grades == {"A": 2, "B": 1, "C": 1, "none": 1}
    # Filters on the kind's own dimensions; a dimension no figure combines is named.
    (own,) = kpis(api, march, group_by="kind", kind="self_check", **MARCH)
    assert (own["kind"], own["planned"], own["score_avg"]) == ("self_check", 2, 95.0)
    r = api.get("/kpis/inspections", role="reporting", params={"group_by": "grade,item"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "group_by"


def test_a_project_manager_sees_only_the_projects_in_scope(api: Any, march: Inspections) -> None:
    r = api.get(
        "/kpis/inspections",
        role="project_manager",
        projects=("P1",),
        params={"group_by": "project", "min_position": march.position, **MARCH},
    )
    assert [row["project"] for row in r.json()["rows"]] == ["P1"]


def test_http_and_reporting_sql_figures_agree(api: Any, march: Inspections) -> None:
    http = kpis(api, march, group_by="project,region,month")
    with psycopg.connect(api.container.url) as conn:
        conn.execute("SET ROLE qualtrace_reporting")
        sql_rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT * FROM reporting.inspection_kpis_project_month ORDER BY project, region, month"
            )
            .fetchall()
        )
        items = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT * FROM reporting.inspection_failed_items_month ORDER BY project, region, section, item, month"
            )
            .fetchall()
        )
    assert [{k: _plain(v) for k, v in r.items()} for r in sql_rows] == http
    assert [{k: _plain(v) for k, v in r.items()} for r in items] == kpis(
        api, march, group_by="project,region,section,item,month"
    )


def _plain(v: Any) -> Any:
    from decimal import Decimal

    return float(v) if isinstance(v, Decimal) else v
