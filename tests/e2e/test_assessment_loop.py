"""Seed 003's loop for one month, two projects, over HTTP (issue #15): plans schedule the
inspections, inspections are submitted, one nonconformance's re-check fails (a new notice
and a 5-point deduction at the first failure), a self-check is missed (the deadline
watcher records it once), the quality manager closes the month, the general manager
approves, it is published, appealed once (a second appeal is refused) and decided. The
published score, grade and pay adjustment equal the hand computation below, and the same
month computed again from the events, and the read model rebuilt, give the same answer.

Hand computation (policy defaults: the city company's monthly check counts, weight 1;
5 points per failed re-check, 5 per missed self-check; seed 003's bands):
- P1: monthly check 45 + 30 + 10 of 100 = 85.00; failed re-check −5 → 80.00: grade C
  (80 ≤ s < 90), pay 0%. The self-check (on time) does not count towards the score.
- P2: monthly check 50 + 28 + 20 of 100 = 98.00; missed self-check −5 → 93.00: grade B
  (90 ≤ s < 95), pay +5%.
"""

from __future__ import annotations

from typing import Any

from application.deadlines import DeadlineWatcher
from domain.assessment_policy import compute_month
from tests.pdftext import squeezed

QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
GM = {"role": "general_manager", "user": "wang.gm", "name": "Wang Zong"}
INSPECTOR = {"role": "inspector", "user": "chen.jie", "name": "Chen Jie"}
PM1 = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang", "projects": ("P1",)}
STAFF1 = {"role": "staff", "user": "li.na", "name": "Li Na", "projects": ("P1",)}
AUDITOR = {"role": "auditor", "user": "audit-1", "name": "Sun Li"}

TEMPLATE = {
    "name": "品质检查考核表",
    "sections": [
        {
            "code": "ENV",
            "name": "环境",
            "items": [
                {
                    "code": "A-01",
                    "requirement": "公共区域清洁",
                    "max_points": 50,
                    "critical": False,
                },
                {"code": "A-02", "requirement": "绿化养护", "max_points": 30, "critical": False},
                {"code": "A-03", "requirement": "消防通道畅通", "max_points": 20, "critical": True},
            ],
        }
    ],
}


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def plan(api: Any, template: str, kind: str, recurrence: dict[str, Any], **scope: Any) -> Any:
    body = {
        "name": f"2026年3月 {kind}",
        "kind": kind,
        "recurrence": recurrence,
        "start_month": "2026-03",
        "months": 1,
        "template_id": template,
        "inspectors": ["Chen Jie"],
        **scope,
    }
    return api.post("/inspection-plans", body, **QM)


def run(api: Any, number: str, who: dict[str, Any], points: dict[str, int]) -> dict[str, Any]:
    ok(api.post(f"/inspections/{number}/start", **who))
    for item, p in points.items():
        result = "fail" if item == "A-03" and p < 20 else "pass"  # the fire exit fails
        ok(
            api.post(
                f"/inspections/{number}/scores",
                {"item": item, "points": p, "result": result, "finding": "现场检查"},
                **who,
            )
        )
    return ok(api.post(f"/inspections/{number}/submit", **who))


