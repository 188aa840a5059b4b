"""Nonconformance KPIs (DOMAIN.md §3): one fact row per nonconformance, aggregated at
query time.

Definitions (where DOMAIN.md is silent):
- `raised`, `recurrences`, `re_noticed` describe the nonconformances *raised* in the
  period (a cohort). Recurrence rate = recurrences ÷ raised; re-notice rate = those
  that needed a second notice (verification not effective) ÷ those noticed.
- `closed`, `closed_on_time`, days to close describe those *closed* in the period;
  on time = closed without any `Overdue` event (the `on_time` the close recorded);
  days to close = raised → closed, in days (real median and p90).
- `open` counts, at each period's end, those raised and neither closed nor cancelled;
  `overdue` those whose due date had passed (an `Overdue` event) and that were not yet
  rectified, re-noticed, extended, closed or cancelled.
- department = the responsible department of the notice (else the department named
  when raised; `none` when neither).
"""

from __future__ import annotations

from typing import Any

from domain.nonconformances import Nonconformance
from projections.base import PROJECT_REGIONS_DDL, EventRecord, events_of
from projections.kpis.facts import FactProjection, Facts
from projections.kpis.spec import ExtraView, Family, KpiSpec, Measure, pct, percentile
from store.schema import KPI_CELL_TABLES


class NonconformanceKpiProjection(FactProjection):
    name = "kpi_nonconformances"
    EVENTS = events_of(Nonconformance)
    FACTS = {"nonconformance_facts": ("nonconformance_id",)}
    tables = [
        """CREATE TABLE {schema}.nonconformance_facts (
            nonconformance_id uuid PRIMARY KEY,
            number text NOT NULL,
            project text NOT NULL,
            region text,
            source text NOT NULL,
            severity text NOT NULL,
            department text,
            status text NOT NULL,
            raised_at timestamptz NOT NULL,
            raised_local timestamp NOT NULL,
            noticed_at timestamptz,
            due_at timestamptz,
            notices int NOT NULL DEFAULT 0,
            escalation_level text,
            deduction boolean NOT NULL DEFAULT false,
            recurrence boolean NOT NULL DEFAULT false,
            extensions int NOT NULL DEFAULT 0,
            overdue_count int NOT NULL DEFAULT 0,
            overdue_local timestamp,
            overdue_until_local timestamp,
            rectified_at timestamptz,
            closed_at timestamptz,
            closed_local timestamp,
            closed_on_time boolean,
            days_to_close double precision,
            cancelled_at timestamptz,
            cancelled_local timestamp,
            ended_local timestamp)""",
        "CREATE INDEX ON {schema}.nonconformance_facts (project, raised_local)",
        PROJECT_REGIONS_DDL,
        # the report cells of its figures (projections.kpis.cells)
        *KPI_CELL_TABLES,
    ]
    views = ["nonconformance_facts"]

    def apply(self, facts: Facts, rec: EventRecord) -> None:
        e = rec.event
        key = (rec.issue_id,)
        if isinstance(e, Nonconformance.Raised):
            facts.put(
                "nonconformance_facts",
                key,
                self.new_row(
                    "nonconformance_facts",
                    nonconformance_id=rec.issue_id,
                    number=e.number,
                    project=e.project,
                    region=facts.regions.get(e.project),
                    source=str(e.source.get("type")),
                    severity=e.severity,
                    department=e.department,
                    status="raised",
                    raised_at=e.timestamp,
                    raised_local=self.local(e.timestamp),
                    notices=0,
                    deduction=False,
                    recurrence=False,
                    extensions=0,
                    overdue_count=0,
                ),
            )
            return
        row = facts.touch("nonconformance_facts", key)
        if row is None:
            return
        if isinstance(e, Nonconformance.RecurrenceMarked):
            row["recurrence"] = True
        elif isinstance(e, Nonconformance.NoticeIssued):
            self._end_overdue(row, e)
            row.update(
                status="noticed",
                notices=int(e.notice_no),
                department=e.responsible_department,
                due_at=e.due_date,
                escalation_level=e.escalation_level,
            )
            row["noticed_at"] = row["noticed_at"] or e.timestamp
            row["deduction"] = row["deduction"] or bool(e.deduction)
        elif isinstance(e, Nonconformance.RootCauseAnalysed):
            row["status"] = "analysed"
        elif isinstance(e, Nonconformance.PlanSubmitted):
            row["status"] = "planned"
        elif isinstance(e, Nonconformance.PlanApproved):
            row["status"] = "plan_approved"
        elif isinstance(e, Nonconformance.PlanSentBack):
            row["status"] = "analysed"
        elif isinstance(e, Nonconformance.RectificationReported):
            row["status"] = "rectified"
            row["rectified_at"] = e.timestamp
            self._end_overdue(row, e)
        elif isinstance(e, Nonconformance.ExtensionApproved):
            row["extensions"] += 1
            row["due_at"] = e.due_date
            self._end_overdue(row, e)
        elif isinstance(e, Nonconformance.Overdue):
            row["overdue_count"] += 1
            row["overdue_local"] = self.local(e.due_date)
            row["overdue_until_local"] = None
        elif isinstance(e, Nonconformance.Closed):
            self._end_overdue(row, e)
            row.update(
                status="closed",
                closed_at=e.timestamp,
                closed_local=self.local(e.timestamp),
                ended_local=self.local(e.timestamp),
                closed_on_time=bool(e.on_time),
                days_to_close=(e.timestamp - row["raised_at"]).total_seconds() / 86400,
            )
        elif isinstance(e, Nonconformance.Cancelled):
            self._end_overdue(row, e)
            row.update(
                status="cancelled",
                cancelled_at=e.timestamp,
                cancelled_local=self.local(e.timestamp),
                ended_local=self.local(e.timestamp),
            )

    def _end_overdue(self, row: dict[str, Any], e: Any) -> None:
        if row["overdue_local"] is not None and row["overdue_until_local"] is None:
            row["overdue_until_local"] = self.local(e.timestamp)


