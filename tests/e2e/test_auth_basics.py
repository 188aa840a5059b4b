"""Authentication from day one: no token 401, bad token 401, wrong role 403."""

from __future__ import annotations

from typing import Any

from application.security import PERMISSIONS


def test_requests_without_a_valid_token_are_401(api: Any) -> None:
    r = api.client.get("/tickets")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.client.get("/tickets", headers={"Authorization": "Bearer qt_nope_nope"})
    assert r.status_code == 401
    r = api.client.post("/regions", json={"code": "SH", "name": "x"}, headers={"X-User": "admin"})
    assert r.status_code == 401


def test_health_needs_no_token(api: Any) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ready" and "tickets" in ready["projections"]


def test_a_role_not_in_the_matrix_gets_403_and_nothing_is_recorded(api: Any) -> None:
    api.setup_org()
    assert "staff" not in PERMISSIONS["ticket.receive"]
    body = {
        "project": "P1",
        "kind": "repair",
        "channel": "phone",
        "priority": "normal",
        "category": "水电",
        "description": "漏水",
        "reporter": {"name": "张三", "unit": "1-101", "phone": "13812345678"},
    }
    r = api.post("/tickets", body, role="staff")
    assert r.status_code == 403
    assert (
        api.post("/regions", {"code": "BJ", "name": "北京"}, role="front_desk").status_code == 403
    )
    listed = api.get("/tickets", role="supervisor").json()
    assert listed["items"] == []


def test_a_revoked_token_is_401(api: Any) -> None:
    from api.tokens import TokenStore

    store = TokenStore(api.container.url)
    token_id, token = store.create("u9", "Temp", "auditor")
    assert (
        api.client.get("/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    assert store.revoke(token_id)
    assert (
        api.client.get("/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_an_unknown_project_code_is_422_naming_the_field(api: Any) -> None:
    api.setup_org()
    body = {
        "project": "NOPE",
        "kind": "repair",
        "channel": "phone",
        "priority": "normal",
        "category": "水电",
        "description": "漏水",
        "reporter": {"name": "张三", "unit": "1-101", "phone": "13812345678"},
    }
    r = api.post("/tickets", body, role="front_desk")
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "project"
