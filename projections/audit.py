"""The audit trail: one flat row per event with its actor, time, reason, issue number,
correlation and causation ids; plus the index of issues and the links between them."""

from __future__ import annotations

import json
from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from projections.base import PROJECT_REGIONS_DDL, EventRecord, Projection, record_project_region

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
        if rec.aggregate == "Project" and rec.type == "Registered":
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
