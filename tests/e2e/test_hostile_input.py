"""Hostile input: size limits, unknown fields, bad JSON, wrong content types, control
characters, unicode normalisation — and problem+json for every framework-level error."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import Any

TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return dict(body)


def test_a_body_over_the_limit_is_413_declared_or_streamed(api: Any) -> None:
    api.setup_org()
    limit = api.container.settings.max_body_bytes
    huge = json.dumps({**TICKET, "description": "x" * (limit + 10)}).encode()
    h = {**api.token("front_desk"), "Content-Type": "application/json"}
    is_problem(api.client.post("/tickets", content=huge, headers=h), 413)

    # Chunked (no Content-Length): counted while read and refused once past the limit.
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(huge), 65536):
            yield huge[i : i + 65536]

    is_problem(api.client.post("/tickets", content=chunks(), headers=h), 413)
    assert api.get("/tickets", role="front_desk").json()["items"] == []


def test_unknown_fields_too_long_strings_and_too_long_lists_are_422_naming_the_path(
    api: Any,
) -> None:
    api.setup_org()
    r = api.post("/tickets", {**TICKET, "admin": True}, role="front_desk")
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["admin"]
    r = api.post(
        "/tickets", {**TICKET, "reporter": {**TICKET["reporter"], "role": "x"}}, role="front_desk"
    )
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["reporter.role"]
    r = api.post("/tickets", {**TICKET, "category": "类" * 201}, role="front_desk")
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["category"]
    r = api.post("/tickets", {**TICKET, "description": "x" * 4001}, role="front_desk")
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["description"]
    r = api.post("/tickets", {**TICKET, "description": "   "}, role="front_desk")
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["description"]
    template = {
        "name": "t",
        "sections": [
            {
                "code": "S",
                "name": "s",
                "items": [
                    {"code": f"I{i}", "requirement": "r", "max_points": 1, "critical": False}
                    for i in range(501)
                ],
            }
        ],
    }
    r = api.post("/checklist-templates", template, role="quality_manager")
    assert is_problem(r, 422)["errors"][0]["path"] == "sections.0.items"


def test_text_is_stored_nfc_normalised_and_control_characters_are_refused(api: Any) -> None:
    api.setup_org()
    decomposed = unicodedata.normalize("NFD", "Café  ")
    assert decomposed != "Café"
    r = api.post("/tickets", {**TICKET, "description": decomposed}, role="front_desk")
    assert r.status_code == 201, r.text
    detail = api.get(f"/tickets/{r.json()['id']}", role="supervisor").json()
    assert detail["description"] == "Café"
    # NUL and other control characters: PostgreSQL cannot store NUL; none belongs in a record.
    r = api.post("/tickets", {**TICKET, "description": "bad\u0000text"}, role="front_desk")
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["description"]
    r = api.post(
        "/tickets",
        {**TICKET, "reporter": {**TICKET["reporter"], "name": "张\u001b[31m三"}},
        role="front_desk",
    )
    assert [e["path"] for e in is_problem(r, 422)["errors"]] == ["reporter.name"]
    is_problem(api.get("/tickets", role="supervisor", params={"status": "x\x01"}), 422)


def test_framework_errors_are_problem_json_too(api: Any) -> None:
    api.setup_org()
    h = api.token("front_desk")
    # Malformed JSON.
    r = api.client.post(
        "/tickets", content=b'{"project": ', headers={**h, "Content-Type": "application/json"}
    )
    assert is_problem(r, 422)["errors"][0]["path"] == "body"
    # Not JSON at all (form data, text): named as the body's problem.
    r = api.client.post(
        "/tickets",
        content=b"project=P1",
        headers={**h, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert is_problem(r, 422)["errors"][0]["path"] == "body"
    # A JSON array where an object belongs.
    r = api.client.post("/tickets", json=[TICKET], headers=h)
    is_problem(r, 422)
    # Method not allowed, unknown path, bad path and query parameters.
    is_problem(api.client.delete("/tickets", headers=h), 405)
    is_problem(api.client.put("/regions", headers=h), 405)
    is_problem(api.client.get("/nothing-here", headers=h), 404)
    is_problem(api.client.get("/tickets", headers=h, params={"limit": "many"}), 422)
    is_problem(api.client.get("/tickets", headers=h, params={"limit": 100000}), 422)
    is_problem(api.client.get("/tickets", headers=h, params={"cursor": "not-a-cursor"}), 422)
    is_problem(api.client.get("/tickets", headers=h, params={"min_position": -1}), 422)
    # Bad headers of ours.
    r = api.post("/tickets", TICKET, role="front_desk", headers={"If-Match": "yesterday"})
    is_problem(r, 422)
    r = api.post("/tickets", TICKET, role="front_desk", headers={"Idempotency-Key": "k" * 201})
    is_problem(r, 422)
    # No or a malformed Authorization header.
    is_problem(api.client.get("/tickets", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    is_problem(api.client.get("/tickets", headers={"Authorization": "Bearer " + "x" * 10000}), 401)
    assert api.get("/tickets", role="supervisor").json()["items"] == []


def test_every_error_carries_the_correlation_id(api: Any) -> None:
    r = api.client.get("/tickets", headers={"X-Correlation-ID": "req-42"})
    assert r.status_code == 401 and r.headers["x-correlation-id"] == "req-42"
    # An unprintable or absurdly long id is replaced by a fresh one.
    r = api.client.get("/healthz", headers={"X-Correlation-ID": "x" * 500})
    assert r.headers["x-correlation-id"] != "x" * 500 and len(r.headers["x-correlation-id"]) == 36


def test_a_body_that_is_not_utf8_is_422_naming_the_byte(api: Any) -> None:
    api.setup_org()
    h = {**api.token("front_desk"), "Content-Type": "application/json"}
    body = '{"project": "P1", "description": "厨房'.encode() + b"\xff\xfe" + b'"}'
    r = api.client.post("/tickets", content=body, headers=h)
    problem = is_problem(r, 422)
    at = body.index(b"\xff")
    assert problem["errors"] == [{"path": "body", "message": f"is not valid UTF-8 at byte {at}"}]
    assert f"not valid UTF-8 at byte {at}" in problem["detail"]
    # GBK, as a Chinese Windows client might send it: refused the same way, nothing recorded.
    r = api.client.post("/tickets", content='{"description": "厨房漏水"}'.encode("gbk"), headers=h)
    assert (
        is_problem(r, 422)["errors"][0]["message"] == "is not valid UTF-8 at byte 17"
    )  # after `{"description": "`
    assert api.get("/tickets", role="supervisor").json()["items"] == []
