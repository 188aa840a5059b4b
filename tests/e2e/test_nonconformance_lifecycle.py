"""Nonconformances over HTTP: the corrective-action loop, re-notice and escalation,
extensions, the overdue path, and the link with an escalated ticket."""

from __future__ import annotations

from typing import Any

QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
PM = {"role": "project_manager", "user": "chen.gang", "name": "Chen Gang"}
INSPECTOR = {"role": "inspector", "user": "liu.yang", "name": "Liu Yang"}

NC = {
    "project": "P1",
    "source": {"type": "audit", "ref": "IA-2026-03"},
    "severity": "major",
    "description": "消防通道堆放杂物",
    "department": "security",
}


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def raise_and_approve(api: Any) -> dict[str, Any]:
    nc = ok(api.post("/nonconformances", NC, **INSPECTOR), 201)
    ref = nc["number"]
    ok(
        api.post(
            f"/nonconformances/{ref}/notice",
            {"responsible_department": "security", "responsible_person": "Wang Qiang"},
            **QM,
        )
    )
    ok(api.post(f"/nonconformances/{ref}/root-cause", {"analysis": "巡查制度未落实"}, **PM))
    ok(
        api.post(
            f"/nonconformances/{ref}/plan",
            {"corrective_actions": ["清理杂物"], "preventive_actions": ["每日巡查消防通道"]},
            **PM,
        )
    )
    ok(api.post(f"/nonconformances/{ref}/plan-decision", {"approved": True}, **QM))
    return nc


def test_a_rectified_and_verified_nonconformance_closes_and_its_history_names_every_actor(
    api: Any,
) -> None:
    api.setup_org()
    nc = raise_and_approve(api)
    assert nc["number"].startswith("NC-2026-") and nc["status"] == "raised"
    ref = nc["id"]
    # The project reports the rectification with evidence; the inspector re-inspects.
    r = ok(
        api.post(
            f"/nonconformances/{ref}/rectified",
            {"summary": "杂物已清理", "evidence": ["photo-1.jpg"]},
            **PM,
        )
    )
    assert r["status"] == "rectified"
    r = ok(
        api.post(
            f"/nonconformances/{ref}/verification",
            {"effective": True, "notes": "复检通过"},
            **INSPECTOR,
        )
    )
    assert r["status"] == "closed" and r["version"] == 8
    detail = ok(
        api.get(f"/nonconformances/{ref}", role="auditor", params={"min_position": r["position"]})
    )
    assert detail["closed_on_time"] is True and detail["allowed_steps"] == []
    history = ok(
        api.get(f"/audit/{nc['number']}", role="auditor", params={"min_position": r["position"]})
    )["events"]
    assert [(e["type"], e["actor"]["name"]) for e in history] == [
        ("Raised", "Liu Yang"),
        ("NoticeIssued", "Zhou Min"),
        ("RootCauseAnalysed", "Chen Gang"),
        ("PlanSubmitted", "Chen Gang"),
        ("PlanApproved", "Zhou Min"),
        ("RectificationReported", "Chen Gang"),
        ("Verified", "Liu Yang"),
        ("Closed", "Liu Yang"),
    ]
    listed = ok(
        api.get("/nonconformances", role="auditor", params={"status": "closed", "project": "P1"})
    )["items"]
    assert [row["number"] for row in listed] == [nc["number"]]
    assert listed[0]["region"] == "SH" and listed[0]["department"] == "security"


def test_a_failed_verification_re_notices_and_escalates_then_an_approved_extension_lets_it_close(
    api: Any, clock: Any
) -> None:
    api.setup_org()
    nc = raise_and_approve(api)
    ref = nc["number"]
    ok(api.post(f"/nonconformances/{ref}/rectified", {"summary": "清理了一半"}, **PM))
    # Re-inspection: not effective → notice 2, escalated to region, deduction flagged.
    r = ok(
        api.post(
            f"/nonconformances/{ref}/verification", {"effective": False, "notes": "仍有杂物"}, **QM
        )
    )
    assert r["status"] == "noticed"
    d = ok(
        api.get(
            f"/nonconformances/{ref}",
            role="quality_manager",
            params={"min_position": r["position"]},
        )
    )
    assert (d["notice_count"], d["escalation_level"], d["deduction"]) == (2, "region", True)
    first_due = d["due_date"]
    # The project asks for more time before the due date; the quality manager approves.
    clock.advance(days=2)
    ext = {
        "new_due_date": "2026-03-20",
        "reason": "需要外包清运",
        "remedial_measures": "设置临时围挡和警示",
    }
    ok(api.post(f"/nonconformances/{ref}/extension", ext, **PM))
    r = ok(
        api.post(
            f"/nonconformances/{ref}/extension-decision", {"approved": True, "reason": "同意"}, **QM
        )
    )
    d = ok(
        api.get(
            f"/nonconformances/{ref}",
            role="quality_manager",
            params={"min_position": r["position"]},
        )
    )
    assert d["due_date"] == "2026-03-20T15:59:59+00:00" != first_due and d["extensions"] == 1
    # The second cycle: cause, plan, approval, rectification, effective verification.
    ok(api.post(f"/nonconformances/{ref}/root-cause", {"analysis": "清运合同未签"}, **PM))
    ok(
        api.post(
            f"/nonconformances/{ref}/plan",
            {"corrective_actions": ["签订清运合同"], "preventive_actions": []},
            **PM,
        )
    )
    ok(api.post(f"/nonconformances/{ref}/plan-decision", {"approved": True}, **QM))
    ok(api.post(f"/nonconformances/{ref}/rectified", {"summary": "全部清运"}, **PM))
    r = ok(api.post(f"/nonconformances/{ref}/verification", {"effective": True}, **QM))
    assert r["status"] == "closed"
    rows = ok(api.get("/nonconformances", role="auditor", params={"min_position": r["position"]}))[
        "items"
    ]
    assert (rows[0]["notice_count"], rows[0]["escalation_level"], rows[0]["deduction"]) == (
        2,
        "region",
        True,
    )
    history = ok(api.get(f"/audit/{ref}", role="auditor", params={"min_position": r["position"]}))[
        "events"
    ]
    renotice = [e for e in history if e["type"] == "NoticeIssued"][1]
    verified = [e for e in history if e["type"] == "Verified"][0]
    assert renotice["causation_id"].endswith(f":{verified['version']}") and renotice["reason"]
    requested = next(e for e in history if e["type"] == "ExtensionRequested")
    assert (
        requested["reason"] == "需要外包清运"
        and requested["data"]["remedial_measures"] == "设置临时围挡和警示"
    )


