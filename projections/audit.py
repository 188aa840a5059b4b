"""The audit trail: one flat row per event with its actor, time, reason, issue number,
correlation and causation ids; plus the index of issues and the links between them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from domain.org import Project
from projections.base import PROJECT_REGIONS_DDL, EventRecord, Projection, record_project_region
from projections.reads import Page, Row, Scope, fetch_all, fetch_one, page_of, scope_clause

#: aggregate class name -> issue kind
KINDS = {
    "Ticket": "ticket",
    "Inspection": "inspection",
    "Nonconformance": "nonconformance",
    "SurveyCampaign": "survey",
    "SurveyResponse": "survey_response",
    "ChecklistTemplate": "checklist_template",
    "Region": "region",
    "Project": "project",
    "Circular": "circular",  # notify
    "EarlyWarning": "warning",
    # loop (issue #15)
    "InspectionPlan": "inspection_plan",
    "Assessment": "assessment",
    "StaffMember": "staff",  # dispatch suggestions (issue #16 item 6)
}


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, default=_json_default, ensure_ascii=False))


def links_of(rec: EventRecord) -> list[tuple[str, str, str]]:
    """(from_id, to_id, rel) links an event records. Both directions are derived at read time."""
    data = rec.data()
    out: list[tuple[str, str, str]] = []
    source = data.get("source")
    if isinstance(source, dict) and source.get("id"):
        out.append(
            (
                str(source["id"]),
                str(rec.issue_id),
                f"raised_{KINDS.get(rec.aggregate, rec.aggregate.lower())}",
            )
        )
    for link in data.get("links", []) or []:
        if isinstance(link, dict) and link.get("id"):
            out.append((str(rec.issue_id), str(link["id"]), str(link.get("rel", "linked"))))
    return out


class AuditTrailProjection(Projection):
    name = "audit"
    tables = [
        """CREATE TABLE {schema}.issues (
            id uuid PRIMARY KEY,
            kind text NOT NULL,
            number text,
            project text,
            region text,
            created_at timestamptz NOT NULL,
            last_position bigint NOT NULL,
            version int NOT NULL)""",
        "CREATE INDEX ON {schema}.issues (number)",
        """CREATE TABLE {schema}.audit_events (
            position bigint PRIMARY KEY,
            issue_id uuid NOT NULL,
            issue_kind text NOT NULL,
            issue_number text,
            project text,
            region text,
            version int NOT NULL,
            type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            actor_id text NOT NULL,
            actor_name text NOT NULL,
            actor_role text NOT NULL,
            correlation_id text,
            causation_id text,
            reason text,
            data jsonb NOT NULL)""",
        "CREATE INDEX ON {schema}.audit_events (issue_id, version)",
        "CREATE INDEX ON {schema}.audit_events (actor_id, position)",
        "CREATE INDEX ON {schema}.audit_events (project, position)",
        "CREATE INDEX ON {schema}.audit_events (occurred_at)",
        """CREATE TABLE {schema}.issue_links (
            from_id uuid NOT NULL,
            to_id uuid NOT NULL,
            rel text NOT NULL,
            position bigint NOT NULL,
            PRIMARY KEY (from_id, to_id, rel))""",
        "CREATE INDEX ON {schema}.issue_links (to_id)",
        PROJECT_REGIONS_DDL,
    ]
    views = ["issues", "audit_events", "issue_links"]

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        data = rec.data()
        kind = KINDS.get(rec.aggregate, rec.aggregate.lower())
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
        if rec.version == 1:
            project = data.get("project") if kind != "project" else data.get("code")
            number = data.get("number") or data.get("code")
            cur.execute(
                f"""INSERT INTO {schema}.issues (id, kind, number, project, region, created_at, last_position, version)
                VALUES (%s,%s,%s,%s,(SELECT region FROM {schema}.project_regions WHERE project=%s),%s,%s,%s)
                ON CONFLICT (id) DO NOTHING""",
                (
                    rec.issue_id,
                    kind,
                    number,
                    project,
                    project,
                    e.timestamp,
                    rec.position,
                    rec.version,
                ),
            )
        else:
            cur.execute(
                f"UPDATE {schema}.issues SET last_position=%s, version=%s WHERE id=%s",
                (rec.position, rec.version, rec.issue_id),
            )
        actor = rec.actor
        cur.execute(
            f"""INSERT INTO {schema}.audit_events (position, issue_id, issue_kind, issue_number, project, region,
                version, type, occurred_at, actor_id, actor_name, actor_role, correlation_id, causation_id,
                reason, data)
            SELECT %s, %s, %s, i.number, i.project, i.region, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
            FROM {schema}.issues i WHERE i.id = %s""",
            (
                rec.position,
                rec.issue_id,
                kind,
                rec.version,
                rec.type,
                e.timestamp,
                actor.get("id", ""),
                actor.get("name", ""),
                actor.get("role", ""),
                getattr(e, "correlation_id", None),
                getattr(e, "causation_id", None),
                getattr(e, "reason", None),
                Jsonb(to_json(data)),
                rec.issue_id,
            ),
        )
        for from_id, to_id, rel in links_of(rec):
            cur.execute(
                f"INSERT INTO {schema}.issue_links VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (from_id, to_id, rel, rec.position),
            )


# -- reads ---------------------------------------------------------------------------------
def find_issue(pool: Any, ref: str) -> Row | None:
    """An issue of any kind by UUID or human number (case-insensitive), else None."""
    try:
        return fetch_one(
            pool,
            "SELECT * FROM qt_read.issues WHERE id = %s ORDER BY created_at LIMIT 1",
            (str(UUID(ref.strip())),),
        )
    except ValueError:
        return fetch_one(
            pool,
            "SELECT * FROM qt_read.issues WHERE upper(number) = upper(%s) ORDER BY created_at LIMIT 1",
            (ref.strip(),),
        )


def issues_by_id(pool: Any, ids: Iterable[Any]) -> list[Row]:
    """The issue rows of these ids (any order)."""
    return fetch_all(
        pool,
        "SELECT * FROM qt_read.issues WHERE id = ANY(%s::uuid[])",
        ([str(i) for i in ids],),
    )


def issue_events(pool: Any, issue_id: Any) -> list[Row]:
    """One issue's audit rows, oldest first."""
    return fetch_all(
        pool,
        "SELECT * FROM qt_read.audit_events WHERE issue_id = %s ORDER BY version",
        (issue_id,),
    )


