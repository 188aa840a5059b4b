"""The audit API as an auditor uses it: an issue's history with one-line summaries, its
state at any past moment equal to what the live query answered then, its trace in both
directions and transitively, the flat trail (filters, CSV, paging, scope) and the
integrity check naming the first broken link."""

from __future__ import annotations

import csv
import io
from typing import Any

import psycopg

QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
PM1 = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang", "projects": ("P1",)}
INSPECTOR = {"role": "inspector", "user": "chen.jie", "name": "Chen Jie"}
DESK = {"role": "front_desk", "user": "li.na", "name": "Li Na"}
SUP = {"role": "supervisor", "user": "zhao.lei", "name": "Zhao Lei"}
STAFF = {"role": "staff", "user": "wang.wei", "name": "Wang Wei"}
AUDITOR = {"role": "auditor", "user": "sun.li", "name": "Sun Li"}

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
            ],
        },
        {
            "code": "SEC",
            "name": "安全管理",
            "items": [
                {
                    "code": "SEC-01",
                    "requirement": "消防通道畅通",
                    "max_points": 10,
                    "critical": False,
                },
            ],
        },
    ],
}
TICKET = {
    "project": "P1",
    "kind": "complaint",
    "channel": "phone",
    "priority": "high",
    "category": "保洁",
    "description": "楼道三天没有清扫",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def chain(api: Any) -> dict[str, dict[str, Any]]:
    """ticket → escalated into NC1 → re-inspection of NC1 fails an item → NC2."""
    api.setup_org()
    t = ok(api.post("/tickets", TICKET, **DESK), 201)
    esc = ok(
        api.post(
            f"/tickets/{t['number']}/escalate", {"reason": "重复投诉", "severity": "major"}, **SUP
        )
    )
    nc1 = esc["nonconformance"]
    tpl = ok(api.post("/checklist-templates", TEMPLATE, **QM), 201)
    ok(api.post(f"/checklist-templates/{tpl['id']}/publish", **QM))
    ins = ok(
        api.post(
            "/inspections",
            {
                "project": "P1",
                "kind": "regional_monthly",
                "template_id": tpl["number"],
                "planned_for": "2026-03-05",
                "inspectors": ["Chen Jie"],
                "reinspection_of": nc1["number"],
            },
            **INSPECTOR,
        ),
        201,
    )
    ok(api.post(f"/inspections/{ins['number']}/start", **INSPECTOR))
    ok(
        api.post(
            f"/inspections/{ins['number']}/scores",
            {"item": "CS-01", "points": 10, "result": "pass"},
            **INSPECTOR,
        )
    )
    ok(
        api.post(
            f"/inspections/{ins['number']}/scores",
            {"item": "SEC-01", "points": 0, "result": "fail", "finding": "仍然堵塞"},
            **INSPECTOR,
        )
    )
    sub = ok(api.post(f"/inspections/{ins['number']}/submit", **INSPECTOR))
    nc2 = sub["nonconformances"][0]
    return {
        "ticket": t,
        "nc1": nc1,
        "inspection": ins,
        "nc2": nc2,
        "template": tpl,
        "head": {"position": sub["position"]},
    }


# -- history ----------------------------------------------------------------------------
def test_the_history_lists_every_event_oldest_first_with_actor_ids_and_a_summary(api: Any) -> None:
    api.setup_org()
    t = ok(api.post("/tickets", TICKET, **DESK), 201)
    ok(
        api.post(
            f"/tickets/{t['id']}/dispatch",
            {"department": "engineering", "assignee": "wang.wei"},
            **SUP,
        )
    )
    ok(api.post(f"/tickets/{t['id']}/accept", **STAFF))
    r = ok(
        api.post(
            f"/tickets/{t['id']}/cancel",
            {"reason": "住户撤回"},
            **SUP,
            headers={"X-Correlation-ID": "corr-cancel-1"},
        )
    )
    body = ok(api.get(f"/audit/{t['number']}", params={"min_position": r["position"]}, **AUDITOR))
    assert (body["id"], body["number"], body["kind"], body["project"]) == (
        t["id"],
        t["number"],
        "ticket",
        "P1",
    )
    events = body["events"]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert [(e["type"], e["actor"]) for e in events] == [
        ("Received", {"id": "li.na", "name": "Li Na", "role": "front_desk"}),
        ("Dispatched", {"id": "zhao.lei", "name": "Zhao Lei", "role": "supervisor"}),
        ("Accepted", {"id": "wang.wei", "name": "Wang Wei", "role": "staff"}),
        ("Cancelled", {"id": "zhao.lei", "name": "Zhao Lei", "role": "supervisor"}),
    ]
    assert events[1]["summary"] == "Dispatched to engineering / wang.wei by Zhao Lei"
    assert events[3]["summary"] == "Cancelled by Zhao Lei: 住户撤回"
    assert events[3]["reason"] == "住户撤回" and events[3]["correlation_id"] == "corr-cancel-1"
    assert all(e["occurred_at"].endswith("+00:00") for e in events)
    assert all("causation_id" in e and "\n" not in e["summary"] for e in events)
    # The auditor sees the reporter masked in the event data too.
    assert events[0]["data"]["reporter"]["phone"] == "138****5678"
    # The same history is found by UUID; an unknown number is 404.
    assert ok(api.get(f"/audit/{t['id']}", **AUDITOR))["events"] == events
    assert api.get("/audit/TK-2026-999999", **AUDITOR).status_code == 404


def test_a_process_step_names_its_cause_and_every_kind_has_summaries(api: Any) -> None:
    c = chain(api)
    pos = {"min_position": c["head"]["position"]}
    nc2 = ok(api.get(f"/audit/{c['nc2']['number']}", params=pos, **AUDITOR))["events"]
    # NC2 was raised by the process following the inspection's submission: it names it.
    assert nc2[0]["causation_id"] and nc2[0]["causation_id"].startswith(c["inspection"]["id"])
    for ref in (
        c["ticket"]["number"],
        c["nc1"]["number"],
        c["inspection"]["number"],
        c["nc2"]["number"],
        c["template"]["number"],
        "P1",
        "SH",
    ):
        events = ok(api.get(f"/audit/{ref}", params=pos, **AUDITOR))["events"]
        assert events, ref
        for e in events:
            assert (
                e["summary"]
                and e["actor"]["name"] in e["summary"]
                or e["actor"]["role"] == "system"
            ), e


# -- as-of ------------------------------------------------------------------------------
def test_as_of_answers_what_the_live_query_answered_at_each_moment(api: Any, clock: Any) -> None:
    api.setup_org()
    seen: list[tuple[str, str, dict[str, Any]]] = []  # (path, moment, live body)

    def capture(path: str, position: int) -> None:
        body = ok(api.get(path, params={"min_position": position}, **AUDITOR))
        seen.append((path, clock.now.isoformat(), body))
        clock.advance(hours=1)

    t = ok(api.post("/tickets", TICKET, **DESK), 201)
    capture(f"/tickets/{t['id']}", t["position"])
    r = ok(
        api.post(
            f"/tickets/{t['id']}/dispatch",
            {"department": "cleaning", "assignee": "wang.wei"},
            **SUP,
        )
    )
    capture(f"/tickets/{t['id']}", r["position"])
    r = ok(api.post(f"/tickets/{t['id']}/accept", **STAFF))
    r = ok(api.post(f"/tickets/{t['id']}/notes", {"text": "已安排保洁"}, **STAFF))
    capture(f"/tickets/{t['id']}", r["position"])
    esc = ok(
        api.post(f"/tickets/{t['id']}/escalate", {"reason": "重复投诉", "severity": "major"}, **SUP)
    )
    nc = esc["nonconformance"]
    capture(f"/tickets/{t['id']}", esc["position"])
    capture(f"/nonconformances/{nc['id']}", esc["position"])
    r = ok(
        api.post(
            f"/nonconformances/{nc['id']}/notice",
            {"responsible_department": "cleaning", "responsible_person": "Wang Qiang"},
            **QM,
        )
    )
    capture(f"/nonconformances/{nc['id']}", r["position"])
    tpl = ok(api.post("/checklist-templates", TEMPLATE, **QM), 201)
    capture(f"/checklist-templates/{tpl['id']}", tpl["position"])
    r = ok(api.post(f"/checklist-templates/{tpl['id']}/publish", **QM))
    capture(f"/checklist-templates/{tpl['id']}", r["position"])
    ins = ok(
        api.post(
            "/inspections",
            {
                "project": "P1",
                "kind": "regional_monthly",
                "template_id": tpl["number"],
                "planned_for": "2026-03-05",
                "inspectors": ["Chen Jie"],
                "reinspection_of": nc["number"],
            },
            **INSPECTOR,
        ),
        201,
    )
    capture(f"/inspections/{ins['id']}", ins["position"])
    capture(f"/nonconformances/{nc['id']}", ins["position"])
    ok(api.post(f"/inspections/{ins['id']}/start", **INSPECTOR))
    ok(
        api.post(
            f"/inspections/{ins['id']}/scores",
            {"item": "CS-01", "points": 10, "result": "pass"},
            **INSPECTOR,
        )
    )
    r = ok(
        api.post(
            f"/inspections/{ins['id']}/scores",
            {"item": "SEC-01", "points": 0, "result": "fail", "finding": "堵塞"},
            **INSPECTOR,
        )
    )
    capture(f"/inspections/{ins['id']}", r["position"])
    sub = ok(api.post(f"/inspections/{ins['id']}/submit", **INSPECTOR))
    capture(f"/inspections/{ins['id']}", sub["position"])
    r = ok(api.post(f"/tickets/{t['id']}/resolve", {"resolution": "已清扫"}, **STAFF))
    capture(f"/tickets/{t['id']}", r["position"])

    assert len({path for path, _, _ in seen}) == 4
    last_seen_at_version = {}
    for path, moment, live in seen:
        issue = path.rsplit("/", 1)[1]
        by_time = api.get(f"/audit/{issue}/as-of", params={"at": moment}, **AUDITOR)
        assert ok(by_time) == live, (path, moment)
        assert by_time.headers["X-As-Of-Version"] == str(live["version"])
        last_seen_at_version[(issue, live["version"])] = live
    # By version: the issue as it stood at that version until its next event (links that
    # other issues recorded meanwhile included), which is what was last seen at it.
    for (issue, version), live in last_seen_at_version.items():
        assert (
            ok(api.get(f"/audit/{issue}/as-of", params={"version": version}, **AUDITOR)) == live
        ), (issue, version)
    # Before the ticket existed, and past its last version: 404; neither or both: 422.
    before = seen[0][2]["created_at"].replace("2026-03-02", "2026-03-01")
    assert (
        api.get(f"/audit/{t['number']}/as-of", params={"at": before}, **AUDITOR).status_code == 404
    )
    assert (
        api.get(f"/audit/{t['number']}/as-of", params={"version": 99}, **AUDITOR).status_code == 404
    )
    assert api.get(f"/audit/{t['number']}/as-of", **AUDITOR).status_code == 422
    assert (
        api.get(
            f"/audit/{t['number']}/as-of", params={"version": 1, "at": before}, **AUDITOR
        ).status_code
        == 422
    )


# -- trace ------------------------------------------------------------------------------
def test_the_trace_follows_links_both_ways_and_transitively_with_their_kinds(api: Any) -> None:
    c = chain(api)
    pos = {"min_position": c["head"]["position"]}
    body = ok(api.get(f"/audit/{c['ticket']['number']}/trace", params=pos, **AUDITOR))
    depth = {i["number"]: i["depth"] for i in body["issues"]}
    assert depth == {c["nc1"]["number"]: 1, c["inspection"]["number"]: 2, c["nc2"]["number"]: 3}
    edges = {(link["from"]["number"], link["rel"], link["to"]["number"]) for link in body["links"]}
    kinds = {link["rel"] for link in body["links"]}
    assert len(edges) >= 3 and len(kinds) >= 2
    # Every hop of the chain is an edge, whichever issue recorded it.
    pairs = {frozenset((a, b)) for a, _, b in edges}
    for a, b in (("ticket", "nc1"), ("nc1", "inspection"), ("inspection", "nc2")):
        assert frozenset((c[a]["number"], c[b]["number"])) in pairs, (a, b, edges)
    # Each issue lists its own links with a direction.
    nc1 = next(i for i in body["issues"] if i["number"] == c["nc1"]["number"])
    assert {link["direction"] for link in nc1["links"]} == {"in", "out"} or len(nc1["links"]) >= 2
    # Backwards: from the last nonconformance, the same issues are reached.
    back = ok(api.get(f"/audit/{c['nc2']['number']}/trace", params=pos, **AUDITOR))
    assert {i["number"] for i in back["issues"]} == {
        c["ticket"]["number"],
        c["nc1"]["number"],
        c["inspection"]["number"],
    }
    assert {
        (link["from"]["number"], link["rel"], link["to"]["number"]) for link in back["links"]
    } == edges


def test_a_survey_response_traces_to_its_improvement_action(api: Any) -> None:
    api.setup_org()
    plan = {
        "title": "2026 满意度调查",
        "objectives": "了解满意度",
        "party": "first_party",
        "methods": ["web"],
        "segments": ["owner"],
        "projects": ["P1"],
        "period": {"start": "2026-03-01", "end": "2026-03-31"},
        "target_sample": 5,
        "target_csi": 85,
        "questions": [
            {"code": "Q1", "text": "服务", "dimension": "service", "weight": 1, "overall": False},
            {"code": "OV", "text": "总体", "dimension": "overall", "weight": 1, "overall": True},
        ],
    }
    sv = ok(api.post("/surveys", plan, **QM), 201)
    ok(api.post(f"/surveys/{sv['id']}/submit", {}, **QM))
    ok(
        api.post(
            f"/surveys/{sv['id']}/decision",
            {"approved": True},
            role="quality_manager",
            user="wu.lei",
            name="Wu Lei",
        )
    )
    ok(api.post(f"/surveys/{sv['id']}/open", {}, **QM))
    low = ok(
        api.post(
            f"/surveys/{sv['id']}/responses",
            {
                "respondent_ref": "R-1",
                "project": "P1",
                "segment": "owner",
                "method": "web",
                "answers": {"Q1": 1, "OV": 2},
            },
            **DESK,
        ),
        201,
    )
    action = low["nonconformance"]
    pos = {"min_position": low["position"]}
    body = ok(api.get(f"/audit/{low['id']}/trace", params=pos, **AUDITOR))
    assert action["number"] in {i["number"] for i in body["issues"]}
    back = ok(api.get(f"/audit/{action['number']}/trace", params=pos, **AUDITOR))
    found = {i["id"]: i for i in back["issues"]}
    assert low["id"] in found and found[low["id"]]["kind"] == "survey_response"
    assert all(link["rel"] for link in back["links"])
    # The response's and the campaign's histories have summaries as well.
    for ref in (low["id"], sv["number"]):
        assert all(
            e["summary"] for e in ok(api.get(f"/audit/{ref}", params=pos, **AUDITOR))["events"]
        )


# -- the trail --------------------------------------------------------------------------
def test_the_trail_filters_pages_in_position_order_answers_csv_and_is_scoped(
    api: Any, clock: Any
) -> None:
    api.setup_org()
    t1 = ok(api.post("/tickets", TICKET, **DESK), 201)
    t2 = ok(api.post("/tickets", {**TICKET, "project": "P2"}, **DESK), 201)
    clock.advance(days=1)
    middle = clock.now.isoformat()
    ok(
        api.post(
            f"/tickets/{t1['id']}/dispatch",
            {"department": "cleaning", "assignee": "wang.wei"},
            **SUP,
        )
    )
    last = ok(
        api.post(
            f"/tickets/{t2['id']}/dispatch",
            {"department": "cleaning", "assignee": "wang.wei"},
            **SUP,
        )
    )
    pos = {"min_position": last["position"]}

    def trail(role: dict[str, Any] = AUDITOR, **params: Any) -> list[dict[str, Any]]:
        return ok(api.get("/audit/events", params={**pos, **params}, **role))["items"]

    everything = trail(limit=500)
    assert [e["position"] for e in everything] == sorted(e["position"] for e in everything)
    by_actor = trail(actor="zhao.lei")
    assert [(e["issue_number"], e["type"]) for e in by_actor] == [
        (t1["number"], "Dispatched"),
        (t2["number"], "Dispatched"),
    ]
    assert {e["issue_number"] for e in trail(project="P2")} == {t2["number"], "P2"}
    assert {e["issue_kind"] for e in trail(kind="ticket")} == {"ticket"}
    assert {e["issue_kind"] for e in trail(kind="project")} == {"project"}
    assert [e["issue_number"] for e in trail(type="Received")] == [t1["number"], t2["number"]]
    assert {e["type"] for e in trail(**{"from": middle})} == {"Dispatched"}
    assert {e["type"] for e in trail(to=middle, kind="ticket")} == {"Received"}
    assert api.get("/audit/events", params={"from": "yesterday"}, **AUDITOR).status_code == 422
    # Paging: two at a time, in position order, nothing repeated or skipped.
    pages, cursor = [], None
    while True:
        page = ok(
            api.get(
                "/audit/events",
                params={**pos, "limit": 2, **({"cursor": cursor} if cursor else {})},
                **AUDITOR,
            )
        )
        assert len(page["items"]) <= 2
        pages.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["position"] for e in pages] == [e["position"] for e in everything]
    # CSV: the same rows, by Accept header or format=csv.
    r = api.get(
        "/audit/events", params={**pos, "limit": 500}, headers={"Accept": "text/csv"}, **AUDITOR
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["position"]) for row in rows] == [e["position"] for e in everything]
    assert rows[-1]["actor_name"] == "Zhao Lei" and rows[-1]["summary"].startswith(
        "Dispatched to cleaning"
    )
    r2 = api.get("/audit/events", params={**pos, "limit": 500, "format": "csv"}, **AUDITOR)
    assert r2.text == r.text
    # Scope: a project manager of P1 sees P1's events and none of P2's.
    mine = trail(PM1, limit=500)
    assert mine and {e["project"] for e in mine if e["project"]} == {"P1"}
    assert t2["number"] not in {e["issue_number"] for e in mine}
    assert api.get(f"/audit/{t2['number']}", params=pos, **PM1).status_code == 404
    assert api.get("/audit/events", **STAFF).status_code == 403


