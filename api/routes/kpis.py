"""KPIs for reporting tools: rows of plain numbers, JSON or CSV, scope-filtered."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, Response
from psycopg.rows import dict_row

from api.deps import Container, QueryCall, ReadPosition
from application.security import can
from domain.errors import InvalidValue
from projections import registry
from projections.kpis_base import FactProjection
from projections.kpis_query import KpiSpec, UnknownDimension, kpi_query, parse_group_by, plain

router = APIRouter(prefix="/kpis", tags=["kpis"])

FromDate = Annotated[
    str | None,
    Query(alias="from", description="first day, YYYY-MM-DD or YYYY-MM (company time zone), inclusive"),
]
ToDate = Annotated[
    str | None,
    Query(alias="to", description="last day, YYYY-MM-DD or YYYY-MM (company time zone), inclusive"),
]


def spec_for(kind: str) -> KpiSpec:
    for cls in registry.PROJECTIONS:
        if issubclass(cls, FactProjection) and cls.SPEC is not None and cls.SPEC.kind == kind:
            return cls.SPEC
    raise HTTPException(404, f"no KPIs for '{kind}'")


def _day(field: str, value: str | None, end: bool) -> datetime | None:
    """A local date (or month) -> the local timestamp starting it (or ending it, exclusive)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 7:
            first = date.fromisoformat(text + "-01")
            if not end:
                return datetime(first.year, first.month, 1)
            nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
            return datetime(nxt.year, nxt.month, 1)
        d = date.fromisoformat(text)
    except ValueError:
        raise InvalidValue(field, "must be a date YYYY-MM-DD or a month YYYY-MM") from None
    start = datetime(d.year, d.month, d.day)
    return start + timedelta(days=1) if end else start


def dimension_filters(spec: KpiSpec, request: Request) -> dict[str, list[str]]:
    """`kind=repair,complaint`, `severity=major` …: the kind's own dimensions as filters."""
    out: dict[str, list[str]] = {}
    for dim in spec.filter_dims:
        for raw in request.query_params.getlist(dim):
            values = [v.strip() for v in raw.split(",") if v.strip()]
            if values:
                out.setdefault(dim, []).extend(values)
    return out


def kpi_rows(
    c: Any,
    call: Any,
    kind: str,
    project: str | None,
    region: str | None,
    start: str | None,
    end: str | None,
    group_by: str | None,
    filters: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    if not can(call.principal, "kpi.read"):
        raise HTTPException(403, f"role '{call.principal.role}' may not kpi.read")
    spec = spec_for(kind)
    try:
        groups = parse_group_by(spec, group_by)
    except UnknownDimension as e:
        raise InvalidValue("group_by", str(e)) from None
    lo = _day("from", start, end=False)
    hi = _day("to", end, end=True)
    if hi is None:
        # Up to now, in the company's time zone (stock figures are as of now).
        tz = ZoneInfo(c.settings.timezone)
        hi = c.app.clock().astimezone(tz).replace(tzinfo=None)
    if lo is not None and lo >= hi:
        raise InvalidValue("from", "must not be after 'to'")
    projects = [p.strip() for p in project.split(",") if p.strip()] if project else None
    try:
        query = kpi_query(
            spec, groups, projects=projects, region=region or None,
            scope=call.principal.scope_filter(), start=lo, end=hi, filters=filters,
        )
    except UnknownDimension as e:
        raise InvalidValue("group_by", str(e)) from None
    with c.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query)
        rows = cur.fetchall()
    return [{k: plain(v) for k, v in r.items()} for r in rows]


def respond(request: Request, rows: list[dict[str, Any]], fmt: str | None, kind: str) -> Any:
    wants_csv = (fmt or "").lower() == "csv" or (
        fmt is None and "text/csv" in request.headers.get("accept", "").lower()
    )
    if fmt is not None and fmt.lower() not in ("csv", "json"):
        raise InvalidValue("format", "must be json or csv")
    if not wants_csv:
        return {"rows": rows}
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="kpis-{kind}.csv"'},
    )


def _endpoint(kind: str, summary: str) -> Any:
    def get_kpis(
        request: Request,
        call: QueryCall,
        c: Container,
        pos: ReadPosition,
        project: Annotated[str | None, Query(description="project code (comma list)")] = None,
        region: Annotated[str | None, Query(description="region code")] = None,
        start: FromDate = None,
        end: ToDate = None,
        group_by: Annotated[str | None, Query(description="comma list of dimensions")] = None,
        format: Annotated[str | None, Query(description="json (default) or csv")] = None,
    ) -> Any:
        filters = dimension_filters(spec_for(kind), request)
        rows = kpi_rows(c, call, kind, project, region, start, end, group_by, filters)
        return respond(request, rows, format, kind)

    get_kpis.__doc__ = summary
    get_kpis.__name__ = f"kpis_{kind}"
    spec = spec_for(kind)
    filters = [
        {"name": dim, "in": "query", "required": False, "schema": {"type": "string"},
         "description": f"filter: {spec.dim_docs.get(dim, dim)} (comma list)"}
        for dim in spec.filter_dims
    ]
    router.add_api_route(
        f"/{kind}", get_kpis, methods=["GET"], summary=summary,
        description=f"{summary} group_by: {', '.join(spec.group_dims)}.",
        openapi_extra={"parameters": filters},
    )
    return get_kpis


kpis_tickets = _endpoint("tickets", "Ticket KPIs: received, closed, backlog, response/resolution times, SLA, callbacks.")
kpis_inspections = _endpoint(
    "inspections", "Inspection KPIs: scores, ranking, grades, most-failed items, done vs planned, self-checks on time."
)
kpis_nonconformances = _endpoint(
    "nonconformances", "Nonconformance KPIs: open, overdue, closed on time, days to close, re-notice and recurrence."
)
kpis_surveys = _endpoint(
    "surveys", "Survey KPIs: CSI (with 95% interval), top-2-box, CLI, gap to target, response rate, actions."
)
