"""`allowed_steps` (409 answers and details) name steps as the URL segments clients post to."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from api.app import ROUTERS
from api.steps import step_paths
from domain.base import Actor, Ctx
from domain.errors import IllegalStep, RuleViolation
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.policies import DEFAULT_SLA
from domain.surveys import SurveyCampaign, SurveyResponse
from domain.templates import ChecklistTemplate
from domain.tickets import Ticket

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

PREFIXES = {
    Ticket: ["/tickets/{ref}/"],
    Inspection: ["/inspections/{ref}/"],
    Nonconformance: ["/nonconformances/{ref}/"],
    ChecklistTemplate: ["/checklist-templates/{ref}/"],
    # A campaign allows acknowledging and invalidating its responses while open or closed.
    SurveyCampaign: ["/surveys/{ref}/", "/surveys/{ref}/responses/{rid}/"],
    SurveyResponse: ["/surveys/{ref}/responses/{rid}/"],
}


def _post_paths() -> set[str]:
    return {
        r.path
        for router in ROUTERS
        for r in router.routes
        if "POST" in getattr(r, "methods", set())
    }


@pytest.mark.parametrize("aggregate", list(PREFIXES), ids=lambda a: a.__name__)
def test_every_allowed_step_is_a_command_a_client_can_post(aggregate: type) -> None:
    posts = _post_paths()
    steps = sorted({s for allowed in aggregate.STATES.values() for s in allowed})
    assert steps, aggregate
    missing = [
        p
        for p in step_paths(steps)
        if not any(prefix + p in posts for prefix in PREFIXES[aggregate])
    ]
    assert missing == [], f"{aggregate.__name__}: no POST route for {missing}"


def test_underscores_become_hyphens_and_renamed_steps_use_their_route() -> None:
    assert step_paths(["root_cause", "plan_decision", "note", "decide_appeal"]) == [
        "root-cause",
        "plan-decision",
        "notes",
        "appeal-decision",
    ]


def _answer_409(exc: Exception) -> dict[str, Any]:
    app = FastAPI()
    errors.install(app)

    @app.post("/step")
    def step() -> None:
        raise exc

    r = TestClient(app).post("/step")
    assert r.status_code == 409
    return r.json()


def _steps_in(detail: str) -> list[str]:
    return detail.rsplit("allowed steps: ", 1)[1].rstrip(")").split(", ")


def test_a_refused_step_names_steps_in_the_detail_as_allowed_steps_does() -> None:
    body = _answer_409(
        IllegalStep("nonconformance", "noticed", "plan_decision", ("root_cause", "note"))
    )
    assert body["step"] == "plan-decision"
    assert body["allowed_steps"] == ["root-cause", "notes"]
    assert _steps_in(body["detail"]) == body["allowed_steps"]
    assert body["detail"].startswith("cannot plan-decision a nonconformance in state 'noticed'")


def test_a_broken_rule_names_steps_in_the_detail_as_allowed_steps_does() -> None:
    body = _answer_409(
        RuleViolation(
            "ticket", "resolved", "close", "closing needs a callback", ["callback", "note"]
        )
    )
    assert body["allowed_steps"] == ["callback", "notes"]
    assert _steps_in(body["detail"]) == ["callback", "notes"]
    assert "note," not in body["detail"] and "'resolved'" in body["detail"]


def test_a_real_ticket_refusal_says_notes_in_both_places() -> None:
    t = Ticket.receive(
        Ctx(Actor("li.na", "Li Na", "front_desk"), T0, "c"),
        number="TK-2026-000009",
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        sla=DEFAULT_SLA,
    )
    try:
        t.accept(Ctx(Actor("wang", "Wang", "staff"), T0, "c"))
    except IllegalStep as refused:
        body = _answer_409(refused)
    else:
        raise AssertionError("accepting a received ticket must be refused")
    assert "notes" in body["allowed_steps"]
    assert _steps_in(body["detail"]) == body["allowed_steps"]
