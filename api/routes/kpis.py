"""KPIs for reporting tools: rows of plain numbers, JSON or CSV, scope-filtered."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row

from api.deps import Container, QueryCall, ReadPosition
from api.read_models import KpiAnswer, ok
from application.security import can
from domain.errors import InvalidValue
from projections import registry
from projections.kpi_cells import LEVELS, read_cell, whole_period
from projections.kpis_base import FactProjection
from projections.kpis_query import KpiSpec, UnknownDimension, kpi_query, parse_group_by, plain

router = APIRouter(prefix="/kpis", tags=["kpis"])

FromDate = Annotated[
    str | None,
    Query(
        alias="from", description="first day, YYYY-MM-DD or YYYY-MM (company time zone), inclusive"
    ),
]
ToDate = Annotated[
    str | None,
    Query(alias="to", description="last day, YYYY-MM-DD or YYYY-MM (company time zone), inclusive"),
]


def projection_for(kind: str) -> type[FactProjection]:
    for cls in registry.PROJECTIONS:
        if issubclass(cls, FactProjection) and cls.SPEC is not None and cls.SPEC.kind == kind:
            return cls
    raise HTTPException(404, f"no KPIs for '{kind}'")


def spec_for(kind: str) -> KpiSpec:
    spec = projection_for(kind).SPEC
    assert spec is not None
    return spec


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


def kpi_answer(
    c: Any,
    call: Any,
    kind: str,
    project: str | None,
    region: str | None,
    start: str | None,
    end: str | None,
    group_by: str | None,
    filters: dict[str, list[str]] | None = None,
    min_position: int | None = None,
    body: bool = False,
) -> tuple[list[dict[str, Any]] | None, int | None, str | None]:
    """The KPI rows, the read position of the report cell they came from (None when
    computed live) and, when `body` and a whole cell answers, its rendered JSON answer
    instead of the rows."""
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
    scope = call.principal.scope_filter()
    with c.pool.connection() as conn:
        cell = _from_cell(
            conn,
            kind,
            spec,
            groups,
            projects,
            region or None,
            scope,
            lo,
            hi,
            filters,
            min_position,
            body,
        )
        if cell is not None:
            return cell
        try:
            query = kpi_query(
                spec,
                groups,
                projects=projects,
                region=region or None,
                scope=scope,
                start=lo,
                end=hi,
                filters=filters,
            )
        except UnknownDimension as e:
            raise InvalidValue("group_by", str(e)) from None
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query)
            rows = cur.fetchall()
    return [{k: plain(v) for k, v in r.items()} for r in rows], None, None


def _from_cell(
    conn: Any,
    kind: str,
    spec: KpiSpec,
    groups: list[str],
    projects: list[str] | None,
    region: str | None,
    scope: tuple[Any, Any],
    lo: datetime | None,
    hi: datetime | None,
    filters: dict[str, list[str]] | None,
    min_position: int | None,
    body: bool = False,
) -> tuple[list[dict[str, Any]] | None, int, str | None] | None:
    """The answer from a report cell (projections.kpi_cells) when the request is exactly
    one: a level (no dims, region or project), one whole calendar period, no dimension
    filters, a scope and filters that only keep whole rows of the cell, and the cell at
    least as fresh as `min_position` (or as the fact projection, without one)."""
    period = whole_period(lo, hi)
    level = next((name for name, dims in LEVELS.items() if list(dims) == groups), None)
    if period is None or level is None or any(filters.values() if filters else ()):
        return None
    scope_projects, scope_region = scope
    # Ranks order the rows within the period: a subset's ranks differ from the cell's.
    ranked = any("{partition}" in m.expr or " over " in m.expr.lower() for m in spec.measures)
    keep: list[tuple[str, set[str]]] = []
    if scope_region is not None:
        return None
    if scope_projects is not None:
        if level != "project":
            return None
        keep.append(("project", set(scope_projects)))
    if projects:
        if level != "project":
            return None
        keep.append(("project", set(projects)))
    if region is not None:
        if level != "region":
            return None
        keep.append(("region", {region}))
    if keep and ranked:
        return None
    whole = body and not keep
    try:
        cell = read_cell(
            conn, spec, projection_for(kind).name, level, period[0], period[1], min_position, whole
        )
    except psycopg.Error:  # no cells here (yet): a generation from before them, say
        return None
    if cell is None:
        return None
    if cell.body is not None:
        return None, cell.position, cell.body
    rows = [r for r in cell.rows or () if all(r.get(col) in values for col, values in keep)]
    return rows, cell.position, None


_PLAIN = (str, int, float, bool, type(None))


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None and fmt.lower() not in ("csv", "json"):
        raise InvalidValue("format", "must be json or csv")
    return (fmt or "").lower() == "csv" or (
        fmt is None and "text/csv" in request.headers.get("accept", "").lower()
    )


def respond(
    request: Request,
    rows: list[dict[str, Any]],
    fmt: str | None,
    kind: str,
    position: int | None = None,
    response: Response | None = None,
) -> Any:
    if not wants_csv(request, fmt):
        body = {"rows": rows}
        if response is None:
            return body
        # Rendered here as FastAPI would (same bytes), sparing its encoder and a second hop
        # through the thread pool; headers dependencies set on `response` are kept.
        if not all(isinstance(v, _PLAIN) for r in rows for v in r.values()):
            body = jsonable_encoder(body)
        out = JSONResponse(body)
        out.headers.raw.extend((k, v) for k, v in response.headers.raw if k != b"content-length")
        return out
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="kpis-{kind}.csv"',
            **({"X-Read-Position": str(position)} if position is not None else {}),
        },
    )


def _endpoint(kind: str, summary: str) -> Any:
    def get_kpis(
        request: Request,
        response: Response,
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
        raw = request.query_params.get("min_position")
        min_position = int(raw) if raw is not None and raw.strip().isdigit() else None
        json_body = not wants_csv(request, format)
        rows, cell_position, body = kpi_answer(
            c, call, kind, project, region, start, end, group_by, filters, min_position, json_body
        )
        # A report cell's answer reflects the events up to its own position.
        position = pos if cell_position is None else cell_position
        response.headers["X-Read-Position"] = str(position)
        if body is not None:  # a whole cell's answer, rendered when it was computed
            out = Response(content=body, media_type="application/json")
            out.headers.raw.extend(
                (k, v) for k, v in response.headers.raw if k != b"content-length"
            )
            return out
        assert rows is not None
        return respond(request, rows, format, kind, position, response)

    get_kpis.__doc__ = summary
    get_kpis.__name__ = f"kpis_{kind}"
    spec = spec_for(kind)
    filters = [
        {
            "name": dim,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": f"filter: {spec.dim_docs.get(dim, dim)} (comma list)",
        }
        for dim in spec.filter_dims
    ]
    router.add_api_route(
        f"/{kind}",
        get_kpis,
        methods=["GET"],
        summary=summary,
        description=f"{summary} group_by: {', '.join(spec.group_dims)}.",
        openapi_extra={"parameters": filters},
        responses=ok(KpiAnswer),
    )
    return get_kpis


kpis_tickets = _endpoint(
    "tickets", "Ticket KPIs: received, closed, backlog, response/resolution times, SLA, callbacks."
)
kpis_inspections = _endpoint(
    "inspections",
    "Inspection KPIs: scores, ranking, grades, most-failed items, done vs planned, self-checks on time.",
)
kpis_nonconformances = _endpoint(
    "nonconformances",
    "Nonconformance KPIs: open, overdue, closed on time, days to close, re-notice and recurrence.",
)
kpis_surveys = _endpoint(
    "surveys",
    "Survey KPIs: CSI (with 95% interval), top-2-box, CLI, gap to target, response rate, actions.",
)
