"""Audit: the history of any issue with one-line summaries, its state at any past moment,
its trace of linked issues, the flat trail (JSON/CSV), verifiable audit packs, and the
integrity check of the event store."""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api import presenters
from api.audit_pack import MAX_EVENTS, build_pack, file_bytes
from api.deps import Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import decode_cursor, encode_cursor, jsonable
from api.presenters import masked_reporter, plain
from api.read_models import (
    AuditEventPage,
    AuditPack,
    IntegrityReport,
    IssueHistory,
    IssueState,
    IssueTrace,
    ok,
)
from api.summaries import summarize
from application.errors import NotFound
from application.security import UNMASKED_ROLES, can
from domain.errors import InvalidValue
from projections import audit

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_TRACE = 1000


def _require(call: Any, action: str) -> None:
    if not can(call.principal, action):
        raise HTTPException(403, f"role '{call.principal.role}' may not {action}")


#: Issue kinds that belong to the company rather than to a project.
COMPANY_KINDS = {"region", "project", "checklist_template"}


def in_scope(c: Any, principal: Any, row: dict[str, Any]) -> bool:
    """Whether an issue row lies in the principal's scope. A survey campaign spans several
    projects (its row names none): it is in scope when one of its projects is, as for
    `GET /surveys/{id}`."""
    if principal.company_wide or row["project"] is not None or row["kind"] in COMPANY_KINDS:
        return bool(principal.sees(row["project"], row["region"]))
    if row["kind"] == "survey":
        from domain.surveys import SurveyCampaign

        try:
            campaign = c.app.load(SurveyCampaign, UUID(str(row["id"])))
        except NotFound:
            return False
        return any(principal.sees(p, c.app.service.project_region(p)) for p in campaign.projects)
    return False


def resolve_issue(c: Any, call: Any, ref: str) -> dict[str, Any]:
    """Find an issue of any kind by UUID or human number (TK-/INS-/NC-/SV-…, or a code),
    within the caller's scope (else 404, indistinguishable from a missing issue)."""
    _require(call, "audit.read")
    row = audit.find_issue(c.pool, ref)
    if row is None or not in_scope(c, call.principal, row):
        raise NotFound("issue", ref)
    return row


def _masked(data: Any, role: str) -> Any:
    if (
        role not in UNMASKED_ROLES
        and isinstance(data, dict)
        and isinstance(data.get("reporter"), dict)
    ):
        return {**data, "reporter": masked_reporter(data["reporter"])}
    return data


def event_row(row: dict[str, Any], role: str) -> dict[str, Any]:
    data = row["data"]
    return {
        "position": row["position"],
        "version": row["version"],
        "type": row["type"],
        "occurred_at": plain(row["occurred_at"]),
        "actor": {"id": row["actor_id"], "name": row["actor_name"], "role": row["actor_role"]},
        "correlation_id": row["correlation_id"],
        "causation_id": row["causation_id"],
        "reason": row["reason"],
        "summary": summarize(
            row["issue_kind"],
            row["type"],
            data if isinstance(data, dict) else {},
            row["actor_name"],
            row["reason"],
            row["version"],
        ),
        "data": _masked(data, role),
    }


