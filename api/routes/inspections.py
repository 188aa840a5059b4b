"""Inspections (品质检查): scheduled, scored against a pinned checklist, submitted, appealed,
finalised. Submission raises a linked nonconformance for every failed item."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BeforeValidator, Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, page_answer, require
from api.presenters import aggregate_view, attachment_refs
from api.read_models import InspectionPage, InspectionView, ok
from api.responses import answer
from api.schemas import Attachments, Body, Code, CommandAnswer, Empty, Reason, ShortText, Text
from domain.vocabulary import INSPECTION_KINDS, ITEM_RESULTS
from projections import audit
from projections import inspections as inspection_list

router = APIRouter(prefix="/inspections", tags=["inspections"])

Kind = Literal[INSPECTION_KINDS]
Result = Literal[ITEM_RESULTS]
Points = Annotated[float, Field(ge=0, le=1000)]
EvidenceRef = Annotated[str, Field(min_length=1, max_length=500)]
Month = Annotated[
    str,
    Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="planned month, YYYY-MM (company time)"),
]


def _date_of(value: Any) -> Any:
    """`planned_for` is a date; an ISO 8601 time with an offset is taken as its local date."""
    if isinstance(value, str) and "T" in value:
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            return value
    return value


class ScheduleInspection(Body):
    project: Code
    kind: Kind
    template_id: ShortText
    template_version: Annotated[int, Field(ge=1)] | None = None
    planned_for: Annotated[date, BeforeValidator(_date_of)]
    inspectors: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    reinspection_of: ShortText | None = None


class Score(Body):
    item: Code
    points: Points | None = None  # may be left out for `na`
    result: Result
    finding: Text | None = None
    evidence: Annotated[list[EvidenceRef], Field(max_length=50)] | None = None
    reason: Text | None = None
    #: The finding's photos (docs/attachments.md).
    attachments: Attachments | None = None


class Appeal(Body):
    items: Annotated[list[Code], Field(min_length=1, max_length=500)]
    reason: Text


class Adjustment(Body):
    item: Code
    points: Points | None
    result: Result | None = None


class AppealDecision(Body):
    accepted: bool
    adjustments: Annotated[list[Adjustment], Field(max_length=500)] | None = None
    reason: Text


def _num(value: float | None) -> float | int | None:
    """Whole points stay integers in the record (10, not 10.0)."""
    return int(value) if value is not None and float(value).is_integer() else value


@router.post("", status_code=201, response_model=CommandAnswer)
def schedule(
    body: ScheduleInspection, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Schedule an inspection against a published template version (the latest when omitted)."""
    return answer(
        response,
        app.inspections.schedule(
            call,
            project=body.project,
            kind=body.kind,
            template_id=body.template_id,
            template_version=body.template_version,
            planned_for=body.planned_for.isoformat(),
            inspectors=body.inspectors,
            reinspection_of=body.reinspection_of,
        ),
    )


@router.post("/{ref}/start", response_model=CommandAnswer)
def start(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Start the inspection on site."""
    return answer(response, app.inspections.start(call, ref))


@router.post("/{ref}/scores", response_model=CommandAnswer)
def score(ref: str, body: Score, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Score one item; scoring it again is a rescore and needs a reason."""
    return answer(
        response,
        app.inspections.score_item(
            call,
            ref,
            body.item,
            _num(body.points),
            body.result,
            body.finding,
            body.evidence,
            body.reason,
            body.attachments,
        ),
    )


@router.post("/{ref}/submit", response_model=CommandAnswer)
def submit(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Submit: answers `score, grade, pay_adjustment_pct` and the nonconformances raised."""
    return answer(response, app.inspections.submit(call, ref))


@router.post("/{ref}/appeal", response_model=CommandAnswer)
def appeal(ref: str, body: Appeal, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """The project manager appeals items' scores (申诉)."""
    return answer(response, app.inspections.appeal(call, ref, body.items, body.reason))


@router.post("/{ref}/appeal-decision", response_model=CommandAnswer)
def appeal_decision(
    ref: str, body: AppealDecision, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Accept (with point adjustments; score and grade re-computed) or reject the appeal."""
    adjustments = None
    if body.adjustments is not None:
        adjustments = [
            {"item": a.item, "points": _num(a.points), **({"result": a.result} if a.result else {})}
            for a in body.adjustments
        ]
    return answer(
        response, app.inspections.decide_appeal(call, ref, body.accepted, adjustments, body.reason)
    )


@router.post("/{ref}/finalize", response_model=CommandAnswer)
def finalize(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Finalise the result."""
    return answer(response, app.inspections.finalize(call, ref))


@router.post("/{ref}/cancel", response_model=CommandAnswer)
def cancel(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Cancel before submission, with a reason."""
    return answer(response, app.inspections.cancel(call, ref, body.reason))


@router.get("", responses=ok(InspectionPage))
def list_inspections(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    kind: Kind | None = None,
    status: str | None = None,
    month: Month | None = None,
    grade: str | None = None,
    reinspection_of: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Inspections in the caller's scope, newest scheduled first."""
    filters = {
        "project": project,
        "kind": kind,
        "status": status,
        "month": month,
        "grade": grade,
        "reinspection_of": reinspection_of,
    }
    require(call, "inspection.read")
    page = inspection_list.list_inspections(
        c.pool, call.principal.scope_filter(), filters, limit, after_of(cursor)
    )
    return page_answer(page, "scheduled_at")


@router.get("/{ref}", responses=ok(InspectionView))
def get_inspection(
    ref: str,
    call: QueryCall,
    app: QualtraceApp,
    c: Container,
    pos: ReadPosition,
    response: Response,
) -> Any:
    """One inspection with its items, score, grade, raised nonconformances and links both ways."""
    ins = app.inspections.get(call, ref)
    response.headers["ETag"] = f'"{ins.version}"'
    out = aggregate_view(ins)
    out["linked_from"] = [dict(r) for r in audit.linked_from(c.pool, ins.id)]
    out["attachments"] = attachment_refs(app, ins)
    return out
