"""What the audit routes (api/routes/audit.py) share: finding an issue in the caller's
scope, one event as the trail and history show it (personal data masked by role), the
query's times, the trail as CSV, the trace of linked issues, and the live body of a kind
with the read-side fields it had at a past moment."""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request, Response

from api import presenters
from api.audit_pack import file_bytes
from api.listing import jsonable
from api.presenters import masked_reporter, plain
from api.summaries import summarize
from application.errors import NotFound
from application.security import UNMASKED_ROLES, can
from domain.errors import InvalidValue
from projections import audit

MAX_TRACE = 1000


def require(call: Any, action: str) -> None:
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
    require(call, "audit.read")
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


def trail_items(c: Any, call: Any, rows: list[dict[str, Any]], via: str) -> list[dict[str, Any]]:
    """Trail rows as the audit trail shows them to the caller (`GET /audit/events`, the
    event feed); an unmasked read of personal data is recorded, naming `via`."""
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
                via,
            )
    items = []
    for r in rows:
        item = jsonable(
            {k: r[k] for k in ("issue_id", "issue_kind", "issue_number", "project", "region")}
        )
        item.update(event_row(r, role))
        items.append(item)
    return items


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


def parse_time(
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


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None and fmt.lower() not in ("csv", "json"):
        raise InvalidValue("format", "must be json or csv")
    return (fmt or "").lower() == "csv" or (
        fmt is None and "text/csv" in request.headers.get("accept", "").lower()
    )


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


def trail_csv(items: list[dict[str, Any]], headers: dict[str, str]) -> Response:
    """The trail's items as CSV, one row per event (`data` as sorted JSON)."""
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
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def pack_response(pack: dict[str, Any], filename: str) -> Response:
    body = file_bytes(pack)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Pack-Manifest-SHA256": pack["manifest_sha256"],
        },
    )


def live_view(kind: str, agg: Any, principal: Any, app: Any) -> dict[str, Any]:
    """The body the live `GET` of this kind answers: `api.presenters.<kind>_view` when there is
    one (tickets mask personal data), else `aggregate_view`."""
    fn = getattr(presenters, f"{kind}_view", None)
    if fn is None:
        return presenters.aggregate_view(agg)
    n = len(inspect.signature(fn).parameters)
    args = (agg, principal, app)[:n]
    return dict(fn(*args))


def as_of_extras(c: Any, app: Any, kind: str, agg: Any, at: datetime | None) -> dict[str, Any]:
    """The fields the live `GET` of some kinds adds from the read side (links recorded by
    other issues, counts), as they stood at `at`; for a version, as they stood while the
    issue was at that version, up to its next event (or now, for the latest version)."""
    if kind not in ("inspection", "nonconformance", "survey"):
        return {}
    moment = (
        audit.AsOf(until=at) if at is not None else audit.as_of_version(c.pool, agg.id, agg.version)
    )
    # attach: the files named up to this version (tickets: in presenters.ticket_view)
    if kind == "inspection":
        return {
            "linked_from": [dict(r) for r in audit.linked_from(c.pool, agg.id, moment)],
            "attachments": presenters.attachment_refs(app, agg),
        }
    if kind == "nonconformance":
        return {
            "linked_issues": [jsonable(r) for r in audit.linked_issues(c.pool, agg.id, moment)],
            "attachments": presenters.attachment_refs(app, agg),
        }
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


def brief(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "kind": row["kind"],
        "project": row["project"],
    }
