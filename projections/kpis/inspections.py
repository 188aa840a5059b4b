"""Inspection KPIs (DOMAIN.md §2): one fact row per inspection and one per checklist item,
aggregated at query time.

Definitions (where DOMAIN.md is silent):
- An inspection belongs to the month of its planned date (a date in the company's time
  zone): the March regional inspection scores March, even when submitted on 2 April.
- `score_*` use the current score of submitted inspections (after an appeal decision,
  the decided score); cancelled inspections have none. `score_rank` ranks the rows by
  mean score (1 = best) within each period and other grouped dimension, so
  `group_by=project,month` ranks the projects of each month.
- done vs planned: `planned` counts every scheduled inspection, `done` those submitted.
- self-checks (项目自检) are due by the end of the second Monday of their planned month
  ("reported by Monday of the second week", seed 003); `self_checks_on_time_pct` counts
  those submitted by then among those decided (submitted, or past due).
- most-failed sections and items: `group_by=section` or `group_by=item` reads the item
  facts (items of submitted inspections; `fail_rank` 1 = failed most often).
- grade distribution: `group_by=grade`, or the `grade_a` … `grade_e` counts of the
  default grading policy (seed 003).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.inspections import Inspection
from projections.base import PROJECT_REGIONS_DDL, EventRecord, events_of
from projections.kpis.facts import FactProjection, Facts
from projections.kpis.inspection_figures import ITEMS, SPEC
from store.schema import KPI_CELL_TABLES


def second_monday(day: date) -> date:
    """The second Monday of `day`'s month (the 8th to the 14th)."""
    first = day.replace(day=1)
    first_monday = first + timedelta(days=(7 - first.weekday()) % 7)
    return first_monday + timedelta(days=7)


