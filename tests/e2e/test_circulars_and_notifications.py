"""Circulars (全公司通报) and in-app notifications over HTTP: a failed re-check raises one
circular, company-wide, with read receipts for the auditor; notifications reach the
principals the rules name, and each is marked read by its recipient only."""

from __future__ import annotations

from typing import Any

QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
PM = {"role": "project_manager", "user": "chen.gang", "name": "Chen Gang", "projects": ("P1",)}
INSPECTOR = {"role": "inspector", "user": "liu.yang", "name": "Liu Yang"}
RQM = {"role": "quality_manager", "user": "sh.qm", "name": "SH QM", "region": "SH"}
SUP = {"role": "supervisor", "user": "sup.p1", "name": "Sup P1", "projects": ("P1",)}
STAFF = {"role": "staff", "user": "staff-7", "name": "Staff Seven", "projects": ("P1",)}
OUTSIDER = {"role": "front_desk", "user": "fd.p2", "name": "FD P2", "projects": ("P2",)}
AUDITOR = {"role": "auditor", "user": "aud", "name": "Auditor"}

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


def rectified_nc(api: Any) -> str:
    nc = ok(api.post("/nonconformances", NC, **INSPECTOR), 201)
    ref = nc["number"]
    notice = {"responsible_department": "security", "responsible_person": "staff-7"}
    ok(api.post(f"/nonconformances/{ref}/notice", notice, **QM))
    ok(api.post(f"/nonconformances/{ref}/root-cause", {"analysis": "巡查制度未落实"}, **PM))
    plan = {"corrective_actions": ["清理杂物"], "preventive_actions": ["每日巡查"]}
    ok(api.post(f"/nonconformances/{ref}/plan", plan, **PM))
    ok(api.post(f"/nonconformances/{ref}/plan-decision", {"approved": True}, **QM))
    ok(api.post(f"/nonconformances/{ref}/rectified", {"summary": "杂物已清理"}, **PM))
    return ref


def test_a_failed_recheck_raises_one_company_wide_circular_with_read_receipts(api: Any) -> None:
    api.setup_org()
    for who in (PM, RQM, SUP, STAFF, OUTSIDER, AUDITOR):  # principals exist before the events
        api.token(**{k: v for k, v in who.items()})
    ref = rectified_nc(api)
    r = ok(api.post(f"/nonconformances/{ref}/verification", {"effective": False}, **INSPECTOR))
    # The circular is raised by the process; a read at the verification's position sees it.
    page = ok(api.get("/circulars", params={"min_position": r["position"]}, **OUTSIDER))
    assert len(page["items"]) == 1
    tb = page["items"][0]
    assert tb["number"].startswith("TB-2026-") and tb["origin"] == "automatic"
    assert tb["nonconformance_number"] == ref and ref in tb["text"] and "P1" in tb["text"]
    assert tb["read"] is False and "receipts" not in tb  # a front desk sees no receipts
    # Every principal of the company sees it, whatever its scope; each read is receipted once.
    read = ok(api.post(f"/circulars/{tb['number']}/read", {}, **OUTSIDER))
    again = ok(api.post(f"/circulars/{tb['number']}/read", {}, **OUTSIDER))
    assert again["version"] == read["version"] == 2
    ok(api.post(f"/circulars/{tb['id']}/read", {}, **STAFF))
    seen = ok(api.get("/circulars", params={"min_position": read["position"] + 1}, **AUDITOR))
    receipts = seen["items"][0]["receipts"]
    assert [x["id"] for x in receipts] == ["fd.p2", "staff-7"]
    # The circular's audit history: raised because of the verification, then the reads.
    history = ok(api.get(f"/audit/{tb['number']}", **AUDITOR))["events"]
    assert [e["type"] for e in history] == ["Raised", "Read", "Read"]
    nc_hist = ok(api.get(f"/audit/{ref}", **AUDITOR))["events"]
    verified = next(e for e in nc_hist if e["type"] == "Verified")
    assert history[0]["causation_id"].endswith(f":{verified['version']}")
    # Processes run again (a restart): still one circular.
    api.container.run_projections_once()
    assert len(ok(api.get("/circulars", **AUDITOR))["items"]) == 1


def test_a_quality_manager_raises_a_circular_and_others_may_not(api: Any) -> None:
    api.setup_org()
    body = {"title": "关于消防通道的通报", "text": "各项目自查消防通道", "project": "P1"}
    created = ok(api.post("/circulars", body, **QM), 201)
    assert created["number"].startswith("TB-")
    assert api.post("/circulars", body, **PM).status_code == 403
    bad = api.post("/circulars", {**body, "project": "NOPE"}, **QM)
    assert bad.status_code == 422 and "project" in bad.text
    missing = api.post("/circulars", {"title": "x"}, **QM)
    assert missing.status_code == 422 and "text" in missing.text
    assert api.post("/circulars/TB-2026-999999/read", {}, **PM).status_code == 404


def test_notifications_reach_the_principals_the_rules_name(api: Any) -> None:
    api.setup_org()
    for who in (PM, RQM, SUP, STAFF, OUTSIDER):
        api.token(**who)
    ref = rectified_nc(api)
    r = ok(api.post(f"/nonconformances/{ref}/verification", {"effective": False}, **INSPECTOR))
    mine = ok(api.get("/me/notifications", params={"min_position": r["position"]}, **STAFF))
    kinds = sorted(n["kind"] for n in mine["items"])
    # staff-7 is the responsible person of the notice, and is told of the circular.
    assert (
        kinds == ["circular.raised", "nonconformance.noticed"]
        or kinds.count("nonconformance.noticed") >= 1
    ), kinds
    assert "circular.raised" in kinds
    pm = ok(api.get("/me/notifications", **PM))
    assert "nonconformance.noticed" in {n["kind"] for n in pm["items"]}
    sup = ok(api.get("/me/notifications", **SUP))
    assert "nonconformance.noticed" not in {n["kind"] for n in sup["items"]}
    # Marking read: per user; someone else's notification is 404; unread filter follows.
    first = mine["items"][0]
    assert mine["unread"] == len(mine["items"])
    assert api.post(f"/me/notifications/{first['id']}/read", {}, **PM).status_code == 404
    done = ok(api.post(f"/me/notifications/{first['id']}/read", {}, **STAFF))
    assert done["read_at"] is not None
    left = ok(api.get("/me/notifications", params={"unread": "true"}, **STAFF))
    assert first["id"] not in {n["id"] for n in left["items"]}
    assert left["unread"] == mine["unread"] - 1