def _parse_time(
    name: str, value: str | None, day_tz: str | None = None, end: bool = False
) -> datetime | None:
    """ISO 8601; a time without an offset is taken as UTC. With `day_tz`, a bare date
    (YYYY-MM-DD) is that calendar day in the company's time zone: its start, or with
    `end` the start of the next day (so `to=2026-03-31` includes all of 31 March)."""
    if value is None:
        return None
    if day_tz and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidValue(name, "must be a date (YYYY-MM-DD) or an ISO 8601 time") from None
        return datetime.combine(
            day + timedelta(days=1 if end else 0), dtime(), tzinfo=ZoneInfo(day_tz)
        )
    try:
        # A '+' left unencoded in a query string arrives as a space.
        ts = datetime.fromisoformat(re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip()))
    except ValueError:
        raise InvalidValue(
            name, "must be an ISO 8601 time, e.g. 2026-03-02T09:00:00+08:00"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None and fmt.lower() not in ("csv", "json"):
        raise InvalidValue("format", "must be json or csv")
    return (fmt or "").lower() == "csv" or (
        fmt is None and "text/csv" in request.headers.get("accept", "").lower()
    )


# -- the trail (static paths first: they would otherwise match /{ref}) -----------------
TRAIL_COLUMNS = [
    "position",
    "occurred_at",
    "issue_kind",
    "issue_number",
    "issue_id",
    "project",
    "region",
    "version",
    "type",
    "actor_id",
    "actor_name",
    "actor_role",
    "reason",
    "correlation_id",
    "causation_id",
    "summary",
    "data",
]


@router.get("/events", responses=ok(AuditEventPage))
def trail(
    request: Request,
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    actor: str | None = None,
    project: str | None = None,
    kind: str | None = None,
    type: str | None = None,
    issue: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
    format: str | None = None,
) -> Any:
    """The flat audit trail in position order, filtered; JSON or CSV (Accept: text/csv or format=csv).
    `from`/`to`: ISO 8601 times (from inclusive, to exclusive) or dates (whole days, company time zone)."""
    _require(call, "audit.read")
    as_csv = _wants_csv(request, format)
    tz = c.settings.timezone
    start, end = _parse_time("from", from_, tz), _parse_time("to", to, tz, end=True)
    if start and end and start > end:
        raise InvalidValue("from", "must not be after 'to'")
    issue_id = resolve_issue(c, call, issue)["id"] if issue is not None else None
    after: int | None = None
    if cursor:
        after, _ = decode_cursor(cursor)
        if not isinstance(after, int):
            raise InvalidValue("cursor", "not a cursor this API issued")
    only = audit.TrailFilter(
        actor_id=actor,
        project=project,
        issue_kind=kind,
        type=type,
        issue_id=issue_id,
        start=start,
        end=end,
    )
    page = audit.trail(c.pool, call.principal.scope_filter(), only, limit, after)
    rows = page.rows
    next_cursor = encode_cursor([rows[-1]["position"], "p"]) if page.more else None
    role = call.principal.role
    if role in UNMASKED_ROLES:
        shown = {r["issue_id"]: r for r in rows if presenters.shows_personal_data(r["data"])}
        for r in shown.values():
            presenters.record_unmasked_read(
                c.app,
                call.principal,
                r["issue_id"],
                r["issue_kind"],
                r["issue_number"],
                r["project"],
                "GET /audit/events",
            )
    items = []
    for r in rows:
        item = jsonable(
            {k: r[k] for k in ("issue_id", "issue_kind", "issue_number", "project", "region")}
        )
        item.update(event_row(r, role))
        items.append(item)
    if not as_csv:
        return {"items": items, "next_cursor": next_cursor}
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=TRAIL_COLUMNS, lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for item in items:
        flat = {
            **item,
            "actor_id": item["actor"]["id"],
            "actor_name": item["actor"]["name"],
            "actor_role": item["actor"]["role"],
            "data": json.dumps(item["data"], ensure_ascii=False, sort_keys=True),
        }
        writer.writerow(flat)
    headers = {
        "Content-Disposition": 'inline; filename="audit-trail.csv"',
        "X-Read-Position": str(pos),
    }
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/integrity", responses=ok(IntegrityReport))
def integrity(call: QueryCall, app: QualtraceApp, pos: ReadPosition) -> Any:
    """Re-hash every stored event, walk the per-issue chains and the ledger; name the first broken link."""
    _require(call, "audit.verify")
    return app.audit.verify_integrity().as_dict()


def _pack_response(pack: dict[str, Any], filename: str) -> Response:
    body = file_bytes(pack)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Pack-Manifest-SHA256": pack["manifest_sha256"],
        },
    )