class InspectionKpiProjection(FactProjection):
    name = "kpi_inspections"
    EVENTS = events_of(Inspection)
    FACTS = {"inspection_facts": ("inspection_id",), ITEMS: ("inspection_id", "item")}
    tables = [
        """CREATE TABLE {schema}.inspection_facts (
            inspection_id uuid PRIMARY KEY,
            number text NOT NULL,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            template_number text NOT NULL,
            template_version int NOT NULL,
            status text NOT NULL,
            planned_for date NOT NULL,
            planned_local timestamp NOT NULL,
            scheduled_at timestamptz NOT NULL,
            started_at timestamptz,
            submitted_at timestamptz,
            submitted_local timestamp,
            finalized_at timestamptz,
            cancelled_at timestamptz,
            cancelled_local timestamp,
            due_local timestamp,
            score double precision,
            grade text,
            pay_adjustment_pct double precision,
            submitted_score double precision,
            appealed boolean NOT NULL DEFAULT false,
            appeal_accepted boolean,
            items_total int NOT NULL DEFAULT 0,
            items_failed int NOT NULL DEFAULT 0,
            items_na int NOT NULL DEFAULT 0,
            rescores int NOT NULL DEFAULT 0,
            nonconformances_raised int NOT NULL DEFAULT 0)""",
        "CREATE INDEX ON {schema}.inspection_facts (project, planned_local)",
        """CREATE TABLE {schema}.inspection_item_facts (
            inspection_id uuid NOT NULL,
            item text NOT NULL,
            number text NOT NULL,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            planned_local timestamp NOT NULL,
            section text NOT NULL,
            section_name text NOT NULL,
            requirement text NOT NULL,
            critical boolean NOT NULL,
            max_points double precision NOT NULL,
            points double precision,
            result text,
            counted boolean NOT NULL DEFAULT false,
            PRIMARY KEY (inspection_id, item))""",
        "CREATE INDEX ON {schema}.inspection_item_facts (project, planned_local)",
        PROJECT_REGIONS_DDL,
        # the report cells of its figures (projections.kpis.cells)
        *KPI_CELL_TABLES,
    ]
    views = ["inspection_facts", ITEMS]

    def apply(self, facts: Facts, rec: EventRecord) -> None:
        e = rec.event
        key = (rec.issue_id,)
        if isinstance(e, Inspection.Scheduled):
            planned = date.fromisoformat(e.planned_for[:10])
            planned_local = datetime(planned.year, planned.month, planned.day)
            due = None
            if e.kind == "self_check":
                d = second_monday(planned)
                due = datetime(d.year, d.month, d.day) + timedelta(days=1)
            region = facts.regions.get(e.project)
            facts.put(
                "inspection_facts",
                key,
                self.new_row(
                    "inspection_facts",
                    inspection_id=rec.issue_id,
                    number=e.number,
                    project=e.project,
                    region=region,
                    kind=e.kind,
                    template_number=e.template_number,
                    template_version=e.template_version,
                    status="scheduled",
                    planned_for=planned,
                    planned_local=planned_local,
                    scheduled_at=e.timestamp,
                    due_local=due,
                    appealed=False,
                    items_total=len(e.items),
                    items_failed=0,
                    items_na=0,
                    rescores=0,
                    nonconformances_raised=0,
                ),
            )
            for it in e.items:
                facts.put(
                    ITEMS,
                    (rec.issue_id, it["code"]),
                    self.new_row(
                        ITEMS,
                        inspection_id=rec.issue_id,
                        item=it["code"],
                        number=e.number,
                        project=e.project,
                        region=region,
                        kind=e.kind,
                        planned_local=planned_local,
                        section=it["section"],
                        section_name=it["section_name"],
                        requirement=it["requirement"],
                        critical=bool(it["critical"]),
                        max_points=float(it["max_points"]),
                        counted=False,
                    ),
                )
            return
        row = facts.touch("inspection_facts", key)
        if row is None:
            return
        if isinstance(e, Inspection.Started):
            row["status"] = "in_progress"
            row["started_at"] = e.timestamp
        elif isinstance(e, (Inspection.ItemScored, Inspection.ItemRescored)):
            self._score(facts, rec.issue_id, e.item, e.points, e.result)
            if isinstance(e, Inspection.ItemRescored):
                row["rescores"] += 1
        elif isinstance(e, Inspection.Submitted):
            row.update(
                status="submitted",
                submitted_at=e.timestamp,
                submitted_local=self.local(e.timestamp),
                submitted_score=float(e.score),
                nonconformances_raised=len(e.links),
            )
            self._result(row, e)
            for item in facts.of(ITEMS, rec.issue_id):
                item["counted"] = True
                facts.touch(ITEMS, (rec.issue_id, item["item"]))
            self._count_items(facts, row, rec.issue_id)
        elif isinstance(e, Inspection.Appealed):
            row["status"] = "appealed"
            row["appealed"] = True
        elif isinstance(e, Inspection.AppealDecided):
            row["status"] = "appeal_decided"
            row["appeal_accepted"] = bool(e.accepted)
            for adj in e.adjustments:
                self._score(facts, rec.issue_id, adj["item"], adj["points"], adj["result"])
            row["nonconformances_raised"] -= len(e.links)
            self._result(row, e)
            self._count_items(facts, row, rec.issue_id)
        elif isinstance(e, Inspection.Finalized):
            row["status"] = "finalized"
            row["finalized_at"] = e.timestamp
            self._result(row, e)
        elif isinstance(e, Inspection.Cancelled):
            row.update(
                status="cancelled",
                cancelled_at=e.timestamp,
                cancelled_local=self.local(e.timestamp),
            )

    @staticmethod
    def _result(row: dict[str, Any], e: Any) -> None:
        row["score"] = float(e.score)
        row["grade"] = e.grade
        row["pay_adjustment_pct"] = float(e.pay_adjustment_pct)

    @staticmethod
    def _score(facts: Facts, inspection: UUID, item: str, points: Any, result: str) -> None:
        it = facts.touch(ITEMS, (inspection, item))
        if it is not None:
            it["points"] = None if points is None else float(points)
            it["result"] = result

    @staticmethod
    def _count_items(facts: Facts, row: dict[str, Any], inspection: UUID) -> None:
        items = facts.of(ITEMS, inspection)
        row["items_failed"] = sum(1 for it in items if it["result"] == "fail")
        row["items_na"] = sum(1 for it in items if it["result"] == "na")


InspectionKpiProjection.SPEC = SPEC
