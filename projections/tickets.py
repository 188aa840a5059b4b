"""The ticket list: one row per ticket, no personal data (details come from the store)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from projections.base import PROJECT_REGIONS_DDL, EventRecord, Projection, record_project_region
from projections.reads import Page, Scope, list_page


class TicketListProjection(Projection):
    name = "tickets"
    tables = [
        """CREATE TABLE {schema}.tickets (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            channel text NOT NULL,
            priority text NOT NULL,
            category text NOT NULL,
            status text NOT NULL,
            department text,
            assignee text,
            received_at timestamptz NOT NULL,
            response_due timestamptz NOT NULL,
            resolution_due timestamptz NOT NULL,
            dispatched_at timestamptz,
            accepted_at timestamptz,
            resolved_at timestamptz,
            first_resolved_at timestamptz,
            closed_at timestamptz,
            cancelled_at timestamptz,
            callbacks int NOT NULL DEFAULT 0,
            callback_reached boolean,
            callback_satisfied boolean,
            callback_rating int,
            reopen_count int NOT NULL DEFAULT 0,
            transfers int NOT NULL DEFAULT 0,
            escalated boolean NOT NULL DEFAULT false,
            response_breached boolean NOT NULL DEFAULT false,
            resolution_breached boolean NOT NULL DEFAULT false,
            closed_by_override boolean NOT NULL DEFAULT false,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.tickets (project, status)",
        "CREATE INDEX ON {schema}.tickets (received_at)",
        PROJECT_REGIONS_DDL,
    ]
    views = ["tickets"]

    def handles(self, rec: EventRecord) -> bool:
        return rec.aggregate in ("Ticket", "Project")

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.tickets"
        if rec.aggregate == "Project":
            if rec.type == "Registered":
                record_project_region(cur, schema, rec)
            return
        if rec.type == "Received":
            cur.execute(
                f"""INSERT INTO {t} (id, number, project, region, kind, channel, priority, category, status,
                    received_at, response_due, resolution_due, version, updated_at)
                    VALUES (%s,%s,%s,(SELECT region FROM {schema}.project_regions WHERE project=%s),
                            %s,%s,%s,%s,'received',%s,%s,%s,%s,%s)""",
                (
                    rec.issue_id,
                    e.number,
                    e.project,
                    e.project,
                    e.kind,
                    e.channel,
                    e.priority,
                    e.category,
                    e.timestamp,
                    e.response_due,
                    e.resolution_due,
                    rec.version,
                    e.timestamp,
                ),
            )
            return
        sets: dict[str, Any] = {}
        if rec.type == "Dispatched":
            sets = {
                "status": "dispatched",
                "department": e.department,
                "assignee": e.assignee,
                "dispatched_at": ("coalesce", e.timestamp),
            }
        elif rec.type == "Transferred":
            sets = {
                "status": "dispatched",
                "department": e.department,
                "assignee": e.assignee,
                "transfers": ("add", 1),
                "dispatched_at": ("coalesce", e.timestamp),
            }
        elif rec.type == "Accepted":
            sets = {"status": "in_progress", "accepted_at": ("coalesce", e.timestamp)}
        elif rec.type == "Resolved":
            sets = {
                "status": "resolved",
                "resolved_at": e.timestamp,
                "first_resolved_at": ("coalesce", e.timestamp),
            }
        elif rec.type == "CallbackRecorded":
            sets = {"callbacks": ("add", 1), "callback_reached": e.reached}
            if e.reached:
                sets.update({"callback_satisfied": e.satisfied, "callback_rating": e.rating})
                if e.satisfied:
                    sets["status"] = "called_back"
        elif rec.type == "Reopened":
            sets = {"status": "reopened", "reopen_count": ("add", 1), "resolved_at": None}
        elif rec.type == "Closed":
            sets = {"status": "closed", "closed_at": e.timestamp, "closed_by_override": e.override}
        elif rec.type == "Cancelled":
            sets = {"status": "cancelled", "cancelled_at": e.timestamp}
        elif rec.type == "Escalated":
            sets = {"escalated": True}
        elif rec.type == "SlaBreached":
            sets = {f"{e.phase}_breached": True}
        sets["version"] = rec.version
        sets["updated_at"] = e.timestamp
        clauses, params = [], []
        for col, val in sets.items():
            if isinstance(val, tuple) and val[0] == "coalesce":
                clauses.append(f"{col} = coalesce({col}, %s)")
                params.append(val[1])
            elif isinstance(val, tuple) and val[0] == "add":
                clauses.append(f"{col} = {col} + %s")
                params.append(val[1])
            else:
                clauses.append(f"{col} = %s")
                params.append(val)
        params.append(rec.issue_id)
        cur.execute(f"UPDATE {t} SET {', '.join(clauses)} WHERE id = %s", params)


# -- reads ---------------------------------------------------------------------------------
def list_tickets(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Tickets in the caller's scope, newest received first."""
    return list_page(pool, "tickets", scope, filters, "received_at", limit, after)
