"""The HTTP contract of API.md, followed literally, as a stranger would: every documented
endpoint answers its documented status and fields; errors are problem+json with the
documented statuses. One test per area; each builds the little it needs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from qualtrace.settings import Settings
from tests.conftest import Api, Clock, _with_db

PROBLEM = "application/problem+json"
ANSWER = {"id", "number", "status", "version", "position"}

# Every endpoint API.md names, as (method, path template).
DOCUMENTED = [
    ("POST", "/regions"),
    ("GET", "/regions"),
    ("POST", "/projects"),
    ("GET", "/projects"),
    ("POST", "/tickets"),
    ("GET", "/tickets"),
    ("GET", "/tickets/{id}"),
    *[
        ("POST", f"/tickets/{{id}}/{s}")
        for s in (
            "dispatch",
            "accept",
            "transfer",
            "notes",
            "resolve",
            "callback",
            "reopen",
            "close",
            "cancel",
            "escalate",
        )
    ],
    ("POST", "/checklist-templates"),
    ("GET", "/checklist-templates"),
    ("GET", "/checklist-templates/{id}"),
    ("POST", "/checklist-templates/{id}/publish"),
    ("POST", "/inspections"),
    ("GET", "/inspections"),
    ("GET", "/inspections/{id}"),
    *[
        ("POST", f"/inspections/{{id}}/{s}")
        for s in ("start", "scores", "submit", "appeal", "appeal-decision", "finalize", "cancel")
    ],
    ("POST", "/nonconformances"),
    ("GET", "/nonconformances"),
    ("GET", "/nonconformances/{id}"),
    *[
        ("POST", f"/nonconformances/{{id}}/{s}")
        for s in (
            "notice",
            "root-cause",
            "plan",
            "plan-decision",
            "rectified",
            "verification",
            "extension",
            "extension-decision",
            "cancel",
        )
    ],
    ("POST", "/surveys"),
    ("GET", "/surveys"),
    ("GET", "/surveys/{id}"),
    ("GET", "/surveys/{id}/results"),
    *[
        ("POST", f"/surveys/{{id}}/{s}")
        for s in ("submit", "decision", "open", "responses", "responses/import", "close", "publish")
    ],
    ("POST", "/surveys/{id}/responses/{rid}/acknowledge"),
    ("POST", "/surveys/{id}/responses/{rid}/invalidate"),
    ("GET", "/audit/{id}"),
    ("GET", "/audit/{id}/as-of"),
    ("GET", "/audit/{id}/trace"),
    ("GET", "/audit/events"),
    ("GET", "/audit/integrity"),
    ("GET", "/kpis/tickets"),
    ("GET", "/kpis/inspections"),
    ("GET", "/kpis/nonconformances"),
    ("GET", "/kpis/surveys"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]

TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "plumbing",
    "description": "kitchen pipe leaking",
    "reporter": {"name": "Zhang San", "unit": "3-1201", "phone": "13812345678"},
}
TEMPLATE = {
    "name": "Monthly quality check",
    "sections": [
        {
            "code": "CS",
            "name": "Customer service",
            "items": [
                {
                    "code": "CS1",
                    "requirement": "Greets residents",
                    "max_points": 10,
                    "critical": False,
                },
                {
                    "code": "CS2",
                    "requirement": "Answers the phone",
                    "max_points": 10,
                    "critical": True,
                },
            ],
        },
        {
            "code": "SE",
            "name": "Security",
            "items": [
                {
                    "code": "SE1",
                    "requirement": "Patrols on time",
                    "max_points": 5,
                    "critical": False,
                },
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def api(pg_admin_url: str, template_db: str) -> Iterator[Api]:
    """One service and database for the whole module (each test works in its own projects),
    so the contract is walked in seconds rather than a database per test."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from qualtrace.bootstrap import bootstrap

    name = f"qt_contract_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    settings = Settings(
        database_url=_with_db(pg_admin_url, name), pool_size=4, read_wait_seconds=5.0
    )
    c = bootstrap(settings, clock=Clock(), setup=True)
    c.start_projections()
    try:
        with TestClient(create_app(c)) as client:
            yield Api(client, c)
    finally:
        c.stop_projections()
        c.close()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def org(api: Api, tag: str) -> tuple[str, str, str]:
    """A region and two projects of this test's own: (region, project 1, project 2)."""
    region, p1, p2 = f"R{tag}", f"{tag}1", f"{tag}2"
    api.setup_org(region, (p1, p2))
    return region, p1, p2


def ticket(project: str, **changes: Any) -> dict[str, Any]:
    return {**TICKET, "project": project, **changes}