FACT_DOCS: dict[str, str] = {
    "nonconformance_id": "Nonconformance id (UUID).",
    "number": "Nonconformance number, e.g. NC-2026-000042.",
    "project": "Project code.",
    "region": "Region code of the project.",
    "source": "inspection, audit, ticket, survey or self_report.",
    "severity": "minor, major or critical.",
    "department": "Responsible department (of the latest notice, else as raised; null: none).",
    "status": "Current status.",
    "raised_at": "When it was raised (UTC).",
    "raised_local": "When it was raised, company local time.",
    "raised_month": "Month raised, YYYY-MM (company time zone).",
    "raised_quarter": "Quarter raised, YYYY-Qn.",
    "raised_year": "Year raised.",
    "noticed_at": "First rectification notice (UTC).",
    "due_at": "Current due date (UTC).",
    "notices": "Rectification notices issued (more than 1: verification was not effective).",
    "escalation_level": "project, region or company (全公司通报).",
    "deduction": "Flagged as a deduction in the next assessment.",
    "recurrence": "Marked as a recurrence (same project and item within 90 days).",
    "extensions": "Extensions approved.",
    "overdue_count": "Due dates passed without rectification (Overdue events).",
    "overdue_local": "Start of the current or last overdue spell (the passed due date), local time.",
    "overdue_until_local": "End of that spell (rectified, re-noticed, extended, closed or cancelled), local time.",
    "rectified_at": "Latest rectification report (UTC).",
    "closed_at": "Closed after an effective verification (UTC).",
    "closed_local": "Closed, company local time.",
    "closed_on_time": "Closed without ever being overdue.",
    "days_to_close": "Days from raised to closed.",
    "cancelled_at": "Cancelled (UTC).",
    "cancelled_local": "Cancelled, company local time.",
    "ended_local": "Closed or cancelled, company local time.",
}

