"""Nonconformances and corrective/preventive action."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator, Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, jsonable, page_answer, require
from api.presenters import aggregate_view, attachment_refs
from api.read_models import NonconformancePage, NonconformanceView, ok
from api.responses import answer
from api.schemas import Attachments, Body, Code, CommandAnswer, Reason, ShortText, Text
from domain.vocabulary import (
    DEPARTMENTS,
    DISPOSITIONS,
    NONCONFORMANCE_SOURCES,
    NONCONFORMANCE_STATUSES,
    SEVERITIES,
)
from projections import audit
from projections import nonconformances as nc_list

router = APIRouter(prefix="/nonconformances", tags=["nonconformances"])

SourceType = Literal[NONCONFORMANCE_SOURCES]
Severity = Literal[SEVERITIES]
Department = Literal[DEPARTMENTS]
Disposition = Literal[DISPOSITIONS]
Status = Literal[NONCONFORMANCE_STATUSES]


def _due(value: str) -> date | datetime:
    """`YYYY-MM-DD` (end of that day, company time) or an ISO date-time with an offset."""
    value = value.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be a date (YYYY-MM-DD) or an ISO 8601 date-time with an offset"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError("a date-time must carry a time zone offset")
    return parsed


DueDate = Annotated[str, Field(min_length=10, max_length=40), AfterValidator(_due)]
Evidence = Annotated[str, Field(min_length=1, max_length=500)]
Action = Annotated[str, Field(min_length=1, max_length=2000)]


class Source(Body):
    type: SourceType
    ref: ShortText | None = None
    item: Code | None = None


class Raise(Body):
    project: Code
    source: Source
    severity: Severity
    description: Text
    department: Department | None = None


class Notice(Body):
    responsible_department: Department
    responsible_person: ShortText
    due_date: DueDate | None = None


class RootCause(Body):
    analysis: Text


class NonconformancePlan(Body):
    corrective_actions: Annotated[list[Action], Field(min_length=1, max_length=50)]
    preventive_actions: Annotated[list[Action], Field(max_length=50)]


class Decision(Body):
    approved: bool
    reason: Text | None = None


class Rectified(Body):
    summary: Text
    evidence: Annotated[list[Evidence], Field(max_length=100)] | None = None
    #: Photos of the rectification (docs/attachments.md).
    attachments: Attachments | None = None


class Verification(Body):
    effective: bool
    notes: Text | None = None
    due_date: DueDate | None = None
    inspection: ShortText | None = None
    #: Photos of the re-inspection (docs/attachments.md).
    attachments: Attachments | None = None


class Extension(Body):
    new_due_date: DueDate
    reason: Text
    remedial_measures: Text


class DispositionBody(Body):
    disposition: Disposition
    notes: Text | None = None
    reason: Text | None = None


@router.post("", status_code=201, response_model=CommandAnswer)
def raise_nonconformance(
    body: Raise, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Raise a nonconformance (from an audit, a ticket, a survey, an inspection or a self-report)."""
    fields = body.model_dump()
    fields["source"] = {k: v for k, v in fields["source"].items() if v is not None}
    return answer(response, app.nonconformances.raise_(call, **fields))


@router.post("/{ref}/notice", response_model=CommandAnswer)
def notice(ref: str, body: Notice, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Issue the rectification notice (整改通知): responsible party and due date (default 7 days)."""
    return answer(
        response,
        app.nonconformances.notice(
            call, ref, body.responsible_department, body.responsible_person, body.due_date
        ),  # type: ignore[arg-type]
    )


@router.post("/{ref}/root-cause", response_model=CommandAnswer)
def root_cause(
    ref: str, body: RootCause, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Record the root-cause analysis."""
    return answer(response, app.nonconformances.analyse(call, ref, body.analysis))


@router.post("/{ref}/plan", response_model=CommandAnswer)
def plan(
    ref: str, body: NonconformancePlan, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Submit the corrective and preventive actions."""
    return answer(
        response,
        app.nonconformances.plan(call, ref, body.corrective_actions, body.preventive_actions),
    )


@router.post("/{ref}/plan-decision", response_model=CommandAnswer)
def plan_decision(
    ref: str, body: Decision, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Approve the plan, or send it back with a reason."""
    return answer(response, app.nonconformances.decide_plan(call, ref, body.approved, body.reason))


@router.post("/{ref}/rectified", response_model=CommandAnswer)
def rectified(
    ref: str, body: Rectified, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Report the rectification done, with evidence references."""
    return answer(
        response,
        app.nonconformances.rectify(call, ref, body.summary, body.evidence, body.attachments),
    )


@router.post("/{ref}/verification", response_model=CommandAnswer)
def verification(
    ref: str, body: Verification, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Record the re-inspection (复检): effective closes; not effective re-notices and escalates."""
    return answer(
        response,
        app.nonconformances.verify(
            call,
            ref,
            body.effective,
            body.notes,
            body.due_date,  # type: ignore[arg-type]
            body.inspection,
            body.attachments,
        ),
    )


@router.post("/{ref}/extension", response_model=CommandAnswer)
def extension(
    ref: str, body: Extension, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Request an extension before the due date, with the reason and remedial measures."""
    return answer(
        response,
        app.nonconformances.request_extension(
            call, ref, body.new_due_date, body.reason, body.remedial_measures
        ),  # type: ignore[arg-type]
    )


@router.post("/{ref}/extension-decision", response_model=CommandAnswer)
def extension_decision(
    ref: str, body: Decision, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Approve (moves the due date) or reject (with a reason) the pending extension request."""
    return answer(
        response, app.nonconformances.decide_extension(call, ref, body.approved, body.reason)
    )


@router.post("/{ref}/disposition", response_model=CommandAnswer)
def disposition(
    ref: str, body: DispositionBody, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Decide the disposition of a product nonconformity (rework, repair, concession, return, scrap)."""
    return answer(
        response, app.nonconformances.dispose(call, ref, body.disposition, body.notes, body.reason)
    )


@router.post("/{ref}/cancel", response_model=CommandAnswer)
def cancel(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Cancel with a reason (the quality manager's cancellation is the approval)."""
    return answer(response, app.nonconformances.cancel(call, ref, body.reason))


@router.get("", responses=ok(NonconformancePage))
def list_nonconformances(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    status: Status | None = None,
    source: SourceType | None = None,
    severity: Severity | None = None,
    overdue: bool | None = None,
    department: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """List nonconformances in the caller's scope."""
    filters = {
        "project": project,
        "status": status,
        "source": source,
        "severity": severity,
        "overdue": overdue,
        "department": department,
    }
    require(call, "nonconformance.read")
    page = nc_list.list_nonconformances(
        c.pool, call.principal.scope_filter(), filters, limit, after_of(cursor)
    )
    return page_answer(page, "raised_at")


@router.get("/{ref}", responses=ok(NonconformanceView))
def get_nonconformance(
    ref: str,
    call: QueryCall,
    app: QualtraceApp,
    c: Container,
    pos: ReadPosition,
    response: Response,
) -> Any:
    """One nonconformance with its links in both directions (what raised it, what it led to)."""
    nc = app.nonconformances.get(call, ref)
    response.headers["ETag"] = f'"{nc.version}"'
    out = aggregate_view(nc)
    out["linked_issues"] = [jsonable(r) for r in audit.linked_issues(c.pool, nc.id)]
    out["attachments"] = attachment_refs(app, nc)
    return out