@dataclass(frozen=True)
class TrailFilter:
    """The flat trail's filters: each None means no filter."""

    actor_id: str | None = None
    project: str | None = None
    issue_kind: str | None = None
    type: str | None = None
    issue_id: Any = None
    start: datetime | None = None  # occurred_at >= start
    end: datetime | None = None  # occurred_at < end


def trail(
    pool: Any, scope: Scope, f: TrailFilter, limit: int, after_position: int | None = None
) -> Page:
    """The audit trail in the caller's scope, in position order."""
    where, params = scope_clause(scope)
    clauses: list[sql.Composable] = [where]
    for col, value in (
        ("actor_id", f.actor_id),
        ("project", f.project),
        ("issue_kind", f.issue_kind),
        ("type", f.type),
        ("issue_id", f.issue_id),
    ):
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
            params.append(value)
    if f.start is not None:
        clauses.append(sql.SQL("occurred_at >= %s"))
        params.append(f.start)
    if f.end is not None:
        clauses.append(sql.SQL("occurred_at < %s"))
        params.append(f.end)
    if after_position is not None:
        clauses.append(sql.SQL("position > %s"))
        params.append(after_position)
    query = sql.SQL(
        "SELECT * FROM qt_read.audit_events WHERE {} ORDER BY position LIMIT %s"
    ).format(sql.SQL(" AND ").join(clauses))
    return page_of(fetch_all(pool, query, [*params, limit + 1]), limit)


def period_events(pool: Any, scope: Scope, start: datetime, end: datetime, limit: int) -> list[Row]:
    """(position, issue_id) of up to `limit` events in [start, end) in the caller's scope."""
    where, params = scope_clause(scope)
    query = sql.SQL(
        """SELECT position, issue_id FROM qt_read.audit_events
            WHERE {} AND occurred_at >= %s AND occurred_at < %s
            ORDER BY position LIMIT %s"""
    ).format(where)
    return fetch_all(pool, query, [*params, start, end, limit])


