"""Inspections over HTTP: a self-check scored against a published checklist, failed items
raising linked nonconformances, an appeal, and every step in the audit history."""

from __future__ import annotations

from typing import Any

TEMPLATE = {
    "name": "月度品质检查表",
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
    ],
}
PM = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang", "projects": ("P1",)}
QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
INSPECTOR = {"role": "inspector", "user": "chen.jie", "name": "Chen Jie"}


def published_template(api: Any) -> dict[str, Any]:
    t = api.post("/checklist-templates", TEMPLATE, **QM)
    assert t.status_code == 201, t.text
    r = api.post(f"/checklist-templates/{t.json()['id']}/publish", **QM)
    assert r.status_code == 200 and r.json()["template_version"] == 1, r.text
    return t.json()


def schedule(
    api: Any, template: dict[str, Any], who: dict[str, Any], kind: str = "self_check", **extra: Any
) -> Any:
    body = {
        "project": "P1",
        "kind": kind,
        "template_id": template["number"],
        "planned_for": "2026-03-05",
        "inspectors": ["Liu Yang", "王主管"],
        **extra,
    }
    return api.post("/inspections", body, **who)


def test_a_self_check_with_two_failed_items_raises_two_linked_nonconformances_and_an_appeal_regrades_it(
    api: Any,
) -> None:
    api.setup_org()
    template = published_template(api)
    # The project manager schedules the monthly self-check (项目自检) on the latest version.
    r = schedule(api, template, PM)
    assert r.status_code == 201, r.text
    ins = r.json()
    assert ins["number"].startswith("INS-2026-") and ins["status"] == "scheduled"
    ref = ins["number"]
    # Items are scored on site; two fail.
    assert api.post(f"/inspections/{ref}/start", **PM).json()["status"] == "in_progress"
    scores = [
        {"item": "CS-01", "points": 10, "result": "pass"},
        {
            "item": "CS-02",
            "points": 4,
            "result": "fail",
            "finding": "3月2日投诉超48小时未回复",
            "evidence": ["img/cs02.jpg"],
        },
        {"item": "SEC-01", "points": 8, "result": "pass"},
        {"item": "SEC-02", "points": 6, "result": "fail", "finding": "B1消防通道堆放杂物"},
    ]
    for s in scores:
        r = api.post(f"/inspections/{ref}/scores", s, **PM)
        assert r.status_code == 200, r.text
    # A rescore needs a reason; with one, the old score stays in history.
    r = api.post(
        f"/inspections/{ref}/scores", {"item": "SEC-01", "points": 10, "result": "pass"}, **PM
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "reason"
    r = api.post(
        f"/inspections/{ref}/scores",
        {"item": "SEC-01", "points": 10, "result": "pass", "reason": "巡逻记录补充页已找到"},
        **PM,
    )
    assert r.status_code == 200, r.text
    # Submission: (10 + 4 + 10 + 6) / 40 = 75 → D, −5%; two nonconformances raised with it.
    r = api.post(f"/inspections/{ref}/submit", **PM)
    assert r.status_code == 200, r.text
    sub = r.json()
    assert (sub["status"], sub["score"], sub["grade"], sub["pay_adjustment_pct"]) == (
        "submitted",
        75.0,
        "D",
        -5,
    )
    ncs = {nc["item"]: nc for nc in sub["nonconformances"]}
    assert sorted(ncs) == ["CS-02", "SEC-02"] and all(
        nc["number"].startswith("NC-2026-") for nc in ncs.values()
    )
    # The inspection shows the nonconformances it raised.
    detail = api.get(
        f"/inspections/{ref}", role="quality_manager", params={"min_position": sub["position"]}
    ).json()
    assert [
        (nc["item"], nc["number"], nc["severity"]) for nc in detail["raised_nonconformances"]
    ] == [("CS-02", ncs["CS-02"]["number"], "major"), ("SEC-02", ncs["SEC-02"]["number"], "minor")]
    assert {link["number"] for link in detail["links"] if link["rel"] == "raised"} == {
        ncs["CS-02"]["number"],
        ncs["SEC-02"]["number"],
    }
    assert detail["items"][2]["history"][0]["points"] == 8
    # Each nonconformance points back at the inspection and item, caused by the Submitted event.
    history = api.get(f"/audit/{ref}", params={"min_position": sub["position"]}).json()["events"]
    submitted_event = next(e for e in history if e["type"] == "Submitted")
    assert submitted_event["data"]["grading_policy"][0] == {
        "min_score": 95,
        "grade": "A",
        "pay_adjustment_pct": 10,
    }
    for item, nc in ncs.items():
        nc_events = api.get(f"/audit/{nc['number']}").json()["events"]
        raised = nc_events[0]
        assert raised["type"] == "Raised" and raised["data"]["source"]["id"] == ins["id"]
        assert (
            raised["data"]["source"]["item"] == item and raised["data"]["source"]["number"] == ref
        )
        assert raised["causation_id"] == f"{ins['id']}:{submitted_event['version']}"
        assert raised["actor"]["name"] == "Liu Yang"
    # The project manager appeals CS-02; the quality manager accepts: 90 → B, +5%.
    r = api.post(
        f"/inspections/{ref}/appeal", {"items": ["CS-02"], "reason": "已电话回复, 有通话记录"}, **PM
    )
    assert r.status_code == 200 and r.json()["status"] == "appealed", r.text
    r = api.post(
        f"/inspections/{ref}/appeal-decision",
        {
            "accepted": True,
            "adjustments": [{"item": "CS-02", "points": 10}],
            "reason": "通话记录核实",
        },
        **QM,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["score"], r.json()["grade"], r.json()["pay_adjustment_pct"]) == (90.0, "B", 5)
    r = api.post(f"/inspections/{ref}/finalize", **QM)
    assert r.status_code == 200 and r.json()["status"] == "finalized"
    position = r.json()["position"]
    # The overturned nonconformance is kept (records are never deleted), marked and linked.
    detail = api.get(
        f"/inspections/{ref}", role="auditor", params={"min_position": position}
    ).json()
    assert [nc["overturned_on_appeal"] for nc in detail["raised_nonconformances"]] == [True, False]
    assert len(detail["items"]) == 4 and detail["linked_from"] == []
    # The list shows the planned month, final score and grade.
    rows = api.get(
        "/inspections", role="quality_manager", params={"project": "P1", "month": "2026-03"}
    ).json()["items"]
    assert [
        (
            row["number"],
            row["status"],
            float(row["score"]),
            row["grade"],
            row["submitted_grade"],
            row["nonconformances_raised"],
            row["items_failed"],
        )
        for row in rows
    ] == [(ref, "finalized", 90.0, "B", "D", 2, 1)]
    assert (
        api.get("/inspections", role="quality_manager", params={"month": "2026-04"}).json()["items"]
        == []
    )
    # The audit history shows every step, attributed, in order.
    events = api.get(f"/audit/{ref}").json()["events"]
    assert [(e["type"], e["actor"]["name"]) for e in events] == [
        ("Scheduled", "Liu Yang"),
        ("Started", "Liu Yang"),
        ("ItemScored", "Liu Yang"),
        ("ItemScored", "Liu Yang"),
        ("ItemScored", "Liu Yang"),
        ("ItemScored", "Liu Yang"),
        ("ItemRescored", "Liu Yang"),
        ("Submitted", "Liu Yang"),
        ("Appealed", "Liu Yang"),
        ("AppealDecided", "Zhou Min"),
        ("Finalized", "Zhou Min"),
    ]
    assert [e["version"] for e in events] == list(range(1, 12))
    assert events[6]["reason"] == "巡逻记录补充页已找到" and events[9]["reason"] == "通话记录核实"


def test_illegal_steps_are_409_and_bad_input_is_422_naming_the_field(api: Any) -> None:
    api.setup_org()
    # A template that was never published cannot be pinned.
    draft = api.post("/checklist-templates", TEMPLATE, **QM).json()
    r = schedule(api, draft, INSPECTOR, kind="regional_monthly")
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "template_version", r.text
    template = published_template(api)
    r = schedule(api, template, INSPECTOR, kind="regional_monthly", template_version=2)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "template_version"
    r = api.post(
        "/inspections",
        {
            "project": "NOPE",
            "kind": "night_check",
            "template_id": template["id"],
            "planned_for": "2026-03-05",
            "inspectors": ["x"],
        },
        **INSPECTOR,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "project"
    r = schedule(api, template, INSPECTOR, kind="weekly_stroll")
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "kind"
    # A project manager runs self-checks only.
    assert schedule(api, template, PM, kind="regional_monthly").status_code == 403
    ref = schedule(api, template, INSPECTOR, kind="regional_monthly").json()["number"]
    # Scoring before the start is refused, naming the state and the allowed steps.
    r = api.post(
        f"/inspections/{ref}/scores", {"item": "CS-01", "points": 10, "result": "pass"}, **INSPECTOR
    )
    assert (
        r.status_code == 409
        and r.json()["state"] == "scheduled"
        and r.json()["allowed_steps"] == ["start", "cancel"]
    )
    api.post(f"/inspections/{ref}/start", **INSPECTOR)
    r = api.post(
        f"/inspections/{ref}/scores", {"item": "CS-01", "points": 11, "result": "pass"}, **INSPECTOR
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "points"
    r = api.post(
        f"/inspections/{ref}/scores", {"item": "CS-99", "points": 1, "result": "pass"}, **INSPECTOR
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "item"
    r = api.post(
        f"/inspections/{ref}/scores", {"item": "CS-01", "points": 10, "result": "fail"}, **INSPECTOR
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "points"
    # Submitting with unscored items is refused, naming them.
    api.post(
        f"/inspections/{ref}/scores", {"item": "CS-01", "points": 10, "result": "pass"}, **INSPECTOR
    )
    r = api.post(f"/inspections/{ref}/submit", **INSPECTOR)
    assert r.status_code == 409 and "CS-02, SEC-01, SEC-02" in r.json()["detail"]
    # Only the project manager appeals, and only after submission.
    r = api.post(f"/inspections/{ref}/appeal", {"items": ["CS-01"], "reason": "x"}, **PM)
    assert r.status_code == 409 and r.json()["state"] == "in_progress"
    assert (
        api.post(
            f"/inspections/{ref}/appeal", {"items": ["CS-01"], "reason": "x"}, **INSPECTOR
        ).status_code
        == 403
    )
    # Cancelling needs a reason; afterwards nothing more is allowed.
    assert api.post(f"/inspections/{ref}/cancel", {}, **QM).status_code == 422
    r = api.post(f"/inspections/{ref}/cancel", {"reason": "台风停检"}, **QM)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = api.post(f"/inspections/{ref}/start", **INSPECTOR)
    assert r.status_code == 409 and r.json()["allowed_steps"] == []


def test_templates_are_versioned_and_an_inspection_keeps_the_version_it_pinned(api: Any) -> None:
    api.setup_org()
    template = published_template(api)
    ins = schedule(api, template, INSPECTOR, kind="night_check").json()
    # A revision adds an item; it becomes version 2 only when published.
    sections = [
        *TEMPLATE["sections"],
        {
            "code": "ENV",
            "name": "环境卫生",
            "items": [
                {
                    "code": "ENV-01",
                    "requirement": "大堂地面无污渍",
                    "max_points": 5,
                    "critical": False,
                }
            ],
        },
    ]
    r = api.post(f"/checklist-templates/{template['number']}/revise", {"sections": sections}, **QM)
    assert r.status_code == 200 and r.json()["status"] == "draft", r.text
    assert (
        api.post(f"/checklist-templates/{template['id']}/publish", role="inspector").status_code
        == 403
    )
    r = api.post(f"/checklist-templates/{template['id']}/publish", **QM)
    assert r.json()["template_version"] == 2
    newer = schedule(api, template, INSPECTOR, kind="night_check").json()
    older = schedule(api, template, INSPECTOR, kind="night_check", template_version=1).json()
    assert api.get(f"/inspections/{ins['id']}").json()["template_version"] == 1
    assert len(api.get(f"/inspections/{newer['id']}").json()["items"]) == 5
    assert len(api.get(f"/inspections/{older['id']}").json()["items"]) == 4
    detail = api.get(f"/checklist-templates/{template['id']}", role="inspector").json()
    assert sorted(detail["versions"]) == ["1", "2"] and detail["latest_version"] == 2
    rows = api.get(
        "/checklist-templates", role="inspector", params={"min_position": r.json()["position"]}
    ).json()
    assert [(t["number"], t["status"], t["latest_version"], t["items"]) for t in rows["items"]] == [
        (template["number"], "published", 2, 5)
    ]


def test_a_reinspection_names_the_nonconformance_it_verifies(api: Any) -> None:
    api.setup_org()
    template = published_template(api)
    ref = schedule(api, template, INSPECTOR, kind="regional_monthly").json()["number"]
    api.post(f"/inspections/{ref}/start", **INSPECTOR)
    for code in ("CS-01", "CS-02", "SEC-01"):
        api.post(
            f"/inspections/{ref}/scores",
            {"item": code, "points": 10, "result": "pass"},
            **INSPECTOR,
        )
    api.post(
        f"/inspections/{ref}/scores",
        {"item": "SEC-02", "points": 0, "result": "fail", "finding": "堵塞"},
        **INSPECTOR,
    )
    nc = api.post(f"/inspections/{ref}/submit", **INSPECTOR).json()["nonconformances"][0]
    r = schedule(api, template, INSPECTOR, kind="regional_monthly", reinspection_of=nc["number"])
    assert r.status_code == 201, r.text
    again = api.get(
        f"/inspections/{r.json()['id']}", params={"min_position": r.json()["position"]}
    ).json()
    assert again["reinspection_of"] == {"id": nc["id"], "number": nc["number"]}
    rows = api.get("/inspections", params={"reinspection_of": nc["number"]}).json()["items"]
    assert [row["number"] for row in rows] == [r.json()["number"]]
    r = schedule(
        api, template, INSPECTOR, kind="regional_monthly", reinspection_of="NC-2026-999999"
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "reinspection_of"
