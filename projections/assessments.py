"""Inspection plans, the inspections they scheduled, and assessments (issue #15), as read
models: lists for `GET /inspection-plans` and `GET /assessments`, and one row per planned
inspection (due time, submitted, missed, on time) for the plan KPIs (planned / done /
missed / on time per project and month; `month` is the planned date's, company time)."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from domain.assessments import Assessment
from domain.inspection_plans import InspectionPlan
from domain.inspections import Inspection
from domain.org import Project
from projections.base import (
    PROJECT_REGIONS_DDL,
    EventRecord,
    Projection,
    events_of,
    record_project_region,
    update_row,
)
from projections.reads import Page, Scope, fetch_all, keyset_page, list_page, scope_clause


class AssessmentLoopProjection(Projection):
    name = "assessments"
    tables = [
        """CREATE TABLE {schema}.inspection_plans (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            name text NOT NULL,
            kind text NOT NULL,
            recurrence jsonb NOT NULL,
            start_month text NOT NULL,
            months int NOT NULL,
            projects text[] NOT NULL,
            region text,
            template_number text NOT NULL,
            template_version int NOT NULL,
            inspections int NOT NULL,
            status text NOT NULL,
            created_at timestamptz NOT NULL,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        """CREATE TABLE {schema}.planned_inspections (
            id uuid PRIMARY KEY,
            number text NOT NULL,
            plan_number text NOT NULL,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            planned_for date NOT NULL,
            month text NOT NULL,
            due_at timestamptz NOT NULL,
            submitted_at timestamptz,
            cancelled boolean NOT NULL DEFAULT false,
            missed boolean NOT NULL DEFAULT false)""",
        "CREATE INDEX ON {schema}.planned_inspections (project, month)",
        """CREATE TABLE {schema}.assessments (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            project text NOT NULL,
            region text,
            period text NOT NULL,
            period_kind text NOT NULL,
            status text NOT NULL,
            score numeric NOT NULL,
            grade text NOT NULL,
            pay_adjustment_pct numeric NOT NULL,
            base_score numeric NOT NULL,
            deducted numeric NOT NULL,
            inputs int NOT NULL,
            deductions int NOT NULL,
            responsible jsonb NOT NULL,
            closed_at timestamptz NOT NULL,
            published_at timestamptz,
            appealed boolean NOT NULL DEFAULT false,
            appeal_accepted boolean,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.assessments (project, period)",
        PROJECT_REGIONS_DDL,
    ]
    views = ["inspection_plans", "planned_inspections", "assessments"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, HANDLED)

    def handle(self, cur: Any, rec: EventRecord, schema: str) -> None:
        e = rec.event
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
        elif isinstance(e, InspectionPlan.Adopted):
            cur.execute(
                f"""INSERT INTO {schema}.inspection_plans (id, number, name, kind, recurrence,
                        start_month, months, projects, region, template_number,
                        template_version, inspections, status, created_at, version, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'active', %s, %s, %s)""",
                (
                    rec.issue_id,
                    e.number,
                    e.name,
                    e.kind,
                    Jsonb(e.recurrence),
                    e.start_month,
                    e.months,
                    list(e.projects),
                    e.region,
                    e.template["number"],
                    e.template["template_version"],
                    len(e.occurrences),
                    e.timestamp,
                    rec.version,
                    e.timestamp,
                ),
            )
        elif isinstance(e, InspectionPlan.Withdrawn):
            update_row(cur, f"{schema}.inspection_plans", rec, "status = 'withdrawn'")
        elif isinstance(e, Inspection.Planned):
            cur.execute(
                f"""INSERT INTO {schema}.planned_inspections (id, number, plan_number, project,
                        region, kind, planned_for, month, due_at)
                    VALUES (%s, %s, %s, %s,
                            (SELECT region FROM {schema}.project_regions WHERE project = %s),
                            %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (
                    rec.issue_id,
                    e.number,
                    e.plan["number"],
                    e.project,
                    e.project,
                    e.kind,
                    e.planned_for,
                    e.planned_for[:7],
                    e.due_at,
                ),
            )
        elif isinstance(e, Inspection.Submitted):
            cur.execute(
                f"UPDATE {schema}.planned_inspections SET submitted_at = %s WHERE id = %s",
                (e.timestamp, rec.issue_id),
            )
        elif isinstance(e, Inspection.InspectionMissed):
            cur.execute(
                f"UPDATE {schema}.planned_inspections SET missed = true WHERE id = %s",
                (rec.issue_id,),
            )
        elif isinstance(e, Inspection.Cancelled):
            cur.execute(
                f"UPDATE {schema}.planned_inspections SET cancelled = true WHERE id = %s",
                (rec.issue_id,),
            )
        elif isinstance(e, Assessment.Drafted):
            r = e.result
            cur.execute(
                f"""INSERT INTO {schema}.assessments (id, number, project, region, period,
                        period_kind, status, score, grade, pay_adjustment_pct, base_score,
                        deducted, inputs, deductions, responsible, closed_at, version, updated_at)
                    VALUES (%s, %s, %s, %s, %s, %s, 'draft', %s, %s, %s, %s, %s, %s, %s, %s,
                            %s, %s, %s)""",
                (
                    rec.issue_id,
                    e.number,
                    e.project,
                    e.region,
                    e.period,
                    e.period_kind,
                    r["score"],
                    r["grade"],
                    r["pay_adjustment_pct"],
                    r["base_score"],
                    r["deducted"],
                    len(e.inputs),
                    len(e.deductions),
                    Jsonb(e.responsible),
                    e.timestamp,
                    rec.version,
                    e.timestamp,
                ),
            )
        elif isinstance(e, ASSESSMENT_STEPS):
            status = STEP_STATUS[type(e).__name__]
            extra = ", published_at = %s" if status == "published" else ""
            params: tuple[Any, ...] = (status, e.timestamp) if extra else (status,)
            if isinstance(e, Assessment.Appealed):
                extra = ", appealed = true"
            if isinstance(e, Assessment.AppealDecided):
                extra = ", appeal_accepted = %s, score = %s, grade = %s, pay_adjustment_pct = %s"
                params = (
                    status,
                    e.accepted,
                    e.result["score"],
                    e.result["grade"],
                    e.result["pay_adjustment_pct"],
                )
            update_row(cur, f"{schema}.assessments", rec, "status = %s" + extra, params)


STEP_STATUS = {
    "Reviewed": "reviewed",
    "Approved": "approved",
    "Published": "published",
    "Appealed": "appealed",
    "AppealDecided": "appeal_decided",
}
ASSESSMENT_STEPS = (
    Assessment.Reviewed,
    Assessment.Approved,
    Assessment.Published,
    Assessment.Appealed,
    Assessment.AppealDecided,
)
HANDLED = (
    Project.Registered,
    *events_of(InspectionPlan),
    *events_of(Assessment),
    Inspection.Planned,
    Inspection.Submitted,
    Inspection.InspectionMissed,
    Inspection.Cancelled,
)

# -- reads ---------------------------------------------------------------------------------


def list_assessments(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Assessments in the caller's scope, newest closed first."""
    return list_page(pool, "assessments", scope, filters, "closed_at", limit, after)


def list_plans(pool: Any, scope: Scope, limit: int, after: Any = None) -> Page:
    """Plans touching the caller's scope (any of their projects), newest first."""
    projects, region = scope
    where: list[sql.Composable] = []
    params: list[Any] = []
    if projects is not None or region is not None:
        where.append(
            sql.SQL(
                "(projects && %s::text[] OR region = %s OR EXISTS (SELECT 1 FROM"
                " qt_read.planned_inspections p WHERE p.plan_number = inspection_plans.number"
                " AND p.region = %s))"
            )
        )
        params.extend([list(projects or []), region, region])
    return keyset_page(pool, "inspection_plans", where, params, "created_at", limit, after)


#: Plan KPIs per project and month: HTTP (`plan_kpis`) and the reporting view
#: `reporting.inspection_plan_kpis` run this very SQL.
PLAN_KPIS_SQL = """SELECT project, region, month, count(*)::int AS planned,
           count(submitted_at)::int AS done,
           count(*) FILTER (WHERE missed)::int AS missed,
           count(*) FILTER (WHERE submitted_at <= due_at)::int AS on_time
    FROM qt_read.planned_inspections WHERE NOT cancelled
    GROUP BY project, region, month"""

PLAN_KPI_DOCS = {
    "project": "Project code.",
    "region": "Region code (city company / branch).",
    "month": "Calendar month of the planned date, YYYY-MM (company time zone).",
    "planned": "Inspections a plan scheduled in the month (cancelled ones excluded).",
    "done": "Of those, submitted.",
    "missed": "Of those, recorded InspectionMissed (not submitted by the due time).",
    "on_time": "Of those, submitted by the due time.",
}


def plan_kpis(
    pool: Any, scope: Scope, project: str | None, month: str | None
) -> list[dict[str, Any]]:
    """planned / done / missed / on time per project and month (planned inspections only;
    cancelled ones are not planned any more). Done = submitted; on time = submitted by
    its due time."""
    where, params = scope_clause(scope)
    clauses = [where]
    if project is not None:
        clauses.append(sql.SQL("project = %s"))
        params.append(project)
    if month is not None:
        clauses.append(sql.SQL("month = %s"))
        params.append(month)
    query = sql.SQL("SELECT * FROM ({}) k WHERE {} ORDER BY project, month").format(
        sql.SQL(PLAN_KPIS_SQL), sql.SQL(" AND ").join(clauses)
    )
    return fetch_all(pool, query, params)


def publish_plan_reporting_views(conn: Any, projection: Any, generation: int) -> None:
    """Publish hook: `reporting.inspection_plan_kpis`, the plan KPIs for BI tools (the same
    SQL as `GET /kpis/inspection-plans`)."""
    if not isinstance(projection, AssessmentLoopProjection):
        return
    from projections.kpis.reporting import SCHEMA, _comment_view, _replace

    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
    if _replace(conn, "inspection_plan_kpis", sql.SQL(PLAN_KPIS_SQL)):
        _comment_view(
            conn,
            "inspection_plan_kpis",
            "Planned inspections per project and month: planned, done, missed, on time; "
            "same figures as GET /kpis/inspection-plans.",
            PLAN_KPI_DOCS,
        )
