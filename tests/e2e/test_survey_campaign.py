"""A survey campaign over HTTP, from draft to published results (DOMAIN.md §4, API.md):
approval with a rejection first, responses only while open, a bad CSV rejected with
row-level errors and nothing recorded, a re-imported file recognised, a low answer
raising a linked improvement action, and published CSI/CLI/intervals equal to a
recomputation from the raw events in the database."""

from __future__ import annotations

import json
import math
from typing import Any

import psycopg
from psycopg.rows import dict_row

QM1 = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
QM2 = {"role": "quality_manager", "user": "wu.lei", "name": "Wu Lei"}
DESK = {"role": "front_desk", "user": "li.na", "name": "Li Na"}

PLAN = {
    "title": "2026 第三方满意度调查",
    "objectives": "了解业主对物业服务的满意度与忠诚度",
    "party": "third_party",
    "agency": "Horizon Research",
    "methods": ["web", "phone"],
    "segments": ["owner", "tenant"],
    "projects": ["P1", "P2"],
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "target_sample": 8,
    "target_csi": 87,
    "questions": [
        {"code": "Q1", "text": "服务质量", "dimension": "service", "weight": 2, "overall": False},
        {"code": "Q2", "text": "性价比", "dimension": "value", "weight": 1, "overall": False},
        {"code": "OV", "text": "总体满意度", "dimension": "overall", "weight": 1, "overall": True},
    ],
}

GOOD_CSV = (
    "respondent_ref,project,segment,method,Q1,Q2,OV,comment\n"
    "A-001,P1,owner,web,4,4,4,\n"
    "A-002,P2,tenant,phone,3,,3,电梯经常坏，投诉多次 请回电 13812345678\n"
    "A-003,P2,owner,web,5,4,5,很好\n"
)
BAD_CSV = (
    "respondent_ref,project,segment,method,Q1,Q2,OV\n"
    "B-001,P1,owner,web,4,4,4\n"
    "B-002,P1,owner,web,7,4,4\n"
    "B-003,P9,owner,fax,4,4,\n"
    "B-004,P1,owner,web,,,\n"
)


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def raw_events(api: Any) -> list[dict[str, Any]]:
    """Every stored event as the database holds it (topic and JSON state)."""
    app = api.container.app
    table = f'"{app.datastore.schema}"."{app.recorder.events_table_name}"'
    with psycopg.connect(api.container.url, row_factory=dict_row) as conn:
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, convert_from(state, 'UTF8') AS state"
            f" FROM {table} ORDER BY notification_id"
        ).fetchall()
    return [{**r, "data": json.loads(r["state"])} for r in rows]