def event_meta(pool: Any, positions: list[int]) -> dict[int, Row]:
    """Type, time and actor of the events at these positions, by position."""
    rows = fetch_all(
        pool,
        """SELECT position, type, occurred_at, actor_id, actor_name, actor_role
             FROM qt_read.audit_events WHERE position = ANY(%s)""",
        (positions,),
    )
    return {r["position"]: r for r in rows}


def links_touching(pool: Any, ids: list[str]) -> list[Row]:
    """Every link from or to one of these issues, in the order they were recorded."""
    return fetch_all(
        pool,
        """SELECT from_id::text AS from_id, to_id::text AS to_id, rel, position
             FROM qt_read.issue_links
            WHERE from_id = ANY(%s::uuid[]) OR to_id = ANY(%s::uuid[])
            ORDER BY position""",
        (ids, ids),
    )


@dataclass(frozen=True)
class AsOf:
    """A past moment of the read side: events before a position, or up to a time; neither
    means now."""

    before_position: int | None = None
    until: datetime | None = None


NOW = AsOf()


def as_of_version(pool: Any, issue_id: Any, version: int) -> AsOf:
    """While the issue was at `version`: up to its next event (or now, for its latest)."""
    nxt = fetch_one(
        pool,
        "SELECT position FROM qt_read.audit_events WHERE issue_id = %s AND version = %s",
        (issue_id, version + 1),
    )
    return AsOf(before_position=nxt["position"]) if nxt else NOW


def _bound(at: AsOf) -> tuple[sql.Composable, dict[str, Any]]:
    """The audit row `e` (the event that recorded something) stood at `at`."""
    if at.until is not None:
        return sql.SQL("e.occurred_at <= %(bound)s"), {"bound": at.until}
    if at.before_position is not None:
        return sql.SQL("e.position < %(bound)s"), {"bound": at.before_position}
    return sql.SQL("true"), {}


def _link_recorded(at: AsOf) -> tuple[sql.Composable, dict[str, Any]]:
    """A join keeping the links `l` recorded by `at` (nothing to join for now)."""
    if at == NOW:
        return sql.SQL(""), {}
    bound, params = _bound(at)
    return sql.SQL("JOIN qt_read.audit_events e ON e.position = l.position AND {}").format(
        bound
    ), params


def linked_from(pool: Any, issue_id: Any, at: AsOf = NOW) -> list[Row]:
    """Issues that recorded a link to this one (as they stood at `at`)."""
    recorded, params = _link_recorded(at)
    query = sql.SQL(
        """SELECT l.rel, i.kind, i.id::text AS id, i.number
             FROM qt_read.issue_links l {recorded}
             JOIN qt_read.issues i ON i.id = l.from_id
            WHERE l.to_id = %(id)s
            ORDER BY l.position"""
    ).format(recorded=recorded)
    return fetch_all(pool, query, {**params, "id": issue_id})


def linked_issues(pool: Any, issue_id: Any, at: AsOf = NOW) -> list[Row]:
    """Links in both directions: what this issue links to ('out') and what links to it ('in')."""
    recorded, params = _link_recorded(at)
    query = sql.SQL(
        """SELECT 'out' AS direction, l.rel, i.id, i.kind, i.number
             FROM qt_read.issue_links l {recorded}
             JOIN qt_read.issues i ON i.id = l.to_id
            WHERE l.from_id = %(id)s
           UNION ALL
           SELECT 'in', l.rel, i.id, i.kind, i.number
             FROM qt_read.issue_links l {recorded}
             JOIN qt_read.issues i ON i.id = l.from_id
            WHERE l.to_id = %(id)s
            ORDER BY 1, 2, 5"""
    ).format(recorded=recorded)
    return fetch_all(pool, query, {**params, "id": issue_id})


def responses_recorded(pool: Any, campaign_id: Any, at: AsOf = NOW) -> int:
    """How many responses a survey campaign had recorded at `at`."""
    bound, params = _bound(at)
    query = sql.SQL(
        """SELECT count(*) AS n
             FROM qt_read.survey_responses s
             JOIN qt_read.audit_events e ON e.issue_id = s.id AND e.version = 1
            WHERE s.survey_id = %(id)s AND {bound}"""
    ).format(bound=bound)
    row = fetch_one(pool, query, {**params, "id": campaign_id})
    return int(row["n"]) if row else 0
