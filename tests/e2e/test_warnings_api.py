"""Early warnings end to end: tickets received through the API reach the KPI facts, the
watcher raises a warning from them once, and the warning is listed (scoped), acknowledged,
resolved, in the audit history, in the event feed and counted in the KPIs."""

from __future__ import annotations

from typing import Any

COMPLAINT = {
    "kind": "complaint",
    "channel": "phone",
    "priority": "normal",
    "category": "噪音",
    "description": "夜间施工噪音",
    "reporter": {"name": "李四", "unit": "1-101", "phone": "13900001111"},
}


def receive(api: Any, project: str, kind: str = "complaint") -> int:
    r = api.post("/tickets", {**COMPLAINT, "project": project, "kind": kind}, role="supervisor")
    assert r.status_code == 201, r.text
    return int(r.json()["position"])


def test_a_complaint_spike_raises_one_warning_that_is_listed_acknowledged_and_resolved(
    api: Any, clock: Any
) -> None:
    api.setup_org()
    # Week 10 of 2026 (Monday 2 March): P1 3 complaints with no history (above 2 x median 0,
    # at the rule's minimum of 3); P2 2 complaints (under the minimum); a repair in P1.
    last = max(
        [receive(api, "P1") for _ in range(3)]
        + [receive(api, "P2") for _ in range(2)]
        + [receive(api, "P1", "repair")]
    )
    assert api.get(
        "/kpis/tickets", role="quality_manager", params={"min_position": last}
    ).is_success
    watcher = api.container.warning_watcher
    run = watcher.run_once()
    assert len(run.raised) == 1 and not run.errors, run
    assert watcher.run_once().raised == []
    number = run.raised[0]
    head = api.container.app.recorder.max_notification_id()

    page = api.get("/warnings", role="quality_manager", params={"min_position": head}).json()
    assert [w["number"] for w in page["items"]] == [number]
    w = page["items"][0]
    assert (w["rule"], w["project"], w["region"], w["period"], w["status"]) == (
        "complaints-week-2x-median",
        "P1",
        "SH",
        "2026-W10",
        "raised",
    )
    assert w["figures"]["complaints"] == 3 and w["figures"]["median"] == 0
    # Scoped like everything else.
    assert api.get("/warnings", role="project_manager", projects=("P2",)).json()["items"] == []
    p1 = api.get("/warnings", role="project_manager", projects=("P1",)).json()["items"]
    assert [x["number"] for x in p1] == [number]
    assert (
        api.get(f"/warnings/{number}", role="project_manager", projects=("P2",)).status_code == 404
    )
    one = api.get(f"/warnings/{number}", role="supervisor")
    assert one.status_code == 200 and one.json()["figures"]["complaints"] == 3
    assert one.json()["allowed_steps"] == ["acknowledge", "resolve"]

    # Acknowledge (project manager), resolve (quality manager), with the matrix's checks.
    assert api.post(f"/warnings/{number}/acknowledge", {}, role="staff").status_code == 403
    r = api.post(
        f"/warnings/{number}/acknowledge",
        {"note": "已安排夜间巡查"},
        role="project_manager",
        projects=("P1",),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert (
        api.post(f"/warnings/{number}/resolve", {"note": "x"}, role="project_manager").status_code
        == 403
    )
    bad = api.post(f"/warnings/{number}/resolve", {}, role="quality_manager")
    assert bad.status_code == 422 and "note" in bad.text
    r = api.post(f"/warnings/{number}/resolve", {"note": "施工时间已调整"}, role="quality_manager")
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    again = api.post(f"/warnings/{number}/resolve", {"note": "again"}, role="quality_manager")
    assert again.status_code == 409
    pos = r.json()["position"]

    # In the audit history and the event feed.
    history = api.get(f"/audit/{number}", params={"min_position": pos}).json()
    assert [e["type"] for e in history["events"]] == [
        "WarningRaised",
        "WarningAcknowledged",
        "WarningResolved",
    ]
    assert history["kind"] == "warning"
    feed = api.get("/events", params={"after": last, "limit": 500}).json()["items"]
    raised = [e for e in feed if e["type"] == "WarningRaised"]
    assert len(raised) == 1 and raised[0]["issue_number"] == number
    assert raised[0]["project"] == "P1"

    # Counted in the KPIs.
    listed = api.get("/warnings", role="quality_manager", params={"min_position": pos}).json()
    assert listed["items"][0]["status"] == "resolved"
    kpi = api.get("/kpis/warnings", role="reporting", params={"group_by": "rule,project,month"})
    assert kpi.status_code == 200, kpi.text
    assert kpi.json()["rows"] == [
        {
            "rule": "complaints-week-2x-median",
            "project": "P1",
            "month": "2026-03",
            "raised": 1,
            "open": 0,
            "acknowledged": 0,
            "resolved": 1,
        }
    ]
    assert api.get("/kpis/warnings", role="project_manager", projects=("P2",)).json()["rows"] == []
    total = api.get("/kpis/warnings", role="auditor", params={"group_by": ""}).json()["rows"]
    assert total == [{"raised": 1, "open": 0, "acknowledged": 0, "resolved": 1}]
    r = api.get("/kpis/warnings", role="reporting", params={"group_by": "rule,colour"})
    assert r.status_code == 422 and "group_by" in r.text
    assert api.get("/warnings", role="staff").status_code == 403
