"""Audit: the history of any issue with one-line summaries, its state at any past moment,
its trace of linked issues, the flat trail (JSON/CSV), verifiable audit packs, and the
integrity check of the event store."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api import presenters
from api.audit_pack import MAX_EVENTS, build_pack
from api.audit_views import (
    as_of_extras,
    brief,
    event_row,
    live_view,
    pack_response,
    parse_time,
    require,
    resolve_issue,
    trace_of,
    trail_csv,
    trail_items,
    wants_csv,
)
from api.deps import Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import decode_cursor, encode_cursor
from api.read_models import (
    AuditEventPage,
    AuditPack,
    IntegrityReport,
    IssueHistory,
    IssueState,
    IssueTrace,
    ok,
)
from application.security import UNMASKED_ROLES
from domain.errors import InvalidValue
from projections import audit

router = APIRouter(prefix="/audit", tags=["audit"])


# -- the trail (static paths first: they would otherwise match /{ref}) -----------------
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
    require(call, "audit.read")
    as_csv = wants_csv(request, format)
    tz = c.settings.timezone
    start, end = parse_time("from", from_, tz), parse_time("to", to, tz, end=True)
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
    items = trail_items(c, call, rows, "GET /audit/events")
    if not as_csv:
        return {"items": items, "next_cursor": next_cursor}
    headers = {
        "Content-Disposition": 'inline; filename="audit-trail.csv"',
        "X-Read-Position": str(pos),
    }
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return trail_csv(items, headers)


@router.get("/integrity", responses=ok(IntegrityReport))
def integrity(call: QueryCall, c: Container, pos: ReadPosition) -> Any:
    """The last full verification (every stored event re-hashed, the per-issue chains and
    the ledger walked; `qualtrace verify` or the worker, periodically) with its time and
    position, and the events written since re-hashed now (bounded); names the first broken link."""
    require(call, "audit.verify")
    return c.app.audit.integrity_report(cap=c.settings.integrity_tail_cap)


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
    require(call, "audit.read")
    start, end = parse_time("from", from_), parse_time("to", to)
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
    return pack_response(pack, f"audit-pack-{start:%Y%m%d}-{end:%Y%m%d}.json")


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
    moment = parse_time("at", at)
    issue = resolve_issue(c, call, ref)
    agg = app.audit.issue_as_of(issue["id"], version=version, at=moment)
    response.headers["X-As-Of-Version"] = str(agg.version)
    out = live_view(issue["kind"], agg, call.principal, app)
    out.update(as_of_extras(c, app, issue["kind"], agg, moment))
    return out


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
                {"rel": e["rel"], "direction": "out" if out else "in", "issue": brief(other)}
            )
        issues.append({**brief(row), "depth": row["depth"], "links": links})
    return {
        **brief(root),
        "issues": issues,
        "links": [
            {"rel": e["rel"], "from": brief(found[e["from_id"]]), "to": brief(found[e["to_id"]])}
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
        "issue": brief(root),
        "links": [{"rel": e["rel"], "from_id": e["from_id"], "to_id": e["to_id"]} for e in edges],
    }
    pack = build_pack(c, call.principal, raw, found, subject)
    return pack_response(pack, f"audit-pack-{root['number'] or root['id']}.json")
