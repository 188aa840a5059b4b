"""The ticket list: one row per ticket, no personal data (details come from the store)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.org import Project
from domain.tickets import Ticket
from projections.base import (
    PROJECT_REGIONS_DDL,
    EventRecord,
    Projection,
    events_of,
    record_project_region,
    update_row,
)
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
            -- the field steps and the SLA as the field runs it (issue #16)
            response_ends text NOT NULL DEFAULT 'dispatch',
            arrived_at timestamptz,
            on_hold_since timestamptz,
            paused_seconds double precision NOT NULL DEFAULT 0,
            rejections int NOT NULL DEFAULT 0,
            response_level int NOT NULL DEFAULT 0,
            resolution_level int NOT NULL DEFAULT 0,
            callback_minutes int,
            callback_due timestamptz,
            callback_done_at timestamptz,
            callback_level int NOT NULL DEFAULT 0,
            -- dispatch suggestions (issue #16 item 6): since when the current assignee has
            -- the ticket (its current stint) and the wall-clock hours on hold since then
            assigned_at timestamptz,
            assignee_hold_seconds double precision NOT NULL DEFAULT 0,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.tickets (project, status)",
        "CREATE INDEX ON {schema}.tickets (received_at)",
        "CREATE INDEX ON {schema}.tickets (assignee, status)",
        PROJECT_REGIONS_DDL,
    ]
    views = ["tickets"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, HANDLED)

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.tickets"
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
        elif isinstance(e, Ticket.Received):
            cur.execute(
                f"""INSERT INTO {t} (id, number, project, region, kind, channel, priority, category,
                        status, received_at, response_due, resolution_due, version, updated_at,
                        response_ends, callback_minutes)
                    VALUES (%s, %s, %s, (SELECT region FROM {schema}.project_regions WHERE project = %s),
                            %s, %s, %s, %s, 'received', %s, %s, %s, %s, %s, %s, %s)""",
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
                    e.sla_policy.get("response_ends", "dispatch"),
                    e.sla_policy.get("callback_minutes"),
                ),
            )
        elif isinstance(e, Ticket.Dispatched):
            update_row(
                cur,
                t,
                rec,
                "status = 'dispatched', department = %s, assignee = %s,"
                " dispatched_at = COALESCE(dispatched_at, %s), " + NEW_STINT,
                (e.department, e.assignee, e.timestamp, e.assignee, e.timestamp, e.assignee),
            )
        elif isinstance(e, Ticket.Transferred):
            update_row(
                cur,
                t,
                rec,
                "status = 'dispatched', department = %s, assignee = %s, transfers = transfers + 1,"
                " dispatched_at = COALESCE(dispatched_at, %s), " + NEW_STINT,
                (e.department, e.assignee, e.timestamp, e.assignee, e.timestamp, e.assignee),
            )
        elif isinstance(e, Ticket.Accepted):
            update_row(
                cur,
                t,
                rec,
                "status = 'in_progress', accepted_at = COALESCE(accepted_at, %s)",
                (e.timestamp,),
            )
        elif isinstance(e, Ticket.Resolved):
            update_row(
                cur,
                t,
                rec,
                "status = 'resolved', resolved_at = %s,"
                " first_resolved_at = COALESCE(first_resolved_at, %s),"
                " callback_due = %s + make_interval(mins => callback_minutes)",
                (e.timestamp, e.timestamp, e.timestamp),
            )
        elif isinstance(e, Ticket.CallbackRecorded):
            if not e.reached:
                update_row(cur, t, rec, "callbacks = callbacks + 1, callback_reached = false", ())
            else:
                update_row(
                    cur,
                    t,
                    rec,
                    "callbacks = callbacks + 1, callback_reached = true, callback_satisfied = %s,"
                    " callback_rating = %s, callback_done_at = COALESCE(callback_done_at, %s)"
                    + (", status = 'called_back'" if e.satisfied else ""),
                    (e.satisfied, e.rating, e.timestamp),
                )
        elif isinstance(e, Ticket.Reopened):
            update_row(
                cur,
                t,
                rec,
                "status = 'reopened', reopen_count = reopen_count + 1, resolved_at = NULL,"
                " callback_due = NULL, callback_done_at = NULL,"
                " assigned_at = %s, assignee_hold_seconds = 0",
                (e.timestamp,),
            )
        elif isinstance(e, Ticket.Closed):
            update_row(
                cur,
                t,
                rec,
                "status = 'closed', closed_at = %s, closed_by_override = %s",
                (e.timestamp, e.override),
            )
        elif isinstance(e, Ticket.Cancelled):
            update_row(cur, t, rec, "status = 'cancelled', cancelled_at = %s", (e.timestamp,))
        elif isinstance(e, Ticket.Escalated):
            update_row(cur, t, rec, "escalated = true")
        elif isinstance(e, Ticket.SlaBreached):
            level = LEVEL_COLUMNS[e.phase]
            if e.phase == "callback":
                update_row(cur, t, rec, f"{level} = GREATEST({level}, 1)")
            else:
                breached = "response_breached" if e.phase == "response" else "resolution_breached"
                update_row(cur, t, rec, f"{breached} = true, {level} = GREATEST({level}, 1)")
        elif isinstance(e, FIELD_STEPS):
            handle_field_step(cur, t, rec)
        else:  # a note: only the version moves
            update_row(cur, t, rec)


#: A (re)assignment starts the assignee's stint (its clock and hold time) unless it names
#: the person who has the ticket already. Parameters: assignee, timestamp, assignee.
NEW_STINT = (
    "assigned_at = CASE WHEN assignee IS NOT DISTINCT FROM %s AND assigned_at IS NOT NULL"
    " THEN assigned_at ELSE %s END,"
    " assignee_hold_seconds = CASE WHEN assignee IS NOT DISTINCT FROM %s"
    " THEN assignee_hold_seconds ELSE 0 END"
)

LEVEL_COLUMNS = {
    "response": "response_level",
    "resolution": "resolution_level",
    "callback": "callback_level",
}
FIELD_STEPS = (
    Ticket.Arrived,
    Ticket.PutOnHold,
    Ticket.Resumed,
    Ticket.Reclassified,
    Ticket.Rejected,
    Ticket.SlaEscalated,
)


def handle_field_step(cur: Cursor[Any], t: str, rec: EventRecord) -> None:
    """The field steps of issue #16 on the ticket list."""
    e = rec.event
    if isinstance(e, Ticket.Arrived):
        update_row(
            cur,
            t,
            rec,
            "status = 'in_progress', arrived_at = COALESCE(arrived_at, %s),"
            " accepted_at = COALESCE(accepted_at, %s)",
            (e.timestamp, e.timestamp),
        )
    elif isinstance(e, Ticket.PutOnHold):
        update_row(cur, t, rec, "status = 'on_hold', on_hold_since = %s", (e.timestamp,))
    elif isinstance(e, Ticket.Resumed):
        update_row(
            cur,
            t,
            rec,
            "status = 'in_progress', on_hold_since = NULL,"
            " paused_seconds = paused_seconds + %s, resolution_due = %s,"
            " assignee_hold_seconds = assignee_hold_seconds"
            " + COALESCE(EXTRACT(EPOCH FROM (%s - GREATEST(on_hold_since, assigned_at))), 0)",
            (e.paused_seconds, e.resolution_due, e.timestamp),
        )
    elif isinstance(e, Ticket.Reclassified):
        update_row(
            cur,
            t,
            rec,
            "kind = %s, category = %s, priority = %s, response_due = %s, resolution_due = %s",
            (e.kind, e.category, e.priority, e.response_due, e.resolution_due),
        )
    elif isinstance(e, Ticket.Rejected):
        update_row(cur, t, rec, "status = 'rejected', assignee = NULL, rejections = rejections + 1")
    elif isinstance(e, Ticket.SlaEscalated):
        level = LEVEL_COLUMNS[e.phase]
        update_row(cur, t, rec, f"{level} = GREATEST({level}, %s)", (e.level + 1,))


#: What the ticket list reads: every ticket event, and projects (for their regions).
HANDLED = (Project.Registered, *events_of(Ticket))


# -- reads ---------------------------------------------------------------------------------
def list_tickets(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Tickets in the caller's scope, newest received first."""
    return list_page(pool, "tickets", scope, filters, "received_at", limit, after)
