"""Inspection plans (检查计划, issue #15): a recurrence over projects (or a region) that
schedules its inspections ahead, each with a due time the deadline watcher keeps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, jsonable, page_answer, require
from api.read_models import ok
from api.read_models.assessments import InspectionPlanPage, PlanKpis
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, ShortText, Text
from domain.vocabulary import INSPECTION_KINDS, RECURRENCE_TYPES
from projections import assessments as reads

router = APIRouter(tags=["inspection plans"])

MonthText = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class PlanRecurrence(Body):
    type: Literal[RECURRENCE_TYPES]
    by_day: int | None = None
    per_month: int | None = None


class CreatePlan(Body):
    name: ShortText
    kind: Literal[INSPECTION_KINDS]
    recurrence: PlanRecurrence
    start_month: MonthText
    months: Annotated[int, Field(ge=1, le=12)] = 1
    projects: Annotated[list[Code], Field(max_length=200)] | None = None
    region: Code | None = None
    template_id: ShortText
    template_version: Annotated[int, Field(ge=1)] | None = None
    inspectors: Annotated[list[ShortText], Field(min_length=1, max_length=20)]


@router.post("/inspection-plans", status_code=201, response_model=CommandAnswer)
def create_plan(body: CreatePlan, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Record a plan and schedule all its inspections (due times kept by the watcher)."""
    return answer(
        response,
        app.inspection_plans.create(
            call,
            name=body.name,
            kind=body.kind,
            recurrence=body.recurrence.model_dump(exclude_none=True),
            start_month=body.start_month,
            months=body.months,
            template_id=body.template_id,
            template_version=body.template_version,
            inspectors=body.inspectors,
            projects=body.projects,
            region=body.region,
        ),
    )


class WithdrawPlan(Body):
    reason: Text
    #: false: withdraw the plan only and leave its scheduled inspections to be cancelled
    #: (or done) one by one.
    cancel_scheduled: bool = True


@router.post("/inspection-plans/{ref}/withdraw", response_model=CommandAnswer)
def withdraw_plan(
    ref: str, body: WithdrawPlan, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Withdraw a plan (撤销计划) and cancel, in the same transaction, its inspections that
    have not started and are not yet due (`cancelled` lists them); those under way, done
    or already past their due time stay."""
    return answer(
        response, app.inspection_plans.withdraw(call, ref, body.reason, body.cancel_scheduled)
    )


@router.get("/inspection-plans", responses=ok(InspectionPlanPage))
def list_plans(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Plans touching the caller's scope, newest first."""
    require(call, "inspection_plan.read")
    page = reads.list_plans(c.pool, call.principal.scope_filter(), limit, after_of(cursor))
    return page_answer(page, "created_at")


@router.get("/kpis/inspection-plans", responses=ok(PlanKpis))
def plan_kpis(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
) -> Any:
    """Planned / done / missed / on time, per project and month (planned inspections)."""
    require(call, "kpi.read")
    rows = reads.plan_kpis(c.pool, call.principal.scope_filter(), project, month)
    return {"rows": [jsonable(r) for r in rows]}