def problem(r: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 answer with this status; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and "detail" in body and "type" in body
    return body


def bad_paths(r: Any) -> list[str]:
    return [e["path"] for e in problem(r, 422)["errors"]]


def command(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert ANSWER <= set(body), body
    assert isinstance(body["version"], int) and isinstance(body["position"], int)
    return body


def test_openapi_serves_every_documented_endpoint(api: Any) -> None:
    spec = api.client.get("/openapi.json")
    assert spec.status_code == 200
    assert api.client.get("/docs").status_code == 200
    served = {
        (m.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, ops in spec.json()["paths"].items()
        for m in ops
    }
    missing = [(m, p) for m, p in DOCUMENTED if (m, re.sub(r"\{[^}]+\}", "{}", p)) not in served]
    assert missing == []
    # Every query accepts `min_position` (read your own writes).
    no_wait = [
        path
        for path, ops in spec.json()["paths"].items()
        if "get" in ops
        and path not in ("/healthz", "/readyz")
        and re.sub(r"\{[^}]+\}", "{}", path)
        in {re.sub(r"\{[^}]+\}", "{}", p) for m, p in DOCUMENTED if m == "GET"}
        and "min_position" not in {p["name"] for p in ops["get"].get("parameters", [])}
    ]
    assert no_wait == []


def test_organisation_tokens_and_conventions(
    api: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Service endpoints need no token.
    assert api.client.get("/healthz").status_code == 200
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and "projections" in ready.json()
    # 401 without a token, with a bad one, with another scheme.
    problem(api.client.get("/regions"), 401)
    problem(api.client.get("/regions", headers={"Authorization": "Bearer nope"}), 401)
    problem(api.client.get("/regions", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401)

    r = api.post("/regions", {"code": "OSH", "name": "Shanghai"})
    region = command(r, 201)
    assert region["version"] == 1
    problem(api.post("/regions", {"code": "OSH", "name": "Shanghai again"}), 409)
    assert set(bad_paths(api.post("/regions", {"name": "no code"}))) == {"code"}
    problem(api.post("/regions", {"code": "OBJ", "name": "Beijing"}, role="front_desk"), 403)
    command(
        api.post(
            "/projects", {"code": "O1", "name": "Green Garden", "region": "OSH", "households": 1200}
        ),
        201,
    )
    last = command(api.post("/projects", {"code": "O2", "name": "Lake View", "region": "OSH"}), 201)
    assert bad_paths(api.post("/projects", {"code": "O3", "name": "x", "region": "NOPE"})) == [
        "region"
    ]
    problem(api.post("/projects", {"code": "O1", "name": "dup", "region": "OSH"}), 409)

    regions = api.get("/regions", params={"min_position": region["position"]})
    assert regions.status_code == 200 and "X-Read-Position" in regions.headers
    assert "OSH" in [x["code"] for x in regions.json()["items"]] and "next_cursor" in regions.json()
    # Read our own writes: at the position of the last project registered (O1 came before).
    listed = api.get("/projects", role="admin", params={"min_position": last["position"]})
    projects = {p["code"]: p for p in listed.json()["items"]}
    assert (projects["O1"]["name"], projects["O1"]["region"], projects["O1"]["households"]) == (
        "Green Garden",
        "OSH",
        1200,
    )
    assert (projects["O2"]["name"], projects["O2"]["region"]) == ("Lake View", "OSH")

    # Unknown project code: 422 naming `project`.
    assert bad_paths(api.post("/tickets", ticket("O9"), role="front_desk")) == ["project"]
    # Malformed JSON, a non-object body, a body over the limit.
    h = {**api.token("front_desk"), "Content-Type": "application/json"}
    assert bad_paths(api.client.post("/tickets", content=b"{not json", headers=h)) == ["body"]
    problem(api.client.post("/tickets", content=b"[1, 2]", headers=h), 422)
    big = b'{"text": "' + b"x" * (api.container.settings.max_body_bytes + 10) + b'"}'
    problem(api.client.post("/tickets", content=big, headers=h), 413)
    # Unknown issue: 404 on queries and commands, by number or UUID.
    problem(api.get("/tickets/TK-2026-999999"), 404)
    problem(api.get(f"/tickets/{uuid.uuid4()}"), 404)
    problem(api.post("/tickets/TK-2026-999999/accept", role="staff"), 404)
    # Every answer carries a correlation id; one the client sends is kept.
    r = api.get("/projects", headers={"X-Correlation-ID": "corr-contract-1"})
    assert r.headers["X-Correlation-ID"] == "corr-contract-1"

    # The token CLI prints the token on its last line; it works at once, scoped as asked.
    from qualtrace.cli import main

    monkeypatch.setenv("DATABASE_URL", api.container.url)
    capsys.readouterr()
    assert (
        main(
            [
                "token",
                "create",
                "--user",
                "li.na",
                "--name",
                "Li Na",
                "--role",
                "front_desk",
                "--project",
                "O2",
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip().splitlines()[-1]
    bearer = {"Authorization": f"Bearer {token}"}
    r = api.client.post("/tickets", json=ticket("O2"), headers=bearer)
    mine = command(r, 201)
    # Outside its scope it commands nothing (the service answers as for a project it cannot see).
    r = api.client.post("/tickets", json=ticket("O1"), headers=bearer)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["errors"] == [{"path": "project", "message": "unknown project code 'O1'"}]
    assert api.client.get(f"/tickets/{mine['id']}", headers=bearer).status_code == 200
    events = api.get(f"/audit/{mine['number']}", params={"min_position": mine["position"]}).json()[
        "events"
    ]
    assert events[0]["actor"] == {"id": "li.na", "name": "Li Na", "role": "front_desk"}
    # `qualtrace verify` checks the store's integrity: exit 0 when intact.
    capsys.readouterr()
    assert main(["verify"]) == 0
    assert '"first_broken_link": null' in capsys.readouterr().out


def test_tickets(api: Any) -> None:
    _, p1, p2 = org(api, "T")
    desk = {"role": "front_desk", "user": "li.na", "name": "Li Na"}
    staff = {"role": "staff", "user": "wang.wei", "name": "Wang Wei", "projects": (p1,)}
    sup = {"role": "supervisor"}
    t = command(
        api.post("/tickets", ticket(p1), headers={"X-Correlation-ID": "call-42"}, **desk), 201
    )
    assert (
        re.fullmatch(r"TK-\d{4}-\d{6}", t["number"])
        and t["status"] == "received"
        and t["version"] == 1
    )
    n = t["number"]
    # 422 names every bad field by its path, nested ones dotted.
    r = api.post("/tickets", {**ticket(p1), "kind": "bogus", "reporter": {"name": "x"}}, **desk)
    assert set(bad_paths(r)) == {"kind", "reporter.unit", "reporter.phone"}
    assert "rating" in bad_paths(
        api.post(f"/tickets/{n}/callback", {"reached": True, "rating": 6}, **desk)
    )
    # 409 names the state and the steps it allows.
    body = problem(api.post(f"/tickets/{n}/accept", **staff), 409)
    assert body["state"] == "received" and "dispatch" in body["allowed_steps"]
    assert "received" in body["detail"] and "dispatch" in body["detail"]
    # 403: a role the step is not for.
    problem(
        api.post(
            f"/tickets/{n}/dispatch",
            {"department": "engineering", "assignee": "wang.wei"},
            role="auditor",
        ),
        403,
    )
    d = command(
        api.post(
            f"/tickets/{t['id']}/dispatch",
            {"department": "engineering", "assignee": "wang.wei"},
            headers={"If-Match": "1"},
            **sup,
        )
    )
    assert d["status"] == "dispatched" and d["version"] == 2 and d["position"] > t["position"]
    # If-Match: the issue has moved on → 412; not a version → 422 naming the header.
    problem(
        api.post(f"/tickets/{n}/notes", {"text": "late"}, headers={"If-Match": "1"}, **desk), 412
    )
    assert bad_paths(
        api.post(f"/tickets/{n}/notes", {"text": "x"}, headers={"If-Match": "abc"}, **desk)
    ) == ["If-Match"]
    assert command(api.post(f"/tickets/{n}/accept", **staff))["status"] == "in_progress"
    # Idempotency-Key: the retry returns the first answer and records nothing; another body is 422.
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = command(
        api.post(f"/tickets/{n}/notes", {"text": "called the resident"}, headers=key, **desk)
    )
    again = command(
        api.post(f"/tickets/{n}/notes", {"text": "called the resident"}, headers=key, **desk)
    )
    assert again == first
    assert bad_paths(api.post(f"/tickets/{n}/notes", {"text": "other"}, headers=key, **desk)) == [
        "Idempotency-Key"
    ]
    tr = command(
        api.post(
            f"/tickets/{n}/transfer",
            {"department": "security", "reason": "wrong department"},
            **sup,
        )
    )
    assert tr["version"] == first["version"] + 1
    command(api.post(f"/tickets/{n}/accept", **staff))
    assert (
        command(api.post(f"/tickets/{n}/resolve", {"resolution": "joint replaced"}, **staff))[
            "status"
        ]
        == "resolved"
    )
    # An unsatisfied callback reopens; the explicit reopen needs a reason.
    cb = command(
        api.post(
            f"/tickets/{n}/callback",
            {"reached": True, "satisfied": False, "rating": 2, "comment": "still wet"},
            **desk,
        )
    )
    assert cb["status"] == "reopened"
    command(api.post(f"/tickets/{n}/accept", **staff))
    command(api.post(f"/tickets/{n}/resolve", {"resolution": "pipe replaced"}, **staff))
    assert bad_paths(api.post(f"/tickets/{n}/reopen", {}, **desk)) == ["reason"]
    assert (
        command(
            api.post(f"/tickets/{n}/reopen", {"reason": "resident called: leaking again"}, **desk)
        )["status"]
        == "reopened"
    )
    command(api.post(f"/tickets/{n}/accept", **staff))
    command(api.post(f"/tickets/{n}/resolve", {"resolution": "whole pipe replaced"}, **staff))
    command(
        api.post(
            f"/tickets/{n}/callback", {"reached": True, "satisfied": True, "rating": 5}, **desk
        )
    )
    closed = command(api.post(f"/tickets/{n}/close", {}, **desk))
    assert closed["status"] == "closed"
    problem(api.post(f"/tickets/{n}/close", {}, **desk), 409)

    # Close with a supervisor's override after unreached callbacks.
    t2 = command(api.post("/tickets", {**ticket(p1), "priority": "low"}, **desk), 201)["number"]
    command(
        api.post(
            f"/tickets/{t2}/dispatch", {"department": "engineering", "assignee": "wang.wei"}, **sup
        )
    )
    command(api.post(f"/tickets/{t2}/accept", **staff))
    command(api.post(f"/tickets/{t2}/resolve", {"resolution": "done"}, **staff))
    for _ in range(3):
        command(api.post(f"/tickets/{t2}/callback", {"reached": False}, **desk))
    problem(api.post(f"/tickets/{t2}/close", {}, **desk), 409)
    assert (
        command(
            api.post(f"/tickets/{t2}/close", {"override_reason": "unreachable three times"}, **sup)
        )["status"]
        == "closed"
    )
    # Cancel needs a reason.
    t3 = command(api.post("/tickets", {**ticket(p1), "kind": "inquiry"}, **desk), 201)["number"]
    assert bad_paths(api.post(f"/tickets/{t3}/cancel", {}, **desk)) == ["reason"]
    assert (
        command(api.post(f"/tickets/{t3}/cancel", {"reason": "duplicate"}, **desk))["status"]
        == "cancelled"
    )
    # Escalate answers the raised nonconformance.
    t4 = command(
        api.post("/tickets", {**ticket(p1), "kind": "complaint", "priority": "urgent"}, **desk), 201
    )["number"]
    esc = command(
        api.post(
            f"/tickets/{t4}/escalate", {"reason": "repeated complaint", "severity": "major"}, **sup
        )
    )
    nc = esc["nonconformance"]
    assert re.fullmatch(r"NC-\d{4}-\d{6}", nc["number"]) and uuid.UUID(nc["id"])
    last = esc["position"]

    # Queries: the detail by number or UUID; the list with its filters, paged.
    detail = api.get(f"/tickets/{t['id']}", role="supervisor", params={"min_position": last})
    assert detail.status_code == 200 and int(detail.headers["X-Read-Position"]) >= last
    dj = detail.json()
    assert dj["id"] == t["id"] and dj["number"] == n and dj["status"] == "closed"
    for field in (
        "project",
        "kind",
        "channel",
        "priority",
        "category",
        "description",
        "reporter",
        "version",
    ):
        assert field in dj
    assert dj["reporter"] == ticket(p1)["reporter"]  # a supervisor sees it in full
    # The detail's ETag is its version, usable as If-Match.
    assert detail.headers["ETag"] == f'"{dj["version"]}"'
    command(
        api.post(
            f"/tickets/{n}/notes",
            {"text": "archived"},
            headers={"If-Match": detail.headers["ETag"]},
            **desk,
        )
    )
    assert api.get(f"/tickets/{n}", role="auditor").json()["reporter"]["phone"] == "138****5678"
    everything = api.get(
        "/tickets", role="supervisor", params={"project": p1, "min_position": last}
    ).json()
    assert {x["number"] for x in everything["items"]} == {n, t2, t3, t4}
    for query, expected in [
        ({"project": p1, "status": "cancelled"}, {t3}),
        ({"kind": "complaint"}, {t4}),
        ({"priority": "low"}, {t2}),
        ({"department": "security"}, {n}),
        ({"project": p2}, set()),
    ]:
        r = api.get("/tickets", role="supervisor", params={"project": p1, **query})
        assert r.status_code == 200 and {x["number"] for x in r.json()["items"]} == expected, query
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {
            "project": p1,
            "limit": 3,
            **({"cursor": cursor} if cursor else {}),
        }
        page = api.get("/tickets", role="supervisor", params=params).json()
        assert len(page["items"]) <= 3
        seen += [x["number"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted({n, t2, t3, t4})
    assert bad_paths(api.get("/tickets", params={"limit": 501})) == ["limit"]
    assert bad_paths(api.get("/tickets", params={"cursor": "not-a-cursor"})) == ["cursor"]
    # The correlation id the client sent is on the event.
    events = api.get(f"/audit/{n}", params={"min_position": last}).json()["events"]
    assert events[0]["correlation_id"] == "call-42"


def test_checklist_templates_and_inspections(api: Any) -> None:
    _, p1, p2 = org(api, "I")
    insp = {"role": "inspector", "user": "insp.zhou", "name": "Zhou"}
    pm = {"role": "project_manager", "projects": (p1,)}
    qm = {"role": "quality_manager"}
    problem(api.post("/checklist-templates", TEMPLATE, **insp), 403)
    bad = {
        "name": "x",
        "sections": [
            {
                "code": "A",
                "name": "a",
                "items": [{"code": "A1", "requirement": "r", "max_points": -1, "critical": False}],
            }
        ],
    }
    assert bad_paths(api.post("/checklist-templates", bad)) == ["sections.0.items.0.max_points"]
    tpl = command(api.post("/checklist-templates", TEMPLATE), 201)
    tid = tpl["id"]
    pub = command(api.post(f"/checklist-templates/{tid}/publish", {}))
    assert pub["template_version"] == 1
    problem(api.post(f"/checklist-templates/{tid}/publish", {}), 409)
    listed = api.get(
        "/checklist-templates", role="inspector", params={"min_position": pub["position"]}
    )
    assert listed.status_code == 200 and tid in {x["id"] for x in listed.json()["items"]}
    one = api.get(f"/checklist-templates/{tid}", role="inspector")
    assert one.status_code == 200 and one.json()["name"] == TEMPLATE["name"]
    problem(api.get(f"/checklist-templates/{uuid.uuid4()}", role="inspector"), 404)

    sched = {
        "project": p1,
        "kind": "regional_monthly",
        "template_id": tid,
        "planned_for": "2026-03-16",
        "inspectors": ["insp.zhou"],
    }
    assert bad_paths(api.post("/inspections", {**sched, "project": "P9"}, **insp)) == ["project"]
    assert bad_paths(api.post("/inspections", {**sched, "template_version": 9}, **insp)) == [
        "template_version"
    ]
    assert set(
        bad_paths(api.post("/inspections", {**sched, "kind": "stroll", "inspectors": []}, **insp))
    ) == {"kind", "inspectors"}
    ins = command(api.post("/inspections", {**sched, "template_version": 1}, **insp), 201)
    assert re.fullmatch(r"INS-\d{4}-\d{6}", ins["number"]) and ins["status"] == "scheduled"
    ref = ins["number"]
    body = problem(
        api.post(
            f"/inspections/{ref}/scores", {"item": "CS1", "points": 10, "result": "pass"}, **insp
        ),
        409,
    )
    assert body["state"] == "scheduled" and "start" in body["allowed_steps"]
    assert command(api.post(f"/inspections/{ref}/start", {}, **insp))["status"] == "in_progress"
    command(
        api.post(
            f"/inspections/{ref}/scores", {"item": "CS1", "points": 10, "result": "pass"}, **insp
        )
    )
    assert bad_paths(
        api.post(
            f"/inspections/{ref}/scores", {"item": "CS1", "points": 9, "result": "pass"}, **insp
        )
    ) == ["reason"]
    command(
        api.post(
            f"/inspections/{ref}/scores",
            {"item": "CS1", "points": 9, "result": "pass", "reason": "recounted"},
            **insp,
        )
    )
    assert bad_paths(
        api.post(
            f"/inspections/{ref}/scores", {"item": "CS2", "points": 11, "result": "fail"}, **insp
        )
    ) == ["points"]
    assert bad_paths(
        api.post(
            f"/inspections/{ref}/scores", {"item": "XX9", "points": 1, "result": "pass"}, **insp
        )
    ) == ["item"]
    command(
        api.post(
            f"/inspections/{ref}/scores",
            {
                "item": "CS2",
                "points": 0,
                "result": "fail",
                "finding": "phone unanswered",
                "evidence": ["photo-1.jpg"],
            },
            **insp,
        )
    )
    command(
        api.post(f"/inspections/{ref}/scores", {"item": "SE1", "points": 0, "result": "na"}, **insp)
    )
    sub = command(api.post(f"/inspections/{ref}/submit", {}, **insp))
    assert sub["status"] == "submitted"
    # score = awarded ÷ applicable max × 100 = 9 / 20; below 75 → −10 %.
    assert sub["score"] == pytest.approx(45.0) and sub["grade"] and sub["pay_adjustment_pct"] == -10
    problem(
        api.post(
            f"/inspections/{ref}/appeal", {"items": ["CS2"], "reason": "line was down"}, **insp
        ),
        403,
    )
    assert (
        command(
            api.post(
                f"/inspections/{ref}/appeal", {"items": ["CS2"], "reason": "line was down"}, **pm
            )
        )["status"]
        == "appealed"
    )
    dec = command(
        api.post(
            f"/inspections/{ref}/appeal-decision",
            {
                "accepted": True,
                "adjustments": [{"item": "CS2", "points": 6}],
                "reason": "outage confirmed",
            },
            **qm,
        )
    )
    assert dec["score"] == pytest.approx(75.0)
    fin = command(api.post(f"/inspections/{ref}/finalize", {}, **insp))
    assert fin["status"] == "finalized"
    problem(api.post(f"/inspections/{ref}/start", {}, **insp), 409)

    other = command(
        api.post("/inspections", {**sched, "planned_for": "2026-03-20T09:00:00+08:00"}, **insp), 201
    )
    assert bad_paths(api.post(f"/inspections/{other['number']}/cancel", {}, **qm)) == ["reason"]
    assert (
        command(
            api.post(f"/inspections/{other['number']}/cancel", {"reason": "site closed"}, **qm)
        )["status"]
        == "cancelled"
    )

    detail = api.get(
        f"/inspections/{ref}", role="auditor", params={"min_position": fin["position"]}
    )
    assert detail.status_code == 200
    dj = detail.json()
    assert detail.headers["ETag"] == f'"{fin["version"]}"'
    assert dj["status"] == "finalized" and dj["score"] == pytest.approx(75.0) and dj["grade"]
    assert {i["code"] for i in dj["items"]} == {"CS1", "CS2", "SE1"}
    assert [x["number"] for x in dj["raised_nonconformances"]] == [
        x["number"] for x in sub["nonconformances"]
    ]
    rows = api.get(
        "/inspections",
        role="auditor",
        params={
            "project": p1,
            "kind": "regional_monthly",
            "status": "finalized",
            "month": "2026-03",
            "min_position": fin["position"],
        },
    ).json()["items"]
    assert [r["number"] for r in rows] == [ref]
    assert (
        api.get("/inspections", role="auditor", params={"project": p1, "month": "2026-04"}).json()[
            "items"
        ]
        == []
    )
    assert bad_paths(api.get("/inspections", params={"month": "2026-13"})) == ["month"]


def test_nonconformances(api: Any) -> None:
    _, p1, p2 = org(api, "N")
    insp = {"role": "inspector"}
    qm = {"role": "quality_manager"}
    pm = {"role": "project_manager", "projects": (p1,)}
    raise_nc = {
        "project": p1,
        "source": {"type": "self_report"},
        "severity": "major",
        "description": "gate lock broken",
        "department": "security",
    }
    assert set(
        bad_paths(
            api.post(
                "/nonconformances",
                {**raise_nc, "source": {"type": "gossip"}, "severity": "huge"},
                **insp,
            )
        )
    ) == {"source.type", "severity"}
    assert bad_paths(api.post("/nonconformances", {**raise_nc, "project": "P9"}, **insp)) == [
        "project"
    ]
    problem(api.post("/nonconformances", raise_nc, role="front_desk"), 403)
    nc = command(api.post("/nonconformances", raise_nc, **insp), 201)
    assert re.fullmatch(r"NC-\d{4}-\d{6}", nc["number"]) and nc["status"] == "raised"
    ref = nc["number"]
    body = problem(api.post(f"/nonconformances/{ref}/root-cause", {"analysis": "worn"}, **pm), 409)
    assert body["state"] == "raised" and "notice" in body["allowed_steps"]
    command(
        api.post(
            f"/nonconformances/{ref}/notice",
            {
                "responsible_department": "security",
                "responsible_person": "chen",
                "due_date": "2099-12-31",
            },
            **qm,
        )
    )
    command(api.post(f"/nonconformances/{ref}/root-cause", {"analysis": "lock worn out"}, **pm))
    command(
        api.post(
            f"/nonconformances/{ref}/plan",
            {"corrective_actions": ["replace lock"], "preventive_actions": ["monthly lock check"]},
            **pm,
        )
    )
    sent_back = command(
        api.post(
            f"/nonconformances/{ref}/plan-decision",
            {"approved": False, "reason": "no owner named"},
            **qm,
        )
    )
    assert sent_back["status"] != "plan_approved"
    command(
        api.post(
            f"/nonconformances/{ref}/plan",
            {
                "corrective_actions": ["chen replaces the lock"],
                "preventive_actions": ["monthly lock check"],
            },
            **pm,
        )
    )
    assert (
        command(api.post(f"/nonconformances/{ref}/plan-decision", {"approved": True}, **qm))[
            "status"
        ]
        == "plan_approved"
    )
    command(
        api.post(
            f"/nonconformances/{ref}/extension",
            {
                "new_due_date": "2100-01-10",
                "reason": "part on order",
                "remedial_measures": "guard posted",
            },
            **pm,
        )
    )
    command(api.post(f"/nonconformances/{ref}/extension-decision", {"approved": True}, **qm))
    assert (
        command(
            api.post(
                f"/nonconformances/{ref}/rectified",
                {"summary": "lock replaced", "evidence": ["p.jpg"]},
                **pm,
            )
        )["status"]
        == "rectified"
    )
    # Not effective: a new notice (count + 1), the cycle runs again.
    renotice = command(
        api.post(
            f"/nonconformances/{ref}/verification",
            {"effective": False, "notes": "still loose"},
            **qm,
        )
    )
    assert renotice["status"] == "noticed"
    detail = api.get(f"/nonconformances/{ref}", role="auditor").json()
    assert detail["notice_count"] == 2 and detail["status"] == "noticed"
    steps: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("root-cause", {"analysis": "wrong lock model"}, pm),
        (
            "plan",
            {"corrective_actions": ["fit a heavy-duty lock"], "preventive_actions": ["spec sheet"]},
            pm,
        ),
        ("plan-decision", {"approved": True}, qm),
        ("rectified", {"summary": "heavy-duty lock fitted"}, pm),
    ]
    for step, payload, who in steps:
        command(api.post(f"/nonconformances/{ref}/{step}", payload, **who))
    closed = command(api.post(f"/nonconformances/{ref}/verification", {"effective": True}, **qm))
    assert closed["status"] == "closed"
    other = command(
        api.post(
            "/nonconformances",
            {**raise_nc, "source": {"type": "audit", "ref": "EXT-7"}, "severity": "minor"},
            **qm,
        ),
        201,
    )["number"]
    assert bad_paths(api.post(f"/nonconformances/{other}/cancel", {}, **qm)) == ["reason"]
    cancelled = command(
        api.post(f"/nonconformances/{other}/cancel", {"reason": "duplicate of EXT-6"}, **qm)
    )
    assert cancelled["status"] == "cancelled"

    got = api.get(
        f"/nonconformances/{ref}", role="auditor", params={"min_position": closed["position"]}
    )
    assert got.status_code == 200 and got.headers["ETag"] == f'"{closed["version"]}"'
    assert (
        got.json()["status"] == "closed"
        and got.json()["severity"] == "major"
        and got.json()["project"] == p1
    )
    problem(api.get("/nonconformances/NC-2026-999999"), 404)
    for query, expected in [
        ({"project": p1}, {ref, other}),
        ({"status": "closed"}, {ref}),
        ({"source": "audit"}, {other}),
        ({"severity": "minor"}, {other}),
        ({"overdue": "true"}, set()),
        ({"overdue": "false", "status": "closed"}, {ref}),
    ]:
        # The lists include `other`, recorded after `closed`: read at its last position.
        r = api.get(
            "/nonconformances",
            role="auditor",
            params={"project": p1, **query, "min_position": cancelled["position"]},
        )
        assert r.status_code == 200 and {x["number"] for x in r.json()["items"]} == expected, query
    assert bad_paths(api.get("/nonconformances", params={"overdue": "maybe"})) == ["overdue"]


def _closed_ticket_and_escalation(api: Any, p1: str) -> tuple[dict[str, Any], dict[str, Any]]:
    desk = {"role": "front_desk", "user": "li.na", "name": "Li Na"}
    t = command(api.post("/tickets", ticket(p1), **desk), 201)
    n = t["number"]
    command(
        api.post(
            f"/tickets/{n}/dispatch",
            {"department": "engineering", "assignee": "wang.wei"},
            role="supervisor",
        )
    )
    command(api.post(f"/tickets/{n}/accept", role="staff", user="wang.wei", name="Wang Wei"))
    command(
        api.post(
            f"/tickets/{n}/resolve",
            {"resolution": "fixed"},
            role="staff",
            user="wang.wei",
            name="Wang Wei",
        )
    )
    command(
        api.post(
            f"/tickets/{n}/callback", {"reached": True, "satisfied": True, "rating": 4}, **desk
        )
    )
    closed = command(api.post(f"/tickets/{n}/close", {}, **desk))
    t2 = command(api.post("/tickets", {**ticket(p1), "kind": "complaint"}, **desk), 201)
    esc = command(
        api.post(
            f"/tickets/{t2['number']}/escalate",
            {"reason": "third complaint", "severity": "minor"},
            role="supervisor",
        )
    )
    return {**t, "closed": closed}, esc


def test_audit(api: Any) -> None:
    region, p1, p2 = org(api, "A")
    t, esc = _closed_ticket_and_escalation(api, p1)
    n, last = t["number"], esc["position"]
    problem(api.get(f"/audit/{n}", role="front_desk"), 403)
    problem(api.get("/audit/TK-2026-999999"), 404)
    h = api.get(f"/audit/{n}", params={"min_position": last})
    assert h.status_code == 200 and int(h.headers["X-Read-Position"]) >= last
    events = h.json()["events"]
    assert len(events) == 6 and [e["version"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    for e in events:
        assert {
            "position",
            "version",
            "type",
            "occurred_at",
            "actor",
            "correlation_id",
            "causation_id",
            "reason",
            "data",
        } <= set(e)
        assert set(e["actor"]) >= {"id", "name", "role"}
        assert re.search(r"(\+00:00|Z)$", e["occurred_at"])
    assert events[0]["actor"] == {"id": "li.na", "name": "Li Na", "role": "front_desk"}
    assert events[-1]["position"] == t["closed"]["position"]
    # As of a version, and as of a time.
    v2 = api.get(f"/audit/{n}/as-of", params={"version": 2})
    assert (
        v2.status_code == 200 and v2.json()["status"] == "dispatched" and v2.json()["version"] == 2
    )
    at = api.get(f"/audit/{n}/as-of", params={"at": events[2]["occurred_at"]})
    assert (
        at.status_code == 200 and at.json()["version"] == 3 and at.json()["status"] == "in_progress"
    )
    assert bad_paths(api.get(f"/audit/{n}/as-of", params={"at": "yesterday"})) == ["at"]
    problem(api.get(f"/audit/{n}/as-of"), 422)
    # The trace follows links both ways, naming their kinds.
    tr = api.get(f"/audit/{esc['number']}/trace", params={"min_position": last})
    assert tr.status_code == 200
    linked = {i["number"]: i for i in tr.json()["issues"]}
    assert esc["nonconformance"]["number"] in linked
    assert all(link["rel"] for link in linked[esc["nonconformance"]["number"]]["links"])
    back = api.get(f"/audit/{esc['nonconformance']['number']}/trace").json()
    assert esc["number"] in {i["number"] for i in back["issues"]}
    # The flat trail, filtered, as JSON and CSV.
    trail = api.get("/audit/events", params={"actor": "li.na", "project": p1, "min_position": last})
    assert trail.status_code == 200 and "next_cursor" in trail.json()
    mine = trail.json()["items"]
    assert mine and all(e["actor"]["id"] == "li.na" for e in mine)
    typ = events[-1]["type"]
    only = api.get("/audit/events", params={"type": typ}).json()["items"]
    assert only and all(e["type"] == typ for e in only)
    assert (
        api.get(
            "/audit/events", params={"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"}
        ).json()["items"]
        == []
    )
    assert bad_paths(api.get("/audit/events", params={"from": "soon"})) == ["from"]
    # Bare dates are whole calendar days: `to` includes its day.
    day = events[0]["occurred_at"][:10]
    same_day = api.get("/audit/events", params={"project": p1, "from": day, "to": day}).json()[
        "items"
    ]
    assert {e["position"] for e in events} <= {e["position"] for e in same_day}
    for r in (
        api.get("/audit/events", params={"format": "csv"}),
        api.get("/audit/events", headers={"Accept": "text/csv"}),
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        header = r.text.splitlines()[0]
        assert "position" in header and "type" in header
    integrity = api.get("/audit/integrity")
    assert integrity.status_code == 200 and integrity.json()["ok"] is True


def test_kpis(api: Any) -> None:
    region, p1, p2 = org(api, "K")
    _, esc = _closed_ticket_and_escalation(api, p1)
    last = esc["position"]
    problem(api.get("/kpis/tickets", role="front_desk"), 403)
    assert bad_paths(api.get("/kpis/tickets", role="reporting", params={"from": "someday"})) == [
        "from"
    ]
    for kind in ("tickets", "inspections", "nonconformances", "surveys"):
        r = api.get(f"/kpis/{kind}", role="reporting", params={"min_position": last})
        assert r.status_code == 200, (kind, r.text)
        r = api.get(
            f"/kpis/{kind}",
            role="reporting",
            params={
                "project": p1,
                "region": region,
                "from": "2020-01-01",
                "to": "2100-01-01",
                "group_by": "project,month",
            },
        )
        assert r.status_code == 200, (kind, r.text)
        r = api.get(
            f"/kpis/{kind}",
            role="reporting",
            params={"format": "csv", "group_by": "region,quarter,year"},
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), (
            kind,
            r.text,
        )
        assert bad_paths(
            api.get(f"/kpis/{kind}", role="reporting", params={"group_by": "shoe_size"})
        ) == ["group_by"]
    # Each kind's own dimensions (API.md: kind, department, severity, segment …).
    for kind, dim in [
        ("tickets", "kind"),
        ("tickets", "department"),
        ("inspections", "kind"),
        ("nonconformances", "severity"),
        ("nonconformances", "department"),
        ("surveys", "segment"),
    ]:
        r = api.get(f"/kpis/{kind}", role="reporting", params={"group_by": f"region,{dim}"})
        assert r.status_code == 200 and "rows" in r.json(), (kind, dim, r.text)
    rows = api.get("/kpis/tickets", role="reporting", params={"group_by": "project,kind"}).json()[
        "rows"
    ]
    by_kind = {(r["project"], r["kind"]): r for r in rows}
    assert by_kind[(p1, "repair")]["received"] == 1 and by_kind[(p1, "complaint")]["received"] == 1
    assert all(
        isinstance(v, (int, float, type(None)))
        for r in rows
        for k, v in r.items()
        if k not in ("project", "kind")
    )
    csv = api.get(
        "/kpis/tickets",
        role="reporting",
        params={"group_by": "department"},
        headers={"Accept": "text/csv"},
    )
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("department,")


SURVEY = {
    "title": "2026 resident satisfaction",
    "objectives": "measure CSI and CLI; find what to improve",
    "party": "third_party",
    "agency": "Acme Research",
    "methods": ["phone", "web"],
    "segments": ["owners", "tenants"],
    "projects": ["P1", "P2"],
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "target_sample": 4,
    "target_csi": 87,
    "questions": [
        {
            "code": "Q1",
            "text": "How satisfied are you with repairs?",
            "dimension": "service_quality",
            "weight": 2,
            "overall": False,
        },
        {
            "code": "Q2",
            "text": "Is the fee good value?",
            "dimension": "value",
            "weight": 1,
            "overall": False,
        },
        {
            "code": "Q9",
            "text": "Overall, how satisfied are you?",
            "dimension": "overall",
            "weight": 1,
            "overall": True,
        },
    ],
}


def test_surveys(api: Any) -> None:
    _, p1, p2 = org(api, "S")
    plan = {**SURVEY, "projects": [p1, p2]}
    qm = {"role": "quality_manager", "user": "qm.wu", "name": "Wu"}
    qm2 = {"role": "quality_manager", "user": "qm.sun", "name": "Sun"}
    desk = {"role": "front_desk"}
    problem(api.post("/surveys", plan, **desk), 403)
    assert set(
        bad_paths(
            api.post(
                "/surveys",
                {**plan, "party": "fourth_party", "period": {"start": "x", "end": "2026-03-31"}},
                **qm,
            )
        )
    ) == {"party", "period.start"}
    assert "projects" in bad_paths(api.post("/surveys", {**plan, "projects": ["P9"]}, **qm))[0]
    sv = command(api.post("/surveys", plan, **qm), 201)
    assert re.fullmatch(r"SV-\d{4}-\d{6}", sv["number"])
    ref = sv["number"]
    resp = {
        "respondent_ref": "R-001",
        "project": p1,
        "segment": "owners",
        "method": "phone",
        "answers": {"Q1": 5, "Q2": 4, "Q9": 5},
    }
    body = problem(api.post(f"/surveys/{ref}/responses", resp, **desk), 409)
    assert body["state"] and isinstance(body["allowed_steps"], list)
    command(api.post(f"/surveys/{ref}/submit", {}, **qm))
    rejected = command(
        api.post(
            f"/surveys/{ref}/decision",
            {"approved": False, "reason": "add a complaint question"},
            **qm2,
        )
    )
    command(api.post(f"/surveys/{ref}/submit", {}, **qm))
    approved = command(api.post(f"/surveys/{ref}/decision", {"approved": True}, **qm2))
    assert approved["status"] != rejected["status"]
    assert command(api.post(f"/surveys/{ref}/open", {}, **qm))["status"] == "open"
    # Responses: 201; answers 1–5 or null; unknown project or bad answer is 422.
    first = command(api.post(f"/surveys/{ref}/responses", resp, **desk), 201)
    rid = first.get("response_id") or first["id"]
    command(
        api.post(
            f"/surveys/{ref}/responses",
            {**resp, "respondent_ref": "R-002", "answers": {"Q1": 4, "Q2": None, "Q9": 4}},
            **desk,
        ),
        201,
    )
    low = command(
        api.post(
            f"/surveys/{ref}/responses",
            {
                **resp,
                "respondent_ref": "R-003",
                "segment": "tenants",
                "answers": {"Q1": 1, "Q2": 2, "Q9": 2},
                "comment": "repairs never come",
            },
            **desk,
        ),
        201,
    )
    assert bad_paths(
        api.post(
            f"/surveys/{ref}/responses",
            {**resp, "respondent_ref": "R-004", "answers": {"Q1": 6, "Q2": 4, "Q9": 5}},
            **desk,
        )
    )
    # The CSV import: all or nothing; errors name row and column.
    csv_h = {"Content-Type": "text/csv"}
    header = "respondent_ref,project,segment,method,Q1,Q2,Q9,comment\n"
    bad_csv = header + f"R-010,{p1},owners,web,5,4,5,\nR-011,{p1},owners,web,9,4,5,\n"
    r = api.client.post(
        f"/surveys/{ref}/responses/import",
        content=bad_csv.encode(),
        headers={**api.token("quality_manager"), **csv_h},
    )
    errs = problem(r, 422)["errors"]
    assert errs and errs[0]["row"] == 3 and errs[0]["column"] == "Q1"
    good_csv = header + f"R-010,{p1},owners,web,5,4,5,\nR-011,{p2},tenants,web,4,3,4,fine\n"
    r = api.client.post(
        f"/surveys/{ref}/responses/import",
        content=good_csv.encode(),
        headers={**api.token("quality_manager"), **csv_h},
    )
    command(r, r.status_code if r.status_code in (200, 201) else 200)
    ack = command(api.post(f"/surveys/{ref}/responses/{rid}/acknowledge", {}, **desk))
    assert bad_paths(api.post(f"/surveys/{ref}/responses/{rid}/invalidate", {}, **qm)) == ["reason"]
    command(
        api.post(
            f"/surveys/{ref}/responses/{rid}/invalidate", {"reason": "respondent is staff"}, **qm
        )
    )
    problem(api.post(f"/surveys/{ref}/publish", {}, **qm), 409)
    assert command(api.post(f"/surveys/{ref}/close", {}, **qm))["status"] == "closed"
    problem(api.post(f"/surveys/{ref}/responses", {**resp, "respondent_ref": "R-099"}, **desk), 409)
    pub = command(api.post(f"/surveys/{ref}/publish", {}, **qm))
    assert pub["status"] == "published"

    last = max(pub["position"], ack["position"], low["position"])
    got = api.get(f"/surveys/{ref}", role="auditor", params={"min_position": last})
    assert (
        got.status_code == 200
        and got.json()["number"] == ref
        and got.json()["status"] == "published"
    )
    listed = api.get("/surveys", role="auditor", params={"min_position": last})
    assert listed.status_code == 200 and ref in {x["number"] for x in listed.json()["items"]}
    res = api.get(f"/surveys/{ref}/results", role="reporting")
    assert res.status_code == 200, res.text
    assert res.json()["results"]["csi"] is not None and res.json()["results"]["cli"] is not None
    for r in (
        api.get(f"/surveys/{ref}/results", role="reporting", params={"format": "csv"}),
        api.get(f"/surveys/{ref}/results", role="reporting", headers={"Accept": "text/csv"}),
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
        lines = r.text.splitlines()
        assert lines[0].split(",")[:4] == ["breakdown", "key", "n", "csi"] and lines[1].startswith(
            "overall,"
        )
    problem(api.get("/surveys/SV-2026-999999"), 404)
