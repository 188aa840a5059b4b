"""No existence oracle for project codes (issue #17 item 7; docs/security.md "Scope").

A principal scoped to P1 who names project P2 (which exists, outside its scope) gets the
very answer it gets for a code that names nothing: same status, same body but for the
code itself, nothing recorded. Checked for every role on every endpoint that takes a
project code in its body (`project`, `projects`) or query (`project`), found in the
served OpenAPI document, so a new endpoint is checked as soon as it exists.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from application.security import PERMISSIONS, ROLES
from tests.e2e.test_permission_matrix import BODIES, PARAMS, ROUTES, World, world  # noqa: F401
from tests.route_actions import ROUTE_ACTIONS

UNKNOWN = "ZZ9"
OUTSIDE = "P2"
#: The body field naming the project(s), per endpoint (filled from the OpenAPI document).
FIELD: dict[str, str] = {}


def _openapi(world: World) -> dict[str, Any]:  # noqa: F811
    doc: dict[str, Any] = world.client.get("/openapi.json").json()
    return doc


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def project_routes(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(endpoints with a project code in the JSON body, endpoints with `project` in the query)."""
    in_body, in_query = [], []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            key = f"{method.upper()} {path}"
            if key not in ROUTES:
                continue
            if any(p["in"] == "query" and p["name"] == "project" for p in op.get("parameters", [])):
                in_query.append(key)
            content = op.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            properties = _resolve(doc, schema).get("properties", {}) if schema else {}
            if {"project", "projects"} & set(properties):
                in_body.append(key)
                FIELD[key] = "projects" if "projects" in properties else "project"
            if "text/csv" in content:  # a CSV file names a project on every row
                in_body.append(key)
    return sorted(in_body), sorted(in_query)


def _request(world: World, key: str, role: str, code: str) -> Any:  # noqa: F811
    method, path = key.split(" ", 1)
    headers = dict(world.h(role, "P1"))
    url = world.path(key, "P1")
    if method == "GET":
        return world.client.get(
            url, headers=headers, params={**PARAMS.get(key, {}), "project": code}
        )
    if key.endswith("/responses/import"):
        csv = f"respondent_ref,project,segment,method,Q1\noracle-{role},{code},owner,phone,4\n"
        return world.client.post(
            url, content=csv.encode(), headers={**headers, "Content-Type": "text/csv"}
        )
    body = BODIES[key]
    body = body(code, world) if callable(body) else dict(body)
    if FIELD[key] == "projects":
        body["projects"] = [code]
    else:
        body["project"] = code
    # What building the body recorded (POST /assessments submits a check first) is set-up,
    # not the refused request's doing: the head is taken after it.
    SETUP_HEADS.append(world.head())
    return world.client.post(url, json=body, headers=headers)


#: The store's head just before each POST was sent (after its body's set-up).
SETUP_HEADS: list[int] = []


def _answer(r: Any, code: str) -> tuple[int, Any]:
    """Status and body, with the code the caller sent (echoed back) and per-request ids
    taken out."""
    text = r.text.replace(code, "<code>")
    try:
        body = json.loads(text)
    except ValueError:
        return r.status_code, text
    if isinstance(body, dict):
        body.pop("correlation_id", None)
    return r.status_code, body


def test_the_endpoints_taking_a_project_code_are_found(world: World) -> None:  # noqa: F811
    in_body, in_query = project_routes(_openapi(world))
    assert {"POST /tickets", "POST /inspections", "POST /nonconformances"} <= set(in_body)
    assert {"GET /tickets", "GET /kpis/tickets"} <= set(in_query)


def test_a_project_outside_the_scope_answers_like_an_unknown_one(world: World) -> None:  # noqa: F811
    in_body, in_query = project_routes(_openapi(world))
    wrong = []
    for key in [*in_body, *in_query]:
        for role in ROLES:
            SETUP_HEADS.clear()
            outside = _answer(_request(world, key, role, OUTSIDE), OUTSIDE)
            if SETUP_HEADS and world.head() != SETUP_HEADS[-1]:
                wrong.append(f"{key} as {role}: the refused request recorded events")
            SETUP_HEADS.clear()
            unknown = _answer(_request(world, key, role, UNKNOWN), UNKNOWN)
            if SETUP_HEADS and world.head() != SETUP_HEADS[-1]:
                wrong.append(f"{key} as {role}: the refused request recorded events")
            if outside != unknown:
                wrong.append(f"{key} as {role}: P2 {outside} vs unknown {unknown}")
            allowed = role in PERMISSIONS[ROUTE_ACTIONS[key]]
            if allowed and key in in_body and outside[0] != 422:
                wrong.append(f"{key} as {role}: a project outside the scope -> {outside[0]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ["front_desk", "inspector", "quality_manager"])
def test_the_answer_names_the_field_and_the_code(world: World, role: str) -> None:  # noqa: F811
    key = {"front_desk": "POST /tickets", "inspector": "POST /nonconformances"}.get(
        role, "POST /inspections"
    )
    r = _request(world, key, role, OUTSIDE)
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"path": "project", "message": f"unknown project code '{OUTSIDE}'"}
    ]
    # Its own project is fine.
    assert _request(world, key, role, "P1").status_code == 201