def recompute(events: list[dict[str, Any]], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """An independent recomputation of CSI, CLI and the interval from the raw events."""
    answers: dict[str, dict[str, Any]] = {}
    valid: dict[str, bool] = {}
    for e in events:
        oid = str(e["originator_id"])
        if e["topic"].endswith("SurveyResponse.Recorded"):
            answers[oid] = e["data"]["answers"]
            valid[oid] = True
        elif e["topic"].endswith("SurveyResponse.Invalidated"):
            valid[oid] = False
    w = {q["code"]: q["weight"] for q in questions}
    ov = next(q["code"] for q in questions if q["overall"])
    scores, overall = [], []
    for oid, a in answers.items():
        if not valid[oid]:
            continue
        num = sum(w[c] * v for c, v in a.items() if v is not None)
        den = sum(w[c] for c, v in a.items() if v is not None)
        scores.append((num / den - 1) / 4 * 100)
        if a.get(ov) is not None:
            overall.append(a[ov])
    n = len(scores)
    mean = sum(scores) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    margin = 1.96 * sd / math.sqrt(n)
    return {
        "n": n,
        "csi": round(mean, 2),
        "ci95": {"low": round(max(0, mean - margin), 2), "high": round(min(100, mean + margin), 2)},
        "cli": round(100 * sum(1 for o in overall if o >= 4) / len(overall), 2),
        "top2_box_pct": round(100 * sum(1 for o in overall if o >= 4) / len(overall), 2),
    }


def test_a_campaign_from_draft_to_published_over_http(api: Any) -> None:
    api.setup_org()
    # -- plan, reject with a reason, revise, approve by another quality manager -------------
    sv = ok(api.post("/surveys", PLAN, **QM1), 201)
    assert sv["number"].startswith("SV-2026-") and sv["status"] == "drafted"
    ref = sv["number"]
    bad = api.post("/surveys", {**PLAN, "projects": ["P1", "NOPE"]}, **QM1)
    assert bad.status_code == 422 and "projects.1" in bad.text
    bad = api.post(
        "/surveys",
        {**PLAN, "questions": [{**q, "overall": False} for q in PLAN["questions"]]},
        **QM1,
    )
    assert bad.status_code == 422 and "overall" in bad.text
    early = api.post(
        f"/surveys/{ref}/responses",
        {
            "respondent_ref": "X-1",
            "project": "P1",
            "segment": "owner",
            "method": "web",
            "answers": {"Q1": 4},
        },
        **DESK,
    )
    assert early.status_code == 409 and early.json()["state"] == "drafted"
    ok(api.post(f"/surveys/{ref}/submit", {}, **QM1))
    assert (
        api.post(f"/surveys/{ref}/decision", {"approved": False}, **QM2).status_code == 422
    )  # reason required
    r = ok(api.post(f"/surveys/{ref}/decision", {"approved": False, "reason": "样本量不足"}, **QM2))
    assert r["status"] == "drafted"
    ok(api.post(f"/surveys/{ref}/revise", {"target_sample": 6}, **QM1))
    ok(api.post(f"/surveys/{ref}/submit", {}, **QM1))
    assert (
        ok(api.post(f"/surveys/{ref}/decision", {"approved": True}, **QM2))["status"] == "approved"
    )
    shut = api.client.post(
        f"/surveys/{ref}/responses/import",
        content=GOOD_CSV.encode(),
        headers={**api.token(**QM1), "Content-Type": "text/csv"},
    )
    assert shut.status_code == 409 and shut.json()["state"] == "approved"  # not open yet
    assert ok(api.post(f"/surveys/{ref}/open", {}, **QM1))["status"] == "open"

    # -- single responses, validated against the questionnaire ------------------------------
    def respond(
        rr: str, project: str, segment: str, method: str, answers: dict[str, Any], **extra: Any
    ) -> Any:
        body = {
            "respondent_ref": rr,
            "project": project,
            "segment": segment,
            "method": method,
            "answers": answers,
            **extra,
        }
        return api.post(f"/surveys/{ref}/responses", body, **DESK)

    r1 = ok(respond("R-1", "P1", "owner", "web", {"Q1": 5, "Q2": 4, "OV": 5}), 201)
    assert r1["nonconformance"] is None
    ok(respond("R-2", "P1", "tenant", "phone", {"Q1": 4, "Q2": None, "OV": 4}), 201)
    low = ok(respond("R-3", "P2", "owner", "web", {"Q1": 2, "Q2": 3, "OV": 3}), 201)
    assert low["nonconformance"]["number"].startswith("NC-2026-")
    ok(respond("R-4", "P2", "owner", "web", {"Q1": 5, "Q2": 5, "OV": 5}), 201)
    assert (
        respond("R-1", "P1", "owner", "web", {"Q1": 1, "Q2": 1, "OV": 1}).status_code == 409
    )  # once only
    unknown = respond("R-5", "P1", "owner", "web", {"Q9": 4})
    assert unknown.status_code == 422 and "answers.Q9" in unknown.text
    assert respond("R-5", "P1", "owner", "web", {"Q1": 6}).status_code == 422
    assert (
        respond("R-5", "P1", "owner", "email", {"Q1": 4}).status_code == 422
    )  # not a campaign method
    assert respond("R-5", "P1", "owner", "web", {"Q1": None}).status_code == 422  # nothing answered
    assert (
        respond("13812345678", "P1", "owner", "web", {"Q1": 4}).status_code == 422
    )  # a phone, not a reference

    # -- a bad CSV: every bad row named, nothing recorded --------------------------------
    before = len(raw_events(api))
    h = {"Content-Type": "text/csv"}
    rejected = api.client.post(
        f"/surveys/{ref}/responses/import",
        content=BAD_CSV.encode(),
        headers={**api.token(**QM1), **h},
    )
    assert rejected.status_code == 422, rejected.text
    problem = rejected.json()
    assert rejected.headers["content-type"].startswith("application/problem+json")
    cells = {(e["row"], e["column"]) for e in problem["errors"]}
    assert {(3, "Q1"), (4, "project"), (4, "method")} <= cells
    assert any(e["row"] == 5 for e in problem["errors"])  # no answer at all
    assert not any(e["row"] == 2 for e in problem["errors"])  # the good row is not blamed
    assert len(raw_events(api)) == before  # all or nothing
    named = api.client.post(
        f"/surveys/{ref}/responses/import",
        content=b"respondent_ref,name,project\n",
        headers={**api.token(**QM1), **h},
    )
    assert named.status_code == 422 and any(e["column"] == "name" for e in named.json()["errors"])

    # -- a good CSV, then the same file again ----------------------------------------------
    imp = ok(
        api.client.post(
            f"/surveys/{ref}/responses/import",
            content=GOOD_CSV.encode(),
            headers={**api.token(**QM1), **h},
        ),
        201,
    )
    assert (
        imp["import"]["recorded"] == 3 and imp["import"]["nonconformances"] == 1
    )  # A-002 complains
    again = ok(
        api.client.post(
            f"/surveys/{ref}/responses/import",
            content=GOOD_CSV.encode(),
            headers={**api.token(**QM1), **h},
        )
    )
    assert again["import"]["already_imported"] is True and again["import"]["recorded"] == 0
    after_import = len(raw_events(api))
    assert (
        after_import == before + 3 + 1 + 1
    )  # three responses, one action, one import event; none twice

    # -- acknowledge, invalidate with a reason --------------------------------------------
    ack = ok(api.post(f"/surveys/{ref}/responses/R-1/acknowledge", {}, **DESK))
    assert ack["status"] == "acknowledged"
    assert api.post(f"/surveys/{ref}/responses/R-4/invalidate", {}, **QM1).status_code == 422
    inv = ok(
        api.post(f"/surveys/{ref}/responses/R-4/invalidate", {"reason": "同一户重复作答"}, **QM1)
    )
    assert inv["status"] == "invalidated"
    assert api.post(f"/surveys/{ref}/responses/R-4/acknowledge", {}, **DESK).status_code == 409

    # -- close, then no more responses; publish --------------------------------------------
    ok(api.post(f"/surveys/{ref}/close", {}, **QM1))
    late = respond("R-9", "P1", "owner", "web", {"Q1": 4, "Q2": 4, "OV": 4})
    assert late.status_code == 409 and late.json()["state"] == "closed"
    pub = ok(api.post(f"/surveys/{ref}/publish", {}, **QM1))
    assert pub["status"] == "published"
    results = pub["results"]

    # Hand-computed (weights Q1=2, Q2=1, OV=1; R-4 invalidated; null Q2 drops out):
    # R-1 (10+4+5)/4=4.75→93.75; R-2 (8+4)/3=4→75; R-3 (4+3+3)/4=2.5→37.5;
    # A-001 4→75; A-002 (6+3)/3=3→50; A-003 (10+4+5)/4=4.75→93.75.  mean = 425/6
    assert results["n"] == 6 and results["recorded"] == 7 and results["invalidated"] == 1
    assert results["csi"] == round(425 / 6, 2) == 70.83
    assert results["top2_box_pct"] == round(400 / 6, 2)  # OV: 5,4,3,4,3,5 → 4 of 6 at 4-5
    assert results["cli"] == round(400 / 6, 2)
    assert (
        results["loyalty"]["vulnerable"]["count"] == 2 and results["loyalty"]["loyal"]["count"] == 2
    )
    assert results["gap_to_target"] == round(425 / 6 - 87, 2)
    assert results["response_rate_pct"] == 100.0  # 6 of the revised target sample of 6
    assert (
        set(results["by_project"]) == {"P1", "P2"} and results["by_party"]["third_party"]["n"] == 6
    )
    assert results["previous"] is None

    # ... and equal to a recomputation from the raw events in the database.
    events = raw_events(api)
    again_computed = recompute(events, PLAN["questions"])
    for key in ("n", "csi", "ci95", "cli", "top2_box_pct"):
        assert results[key] == again_computed[key], key
    published = [e for e in events if e["topic"].endswith("SurveyCampaign.Published")]
    assert len(published) == 1 and published[0]["data"]["results"]["csi"] == results["csi"]
    assert published[0]["data"]["parameters"]["weights"] == {"Q1": 2.0, "Q2": 1.0, "OV": 1.0}
    assert published[0]["data"]["parameters"]["loyalty_mapping"]["4"] == "favourable"
    shown = ok(
        api.get(
            f"/surveys/{ref}/results", role="reporting", params={"min_position": pub["position"]}
        )
    )
    assert shown["provisional"] is False and shown["results"]["csi"] == results["csi"]

    # -- privacy: pseudonymous references only; no phone in any stored event ---------------
    assert not any("13812345678" in e["state"] for e in events)
    a002 = ok(api.get(f"/surveys/{ref}/responses/A-002", role="quality_manager"))
    assert "[redacted]" in a002["comment"] and a002["complaint"] is True

    # -- the improvement action, linked both ways -----------------------------------------
    nc_number = low["nonconformance"]["number"]
    nc = ok(
        api.get(
            f"/nonconformances/{nc_number}",
            role="quality_manager",
            params={"min_position": pub["position"]},
        )
    )
    assert nc["source"]["type"] == "survey" and nc["source"]["number"] == ref
    r3 = ok(api.get(f"/surveys/{ref}/responses/R-3", role="quality_manager"))
    assert r3["nonconformance"]["number"] == nc_number
    trace = ok(
        api.get(
            f"/audit/{nc_number}/trace", role="auditor", params={"min_position": pub["position"]}
        )
    )
    traced = json.dumps(trace)
    assert sv["id"] in traced and low["id"] in traced
    actions = [e for e in events if e["topic"].endswith("Nonconformance.Raised")]
    assert len(actions) == 2  # R-3's low answer and A-002's complaint, each exactly once
    raised = next(e for e in actions if e["data"]["number"] == nc_number)
    assert (
        raised["data"]["causation_id"] == f"{low['id']}:1"
    )  # caused by the response's Recorded event
    # Seed 001's loop runs through the nonconformance lifecycle: root cause, improvement
    # plan, approval, execution, verification (asking the respondent whether it worked).
    pm = {"role": "project_manager", "user": "chen.gang", "name": "Chen Gang", "projects": ("P2",)}
    ok(
        api.post(
            f"/nonconformances/{nc_number}/notice",
            {"responsible_department": "customer_service", "responsible_person": "Wang Qiang"},
            **QM1,
        )
    )
    ok(
        api.post(
            f"/nonconformances/{nc_number}/root-cause", {"analysis": "报修响应慢，缺少跟进"}, **pm
        )
    )
    ok(
        api.post(
            f"/nonconformances/{nc_number}/plan",
            {"corrective_actions": ["报修24小时回访"], "preventive_actions": ["每周复盘报修时效"]},
            **pm,
        )
    )
    ok(api.post(f"/nonconformances/{nc_number}/plan-decision", {"approved": True}, **QM2))
    ok(api.post(f"/nonconformances/{nc_number}/rectified", {"summary": "已执行改进计划"}, **pm))
    done = ok(
        api.post(
            f"/nonconformances/{nc_number}/verification",
            {"effective": True, "notes": "回访受访者 R-3：改进有效，满意"},
            **QM1,
        )
    )
    assert done["status"] == "closed"

    # -- the lists -----------------------------------------------------------------------
    listed = ok(
        api.get(
            "/surveys",
            role="auditor",
            params={"status": "published", "min_position": pub["position"]},
        )
    )
    row = next(i for i in listed["items"] if i["number"] == ref)
    assert (row["responses"], row["invalidated"], row["acknowledged"], row["nonconformances"]) == (
        7,
        1,
        1,
        2,
    )
    assert row["csi"] == results["csi"] and row["regions"] == ["SH"]
    resp = ok(api.get(f"/surveys/{ref}/responses", role="auditor", params={"valid": "false"}))
    assert [i["respondent_ref"] for i in resp["items"]] == ["R-4"]
    scoped = ok(api.get(f"/surveys/{ref}/responses", role="supervisor", projects=("P1",)))
    assert {i["project"] for i in scoped["items"]} == {"P1"}


def test_publishing_a_second_campaign_of_the_same_scope_compares_with_the_first(api: Any) -> None:
    api.setup_org()
    plan = {**PLAN, "party": "first_party", "agency": None, "projects": ["P1"]}
    numbers = []
    for answers in ({"Q1": 4, "Q2": 4, "OV": 4}, {"Q1": 5, "Q2": 5, "OV": 5}):
        ref = ok(api.post("/surveys", plan, **QM1), 201)["number"]
        ok(api.post(f"/surveys/{ref}/submit", {}, **QM1))
        ok(api.post(f"/surveys/{ref}/decision", {"approved": True}, **QM2))
        ok(api.post(f"/surveys/{ref}/open", {}, **QM1))
        ok(
            api.post(
                f"/surveys/{ref}/responses",
                {
                    "respondent_ref": "H-1",
                    "project": "P1",
                    "segment": "owner",
                    "method": "web",
                    "answers": answers,
                },
                **DESK,
            ),
            201,
        )
        ok(api.post(f"/surveys/{ref}/close", {}, **QM1))
        numbers.append(ok(api.post(f"/surveys/{ref}/publish", {}, **QM1)))
    first, second = (n["results"] for n in numbers)
    assert first["csi"] == 75.0 and first["ci95"] is None  # a single response: no interval
    assert second["csi"] == 100.0
    assert second["previous"]["number"] == numbers[0]["number"]
    assert second["previous"]["csi_change"] == 25.0 and second["previous"]["cli_change"] == 0.0


def test_an_agency_file_may_be_larger_than_an_ordinary_request_body(live: Any) -> None:
    """The CSV import has its own size limit (`max_import_bytes`), so a 100,000-row file
    (about 4 MB) is not refused by the 1 MiB limit of every other request."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.conftest import Api

    live.settings.max_body_bytes = 200  # scaled down: a plan is larger than this, a file too
    with TestClient(create_app(live)) as client:
        api = Api(client, live)
        big_plan = api.post("/surveys", PLAN, **QM1)
        assert big_plan.status_code == 413
        live.settings.max_body_bytes = 1_048_576
    with TestClient(create_app(live)) as client:
        api = Api(client, live)
        api.setup_org()
        ref = ok(api.post("/surveys", PLAN, **QM1), 201)["number"]
        ok(api.post(f"/surveys/{ref}/submit", {}, **QM1))
        ok(api.post(f"/surveys/{ref}/decision", {"approved": True}, **QM2))
        ok(api.post(f"/surveys/{ref}/open", {}, **QM1))
    live.settings.max_body_bytes = 200
    rows = "".join(f"L-{i:04d},P1,owner,web,4,4,4,\n" for i in range(40))
    data = ("respondent_ref,project,segment,method,Q1,Q2,OV,comment\n" + rows).encode()
    assert len(data) > 200
    with TestClient(create_app(live)) as client:
        api = Api(client, live)
        imported = client.post(
            f"/surveys/{ref}/responses/import",
            content=data,
            headers={**api.token(**QM1), "Content-Type": "text/csv"},
        )
        assert imported.status_code == 201, imported.text
        assert imported.json()["import"]["recorded"] == 40
