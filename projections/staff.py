"""Staff of the projects' departments with their skills, and what dispatch suggestions read:
each person's open workload and recent resolution hours (from `qt_read.tickets`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Cursor, sql

from domain.dispatch import Candidate
from domain.org import Project
from domain.staff import StaffMember
from projections.base import (
    PROJECT_REGIONS_DDL,
    EventRecord,
    Projection,
    record_project_region,
    update_row,
)
from projections.reads import Page, Scope, fetch_all, page_of, scope_clause

#: Ticket statuses in which an assigned ticket is still work to do for its assignee.
DONE_STATUSES = ("resolved", "called_back", "closed", "cancelled")


class StaffProjection(Projection):
    name = "staff"
    tables = [
        """CREATE TABLE {schema}.staff (
            id uuid PRIMARY KEY,
            user_id text NOT NULL UNIQUE,
            name text NOT NULL,
            project text NOT NULL,
            region text,
            department text NOT NULL,
            skills text[] NOT NULL,
            status text NOT NULL DEFAULT 'active',
            registered_at timestamptz NOT NULL,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.staff (project)",
        PROJECT_REGIONS_DDL,
    ]
    views = ["staff"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, (Project.Registered, *HANDLED))

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
        elif isinstance(e, StaffMember.Registered):
            cur.execute(
                f"""INSERT INTO {schema}.staff (id, user_id, name, project, region, department,
                        skills, registered_at, version, updated_at)
                    VALUES (%s, %s, %s, %s,
                            (SELECT region FROM {schema}.project_regions WHERE project = %s),
                            %s, %s, %s, %s, %s)
                    ON CONFLICT (id) DO NOTHING""",
                (
                    rec.issue_id,
                    e.number,
                    e.name,
                    e.project,
                    e.project,
                    e.department,
                    list(e.skills),
                    e.timestamp,
                    rec.version,
                    e.timestamp,
                ),
            )
        elif isinstance(e, StaffMember.SkillsChanged):
            update_row(cur, f"{schema}.staff", rec, "skills = %s", (list(e.skills),))
        elif isinstance(e, (StaffMember.Moved, StaffMember.Rejoined)):
            update_row(
                cur,
                f"{schema}.staff",
                rec,
                "status = 'active', project = %s, department = %s,"
                f" region = (SELECT region FROM {schema}.project_regions WHERE project = %s)",
                (e.project, e.department, e.project),
            )
        elif isinstance(e, StaffMember.Left):
            update_row(cur, f"{schema}.staff", rec, "status = 'left'")


HANDLED = (
    StaffMember.Registered,
    StaffMember.SkillsChanged,
    StaffMember.Moved,
    StaffMember.Left,
    StaffMember.Rejoined,
)


# -- reads ---------------------------------------------------------------------------------
def list_staff(
    pool: Any,
    scope: Scope,
    project: str | None = None,
    department: str | None = None,
    limit: int = 50,
    after: str | None = None,
    status: str | None = None,
) -> Page:
    """Staff in the caller's scope in user-id order, a page of `limit` after user id `after`;
    `id` is the user id, `uuid` the record's."""
    where, params = scope_clause(scope)
    query = sql.SQL(
        "SELECT user_id AS id, name, project, region, department, skills, status, registered_at,"
        " version, id AS uuid FROM qt_read.staff WHERE {}"
    ).format(where)
    for col, value in (("project", project), ("department", department), ("status", status)):
        if value:
            query += sql.SQL(" AND {} = %s").format(sql.Identifier(col))
            params.append(value)
    if after is not None:
        query += sql.SQL(" AND user_id > %s")
        params.append(after)
    query += sql.SQL(" ORDER BY user_id LIMIT %s")
    return page_of(fetch_all(pool, query, [*params, limit + 1]), limit)


def dispatch_candidates(pool: Any, project: str, since: datetime) -> list[Candidate]:
    """The project's staff, each with the tickets assigned to them and not done now (any
    project), and the hours from assignment to resolution (time on hold not counted) of
    their tickets whose standing resolution falls at or after `since`. One query."""
    rows = fetch_all(
        pool,
        """SELECT s.user_id, s.name, s.department, s.skills,
                  (SELECT count(*) FROM qt_read.tickets t
                    WHERE t.assignee = s.user_id AND t.status <> ALL(%(done)s)) AS open_tickets,
                  ARRAY(SELECT GREATEST(0, EXTRACT(EPOCH FROM (t.resolved_at - t.assigned_at))
                                            - t.assignee_hold_seconds) / 3600.0
                          FROM qt_read.tickets t
                         WHERE t.assignee = s.user_id AND t.resolved_at IS NOT NULL
                           AND t.assigned_at IS NOT NULL AND t.resolved_at >= %(since)s
                         ORDER BY t.resolved_at) AS hours
             FROM qt_read.staff s
            WHERE s.project = %(project)s AND s.status = 'active'
            ORDER BY s.user_id""",
        {"done": list(DONE_STATUSES), "since": since, "project": project},
    )
    return [
        Candidate(
            staff_id=r["user_id"],
            name=r["name"],
            department=r["department"],
            skills=tuple(r["skills"]),
            open_tickets=int(r["open_tickets"]),
            resolution_hours=tuple(float(h) for h in r["hours"]),
        )
        for r in rows
    ]
