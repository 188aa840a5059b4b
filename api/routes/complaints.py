"""Complaint analysis (投诉统计分析, issue #16 item 5): the category taxonomy, top
categories by project and month, repeat complaints and a project's monthly analysis,
JSON or CSV, within the caller's scope (docs/complaints.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from api.deps import Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import jsonable, require
from api.read_models.common import ok
from api.read_models.complaints import CategoryList, ComplaintAnalysis, ComplaintRows
from api.routes.documents import month_bounds
from api.routes.kpis import FromDate, ToDate, _day, respond, wants_csv
from application.errors import NotFound
from domain.errors import InvalidValue
from domain.vocabulary import TICKET_KINDS
from projections import complaints, org

router = APIRouter(tags=["complaints"])

Kinds = Annotated[
    str,
    Query(
        description="ticket kinds analysed, comma list, or `all` (default: complaint)",
        examples=["complaint"],
    ),
]
Format = Annotated[str | None, Query(description="json (default) or csv")]


def kinds_of(text: str | None) -> list[str]:
    """The ticket kinds asked for (`complaint` by default, `all` for every kind)."""
    names = [k.strip() for k in (text or "complaint").split(",") if k.strip()]
    if names == ["all"]:
        return list(TICKET_KINDS)
    bad = [k for k in names if k not in TICKET_KINDS]
    if bad or not names:
        raise InvalidValue(
            "kind", f"must be a comma list of {', '.join(TICKET_KINDS)}, or all (got {text!r})"
        )
    return names


def _month(c: Any, month: str) -> tuple[datetime, datetime]:
    """A month YYYY-MM -> [first local midnight, next month's) (422 when malformed or
    not begun)."""
    first, last = month_bounds(month, c.settings.timezone, c.app.clock())
    start = datetime(first.year, first.month, first.day)
    return start, datetime(last.year, last.month, last.day) + timedelta(days=1)


def _period(
    c: Any, month: str | None, start: str | None, end: str | None
) -> tuple[datetime, datetime]:
    """`month=`, or `from`/`to` (default: the current month to date)."""
    if month is not None and (start or end):
        raise InvalidValue("month", "give either month or from/to, not both")
    if month is not None:
        return _month(c, month)
    lo, hi = _day("from", start, end=False), _day("to", end, end=True)
    if lo is None:
        today = c.app.clock().astimezone(_tz(c)).date()
        lo = datetime(today.year, today.month, 1)
    if hi is None:
        hi = c.app.clock().astimezone(_tz(c)).replace(tzinfo=None)
    if lo >= hi:
        raise InvalidValue("from", "must not be after 'to'")
    return lo, hi


def _tz(c: Any) -> ZoneInfo:
    return ZoneInfo(c.settings.timezone)


def _projects(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


@router.get("/categories", responses=ok(CategoryList))
def list_categories(call: QueryCall, app: QualtraceApp) -> Any:
    """The ticket category taxonomy in force (two levels; ticket policy `categories`)."""
    require(call, "category.read")
    taxonomy = app.tickets.taxonomy
    return {"items": taxonomy.rows(), "taxonomy": taxonomy.table}


@router.get("/kpis/complaints/top", responses=ok(ComplaintRows))
def top_categories(
    request: Request,
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: Annotated[str | None, Query(description="project code (comma list)")] = None,
    region: Annotated[str | None, Query(description="region code")] = None,
    month: Annotated[str | None, Query(description="one month, YYYY-MM")] = None,
    start: FromDate = None,
    end: ToDate = None,
    level: Annotated[int, Query(ge=1, le=2, description="1 = level-1, 2 = level-2")] = 1,
    limit: Annotated[int, Query(ge=1, le=50, description="categories per project and month")] = 5,
    kind: Kinds = "complaint",
    format: Format = None,
) -> Any:
    """The most frequent complaint categories of each project and month, with share and repeats."""
    require(call, "kpi.read")
    kinds = kinds_of(kind)
    lo, hi = _period(c, month, start, end)
    rows = complaints.top_categories(
        c.pool,
        call.principal.scope_filter(),
        kinds,
        lo,
        hi,
        level,
        limit,
        _projects(project),
        region or None,
    )
    return respond(request, rows, format, "complaints-top", pos)


@router.get("/kpis/complaints/repeats", responses=ok(ComplaintRows))
def repeat_complaints(
    request: Request,
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: Annotated[str | None, Query(description="project code (comma list)")] = None,
    region: Annotated[str | None, Query(description="region code")] = None,
    month: Annotated[str | None, Query(description="one month, YYYY-MM")] = None,
    start: FromDate = None,
    end: ToDate = None,
    kind: Kinds = "complaint",
    format: Format = None,
) -> Any:
    """Repeat complaints (same unit, category and project within 30 days) and the earlier one each repeats."""
    require(call, "kpi.read")
    kinds = kinds_of(kind)
    lo, hi = _period(c, month, start, end)
    rows = complaints.repeats(
        c.pool, call.principal.scope_filter(), kinds, lo, hi, _projects(project), region or None
    )
    return respond(request, [jsonable(r) for r in rows], format, "complaints-repeats", pos)


PARTS = ("categories", "repeats", "unknown")


@router.get("/projects/{code}/complaints/{month}", responses=ok(ComplaintAnalysis))
def monthly_analysis(
    code: str,
    month: str,
    request: Request,
    response: Response,
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    kind: Kinds = "complaint",
    format: Format = None,
    part: Annotated[
        str,
        Query(
            description="CSV only: categories (default; total, level-1, level-2 rows), repeats or unknown"
        ),
    ] = "categories",
) -> Any:
    """A project's monthly complaint analysis (投诉统计分析): by category with share and month-on-month change."""
    require(call, "kpi.read")
    kinds = kinds_of(kind)
    if part not in PARTS:
        raise InvalidValue("part", f"must be one of {', '.join(PARTS)}")
    project = {p["code"]: p for p in org.list_projects(c.pool, call.principal.scope_filter())}.get(
        code
    )
    if project is None:
        raise NotFound("project", code)
    start, end = _month(c, month)
    prev_start = (start - timedelta(days=1)).replace(day=1)
    previous = prev_start.strftime("%Y-%m")
    scope = call.principal.scope_filter()
    counts = complaints.category_counts(c.pool, scope, code, kinds, prev_start, end)
    analysis = complaints.monthly_analysis(counts, month, previous)
    repeats = [jsonable(r) for r in complaints.repeats(c.pool, scope, kinds, start, end, [code])]
    unknown = complaints.unknown_texts(c.pool, scope, code, kinds, start, end)
    if wants_csv(request, format):
        if part == "repeats":
            rows = repeats
        elif part == "unknown":
            rows = unknown
        else:
            rows = complaints.analysis_rows(analysis)
            rows = [{"project": code, "month": month, **r} for r in rows]
        return respond(request, rows, format, f"complaints-{code}-{month}-{part}", pos)
    return {
        "project": jsonable(project),
        "month": month,
        "previous_month": previous,
        "kinds": kinds,
        **analysis,
        "repeats": repeats,
        "unknown_texts": unknown,
    }