# -- integrity --------------------------------------------------------------------------
def test_the_integrity_endpoint_names_the_first_broken_link(api: Any) -> None:
    api.setup_org()
    t = ok(api.post("/tickets", TICKET, **DESK), 201)
    r = ok(
        api.post(
            f"/tickets/{t['id']}/dispatch",
            {"department": "cleaning", "assignee": "wang.wei"},
            **SUP,
        )
    )
    ok(api.get("/audit/events", params={"min_position": r["position"]}, **AUDITOR))
    api.container.run_projections_once()
    good = ok(api.get("/audit/integrity", **AUDITOR))
    assert good["ok"] is True and good["first_broken_link"] is None and good["events"] >= 5
    assert api.get("/audit/integrity", **STAFF).status_code == 403
    with psycopg.connect(api.container.url, autocommit=True) as conn, conn.transaction():
        conn.execute("ALTER TABLE qualtrace_events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE qualtrace_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
            " 'cleaning', 'security'), 'UTF8') WHERE originator_id = %s AND originator_version = 2",
            (t["id"],),
        )
        conn.execute("ALTER TABLE qualtrace_events ENABLE TRIGGER USER")
    # The request serves the last full verification (which saw the event intact) and
    # re-hashes only what was written since; the next full one (`qualtrace verify`, the
    # worker) finds the change (tests/e2e/test_integrity_record.py).
    assert ok(api.get("/audit/integrity", **AUDITOR))["ok"] is True
    api.container.app.audit.verify_and_record("test")
    bad = ok(api.get("/audit/integrity", **AUDITOR))
    assert bad["ok"] is False
    assert (
        bad["first_broken_link"]["issue_id"] == t["id"] and bad["first_broken_link"]["version"] == 2
    )
    assert (
        bad["first_broken_link"]["check"] == "event_hash"
        and bad["first_broken_link"]["position"] == r["position"]
    )
