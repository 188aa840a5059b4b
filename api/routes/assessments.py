"""Assessments (考核与奖惩, issue #15): a project's month or quarter closed by the quality
manager, reviewed, approved by the general manager, published; a second-level appeal to
the general manager is final."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, page_answer, require
from api.presenters import aggregate_view
from api.read_models import ok
from api.read_models.assessments import AssessmentPage, AssessmentView
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, Empty, Reason, ShortText, Text
from domain.vocabulary import RESPONSIBLE_ROLES
from projections import assessments as reads

router = APIRouter(prefix="/assessments", tags=["assessments"])

Period = Annotated[str, Field(pattern=r"^\d{4}-((0[1-9]|1[0-2])|Q[1-4])$")]


class ResponsiblePerson(Body):
    name: ShortText
    role: Literal[RESPONSIBLE_ROLES]


class CloseAssessment(Body):
    project: Code
    period: Period
    responsible: Annotated[list[ResponsiblePerson], Field(min_length=1, max_length=20)]


class AssessmentAppealDecision(Body):
    accepted: bool
    score: Annotated[float, Field(ge=0, le=300)] | None = None
    reason: Text


@router.post("", status_code=201, response_model=CommandAnswer)
def close(body: CloseAssessment, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Close a project's ended month (YYYY-MM) or quarter (YYYY-Qn): a draft assessment."""
    return answer(
        response,
        app.assessments.close(
            call,
            project=body.project,
            period=body.period,
            responsible=[p.model_dump() for p in body.responsible],
        ),
    )


@router.post("/{ref}/review", response_model=CommandAnswer)
def review(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """The quality manager reviews the draft."""
    return answer(response, app.assessments.review(call, ref))


@router.post("/{ref}/approve", response_model=CommandAnswer)
def approve(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """The general manager approves it."""
    return answer(response, app.assessments.approve(call, ref))


@router.post("/{ref}/publish", response_model=CommandAnswer)
def publish(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """The quality manager publishes it (the pay adjustment applies)."""
    return answer(response, app.assessments.publish(call, ref))


@router.post("/{ref}/appeal", response_model=CommandAnswer)
def appeal(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """The project manager appeals the published result to the general manager (once)."""
    return answer(response, app.assessments.appeal(call, ref, body.reason))


@router.post("/{ref}/appeal-decision", response_model=CommandAnswer)
def appeal_decision(
    ref: str,
    body: AssessmentAppealDecision,
    call: CommandCall,
    app: QualtraceApp,
    response: Response,
) -> Any:
    """The general manager's final decision (accepted: the score he sets, regraded)."""
    return answer(
        response,
        app.assessments.decide_appeal(call, ref, body.accepted, body.score, body.reason),
    )


@router.get("", responses=ok(AssessmentPage))
def list_assessments(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    period: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Assessments in the caller's scope, newest closed first."""
    require(call, "assessment.read")
    filters = {"project": project, "period": period, "status": status}
    page = reads.list_assessments(
        c.pool, call.principal.scope_filter(), filters, limit, after_of(cursor)
    )
    return page_answer(page, "closed_at")


@router.get("/{ref}", responses=ok(AssessmentView))
def get_assessment(
    ref: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition, response: Response
) -> Any:
    """One assessment: score, grade, pay adjustment, every input and deduction by its event."""
    a = app.assessments.get(call, ref)
    response.headers["ETag"] = f'"{a.version}"'
    return aggregate_view(a)
