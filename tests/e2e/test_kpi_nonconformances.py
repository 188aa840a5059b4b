"""Nonconformance KPIs computed by hand from a known month of rectifications, over HTTP and in SQL."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
PM = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


class Desk:
    """Drives nonconformances over HTTP at exact times."""

    def __init__(self, api: Any, clock: Any) -> None:
        self.api, self.clock = api, clock
        self.position = 0

    def at(self, when: datetime) -> Desk:
        self.clock.now = when
        return self

    def post(self, path: str, body: Any = None, who: dict[str, Any] = QM) -> dict[str, Any]:
        r = self.api.post(path, body or {}, **who)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"] or 0)
        return r.json()

    def raise_(
        self, when: datetime, project: str, source: dict[str, Any], severity: str, **extra: Any
    ) -> str:
        body = {
            "project": project,
            "source": source,
            "severity": severity,
            "description": "不符合",
            **extra,
        }
        return self.at(when).post("/nonconformances", body)["number"]

    def notice(self, when: datetime, nc: str, department: str, due: str | None = None) -> None:
        body = {"responsible_department": department, "responsible_person": "王工", "due_date": due}
        self.at(when).post(f"/nonconformances/{nc}/notice", {k: v for k, v in body.items() if v})

    def rectify(self, when: datetime, nc: str) -> None:
        self.at(when).post(f"/nonconformances/{nc}/root-cause", {"analysis": "培训不足"}, who=PM)
        self.post(
            f"/nonconformances/{nc}/plan",
            {"corrective_actions": ["整改"], "preventive_actions": ["培训"]},
            who=PM,
        )
        self.post(f"/nonconformances/{nc}/plan-decision", {"approved": True})
        self.post(f"/nonconformances/{nc}/rectified", {"summary": "已整改"}, who=PM)

    def verify(self, when: datetime, nc: str, effective: bool) -> None:
        self.at(when).post(f"/nonconformances/{nc}/verification", {"effective": effective})

    def failed_inspection(self, when: datetime) -> None:
        """A regional inspection of P1 whose one critical item fails: it raises a major NC."""
        self.at(when)
        if not hasattr(self, "template"):
            t = self.post(
                "/checklist-templates",
                {
                    "name": "检查表",
                    "sections": [
                        {
                            "code": "CS",
                            "name": "客户服务",
                            "items": [
                                {
                                    "code": "CS-02",
                                    "requirement": "投诉24小时内回复",
                                    "max_points": 10,
                                    "critical": True,
                                }
                            ],
                        }
                    ],
                },
            )
            self.post(f"/checklist-templates/{t['id']}/publish")
            self.template = t["number"]
        ref = self.post(
            "/inspections",
            {
                "project": "P1",
                "kind": "regional_monthly",
                "template_id": self.template,
                "planned_for": when.date().isoformat(),
                "inspectors": ["王"],
            },
        )["number"]
        self.post(f"/inspections/{ref}/start")
        self.post(
            f"/inspections/{ref}/scores",
            {"item": "CS-02", "points": 2, "result": "fail", "finding": "超时"},
        )
        self.post(f"/inspections/{ref}/submit")

    def watch(self, when: datetime) -> None:
        """The deadline watcher passes at `when` (after the read side caught up)."""
        self.at(when)
        self.api.container.run_projections_once()
        self.api.container.deadline_watcher.run_once()
        self.position = max(self.position, self.api.container.source.head())


AUDIT = {"type": "audit", "ref": "ISO-2026-1"}
SELF = {"type": "self_report"}


@pytest.fixture
def march(api: Any, clock: Any) -> Desk:
    clock.now = utc(2026, 3, 1, 0, 0)
    clock.auto_tick = clock.auto_tick * 0
    api.setup_org()
    d = Desk(api, clock)
    # N1 P1 audit, major: rectified and verified effective 4 days after it was raised: on time.
    n1 = d.raise_(utc(2026, 3, 2, 2, 0), "P1", AUDIT, "major")
    d.notice(utc(2026, 3, 2, 3, 0), n1, "engineering")
    d.rectify(utc(2026, 3, 5, 2, 0), n1)
    d.verify(utc(2026, 3, 6, 2, 0), n1, True)
    # N2 P1 self-report, minor: due 5 March, overdue when the watcher passes on the 6th,
    # rectified late, re-inspection not effective (second notice), closed after 10 days.
    n2 = d.raise_(utc(2026, 3, 2, 2, 0), "P1", SELF, "minor")
    d.notice(utc(2026, 3, 2, 3, 0), n2, "cleaning", "2026-03-05")
    d.watch(utc(2026, 3, 6, 1, 0))
    d.rectify(utc(2026, 3, 7, 1, 0), n2)
    d.verify(utc(2026, 3, 8, 1, 0), n2, False)
    d.rectify(utc(2026, 3, 10, 1, 0), n2)
    d.verify(utc(2026, 3, 12, 2, 0), n2, True)
    # N3 P2 audit, critical: due 10 March, never rectified: overdue from then on.
    n3 = d.raise_(utc(2026, 3, 3, 1, 0), "P2", AUDIT, "critical")
    d.notice(utc(2026, 3, 3, 2, 0), n3, "security", "2026-03-10")
    d.watch(utc(2026, 3, 11, 1, 0))
    # N4 P1 self-report, cancelled the next day.
    n4 = d.raise_(utc(2026, 3, 4, 1, 0), "P1", SELF, "minor", department="customer_service")
    d.at(utc(2026, 3, 5, 1, 0)).post(f"/nonconformances/{n4}/cancel", {"reason": "重复登记"})
    # N5, N6 P1 raised by inspections failing the same critical item 10 days apart: N6 is a recurrence.
    d.failed_inspection(utc(2026, 3, 10, 1, 0))
    d.failed_inspection(utc(2026, 3, 20, 1, 0))
    # N7 P1 raised on 1 April 08:30 Shanghai (00:30 UTC): April.
    d.raise_(utc(2026, 4, 1, 0, 30), "P1", AUDIT, "minor")
    d.at(utc(2026, 4, 2, 0, 0))
    api.container.run_projections_once()  # caught up now, however busy the machine
    return d


def kpis(api: Any, d: Desk, **params: Any) -> list[dict[str, Any]]:
    r = api.get(
        "/kpis/nonconformances", role="reporting", params={"min_position": d.position, **params}
    )
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_nonconformance_kpis_per_project_and_month_match_the_hand_computed_figures(
    api: Any, march: Desk
) -> None:
    by = {(r["project"], r["month"]): r for r in kpis(api, march, group_by="project,month")}
    assert set(by) == {("P1", "2026-03"), ("P2", "2026-03"), ("P1", "2026-04"), ("P2", "2026-04")}
    p1 = by[("P1", "2026-03")]
    # Raised N1, N2, N4, N5, N6; N4 cancelled; N6 a recurrence of N5.
    assert (p1["raised"], p1["cancelled"], p1["recurrences"], p1["recurrence_rate_pct"]) == (
        5,
        1,
        1,
        20.0,
    )
    # Noticed: N1 and N2; N2 needed a second notice. N2 went overdue.
    assert (p1["re_noticed"], p1["re_notice_rate_pct"], p1["went_overdue"]) == (1, 50.0, 1)
    # Closed: N1 after 4 days (on time), N2 after 10 days (late): median 7, p90 = 4 + 0.9 × 6 = 9.4.
    assert (p1["closed"], p1["closed_on_time"], p1["closed_on_time_pct"]) == (2, 1, 50.0)
    assert (p1["days_to_close_median"], p1["days_to_close_p90"]) == (7.0, 9.4)
    # Open at the end of March: N5 and N6 (no notice yet); nothing overdue any more at P1.
    assert (p1["open"], p1["overdue"]) == (2, 0)
    p2 = by[("P2", "2026-03")]
    assert (p2["raised"], p2["open"], p2["overdue"], p2["closed"], p2["closed_on_time_pct"]) == (
        1,
        1,
        1,
        0,
        None,
    )
    assert p2["days_to_close_median"] is None
    # April: N7 raised at P1 (08:30 local on 1 April); N3 is still open and overdue at P2.
    assert (by[("P1", "2026-04")]["raised"], by[("P1", "2026-04")]["open"]) == (1, 3)
    assert (by[("P2", "2026-04")]["raised"], by[("P2", "2026-04")]["overdue"]) == (0, 1)


def test_nonconformance_kpis_by_source_severity_and_department(api: Any, march: Desk) -> None:
    by_source = {r["source"]: (r["raised"], r["open"]) for r in kpis(api, march, group_by="source")}
    assert by_source == {"audit": (3, 2), "inspection": (2, 2), "self_report": (2, 0)}
    by_severity = {r["severity"]: r["raised"] for r in kpis(api, march, group_by="severity")}
    assert by_severity == {"critical": 1, "major": 3, "minor": 3}
    by_department = {
        r["department"]: (r["raised"], r["closed"], r["overdue"])
        for r in kpis(api, march, group_by="department")
    }
    assert by_department == {
        "cleaning": (1, 1, 0),
        "customer_service": (1, 0, 0),
        "engineering": (1, 1, 0),
        "none": (3, 0, 0),
        "security": (1, 0, 1),
    }
    (critical,) = kpis(api, march, severity="critical")
    assert (critical["raised"], critical["overdue"]) == (1, 1)


def test_http_and_reporting_sql_figures_agree(api: Any, march: Desk) -> None:
    http = kpis(api, march, group_by="project,region,source,severity,month")
    with psycopg.connect(api.container.url) as conn:
        conn.execute("SET ROLE qualtrace_reporting")
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT * FROM reporting.nonconformance_kpis_project_source_month"
                " ORDER BY project, region, source, severity, month"
            )
            .fetchall()
        )
    plain = [{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows]
    # The SQL view is as of now (stock figures continue month by month); HTTP as of the
    # test clock on 2 April: the same rows up to April.
    assert [r for r in plain if r["month"] <= "2026-04"] == http
