"""KPIs for reporting tools: rows of plain numbers, JSON or CSV, scope-filtered."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.deps import Container, QueryCall, ReadPlace
from api.read_models import KpiAnswer, ok
from application.security import can
from domain.categories import Taxonomy
from domain.errors import InvalidValue
from projections.kpis import answer as kpis
from projections.kpis.spec import KpiSpec, UnknownDimension

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


def family(kind: str) -> kpis.Family:
    try:
        return kpis.family(kind)
    except kpis.UnknownKind:
        raise HTTPException(404, f"no KPIs for '{kind}'") from None


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


def category_filters(filters: dict[str, list[str]], taxonomy: Taxonomy) -> dict[str, list[str]]:
    """`category=` and `subcategory=` take any spelling the taxonomy classifies (code, name,
    path, alias), as a ticket's category does: `category=安保` is `security`, and the very
    text a ticket was received with finds it (an unknown text means `other`)."""
    out = dict(filters)
    if "category" in out:
        out["category"] = [taxonomy.classify(v).l1 for v in out["category"]]
    if "subcategory" in out:
        out["subcategory"] = [taxonomy.classify(v).code for v in out["subcategory"]]
    return out


def kpi_answer(
    c: Any,
    call: Any,
    fam: kpis.Family,
    project: str | None,
    region: str | None,
    start: str | None,
    end: str | None,
    group_by: str | None,
    filters: dict[str, list[str]],
    min_position: int | None = None,
    body: bool = False,
) -> kpis.KpiAnswer:
    """The KPI answer (`projections.kpis.answer`) to a request's parameters."""
    if not can(call.principal, "kpi.read"):
        raise HTTPException(403, f"role '{call.principal.role}' may not kpi.read")
    try:
        groups = kpis.group_by(fam, group_by)
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
    request = kpis.KpiRequest(
        group_by=groups,
        projects=[p.strip() for p in project.split(",") if p.strip()] if project else None,
        region=region or None,
        scope=call.principal.scope_filter(),
        start=lo,
        end=hi,
        filters=filters,
        min_position=min_position,
        body=body,
    )
    try:
        return kpis.answer(c.pool, fam, request)
    except UnknownDimension as e:
        raise InvalidValue("group_by", str(e)) from None


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
    fam = family(kind)
    spec = fam.spec

    def get_kpis(
        request: Request,
        response: Response,
        call: QueryCall,
        c: Container,
        pos: ReadPlace,
        project: Annotated[str | None, Query(description="project code (comma list)")] = None,
        region: Annotated[str | None, Query(description="region code")] = None,
        start: FromDate = None,
        end: ToDate = None,
        group_by: Annotated[str | None, Query(description="comma list of dimensions")] = None,
        format: Annotated[str | None, Query(description="json (default) or csv")] = None,
    ) -> Any:
        filters = category_filters(dimension_filters(fam.spec, request), c.app.tickets.taxonomy)
        json_body = not wants_csv(request, format)
        found = kpi_answer(
            c, call, fam, project, region, start, end, group_by, filters, pos.asked, json_body
        )
        # A report cell's answer reflects the events up to its own position.
        position = pos.position if found.position is None else found.position
        response.headers["X-Read-Position"] = str(position)
        if found.body is not None:  # a whole cell's answer, rendered when it was computed
            out = Response(content=found.body, media_type="application/json")
            out.headers.raw.extend(
                (k, v) for k, v in response.headers.raw if k != b"content-length"
            )
            return out
        rows = found.rows
        assert rows is not None
        return respond(request, rows, format, kind, position, response)

    get_kpis.__doc__ = summary
    get_kpis.__name__ = f"kpis_{kind}"
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