SPEC = KpiSpec(
    kind="nonconformances",
    prefix="nonconformance",
    unit="nonconformance",
    facts="nonconformance_facts",
    dims={
        "source": "source",
        "severity": "severity",
        "department": "coalesce(department, 'none')",
        "escalation_level": "coalesce(escalation_level, 'none')",
    },
    dim_docs={
        "source": "Source of the nonconformance.",
        "severity": "Severity.",
        "department": "Responsible department (none: not named).",
        "escalation_level": "Escalation level of the latest notice (none: not noticed).",
    },
    families=(
        Family(
            anchor="raised_local",
            measures=(
                Measure("raised", "count(*)", "Nonconformances raised in the period.", count=True),
                Measure("cancelled", "count(cancelled_at)", "Of those, cancelled.", count=True),
                Measure(
                    "recurrences",
                    "count(*) FILTER (WHERE recurrence)",
                    "Of those, recurrences (same item at the same project within 90 days).",
                    count=True,
                ),
                Measure(
                    "recurrence_rate_pct",
                    pct("count(*) FILTER (WHERE recurrence)", "count(*)"),
                    "Recurrence rate, % of raised.",
                ),
                Measure(
                    "re_noticed",
                    "count(*) FILTER (WHERE notices > 1)",
                    "Of those, re-noticed (a verification was not effective).",
                    count=True,
                ),
                Measure(
                    "re_notice_rate_pct",
                    pct(
                        "count(*) FILTER (WHERE notices > 1)", "count(*) FILTER (WHERE notices > 0)"
                    ),
                    "Re-notice rate, % of those noticed.",
                ),
                Measure(
                    "went_overdue",
                    "count(*) FILTER (WHERE overdue_count > 0)",
                    "Of those, overdue at least once.",
                    count=True,
                ),
            ),
        ),
        Family(
            anchor="closed_local",
            measures=(
                Measure("closed", "count(*)", "Nonconformances closed in the period.", count=True),
                Measure(
                    "closed_on_time",
                    "count(*) FILTER (WHERE closed_on_time)",
                    "Of those, closed without being overdue.",
                    count=True,
                ),
                Measure(
                    "closed_on_time_pct",
                    pct("count(*) FILTER (WHERE closed_on_time)", "count(*)"),
                    "Closed on time, % of closed.",
                ),
                Measure(
                    "days_to_close_median",
                    percentile(0.5, "days_to_close"),
                    "Median days from raised to closed.",
                ),
                Measure(
                    "days_to_close_p90",
                    percentile(0.9, "days_to_close"),
                    "90th percentile days to close.",
                ),
            ),
        ),
        Family(
            anchor="raised_local",
            until="ended_local",
            measures=(
                Measure(
                    "open",
                    "count(*)",
                    "Open at the period's end (raised, not closed or cancelled).",
                    count=True,
                ),
            ),
        ),
        Family(
            anchor="overdue_local",
            until="overdue_until_local",
            measures=(
                Measure(
                    "overdue",
                    "count(*)",
                    "Overdue at the period's end (due date passed, not rectified).",
                    count=True,
                ),
            ),
        ),
    ),
    extra_views=(
        ExtraView(
            "nonconformance_kpis_project_source_month",
            ("project", "region", "source", "severity", "month"),
            "Nonconformance KPIs per project, source and severity by month",
        ),
        ExtraView(
            "nonconformance_kpis_department_month",
            ("project", "region", "department", "month"),
            "Nonconformance KPIs per responsible department by month",
        ),
    ),
    fact_docs=FACT_DOCS,
    fact_exprs={
        "raised_month": "to_char(raised_local, 'YYYY-MM')",
        "raised_quarter": "to_char(raised_local, 'YYYY-\"Q\"Q')",
        "raised_year": "extract(year FROM raised_local)::int",
    },
)

NonconformanceKpiProjection.SPEC = SPEC