def test_a_passed_due_date_is_recorded_overdue_once_and_listed_as_overdue(
    api: Any, clock: Any
) -> None:
    api.setup_org()
    nc = ok(api.post("/nonconformances", NC, **INSPECTOR), 201)
    r = ok(
        api.post(
            f"/nonconformances/{nc['id']}/notice",
            {
                "responsible_department": "security",
                "responsible_person": "Wang Qiang",
                "due_date": "2026-03-04",
            },
            **QM,
        )
    )
    ok(api.get("/nonconformances", role="auditor", params={"min_position": r["position"]}))
    watcher = api.container.deadline_watcher
    assert watcher.run_once().overdue == 0  # not yet due
    clock.advance(days=3)
    assert watcher.run_once().overdue == 1
    assert watcher.run_once().overdue == 0  # the aggregate already has it, even if the list lags
    # An extension can no longer be asked for.
    ext = {"new_due_date": "2026-03-20", "reason": "late", "remedial_measures": "none"}
    r = api.post(f"/nonconformances/{nc['id']}/extension", ext, **PM)
    assert r.status_code == 409 and "before the due date" in r.json()["detail"]
    head = api.container.app.recorder.max_notification_id()
    d = ok(api.get(f"/nonconformances/{nc['id']}", role="auditor"))
    rows = ok(
        api.get(
            "/nonconformances", role="auditor", params={"overdue": "true", "min_position": head}
        )
    )
    history = ok(api.get(f"/audit/{nc['number']}", role="auditor", params={"min_position": head}))
    overdue = [e for e in history["events"] if e["type"] == "Overdue"]
    assert d["overdue"] is True and len(overdue) == 1
    assert overdue[0]["actor"]["role"] == "system" and overdue[0]["causation_id"] == f"{nc['id']}:2"
    assert [row["number"] for row in rows["items"]] == [nc["number"]]


def test_an_escalated_ticket_shows_its_nonconformance_and_the_nonconformance_shows_the_ticket(
    api: Any,
) -> None:
    api.setup_org()
    ticket = ok(
        api.post(
            "/tickets",
            {
                "project": "P1",
                "kind": "complaint",
                "channel": "phone",
                "priority": "high",
                "category": "保洁",
                "description": "楼道三天没有清扫",
                "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
            },
            role="front_desk",
        ),
        201,
    )
    r = ok(
        api.post(
            f"/tickets/{ticket['id']}/escalate",
            {"reason": "重复投诉", "severity": "major"},
            role="supervisor",
        )
    )
    nc = r["nonconformance"]
    d = ok(
        api.get(
            f"/nonconformances/{nc['number']}",
            role="quality_manager",
            params={"min_position": r["position"]},
        )
    )
    assert d["source"]["type"] == "ticket" and d["source"]["number"] == ticket["number"]
    assert {
        "rel": "raised_from",
        "kind": "ticket",
        "id": ticket["id"],
        "number": ticket["number"],
    } in d["links"]
    assert any(
        link["direction"] == "in" and link["number"] == ticket["number"]
        for link in d["linked_issues"]
    )
    t = ok(api.get(f"/tickets/{ticket['id']}", role="quality_manager"))
    assert any(
        link["rel"] == "escalated_to" and link["number"] == nc["number"] for link in t["links"]
    )
    rows = ok(api.get("/nonconformances", role="auditor", params={"source": "ticket"}))["items"]
    assert [row["source_number"] for row in rows] == [ticket["number"]]


def test_a_raise_naming_an_unknown_ticket_or_an_illegal_step_is_refused(api: Any) -> None:
    api.setup_org()
    r = api.post(
        "/nonconformances",
        {**NC, "source": {"type": "ticket", "ref": "TK-2026-999999"}},
        **INSPECTOR,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "source.ref"
    r = api.post("/nonconformances", {**NC, "severity": "huge"}, **INSPECTOR)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "severity"
    nc = ok(api.post("/nonconformances", NC, **INSPECTOR), 201)
    r = api.post(f"/nonconformances/{nc['id']}/rectified", {"summary": "done"}, **PM)
    assert (
        r.status_code == 409
        and r.json()["state"] == "raised"
        and "notice" in r.json()["allowed_steps"]
    )
    r = api.post(
        f"/nonconformances/{nc['id']}/notice",
        {"responsible_department": "security", "responsible_person": "W", "due_date": "2026-13-01"},
        **QM,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "due_date"
    # Only a quality manager cancels (the cancellation is the approval), with a reason.
    assert (
        api.post(f"/nonconformances/{nc['id']}/cancel", {"reason": "重复"}, **PM).status_code == 403
    )
    r = ok(api.post(f"/nonconformances/{nc['id']}/cancel", {"reason": "与审核发现重复"}, **QM))
    assert r["status"] == "cancelled"