@router.get("/pack", responses=ok(AuditPack))
def period_pack(
    call: QueryCall,
    c: Container,
    app: QualtraceApp,
    pos: ReadPosition,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> Any:
    """An audit pack of every event in the period (from inclusive, to exclusive) within the caller's scope."""
    _require(call, "audit.read")
    start, end = _parse_time("from", from_), _parse_time("to", to)
    if start is None:
        raise InvalidValue("from", "is required")
    if end is None:
        raise InvalidValue("to", "is required")
    if start > end:
        raise InvalidValue("from", "must not be after 'to'")
    found = audit.period_events(c.pool, call.principal.scope_filter(), start, end, MAX_EVENTS + 1)
    if len(found) > MAX_EVENTS:
        raise InvalidValue("to", f"the period holds more than {MAX_EVENTS} events; narrow it")
    issues = {str(r["id"]): r for r in audit.issues_by_id(c.pool, {r["issue_id"] for r in found})}
    raw = app.audit.raw_events(positions=[r["position"] for r in found])
    subject = {"type": "period", "from": start.isoformat(), "to": end.isoformat()}
    pack = build_pack(c, call.principal, raw, issues, subject)
    return _pack_response(pack, f"audit-pack-{start:%Y%m%d}-{end:%Y%m%d}.json")


# -- one issue ----------------------------------------------------------------------------
@router.get("/{ref}", responses=ok(IssueHistory))
def history(ref: str, call: QueryCall, c: Container, pos: ReadPosition) -> Any:
    """The issue's whole history, oldest first, each event with a one-line summary."""
    issue = resolve_issue(c, call, ref)
    rows = audit.issue_events(c.pool, issue["id"])
    if call.principal.role in UNMASKED_ROLES and any(
        presenters.shows_personal_data(r["data"]) for r in rows
    ):
        presenters.record_unmasked_read(
            c.app,
            call.principal,
            issue["id"],
            issue["kind"],
            issue["number"],
            issue["project"],
            "GET /audit/{id}",
        )
    return {
        "id": str(issue["id"]),
        "number": issue["number"],
        "kind": issue["kind"],
        "project": issue["project"],
        "events": [event_row(r, call.principal.role) for r in rows],
    }


def live_view(kind: str, agg: Any, principal: Any, app: Any) -> dict[str, Any]:
    """The body the live `GET` of this kind answers: `api.presenters.<kind>_view` when there is
    one (tickets mask personal data), else `aggregate_view`."""
    fn = getattr(presenters, f"{kind}_view", None)
    if fn is None:
        return presenters.aggregate_view(agg)
    n = len(inspect.signature(fn).parameters)
    args = (agg, principal, app)[:n]
    return dict(fn(*args))


@router.get("/{ref}/as-of", responses=ok(IssueState))
def as_of(
    ref: str,
    call: QueryCall,
    c: Container,
    app: QualtraceApp,
    pos: ReadPosition,
    response: Response,
    at: str | None = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    """The issue's state at a past moment (`at`) or version, rebuilt from its events, shaped
    like the live `GET` of its kind."""
    if (at is None) == (version is None):
        raise InvalidValue("at", "give exactly one of 'at' or 'version'")
    moment = _parse_time("at", at)
    issue = resolve_issue(c, call, ref)
    agg = app.audit.issue_as_of(issue["id"], version=version, at=moment)
    response.headers["X-As-Of-Version"] = str(agg.version)
    out = live_view(issue["kind"], agg, call.principal, app)
    out.update(as_of_extras(c, app, issue["kind"], agg, moment))
    return out


def as_of_extras(c: Any, app: Any, kind: str, agg: Any, at: datetime | None) -> dict[str, Any]:
    """The fields the live `GET` of some kinds adds from the read side (links recorded by
    other issues, counts), as they stood at `at`; for a version, as they stood while the
    issue was at that version, up to its next event (or now, for the latest version)."""
    if kind not in ("inspection", "nonconformance", "survey"):
        return {}
    moment = (
        audit.AsOf(until=at) if at is not None else audit.as_of_version(c.pool, agg.id, agg.version)
    )
    if kind == "inspection":
        return {"linked_from": [dict(r) for r in audit.linked_from(c.pool, agg.id, moment)]}
    if kind == "nonconformance":
        return {"linked_issues": [jsonable(r) for r in audit.linked_issues(c.pool, agg.id, moment)]}
    return {"responses_recorded": audit.responses_recorded(c.pool, agg.id, moment)}


def trace_of(
    c: Any, call: Any, root: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Breadth-first over the links in both directions. Issues outside the caller's scope
    are neither returned nor walked through."""
    found: dict[str, dict[str, Any]] = {str(root["id"]): {**root, "depth": 0}}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    frontier = [str(root["id"])]
    depth = 0
    while frontier and len(found) < MAX_TRACE:
        depth += 1
        links = audit.links_touching(c.pool, frontier)
        new = {x for link in links for x in (link["from_id"], link["to_id"])} - set(found)
        visible: dict[str, dict[str, Any]] = {}
        if new:
            for row in audit.issues_by_id(c.pool, new):
                if in_scope(c, call.principal, row):
                    visible[str(row["id"])] = {**row, "depth": depth}
        found.update(visible)
        for link in links:
            if link["from_id"] in found and link["to_id"] in found:
                edges[(link["from_id"], link["to_id"], link["rel"])] = link
        frontier = list(visible)
    return found, sorted(edges.values(), key=lambda e: e["position"])


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "kind": row["kind"],
        "project": row["project"],
    }


@router.get("/{ref}/trace", responses=ok(IssueTrace))
def trace(ref: str, call: QueryCall, c: Container, pos: ReadPosition) -> Any:
    """Every issue linked to this one, in both directions and transitively, with the kinds of its links."""
    root = resolve_issue(c, call, ref)
    found, edges = trace_of(c, call, root)
    root_id = str(root["id"])
    issues = []
    for issue_id, row in sorted(
        found.items(), key=lambda kv: (kv[1]["depth"], kv[1]["created_at"])
    ):
        if issue_id == root_id:
            continue
        links = []
        for e in edges:
            if issue_id not in (e["from_id"], e["to_id"]):
                continue
            out = e["from_id"] == issue_id
            other = found[e["to_id"] if out else e["from_id"]]
            links.append(
                {"rel": e["rel"], "direction": "out" if out else "in", "issue": _brief(other)}
            )
        issues.append({**_brief(row), "depth": row["depth"], "links": links})
    return {
        **_brief(root),
        "issues": issues,
        "links": [
            {"rel": e["rel"], "from": _brief(found[e["from_id"]]), "to": _brief(found[e["to_id"]])}
            for e in edges
        ],
    }


@router.get("/{ref}/pack", responses=ok(AuditPack))
def issue_pack(
    ref: str, call: QueryCall, c: Container, app: QualtraceApp, pos: ReadPosition
) -> Any:
    """An audit pack of the issue's whole trace: every event of every issue in it."""
    root = resolve_issue(c, call, ref)
    found, edges = trace_of(c, call, root)
    raw = app.audit.raw_events(issue_ids=[UUID(i) for i in found])
    if len(raw) > MAX_EVENTS:
        raise InvalidValue("ref", f"the trace holds more than {MAX_EVENTS} events")
    subject = {
        "type": "trace",
        "issue": _brief(root),
        "links": [{"rel": e["rel"], "from_id": e["from_id"], "to_id": e["to_id"]} for e in edges],
    }
    pack = build_pack(c, call.principal, raw, found, subject)
    return _pack_response(pack, f"audit-pack-{root['number'] or root['id']}.json")
