"""The nonconformance list: one row per nonconformance (`qt_read.nonconformances`), what
the list endpoint filters, the deadline watcher scans and the KPIs count."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from projections.base import PROJECT_REGIONS_DDL, EventRecord, Projection, record_project_region
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
        return rec.aggregate in ("Nonconformance", "Project")

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.nonconformances"
        if rec.aggregate == "Project":
            if rec.type == "Registered":
                record_project_region(cur, schema, rec)
            return
        if rec.type == "Raised":
            src = e.source or {}
            cur.execute(
                f"""INSERT INTO {t} (id, number, project, region, source, source_id, source_number, source_item,
                    severity, status, department, raised_at, version, updated_at)
                    VALUES (%s,%s,%s,(SELECT region FROM {schema}.project_regions WHERE project=%s),
                            %s,%s,%s,%s,%s,'raised',%s,%s,%s,%s)""",
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
            return
        sets: dict[str, Any] = {}
        if rec.type == "RecurrenceMarked":
            sets = {
                "recurrence_of": e.recurrence_of.get("number"),
                "recurrence_of_id": e.recurrence_of.get("id"),
            }
        elif rec.type == "NoticeIssued":
            sets = {
                "status": "noticed",
                "department": e.responsible_department,
                "responsible_person": e.responsible_person,
                "due_date": e.due_date,
                "overdue": False,
                "notice_count": e.notice_no,
                "escalation_level": e.escalation_level,
                "noticed_at": ("coalesce", e.timestamp),
                "rectified_at": None,
                "extension_pending": False,
            }
            if e.deduction:
                sets["deduction"] = True
        elif rec.type == "RootCauseAnalysed":
            sets = {"status": "analysed"}
        elif rec.type == "PlanSubmitted":
            sets = {"status": "planned"}
        elif rec.type == "PlanApproved":
            sets = {"status": "plan_approved"}
        elif rec.type == "PlanSentBack":
            sets = {"status": "analysed"}
        elif rec.type == "RectificationReported":
            sets = {"status": "rectified", "rectified_at": e.timestamp, "overdue": False}
        elif rec.type == "Verified":
            sets = {"verified_at": e.timestamp}
        elif rec.type == "Closed":
            sets = {
                "status": "closed",
                "closed_at": e.timestamp,
                "closed_on_time": e.on_time,
                "overdue": False,
            }
        elif rec.type == "ExtensionRequested":
            sets = {"extension_pending": True}
        elif rec.type == "ExtensionApproved":
            sets = {
                "extension_pending": False,
                "due_date": e.due_date,
                "overdue": False,
                "extensions": ("add", 1),
            }
        elif rec.type == "ExtensionRejected":
            sets = {"extension_pending": False}
        elif rec.type == "Overdue":
            # Currently overdue only while rectification is still owed.
            sets = {"overdue_count": ("add", 1), "overdue": ("pending", True)}
        elif rec.type == "DispositionDecided":
            sets = {"disposition": e.disposition}
        elif rec.type == "Cancelled":
            sets = {"status": "cancelled", "cancelled_at": e.timestamp, "overdue": False}
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
            elif isinstance(val, tuple) and val[0] == "pending":
                clauses.append(f"{col} = (status = ANY(%s))")
                params.append(list(_PENDING))
            else:
                clauses.append(f"{col} = %s")
                params.append(val)
        params.append(rec.issue_id)
        cur.execute(f"UPDATE {t} SET {', '.join(clauses)} WHERE id = %s", params)


# -- reads ---------------------------------------------------------------------------------
def list_nonconformances(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Nonconformances in the caller's scope, newest raised first."""
    return list_page(pool, "nonconformances", scope, filters, "raised_at", limit, after)
