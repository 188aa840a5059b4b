"""Inspection and checklist template lists, plus one row per scored inspection item
(for the most-failed sections and items). `month` and `quarter` are the planned date's
calendar period; the planned date is a date in the company's time zone."""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from domain.inspections import Inspection
from domain.org import Project
from domain.templates import ChecklistTemplate
from projections.base import (
    PROJECT_REGIONS_DDL,
    EventRecord,
    Projection,
    events_of,
    record_project_region,
    update_row,
)
from projections.reads import Page, Scope, keyset_page, list_page


def _period(planned_for: str) -> tuple[date, str, str]:
    day = date.fromisoformat(planned_for[:10])
    return day, f"{day.year:04d}-{day.month:02d}", f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"


def _items_count(sections: list[dict[str, Any]]) -> int:
    return sum(len(s.get("items", [])) for s in sections)


class InspectionListProjection(Projection):
    name = "inspections"
    tables = [
        """CREATE TABLE {schema}.inspections (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            status text NOT NULL,
            template_id uuid NOT NULL,
            template_number text NOT NULL,
            template_version int NOT NULL,
            planned_for date NOT NULL,
            month text NOT NULL,
            quarter text NOT NULL,
            inspectors jsonb NOT NULL,
            reinspection_of text,
            items_total int NOT NULL,
            items_scored int NOT NULL DEFAULT 0,
            items_passed int NOT NULL DEFAULT 0,
            items_failed int NOT NULL DEFAULT 0,
            items_na int NOT NULL DEFAULT 0,
            rescores int NOT NULL DEFAULT 0,
            score numeric,
            grade text,
            pay_adjustment_pct numeric,
            awarded numeric,
            applicable_max numeric,
            submitted_score numeric,
            submitted_grade text,
            nonconformances_raised int NOT NULL DEFAULT 0,
            appealed boolean NOT NULL DEFAULT false,
            appeal_accepted boolean,
            scheduled_at timestamptz NOT NULL,
            started_at timestamptz,
            submitted_at timestamptz,
            appeal_decided_at timestamptz,
            finalized_at timestamptz,
            cancelled_at timestamptz,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.inspections (project, month)",
        "CREATE INDEX ON {schema}.inspections (scheduled_at)",
        """CREATE TABLE {schema}.inspection_items (
            inspection_id uuid NOT NULL,
            inspection_number text NOT NULL,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            month text NOT NULL,
            template_id uuid NOT NULL,
            template_version int NOT NULL,
            section text NOT NULL,
            section_name text NOT NULL,
            item text NOT NULL,
            requirement text NOT NULL,
            critical boolean NOT NULL,
            max_points numeric NOT NULL,
            points numeric,
            result text,
            finding text,
            nonconformance_id uuid,
            nonconformance_number text,
            PRIMARY KEY (inspection_id, item))""",
        "CREATE INDEX ON {schema}.inspection_items (project, item)",
        """CREATE TABLE {schema}.checklist_templates (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            name text NOT NULL,
            status text NOT NULL,
            latest_version int,
            draft_revision int NOT NULL,
            sections int NOT NULL,
            items int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            version int NOT NULL)""",
        """CREATE TABLE {schema}.checklist_template_versions (
            template_id uuid NOT NULL,
            template_number text NOT NULL,
            template_version int NOT NULL,
            name text NOT NULL,
            sections jsonb NOT NULL,
            items int NOT NULL,
            published_at timestamptz NOT NULL,
            published_by text NOT NULL,
            PRIMARY KEY (template_id, template_version))""",
        PROJECT_REGIONS_DDL,
    ]
    views = [
        "inspections",
        "inspection_items",
        "checklist_templates",
        "checklist_template_versions",
    ]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, HANDLED)

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
        elif isinstance(e, TEMPLATE_EVENTS):
            self._template(cur, rec, schema)
        else:
            self._inspection(cur, rec, schema)

    # -- templates ---------------------------------------------------------------------
    def _template(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.checklist_templates"
        if isinstance(e, ChecklistTemplate.Drafted):
            cur.execute(
                f"""INSERT INTO {t} (id, number, name, status, latest_version, draft_revision,
                        sections, items, created_at, updated_at, version)
                    VALUES (%s, %s, %s, 'draft', NULL, 1, %s, %s, %s, %s, %s)""",
                (
                    rec.issue_id,
                    e.number,
                    e.name,
                    len(e.sections),
                    _items_count(e.sections),
                    e.timestamp,
                    e.timestamp,
                    rec.version,
                ),
            )
        elif isinstance(e, ChecklistTemplate.Revised):
            update_row(
                cur,
                t,
                rec,
                "status = 'draft', name = %s, draft_revision = draft_revision + 1,"
                " sections = %s, items = %s",
                (e.name, len(e.sections), _items_count(e.sections)),
            )
        elif isinstance(e, ChecklistTemplate.Published):
            update_row(
                cur, t, rec, "status = 'published', latest_version = %s", (e.template_version,)
            )
            cur.execute(
                f"""INSERT INTO {schema}.checklist_template_versions (template_id, template_number,
                        template_version, name, sections, items, published_at, published_by)
                    SELECT id, number, %s, %s, %s, %s, %s, %s FROM {t} WHERE id = %s
                    ON CONFLICT DO NOTHING""",
                (
                    e.template_version,
                    e.name,
                    Jsonb(e.sections),
                    _items_count(e.sections),
                    e.timestamp,
                    e.actor.get("name", ""),
                    rec.issue_id,
                ),
            )

    # -- inspections -------------------------------------------------------------------
    def _inspection(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.inspections"
        items = f"{schema}.inspection_items"
        if isinstance(e, Inspection.Scheduled):
            self._scheduled(cur, rec, schema)
        elif isinstance(e, Inspection.Started):
            update_row(cur, t, rec, "status = 'in_progress', started_at = %s", (e.timestamp,))
        elif isinstance(e, (Inspection.ItemScored, Inspection.ItemRescored)):
            cur.execute(
                f"""UPDATE {items} SET points = %s, result = %s, finding = %s
                    WHERE inspection_id = %s AND item = %s""",
                (e.points, e.result, e.finding, rec.issue_id, e.item),
            )
            rescores = "rescores = rescores + 1, " if isinstance(e, Inspection.ItemRescored) else ""
            update_row(cur, t, rec, rescores + _item_counts(t, items))
        elif isinstance(e, Inspection.Submitted):
            for link in e.links:
                cur.execute(
                    f"""UPDATE {items} SET nonconformance_id = %s, nonconformance_number = %s
                        WHERE inspection_id = %s AND item = %s""",
                    (link["id"], link["number"], rec.issue_id, link["item"]),
                )
            update_row(
                cur,
                t,
                rec,
                "status = 'submitted', submitted_at = %s, score = %s, grade = %s,"
                " pay_adjustment_pct = %s, awarded = %s, applicable_max = %s,"
                " submitted_score = %s, submitted_grade = %s, nonconformances_raised = %s",
                (
                    e.timestamp,
                    e.score,
                    e.grade,
                    e.pay_adjustment_pct,
                    e.awarded,
                    e.applicable_max,
                    e.score,
                    e.grade,
                    len(e.links),
                ),
            )
        elif isinstance(e, Inspection.Appealed):
            update_row(cur, t, rec, "status = 'appealed', appealed = true")
        elif isinstance(e, Inspection.AppealDecided):
            for adj in e.adjustments:
                cur.execute(
                    f"""UPDATE {items} SET points = %s, result = %s
                        WHERE inspection_id = %s AND item = %s""",
                    (adj["points"], adj["result"], rec.issue_id, adj["item"]),
                )
            update_row(
                cur,
                t,
                rec,
                "status = 'appeal_decided', appeal_accepted = %s, appeal_decided_at = %s,"
                " score = %s, grade = %s, pay_adjustment_pct = %s, awarded = %s,"
                " applicable_max = %s, " + _item_counts(t, items),
                (
                    e.accepted,
                    e.timestamp,
                    e.score,
                    e.grade,
                    e.pay_adjustment_pct,
                    e.awarded,
                    e.applicable_max,
                ),
            )
        elif isinstance(e, Inspection.Finalized):
            update_row(cur, t, rec, "status = 'finalized', finalized_at = %s", (e.timestamp,))
        elif isinstance(e, Inspection.Cancelled):
            update_row(cur, t, rec, "status = 'cancelled', cancelled_at = %s", (e.timestamp,))
        else:  # any other inspection event: only the version moves
            update_row(cur, t, rec)

    @staticmethod
    def _scheduled(cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        """The inspection's row, and one row per checklist item copied from it."""
        e = rec.event
        t = f"{schema}.inspections"
        day, month, quarter = _period(e.planned_for)
        cur.execute(
            f"""INSERT INTO {t} (id, number, project, region, kind, status, template_id,
                    template_number, template_version, planned_for, month, quarter, inspectors,
                    reinspection_of, items_total, scheduled_at, version, updated_at)
                VALUES (%s, %s, %s, (SELECT region FROM {schema}.project_regions WHERE project = %s),
                        %s, 'scheduled', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                rec.issue_id,
                e.number,
                e.project,
                e.project,
                e.kind,
                e.template_id,
                e.template_number,
                e.template_version,
                day,
                month,
                quarter,
                Jsonb(e.inspectors),
                (e.reinspection_of or {}).get("number"),
                len(e.items),
                e.timestamp,
                rec.version,
                e.timestamp,
            ),
        )
        for it in e.items:
            cur.execute(
                f"""INSERT INTO {schema}.inspection_items (inspection_id, inspection_number,
                        project, region, kind, month, template_id, template_version, section,
                        section_name, item, requirement, critical, max_points)
                    SELECT id, number, project, region, kind, month, template_id, template_version,
                           %s, %s, %s, %s, %s, %s
                    FROM {t} WHERE id = %s""",
                (
                    it["section"],
                    it["section_name"],
                    it["code"],
                    it["requirement"],
                    it["critical"],
                    it["max_points"],
                    rec.issue_id,
                ),
            )


def _item_counts(table: str, items: str) -> str:
    """Assignments re-deriving an inspection's counters from its item rows."""
    return f"""
        items_scored = (SELECT count(*) FROM {items} x
                        WHERE x.inspection_id = {table}.id AND x.result IS NOT NULL),
        items_passed = (SELECT count(*) FROM {items} x
                        WHERE x.inspection_id = {table}.id AND x.result = 'pass'),
        items_failed = (SELECT count(*) FROM {items} x
                        WHERE x.inspection_id = {table}.id AND x.result = 'fail'),
        items_na = (SELECT count(*) FROM {items} x
                    WHERE x.inspection_id = {table}.id AND x.result = 'na')"""


#: What the inspection lists read: templates, inspections, and projects (for regions).
TEMPLATE_EVENTS = events_of(ChecklistTemplate)
HANDLED = (Project.Registered, *TEMPLATE_EVENTS, *events_of(Inspection))


# -- reads ---------------------------------------------------------------------------------
def list_inspections(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Inspections in the caller's scope, newest scheduled first."""
    return list_page(pool, "inspections", scope, filters, "scheduled_at", limit, after)


def list_templates(pool: Any, status: str | None, limit: int, after: Any = None) -> Page:
    """Checklist templates (company-wide), newest first."""
    where, params = [], []
    if status is not None:
        where.append(sql.SQL("status = %s"))
        params.append(status)
    return keyset_page(pool, "checklist_templates", where, params, "created_at", limit, after)
