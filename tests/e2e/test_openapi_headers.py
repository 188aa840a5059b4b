"""The request headers the API reads itself (api/deps.py `HEADERS_READ`) are listed in
the OpenAPI document as optional string header parameters, like any other parameter."""

from __future__ import annotations

from typing import Any


def _headers(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]


def test_every_authenticated_operation_documents_its_headers(api: Any) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert _headers(paths["/tickets"]["post"]) == ["if-match", "idempotency-key", "authorization"]
    assert _headers(paths["/tickets/{ref}/dispatch"]["post"]) == [
        "if-match",
        "idempotency-key",
        "authorization",
    ]
    assert _headers(paths["/tickets"]["get"]) == ["authorization"]
    assert _headers(paths["/healthz"]["get"]) == []
    header = next(
        p for p in paths["/tickets"]["post"]["parameters"] if p["name"] == "idempotency-key"
    )
    assert header == {
        "name": "idempotency-key",
        "in": "header",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Idempotency-Key"},
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path not in ("/healthz", "/readyz"):
                assert "authorization" in _headers(operation), (method, path)
            if method == "post" and "idempotency-key" in _headers(operation):
                assert _headers(operation).count("authorization") == 1


def test_the_headers_still_work_without_header_parameters(api: Any) -> None:
    api.setup_org()
    body = {
        "project": "P1",
        "kind": "repair",
        "channel": "phone",
        "priority": "normal",
        "category": "水电",
        "description": "漏水",
        "reporter": {"name": "张三", "unit": "1-101", "phone": "13812345678"},
    }
    first = api.post("/tickets", body, role="front_desk", headers={"Idempotency-Key": "k-1"})
    again = api.post("/tickets", body, role="front_desk", headers={"idempotency-key": "k-1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    number = first.json()["number"]
    stale = api.post(
        f"/tickets/{number}/notes", {"text": "x"}, role="front_desk", headers={"If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert (
        api.client.post("/tickets", json=body, headers={"authorization": "bearer nope"}).status_code
        == 401
    )
