"""The quality department's whole loop as one scenario over HTTP (DOMAIN.md §2, §3).

A monthly self-check with two failed items raises two nonconformances. An appeal
raises the score and the grade. One nonconformance is rectified and verified by a
re-inspection. The other fails its re-inspection: a new notice (count + 1), one
escalation level up, a 5-point deduction (DeductionRecorded); it asks for an extension before the due date,
lets the extended date pass (the deadline watcher, on the injectable clock, records
`Overdue` once), is rectified late and then closes. Every step appears, attributed and
in order, in `GET /audit/{id}` of each issue it touched, and the details show the links
both ways. Also here: recurrence within 90 days, and the disposition of a product
nonconformity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from application.deadlines import DeadlineWatcher

PM = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang", "projects": ("P1",)}
QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
INSPECTOR = {"role": "inspector", "user": "chen.jie", "name": "Chen Jie"}
AUDITOR = {"role": "auditor", "user": "audit-1", "name": "Sun Li"}

TEMPLATE = {
    "name": "项目月度品质自检表",
    "sections": [
        {
            "code": "CS",
            "name": "客户服务",
            "items": [
                {
                    "code": "CS-01",
                    "requirement": "前台接待礼貌, 仪容仪表规范",
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
        {
            "code": "ENG",
            "name": "工程维修",
            "items": [
                {
                    "code": "ENG-01",
                    "requirement": "设备房巡检记录齐全",
                    "max_points": 20,
                    "critical": False,
                },
            ],
        },
        {
            "code": "LS",
            "name": "绿化",
            "items": [
                {
                    "code": "LS-01",
                    "requirement": "水景清洁 (有水景的项目)",
                    "max_points": 10,
                    "critical": False,
                },
            ],
        },
    ],
}


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def history(api: Any, ref: str, position: int) -> list[dict[str, Any]]:
    return ok(api.get(f"/audit/{ref}", params={"min_position": position}, **AUDITOR))["events"]


def steps(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["actor"]["name"]) for e in events]


def assert_in_order(events: list[dict[str, Any]]) -> None:
    """Versions 1..n without a gap, store positions and times never going back, every
    event attributed to an authenticated principal (or the system) with a correlation id."""
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times) and all(t.utcoffset() is not None for t in times)
    assert all(e["actor"]["id"] and e["actor"]["role"] and e["correlation_id"] for e in events)


def published_template(api: Any) -> dict[str, Any]:
    t = ok(api.post("/checklist-templates", TEMPLATE, **QM), 201)
    assert ok(api.post(f"/checklist-templates/{t['id']}/publish", **QM))["template_version"] == 1
    return t


def run_inspection(
    api: Any,
    template: dict[str, Any],
    who: dict[str, Any],
    kind: str,
    planned: str,
    scores: list[dict[str, Any]],
    project: str = "P1",
    **extra: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    ins = ok(
        api.post(
            "/inspections",
            {
                "project": project,
                "kind": kind,
                "template_id": template["number"],
                "planned_for": planned,
                "inspectors": [who["name"]],
                **extra,
            },
            **who,
        ),
        201,
    )
    ok(api.post(f"/inspections/{ins['number']}/start", **who))
    for s in scores:
        ok(api.post(f"/inspections/{ins['number']}/scores", s, **who))
    return ins, ok(api.post(f"/inspections/{ins['number']}/submit", **who))


def corrective_cycle(api: Any, ref: str, cause: str, action: str) -> None:
    ok(api.post(f"/nonconformances/{ref}/root-cause", {"analysis": cause}, **PM))
    ok(
        api.post(
            f"/nonconformances/{ref}/plan",
            {"corrective_actions": [action], "preventive_actions": ["纳入每周例检"]},
            **PM,
        )
    )
    ok(api.post(f"/nonconformances/{ref}/plan-decision", {"approved": True}, **QM))


SELF_CHECK_SCORES = [
    {"item": "CS-01", "points": 8, "result": "pass"},
    {
        "item": "CS-02",
        "points": 6,
        "result": "fail",
        "finding": "3月1日投诉超48小时未回复",
        "evidence": ["cs02.jpg"],
    },
    {"item": "SEC-01", "points": 9, "result": "pass"},
    {
        "item": "SEC-02",
        "points": 7,
        "result": "fail",
        "finding": "B1消防通道堆放纸箱",
        "evidence": ["sec02.jpg"],
    },
    {"item": "ENG-01", "points": 16, "result": "pass"},
    {"item": "LS-01", "points": None, "result": "na", "finding": "本项目无水景"},
    # A rescore, with its reason; the old score stays in the item's history.
    {"item": "SEC-01", "points": 10, "result": "pass", "reason": "巡逻记录补充页已找到"},
]


def test_the_quality_loop_from_self_check_to_closed_nonconformances_is_traceable_step_by_step(
    api: Any, clock: Any
) -> None:
    api.setup_org()
    template = published_template(api)

    # -- 1. The self-check: two items fail, two nonconformances are raised with it. -------
    ins, sub = run_inspection(api, template, PM, "self_check", "2026-03-02", SELF_CHECK_SCORES)
    # (8 + 6 + 10 + 7 + 16) / 60 applicable (LS-01 is not applicable) = 78.33 → D, −5%.
    assert (sub["status"], sub["score"], sub["grade"], sub["pay_adjustment_pct"]) == (
        "submitted",
        78.33,
        "D",
        -5,
    )
    raised = {nc["item"]: nc for nc in sub["nonconformances"]}
    assert sorted(raised) == ["CS-02", "SEC-02"]
    a, b = raised["CS-02"]["number"], raised["SEC-02"]["number"]
    nc_a = ok(api.get(f"/nonconformances/{a}", params={"min_position": sub["position"]}, **QM))
    nc_b = ok(api.get(f"/nonconformances/{b}", **QM))
    assert (nc_a["severity"], nc_a["status"], nc_a["source"]["item"]) == (
        "major",
        "raised",
        "CS-02",
    )  # critical item
    assert (nc_b["severity"], nc_b["status"], nc_b["source"]["item"]) == (
        "minor",
        "raised",
        "SEC-02",
    )
    listed = ok(
        api.get("/nonconformances", params={"project": "P1", "source": "inspection"}, **QM)
    )["items"]
    assert sorted(row["number"] for row in listed) == sorted([a, b])

    # -- 2. The project manager appeals two scores; accepted: 53 / 60 = 88.33 → C, 0. ------
    ok(
        api.post(
            f"/inspections/{ins['number']}/appeal",
            {"items": ["CS-01", "ENG-01"], "reason": "巡检记录在工程部另册, 仪容检查时员工在岗"},
            **PM,
        )
    )
    decided = ok(
        api.post(
            f"/inspections/{ins['number']}/appeal-decision",
            {
                "accepted": True,
                "reason": "另册记录核实",
                "adjustments": [{"item": "CS-01", "points": 10}, {"item": "ENG-01", "points": 20}],
            },
            **QM,
        )
    )
    assert (decided["score"], decided["grade"], decided["pay_adjustment_pct"]) == (88.33, "C", 0)
    final = ok(api.post(f"/inspections/{ins['number']}/finalize", **QM))
    assert (final["status"], final["score"], final["grade"]) == ("finalized", 88.33, "C")

    # -- 3. Nonconformance A: noticed, analysed, planned, approved, rectified, verified. -----
    ok(
        api.post(
            f"/nonconformances/{a}/notice",
            {"responsible_department": "customer_service", "responsible_person": "Wang Fang"},
            **QM,
        )
    )
    corrective_cycle(api, a, "投诉登记后未分派跟进人", "建立投诉24小时回复台账")
    ok(
        api.post(
            f"/nonconformances/{a}/rectified",
            {"summary": "台账已建立并补回复", "evidence": ["ledger.pdf"]},
            **PM,
        )
    )
    reinspection = ok(
        api.post(
            "/inspections",
            {
                "project": "P1",
                "kind": "cross_check",
                "template_id": template["number"],
                "planned_for": "2026-03-04",
                "inspectors": ["Chen Jie"],
                "reinspection_of": a,
            },
            **INSPECTOR,
        ),
        201,
    )
    r = ok(
        api.post(
            f"/nonconformances/{a}/verification",
            {"effective": True, "notes": "复检: 台账完整", "inspection": reinspection["number"]},
            **INSPECTOR,
        )
    )
    assert r["status"] == "closed"

    # -- 4. Nonconformance B: the re-inspection finds it not fixed. ---------------------------
    ok(
        api.post(
            f"/nonconformances/{b}/notice",
            {"responsible_department": "security", "responsible_person": "Wang Qiang"},
            **QM,
        )
    )
    corrective_cycle(api, b, "保洁外包未按时清运", "当日清运纸箱")
    ok(api.post(f"/nonconformances/{b}/rectified", {"summary": "纸箱已清运"}, **PM))
    clock.advance(days=2)
    r = ok(
        api.post(
            f"/nonconformances/{b}/verification",
            {"effective": False, "notes": "复检: 又有新纸箱堆放"},
            **QM,
        )
    )
    d = ok(api.get(f"/nonconformances/{b}", params={"min_position": r["position"]}, **QM))
    assert (d["status"], d["notice_count"], d["escalation_level"], d["deduction"]) == (
        "noticed",
        2,
        "region",
        True,
    )
    # Asked for more time before the (new) due date, with the reason and remedial measures.
    clock.advance(days=1)
    ok(
        api.post(
            f"/nonconformances/{b}/extension",
            {
                "new_due_date": "2026-03-20",
                "reason": "需与物业公司重签清运合同",
                "remedial_measures": "每日两次人工巡查并设置临时警示",
            },
            **PM,
        )
    )
    r = ok(
        api.post(
            f"/nonconformances/{b}/extension-decision",
            {"approved": True, "reason": "同意延期"},
            **QM,
        )
    )
    d = ok(api.get(f"/nonconformances/{b}", params={"min_position": r["position"]}, **QM))
    assert (
        d["due_date"] == "2026-03-20T15:59:59+00:00"
        and d["extensions"] == 1
        and d["overdue"] is False
    )

    # -- 5. The extended due date passes: the deadline watcher records it once. --------------
    clock.advance(days=16)  # 2026-03-21, past the end of 2026-03-20 in Shanghai
    watcher = api.container.deadline_watcher
    assert watcher.run_once().overdue == 1
    assert watcher.run_once().overdue == 0
    assert DeadlineWatcher(api.container.app).run_once().overdue == 0  # a restarted watcher too
    head = api.container.app.recorder.max_notification_id()
    overdue_rows = ok(
        api.get("/nonconformances", params={"overdue": "true", "min_position": head}, **QM)
    )["items"]
    assert [row["number"] for row in overdue_rows] == [b]
    # Too late to ask for more time now.
    r = api.post(
        f"/nonconformances/{b}/extension",
        {"new_due_date": "2026-03-30", "reason": "再延期", "remedial_measures": "无"},
        **PM,
    )
    assert r.status_code == 409 and "before the due date" in r.json()["detail"]
    # The second cycle, rectified late, verified effective: closed, not on time.
    corrective_cycle(api, b, "清运合同未覆盖周末", "合同增加周末清运")
    ok(
        api.post(
            f"/nonconformances/{b}/rectified",
            {"summary": "周末清运已落实", "evidence": ["contract.pdf"]},
            **PM,
        )
    )
    last = ok(
        api.post(
            f"/nonconformances/{b}/verification",
            {"effective": True, "notes": "复检通过"},
            **INSPECTOR,
        )
    )
    assert last["status"] == "closed"
    position = last["position"]

    # -- 6. The audit history of every issue the loop touched: each step, attributed, in order.
    events = history(api, ins["number"], position)
    assert steps(events) == [
        ("Scheduled", "Liu Yang"),
        ("Started", "Liu Yang"),
        *[("ItemScored", "Liu Yang")] * 6,
        ("ItemRescored", "Liu Yang"),
        ("Submitted", "Liu Yang"),
        ("Appealed", "Liu Yang"),
        ("AppealDecided", "Zhou Min"),
        ("Finalized", "Zhou Min"),
    ]
    assert_in_order(events)
    submitted = events[9]
    assert submitted["data"]["grading_policy"][0] == {
        "min_score": 95,
        "grade": "A",
        "pay_adjustment_pct": 10,
    }
    assert (
        events[8]["reason"] == "巡逻记录补充页已找到"
        and events[8]["data"]["previous"]["points"] == 9
    )
    assert events[11]["reason"] == "另册记录核实" and events[11]["data"]["previous"]["grade"] == "D"

    events_a = history(api, a, position)
    assert steps(events_a) == [
        ("Raised", "Liu Yang"),
        ("NoticeIssued", "Zhou Min"),
        ("RootCauseAnalysed", "Liu Yang"),
        ("PlanSubmitted", "Liu Yang"),
        ("PlanApproved", "Zhou Min"),
        ("RectificationReported", "Liu Yang"),
        ("Verified", "Chen Jie"),
        ("Closed", "Chen Jie"),
    ]
    assert_in_order(events_a)

    events_b = history(api, b, position)
    assert steps(events_b) == [
        ("Raised", "Liu Yang"),
        ("NoticeIssued", "Zhou Min"),
        ("RootCauseAnalysed", "Liu Yang"),
        ("PlanSubmitted", "Liu Yang"),
        ("PlanApproved", "Zhou Min"),
        ("RectificationReported", "Liu Yang"),
        ("Verified", "Zhou Min"),
        ("NoticeIssued", "Zhou Min"),
        ("DeductionRecorded", "Zhou Min"),  # at the first failure (seed 003)
        ("ExtensionRequested", "Liu Yang"),
        ("ExtensionApproved", "Zhou Min"),
        ("Overdue", "Qualtrace"),
        ("RootCauseAnalysed", "Liu Yang"),
        ("PlanSubmitted", "Liu Yang"),
        ("PlanApproved", "Zhou Min"),
        ("RectificationReported", "Liu Yang"),
        ("Verified", "Chen Jie"),
        ("Closed", "Chen Jie"),
    ]
    assert_in_order(events_b)
    renotice, verified = events_b[7], events_b[6]
    assert renotice["causation_id"] == f"{nc_b['id']}:{verified['version']}" and renotice["reason"]
    assert (
        renotice["data"]["notice_no"],
        renotice["data"]["escalation_level"],
        renotice["data"]["deduction"],
    ) == (2, "region", True)
    deduction = events_b[8]
    assert deduction["causation_id"] == renotice["causation_id"]
    assert (deduction["data"]["points"], deduction["data"]["rule"]) == (5, "failed_recheck")
    requested = events_b[9]
    assert requested["reason"] == "需与物业公司重签清运合同"
    assert requested["data"]["remedial_measures"] == "每日两次人工巡查并设置临时警示"
    overdue = events_b[11]
    assert overdue["actor"]["role"] == "system" and overdue["data"]["due_date"].startswith(
        "2026-03-20T15:59:59"
    )
    assert (
        overdue["causation_id"] == f"{nc_b['id']}:{events_b[10]['version']}"
    )  # the approval set that due date
    # Both nonconformances were raised by the Submitted event, in the name of its actor.
    for raised_event in (events_a[0], events_b[0]):
        assert raised_event["causation_id"] == f"{ins['id']}:{submitted['version']}"
        assert raised_event["correlation_id"] == submitted["correlation_id"]
        assert (
            raised_event["data"]["source"]["id"] == ins["id"]
            and raised_event["position"] > submitted["position"]
        )

    events_r = history(api, reinspection["number"], position)
    assert steps(events_r) == [("Scheduled", "Chen Jie")]
    assert events_r[0]["data"]["reinspection_of"]["number"] == a

    # -- 7. The details show the links both ways. -----------------------------------------
    detail = ok(
        api.get(f"/inspections/{ins['number']}", params={"min_position": position}, **AUDITOR)
    )
    assert (detail["status"], detail["score"], detail["grade"]) == ("finalized", 88.33, "C")
    assert detail["appeal"]["decision"]["previous"] == {
        "score": 78.33,
        "grade": "D",
        "pay_adjustment_pct": -5,
    }
    assert sorted((nc["item"], nc["number"]) for nc in detail["raised_nonconformances"]) == [
        ("CS-02", a),
        ("SEC-02", b),
    ]
    assert {(link["rel"], link["number"]) for link in detail["links"]} == {
        ("raised", a),
        ("raised", b),
    }
    assert detail["template_version"] == 1 and [
        it["history"][0]["points"] for it in detail["items"] if it["code"] == "SEC-01"
    ] == [9]
    detail_a = ok(api.get(f"/nonconformances/{a}", **AUDITOR))
    assert {
        "rel": "raised_from",
        "kind": "inspection",
        "id": ins["id"],
        "number": ins["number"],
    } in detail_a["links"]
    assert any(
        link["rel"] == "verified_by" and link["number"] == reinspection["number"]
        for link in detail_a["links"]
    )
    linked_a = {(link["direction"], link["number"]) for link in detail_a["linked_issues"]}
    assert {
        ("in", ins["number"]),
        ("in", reinspection["number"]),
        ("out", reinspection["number"]),
    } <= linked_a
    assert (detail_a["closed_on_time"], detail_a["allowed_steps"]) == (True, [])
    detail_b = ok(api.get(f"/nonconformances/{b}", **AUDITOR))
    assert (detail_b["status"], detail_b["closed_on_time"], detail_b["notice_count"]) == (
        "closed",
        False,
        2,
    )
    assert ("in", ins["number"]) in {
        (link["direction"], link["number"]) for link in detail_b["linked_issues"]
    }
    detail_r = ok(api.get(f"/inspections/{reinspection['number']}", **AUDITOR))
    assert any(link["rel"] == "reinspects" and link["number"] == a for link in detail_r["links"])
    # The trace from the self-check reaches both nonconformances and the re-inspection.
    trace = ok(
        api.get(f"/audit/{ins['number']}/trace", params={"min_position": position}, **AUDITOR)
    )
    traced = {issue["number"] for issue in trace["issues"]}
    # ... and the company-wide circular (全公司通报) the failed re-check raised.
    circulars = {n for n in traced if n.startswith("TB-")}
    assert len(circulars) == 1, traced
    assert traced - circulars == {a, b, reinspection["number"]}

    # -- 8. The lists filter per API.md. ---------------------------------------------------
    def numbers(path: str, **params: Any) -> list[str]:
        return sorted(row["number"] for row in ok(api.get(path, params=params, **AUDITOR))["items"])

    assert numbers(
        "/inspections", project="P1", kind="self_check", status="finalized", month="2026-03"
    ) == [ins["number"]]
    assert numbers("/inspections", kind="cross_check") == [reinspection["number"]]
    assert numbers("/inspections", month="2026-04") == []
    assert numbers("/nonconformances", status="closed", severity="major") == [a]
    assert numbers(
        "/nonconformances", project="P1", source="inspection", status="closed"
    ) == sorted([a, b])
    assert numbers("/nonconformances", overdue="true") == []  # closed, no longer open and overdue
    assert numbers("/nonconformances", source="ticket") == []


def test_the_same_item_failing_again_within_90_days_is_marked_a_recurrence_and_after_90_days_is_not(
    api: Any, clock: Any
) -> None:
    api.setup_org()
    template = published_template(api)
    scores = [
        {"item": "CS-01", "points": 10, "result": "pass"},
        {"item": "CS-02", "points": 10, "result": "pass"},
        {"item": "SEC-01", "points": 10, "result": "pass"},
        {"item": "SEC-02", "points": 3, "result": "fail", "finding": "消防通道堵塞"},
        {"item": "ENG-01", "points": 20, "result": "pass"},
        {"item": "LS-01", "points": None, "result": "na"},
    ]
    _, first = run_inspection(api, template, INSPECTOR, "regional_monthly", "2026-03-02", scores)
    [earlier] = first["nonconformances"]
    clock.advance(days=40)
    _, second = run_inspection(api, template, INSPECTOR, "regional_monthly", "2026-04-11", scores)
    [again] = second["nonconformances"]
    d = ok(
        api.get(
            f"/nonconformances/{again['number']}", params={"min_position": second["position"]}, **QM
        )
    )
    assert (
        d["recurrence_of"]["number"] == earlier["number"] and d["recurrence_of"]["item"] == "SEC-02"
    )
    assert {
        "rel": "recurrence_of",
        "kind": "nonconformance",
        "id": earlier["id"],
        "number": earlier["number"],
    } in d["links"]
    events = history(api, again["number"], second["position"])
    assert steps(events) == [("Raised", "Chen Jie"), ("RecurrenceMarked", "Qualtrace")]
    assert events[1]["causation_id"] == f"{again['id']}:1"
    linked = ok(
        api.get(
            f"/nonconformances/{earlier['number']}",
            params={"min_position": second["position"]},
            **QM,
        )
    )
    assert ("in", again["number"]) in {
        (link["direction"], link["number"]) for link in linked["linked_issues"]
    }
    # Another project's failure of the same item is not a recurrence; nor is one 91+ days later.
    _, elsewhere = run_inspection(
        api, template, INSPECTOR, "regional_monthly", "2026-04-11", scores, project="P2"
    )
    d = ok(api.get(f"/nonconformances/{elsewhere['nonconformances'][0]['number']}", **QM))
    assert d["project"] == "P2" and d["recurrence_of"] is None and d["version"] == 1
    clock.advance(days=95)
    _, third = run_inspection(api, template, INSPECTOR, "regional_monthly", "2026-07-15", scores)
    [later] = third["nonconformances"]
    d = ok(api.get(f"/nonconformances/{later['number']}", **QM))
    assert d["recurrence_of"] is None and d["version"] == 1


def test_a_product_nonconformity_gets_a_disposition_and_changing_it_needs_a_reason(
    api: Any,
) -> None:
    api.setup_org()
    nc = ok(
        api.post(
            "/nonconformances",
            {
                "project": "P1",
                "source": {"type": "audit", "ref": "来料检验-0301"},
                "severity": "major",
                "description": "新到消防水带耐压不合格",
                "department": "engineering",
            },
            **INSPECTOR,
        ),
        201,
    )
    ref = nc["number"]
    r = ok(
        api.post(
            f"/nonconformances/{ref}/disposition",
            {"disposition": "return", "notes": "退回供应商"},
            **QM,
        )
    )
    assert r["status"] == "raised"
    bad = api.post(f"/nonconformances/{ref}/disposition", {"disposition": "scrap"}, **QM)
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "reason"
    bad = api.post(
        f"/nonconformances/{ref}/disposition", {"disposition": "melt", "reason": "x"}, **QM
    )
    assert bad.status_code == 422
    r = ok(
        api.post(
            f"/nonconformances/{ref}/disposition",
            {"disposition": "scrap", "reason": "供应商已停产, 无法退货"},
            **QM,
        )
    )
    d = ok(api.get(f"/nonconformances/{ref}", params={"min_position": r["position"]}, **AUDITOR))
    assert d["disposition"] == "scrap"
    events = history(api, ref, r["position"])
    assert [(e["type"], e["data"].get("disposition"), e["reason"]) for e in events[1:]] == [
        ("DispositionDecided", "return", None),
        ("DispositionDecided", "scrap", "供应商已停产, 无法退货"),
    ]