def test_a_month_of_two_projects_gives_the_hand_computed_assessments(
    api: Any, clock: Any, container: Any
) -> None:
    api.setup_org()  # region SH with P1 and P2; the clock is Monday 2026-03-02 09:00 local
    t = ok(api.post("/checklist-templates", TEMPLATE, **QM), 201)
    ok(api.post(f"/checklist-templates/{t['id']}/publish", **QM))

    # A plan that cannot be satisfied is refused and records nothing.
    head = container.app.recorder.max_notification_id()
    bad = plan(
        api, t["number"], "regional_monthly", {"type": "monthly", "by_day": 31}, projects=["P1"]
    )
    assert bad.status_code == 422 and "recurrence.by_day" in bad.text, bad.text
    assert container.app.recorder.max_notification_id() == head

    # The city company's monthly check by the 25th, and the self-check by the second Monday.
    monthly = ok(
        plan(
            api,
            t["number"],
            "regional_monthly",
            {"type": "monthly", "by_day": 25},
            projects=["P1", "P2"],
        ),
        201,
    )
    selfc = ok(plan(api, t["number"], "self_check", {"type": "second_monday"}, region="SH"), 201)
    assert len(monthly["inspections"]) == 2 and len(selfc["inspections"]) == 2
    m1, m2 = monthly["inspections"]  # P1's, P2's
    s1, s2 = selfc["inspections"]
    ins = ok(api.get(f"/inspections/{s2}", params={"min_position": selfc["position"]}, **AUDITOR))
    assert ins["planned_for"] == "2026-03-09" and ins["status"] == "scheduled"
    assert ins["due_at"] == "2026-03-09T15:59:59+00:00"  # 23:59:59 in Shanghai

    # P1's self-check is done on time; P2's is not.
    run(api, s1, PM1, {"A-01": 50, "A-02": 30, "A-03": 20})
    clock.advance(days=8)  # Tuesday 2026-03-10, after the second Monday
    watcher = DeadlineWatcher(container.app)
    assert watcher.run_once().inspections_missed == 1
    assert watcher.run_once().inspections_missed == 0  # exactly once
    head = container.app.recorder.max_notification_id()
    trail = ok(api.get(f"/audit/{s2}", params={"min_position": head}, **AUDITOR))["events"]
    assert [e["type"] for e in trail] == ["Scheduled", "Planned", "InspectionMissed"]
    assert trail[-1]["actor"]["id"] == "system" and trail[-1]["causation_id"].endswith(":2")

    # The monthly checks: P1 loses 10 points on the fire exit (a nonconformance), P2 2.
    r1 = run(api, m1, INSPECTOR, {"A-01": 45, "A-02": 30, "A-03": 10})
    r2 = run(api, m2, INSPECTOR, {"A-01": 50, "A-02": 28, "A-03": 20})
    assert (r1["score"], r2["score"]) == (85, 98)
    nc = r1["nonconformances"][0]["number"]

    # Rectification, and the re-check finds it not done: a new notice and a deduction.
    ok(
        api.post(
            f"/nonconformances/{nc}/notice",
            {"responsible_department": "security", "responsible_person": "Wang Qiang"},
            **QM,
        )
    )
    ok(api.post(f"/nonconformances/{nc}/root-cause", {"analysis": "巡查制度未落实"}, **PM1))
    ok(
        api.post(
            f"/nonconformances/{nc}/plan",
            {"corrective_actions": ["清理杂物"], "preventive_actions": ["每日巡查"]},
            **PM1,
        )
    )
    ok(api.post(f"/nonconformances/{nc}/plan-decision", {"approved": True}, **QM))
    ok(api.post(f"/nonconformances/{nc}/rectified", {"summary": "已清理"}, **STAFF1))
    v = ok(
        api.post(
            f"/nonconformances/{nc}/verification", {"effective": False, "notes": "仍有堆放"}, **QM
        )
    )
    events = ok(api.get(f"/audit/{nc}", params={"min_position": v["position"]}, **AUDITOR))[
        "events"
    ]
    types = [e["type"] for e in events]
    # The failed re-check is circulated company-wide (全公司通报): one circular, linked.
    circulars = ok(api.get("/circulars", params={"min_position": v["position"]}, **AUDITOR))[
        "items"
    ]
    mine = [c for c in circulars if c["nonconformance_number"] == nc]
    assert len(mine) == 1 and mine[0]["number"].startswith("TB-"), circulars
    circular_pdf = api.get(f"/circulars/{mine[0]['number']}/document.pdf", **AUDITOR)
    assert circular_pdf.status_code == 200, circular_pdf.text
    circular_text = squeezed(circular_pdf.content)
    assert "全公司通报" in circular_text and mine[0]["number"] in circular_text
    assert nc in circular_text
    assert types[-3:] == [
        "Verified",
        "NoticeIssued",
        "DeductionRecorded",
    ], types
    assert events[-1]["data"]["points"] == 5 and events[-1]["data"]["project"] == "P1"

    # The month has not ended: closing it is refused, nothing recorded.
    people = [
        {"name": "Liu Yang", "role": "project_manager"},
        {"name": "Wang Qiang", "role": "direct_manager"},
    ]
    head = container.app.recorder.max_notification_id()
    early = api.post(
        "/assessments", {"project": "P1", "period": "2026-03", "responsible": people}, **QM
    )
    assert early.status_code == 422 and "period" in early.text, early.text
    assert container.app.recorder.max_notification_id() == head

    # 1 April: the quality manager closes March for both projects.
    clock.advance(days=23)  # 2026-04-02 09:00 local
    a1 = ok(
        api.post(
            "/assessments", {"project": "P1", "period": "2026-03", "responsible": people}, **QM
        ),
        201,
    )
    a2 = ok(
        api.post(
            "/assessments",
            {
                "project": "P2",
                "period": "2026-03",
                "responsible": [{"name": "Zhao Lei", "role": "project_manager"}],
            },
            **QM,
        ),
        201,
    )
    again = api.post(
        "/assessments", {"project": "P1", "period": "2026-03", "responsible": people}, **QM
    )
    assert again.status_code == 409, again.text
    assert a1["number"].startswith("AS-2026-")

    for a in (a1, a2):
        ok(api.post(f"/assessments/{a['id']}/review", **QM))
        assert api.post(f"/assessments/{a['id']}/approve", **QM).status_code == 403
        ok(api.post(f"/assessments/{a['id']}/approve", **GM))
        ok(api.post(f"/assessments/{a['id']}/publish", **QM))

    # The hand computation.
    p1 = ok(api.get(f"/assessments/{a1['number']}", **AUDITOR))
    p2 = ok(api.get(f"/assessments/{a2['number']}", **AUDITOR))
    assert (p1["score"], p1["grade"], p1["pay_adjustment_pct"]) == (80.0, "C", 0)
    assert (p2["score"], p2["grade"], p2["pay_adjustment_pct"]) == (93.0, "B", 5)
    assert p1["status"] == p2["status"] == "published"
    assert [i["number"] for i in p1["inputs"]] == [m1] and p1["inputs"][0]["score"] == 85
    assert [(d["rule"], d["points"], d["issue"]["number"]) for d in p1["deductions"]] == [
        ("failed_recheck", 5, nc)
    ]
    assert [(d["rule"], d["issue"]["number"]) for d in p2["deductions"]] == [
        ("missed_self_check", s2)
    ]
    assert {p["name"]: p["pay_adjustment_pct"] for p in p2["pay_adjustments"]} == {"Zhao Lei": 5}
    for i in p1["inputs"] + p1["deductions"]:
        assert i["position"] > 0 and i["version"] >= 1
    # The printed assessment sheets carry the same figures (read back with pdftotext).
    for view, figures in ((p1, ("80", "C", "0%")), (p2, ("93", "B", "+5%"))):
        sheet = api.get(f"/assessments/{view['number']}/document.pdf", **AUDITOR)
        assert sheet.status_code == 200, sheet.text
        text = squeezed(sheet.content)
        assert view["number"] in text
        for figure in figures:
            assert f"{figure}" in text, (figure, text[:400])
    # The project's monthly report prints the published assessment.
    report = api.get("/projects/P2/reports/2026-03/document.pdf", **AUDITOR)
    assert report.status_code == 200, report.text
    assert a2["number"] in squeezed(report.content)
    # The trace follows the assessment to what it was computed from, and back.
    trace = ok(api.get(f"/audit/{a1['number']}/trace", **AUDITOR))
    assert {i["number"] for i in trace["issues"]} >= {m1, nc, monthly["number"]}
    links = ok(api.get(f"/audit/{s2}/trace", **AUDITOR))["issues"]
    assert a2["number"] in {i["number"] for i in links}

    # Rebuilt from the events: the same month computed again, and the read model rebuilt.
    for view in (p1, p2):
        again_found = container.app.assessments.compute(view["project"], "2026-03")
        assert again_found["inputs"] == view["inputs"]
        assert again_found["deductions"] == view["deductions"]
        recomputed = compute_month(view["inputs"], view["deductions"], view["policy"])
        assert recomputed == view["result"]
    listed = ok(
        api.get(
            "/assessments",
            params={
                "period": "2026-03",
                "min_position": container.app.recorder.max_notification_id(),
            },
            **AUDITOR,
        )
    )
    before = sorted((r["number"], r["score"], r["grade"], r["status"]) for r in listed["items"])
    container.rebuild("assessments")
    relisted = ok(api.get("/assessments", params={"period": "2026-03"}, **AUDITOR))
    after = sorted((r["number"], r["score"], r["grade"], r["status"]) for r in relisted["items"])
    assert before == after and len(after) == 2

    # Plan KPIs for March: planned / done / missed / on time.
    kpis = ok(api.get("/kpis/inspection-plans", params={"month": "2026-03"}, **AUDITOR))["rows"]
    assert {(r["project"], r["planned"], r["done"], r["missed"], r["on_time"]) for r in kpis} == {
        ("P1", 2, 2, 0, 2),
        ("P2", 2, 1, 1, 1),
    }
    # The reporting view for BI tools gives the same figures (the same SQL).
    with container.pool.connection() as conn:
        sql_rows = conn.execute(
            "SELECT project, planned, done, missed, on_time FROM reporting.inspection_plan_kpis"
            " WHERE month = '2026-03' ORDER BY project"
        ).fetchall()
    assert [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in sql_rows] == [
        ("P1", 2, 2, 0, 2),
        ("P2", 2, 1, 1, 1),
    ]

    # Second-level appeal: the project manager appeals once; the general manager decides.
    ok(api.post(f"/assessments/{a1['id']}/appeal", {"reason": "复检时整改已在进行"}, **PM1))
    second = api.post(f"/assessments/{a1['id']}/appeal", {"reason": "再次申诉"}, **PM1)
    assert second.status_code == 409 and "appeal-decision" in second.text, second.text
    d = ok(
        api.post(
            f"/assessments/{a1['id']}/appeal-decision",
            {"accepted": True, "score": 84, "reason": "整改进度属实, 酌情加分"},
            **GM,
        )
    )
    assert (d["score"], d["grade"], d["status"]) == (84, "C", "appeal_decided")
    final = api.post(f"/assessments/{a1['id']}/appeal", {"reason": "三次申诉"}, **PM1)
    assert final.status_code == 409, final.text
