"""Early warnings (风险预警): the list, one warning, acknowledge and resolve, and the
warning counts among the KPIs. Raising is the warning watcher's (docs/warnings.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.audit_views import parse_time
from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, jsonable, page_answer, require
from api.presenters import aggregate_view
from api.read_models import ok
from api.read_models.common import Open, Page
from api.responses import answer
from api.schemas import Body, CommandAnswer, Text
from domain.errors import InvalidValue
from domain.warnings import RULE_KINDS, WARNING_SEVERITIES
from projections import warnings as warning_reads

router = APIRouter(tags=["warnings"])

Status = Literal["raised", "acknowledged", "resolved"]
Severity = Literal[WARNING_SEVERITIES]  # type: ignore[valid-type]


class WarningRow(Open):
    id: str
    number: str
    rule: str
    rule_kind: str
    title: str
    severity: str
    subject: str
    subject_label: str
    project: str | None
    region: str | None
    period: str
    figures: dict[str, Any] = Field(description="the figures that triggered the rule")
    message: str
    status: str
    raised_at: str


class WarningPage(Page):
    items: list[WarningRow]


class WarningCounts(Open):
    group_by: list[str]
    rows: list[dict[str, Any]]


class AcknowledgeWarning(Body):
    note: Text | None = None


class ResolveWarning(Body):
    note: Text


@router.get("/warnings", responses=ok(WarningPage))
def list_warnings(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    status: Status | None = None,
    rule: str | None = None,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Warnings in the caller's scope, newest first."""
    require(call, "warning.read")
    filters = {"project": project, "status": status, "rule": rule, "severity": severity}
    page = warning_reads.list_warnings(
        c.pool, call.principal.scope_filter(), filters, limit, after_of(cursor)
    )
    return page_answer(page, "raised_at")


@router.get("/warnings/{ref}", responses=ok(WarningRow))
def get_warning(
    ref: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition, response: Response
) -> Any:
    """One warning by id or number (`YJ-2026-000001`), with the rule and figures."""
    warning = app.warnings.get(call, ref)
    response.headers["ETag"] = f'"{warning.version}"'
    return aggregate_view(warning)


@router.post("/warnings/{ref}/acknowledge", response_model=CommandAnswer)
def acknowledge(
    ref: str,
    call: CommandCall,
    app: QualtraceApp,
    response: Response,
    body: AcknowledgeWarning | None = None,
) -> Any:
    """Someone responsible has seen the warning and is acting on it."""
    return answer(response, app.warnings.acknowledge(call, ref, body.note if body else None))


@router.post("/warnings/{ref}/resolve", response_model=CommandAnswer)
def resolve(
    ref: str, body: ResolveWarning, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Close the warning with what was done (a quality manager)."""
    return answer(response, app.warnings.resolve(call, ref, body.note))


@router.get("/kpis/warnings", responses=ok(WarningCounts))
def warning_kpis(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    group_by: Annotated[
        str, Query(description="comma-separated: rule, project, region, month, severity, status")
    ] = "rule,project,month",
    project: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> Any:
    """Warnings raised (and how many are open, acknowledged, resolved) per group, in the
    caller's scope; `month` in the company's time zone."""
    require(call, "kpi.read")
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    bad = [g for g in groups if g not in warning_reads.GROUPS]
    if bad or len(set(groups)) != len(groups):
        raise InvalidValue(
            "group_by", f"must name distinct groups among {', '.join(warning_reads.GROUPS)}"
        )
    tz = c.settings.timezone
    start, end = parse_time("from", from_, tz), parse_time("to", to, tz, end=True)
    if start and end and start > end:
        raise InvalidValue("from", "must not be after 'to'")
    rows = warning_reads.warning_counts(
        c.pool, call.principal.scope_filter(), groups, tz, start, end, project
    )
    return {"group_by": groups, "rows": [jsonable(r) for r in rows], "rule_kinds": list(RULE_KINDS)}
