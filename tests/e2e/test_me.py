"""GET /me: any authenticated principal learns its own identity, role and scope."""

from __future__ import annotations

from typing import Any


def test_me_answers_the_callers_identity_role_and_project_scope(api: Any) -> None:
    r = api.get("/me", role="staff", user="li.lei", name="李雷 Li Lei", projects=("P1", "P2"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": "li.lei",
        "name": "李雷 Li Lei",
        "role": "staff",
        "projects": ["P1", "P2"],
        "regions": [],
    }


def test_me_names_a_regional_scope_and_company_wide_as_no_scope(api: Any) -> None:
    regional = api.get("/me", role="quality_manager", user="zhou.min", region="SH").json()
    assert (regional["role"], regional["projects"], regional["regions"]) == (
        "quality_manager",
        [],
        ["SH"],
    )
    company = api.get("/me", role="auditor").json()
    assert (company["projects"], company["regions"]) == ([], [])


def test_me_needs_a_valid_token(api: Any) -> None:
    assert api.client.get("/me").status_code == 401
    r = api.client.get("/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_me_is_documented_in_openapi(api: Any) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/me"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Me")
