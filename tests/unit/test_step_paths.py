"""`allowed_steps` (409 answers and details) name steps as the URL segments clients post to."""

from __future__ import annotations

import pytest

from api.app import ROUTERS
from api.steps import step_paths
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.surveys import SurveyCampaign, SurveyResponse
from domain.templates import ChecklistTemplate
from domain.tickets import Ticket

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
