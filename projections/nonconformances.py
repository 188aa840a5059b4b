"""The nonconformance list: one row per nonconformance (`qt_read.nonconformances`), what
the list endpoint filters, the deadline watcher scans and the KPIs count."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.nonconformances import Nonconformance
from domain.org import Project
from projections.base import (
    PROJECT_REGIONS_DDL,
    EventRecord,
    Projection,
    events_of,
    record_project_region,
    update_row,
)
from projections.reads import Page, Scope, list_page

_PENDING = ("noticed", "analysed", "planned", "plan_approved")


class NonconformanceListProjection(Projection):
    name = "nonconformances"
    tables = [
        """CREATE TABLE {schema}.nonconformances (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            project text NOT NULL,
            region text,
            source text NOT NULL,
            source_id text,
            source_number text,
            source_item text,
            severity text NOT NULL,
            status text NOT NULL,
            department text,
            responsible_person text,
            due_date timestamptz,
            overdue boolean NOT NULL DEFAULT false,
            overdue_count int NOT NULL DEFAULT 0,
            extension_pending boolean NOT NULL DEFAULT false,
            extensions int NOT NULL DEFAULT 0,
            notice_count int NOT NULL DEFAULT 0,
            escalation_level text,
            deduction boolean NOT NULL DEFAULT false,
            recurrence_of text,
            recurrence_of_id uuid,
            disposition text,
            raised_at timestamptz NOT NULL,
            noticed_at timestamptz,
            rectified_at timestamptz,
            verified_at timestamptz,
            closed_at timestamptz,
            closed_on_time boolean,
            cancelled_at timestamptz,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.nonconformances (project, status)",
        "CREATE INDEX ON {schema}.nonconformances (raised_at)",
        "CREATE INDEX ON {schema}.nonconformances (due_date) WHERE NOT overdue",
        PROJECT_REGIONS_DDL,
    ]
    views = ["nonconformances"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, HANDLED)

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.nonconformances"
        N = Nonconformance
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
        elif isinstance(e, N.Raised):
            src = e.source or {}
            cur.execute(
                f"""INSERT INTO {t} (id, number, project, region, source, source_id, source_number,
                        source_item, severity, status, department, raised_at, version, updated_at)
                    VALUES (%s, %s, %s, (SELECT region FROM {schema}.project_regions WHERE project = %s),
                            %s, %s, %s, %s, %s, 'raised', %s, %s, %s, %s)""",
                (
                    rec.issue_id,
                    e.number,
                    e.project,
                    e.project,
                    src.get("type"),
                    src.get("id"),
                    src.get("number") or src.get("ref"),
                    src.get("item"),
                    e.severity,
                    e.department,
                    e.timestamp,
                    rec.version,
                    e.timestamp,
                ),
            )
        elif isinstance(e, N.RecurrenceMarked):
            update_row(
                cur,
                t,
                rec,
                "recurrence_of = %s, recurrence_of_id = %s",
                (e.recurrence_of.get("number"), e.recurrence_of.get("id")),
            )
        elif isinstance(e, N.NoticeIssued):
            update_row(
                cur,
                t,
                rec,
                "status = 'noticed', department = %s, responsible_person = %s, due_date = %s,"
                " overdue = false, notice_count = %s, escalation_level = %s,"
                " noticed_at = COALESCE(noticed_at, %s), rectified_at = NULL,"
                " extension_pending = false" + (", deduction = true" if e.deduction else ""),
                (
                    e.responsible_department,
                    e.responsible_person,
                    e.due_date,
                    e.notice_no,
                    e.escalation_level,
                    e.timestamp,
                ),
            )
        elif isinstance(e, (N.RootCauseAnalysed, N.PlanSentBack)):
            update_row(cur, t, rec, "status = 'analysed'")
        elif isinstance(e, N.PlanSubmitted):
            update_row(cur, t, rec, "status = 'planned'")
        elif isinstance(e, N.PlanApproved):
            update_row(cur, t, rec, "status = 'plan_approved'")
        elif isinstance(e, N.RectificationReported):
            update_row(
                cur,
                t,
                rec,
                "status = 'rectified', rectified_at = %s, overdue = false",
                (e.timestamp,),
            )
        elif isinstance(e, N.Verified):
            update_row(cur, t, rec, "verified_at = %s", (e.timestamp,))
        elif isinstance(e, N.Closed):
            update_row(
                cur,
                t,
                rec,
                "status = 'closed', closed_at = %s, closed_on_time = %s, overdue = false",
                (e.timestamp, e.on_time),
            )
        elif isinstance(e, N.ExtensionRequested):
            update_row(cur, t, rec, "extension_pending = true")
        elif isinstance(e, N.ExtensionApproved):
            update_row(
                cur,
                t,
                rec,
                "extension_pending = false, due_date = %s, overdue = false,"
                " extensions = extensions + 1",
                (e.due_date,),
            )
        elif isinstance(e, N.ExtensionRejected):
            update_row(cur, t, rec, "extension_pending = false")
        elif isinstance(e, N.Overdue):
            # Currently overdue only while rectification is still owed (the status before
            # this update: SET reads the row as it was).
            update_row(
                cur,
                t,
                rec,
                "overdue_count = overdue_count + 1, overdue = (status = ANY(%s))",
                (list(_PENDING),),
            )
        elif isinstance(e, N.DispositionDecided):
            update_row(cur, t, rec, "disposition = %s", (e.disposition,))
        elif isinstance(e, N.Cancelled):
            update_row(
                cur,
                t,
                rec,
                "status = 'cancelled', cancelled_at = %s, overdue = false",
                (e.timestamp,),
            )
        else:
            update_row(cur, t, rec)


#: What the nonconformance list reads: every nonconformance event, and projects.
HANDLED = (Project.Registered, *events_of(Nonconformance))


# -- reads ---------------------------------------------------------------------------------
def list_nonconformances(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Nonconformances in the caller's scope, newest raised first."""
    return list_page(pool, "nonconformances", scope, filters, "raised_at", limit, after)
