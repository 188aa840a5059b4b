"""Ticket KPIs (DOMAIN.md §1): one fact row per ticket, aggregated at query time.

Definitions (where DOMAIN.md is silent):
- `received`, `cancelled`, durations, SLA, callbacks, reopens and escalations describe
  the tickets *received* in the period (a cohort; its figures fill in as tickets move on).
- `closed` counts tickets closed in the period (by their close time).
- `backlog` counts tickets open at the period's end: received before it and neither
  closed nor cancelled by then.
- response time = received → first dispatch; resolution time = received → resolution
  (the latest one when a ticket was reopened; a reopened ticket counts again once resolved).
- an SLA phase is met when its step was done by its due time and no breach was recorded;
  still open phases that have not breached are undecided and left out of the percentages.
- callback rate (回访率) = resolved tickets with a callback that reached the resident ÷
  resolved tickets; satisfaction (满意率) = satisfied callbacks ÷ callbacks that reached
  the resident; reopen rate = resolved tickets reopened at least once ÷ resolved tickets.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from psycopg import Cursor

from domain.categories import DEFAULT, Taxonomy
from domain.tickets import Ticket
from projections.base import PROJECT_REGIONS_DDL, EventRecord, events_of
from projections.kpis import ticket_categories, ticket_steps
from projections.kpis.facts import DEFAULT_TIMEZONE, FactProjection, Facts
from projections.kpis.spec import ExtraView, Family, KpiSpec, Measure, pct, percentile
from store.schema import KPI_CELL_TABLES


class TicketKpiProjection(FactProjection):
    name = "kpi_tickets"
    EVENTS = events_of(Ticket)
    FACTS = {"ticket_facts": ("ticket_id",)}
    tables = [
        """CREATE TABLE {schema}.ticket_facts (
            ticket_id uuid PRIMARY KEY,
            number text NOT NULL,
            project text NOT NULL,
            region text,
            kind text NOT NULL,
            channel text NOT NULL,
            priority text NOT NULL,
            department text,
            status text NOT NULL,
            received_at timestamptz NOT NULL,
            received_local timestamp NOT NULL,
            response_due timestamptz NOT NULL,
            resolution_due timestamptz NOT NULL,
            dispatched_at timestamptz,
            response_seconds double precision,
            resolved_at timestamptz,
            resolved_local timestamp,
            resolution_seconds double precision,
            response_met boolean,
            resolution_met boolean,
            response_breached boolean NOT NULL DEFAULT false,
            resolution_breached boolean NOT NULL DEFAULT false,
            closed_at timestamptz,
            closed_local timestamp,
            closed_by_override boolean NOT NULL DEFAULT false,
            cancelled_at timestamptz,
            cancelled_local timestamp,
            ended_local timestamp,
            callbacks int NOT NULL DEFAULT 0,
            callbacks_reached int NOT NULL DEFAULT 0,
            callbacks_satisfied int NOT NULL DEFAULT 0,
            rating_sum int NOT NULL DEFAULT 0,
            rating_count int NOT NULL DEFAULT 0,
            reopen_count int NOT NULL DEFAULT 0,
            transfers int NOT NULL DEFAULT 0,
            escalated boolean NOT NULL DEFAULT false,
            escalated_at timestamptz"""
        + ticket_steps.COLUMNS_DDL
        + ticket_categories.COLUMNS_DDL
        + ")",
        "CREATE INDEX ON {schema}.ticket_facts (project, received_local)",
        *ticket_categories.EXTRA_DDL,
        PROJECT_REGIONS_DDL,
        # the report cells of its figures (projections.kpis.cells)
        *KPI_CELL_TABLES,
    ]
    views = ["ticket_facts"]

    def __init__(self, timezone: str = DEFAULT_TIMEZONE, taxonomy: Taxonomy | None = None) -> None:
        super().__init__(timezone)
        #: The category taxonomy in force (ticket policy `categories`); a changed one
        #: takes a rebuild of this projection to reclassify history.
        self.taxonomy = taxonomy or DEFAULT
        #: The batch's tickets received, reclassified or cancelled (their repeats are
        #: recomputed when the batch is written), per runner thread.
        self._repeats = threading.local()

    def layout_key(self) -> str:
        """The time zone and the taxonomy: a changed taxonomy reclassifies history."""
        table = json.dumps(self.taxonomy.table, sort_keys=True, ensure_ascii=False)
        return f"{super().layout_key()};taxonomy={table}"

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:
        super().begin_batch(cur, schema)
        self._repeats.keys = set()

    def _write(self, cur: Cursor[Any], schema: str, facts: Facts) -> None:
        super()._write(cur, schema, facts)
        keys = self._repeats.__dict__.pop("keys", set())
        rows = [r for k in keys if (r := facts.get("ticket_facts", k)) is not None]
        ticket_categories.mark_repeats(cur, schema, rows)

    def apply(self, facts: Facts, rec: EventRecord) -> None:
        e = rec.event
        key = (rec.issue_id,)
        if isinstance(e, ticket_categories.REPEAT_EVENTS):
            self._repeats.__dict__.setdefault("keys", set()).add(key)
        if isinstance(e, Ticket.Received):
            facts.put(
                "ticket_facts",
                key,
                self.new_row(
                    "ticket_facts",
                    ticket_id=rec.issue_id,
                    number=e.number,
                    project=e.project,
                    region=facts.regions.get(e.project),
                    kind=e.kind,
                    channel=e.channel,
                    priority=e.priority,
                    status="received",
                    received_at=e.timestamp,
                    received_local=self.local(e.timestamp),
                    response_due=e.response_due,
                    resolution_due=e.resolution_due,
                    response_breached=False,
                    resolution_breached=False,
                    closed_by_override=False,
                    callbacks=0,
                    callbacks_reached=0,
                    callbacks_satisfied=0,
                    rating_sum=0,
                    rating_count=0,
                    reopen_count=0,
                    transfers=0,
                    escalated=False,
                ),
            )
            fact = facts.get("ticket_facts", key) or {}
            ticket_steps.on_received(fact, e)
            ticket_categories.classify_into(fact, self.taxonomy, e.category)
            fact["reporter_unit"] = ticket_categories.unit_key((e.reporter or {}).get("unit"))
            return
        row = facts.touch("ticket_facts", key)
        if row is None:
            return
        if isinstance(e, (Ticket.Dispatched, Ticket.Transferred)):
            row["department"] = e.department
            row["status"] = "dispatched"
            if isinstance(e, Ticket.Transferred):
                row["transfers"] += 1
            if row["dispatched_at"] is None:
                row["dispatched_at"] = e.timestamp
                if row["response_ends"] != "arrival":
                    ticket_steps.response_done(row, e.timestamp)
        elif isinstance(e, Ticket.Accepted):
            row["status"] = "in_progress"
        elif isinstance(e, Ticket.Resolved):
            row["status"] = "resolved"
            row["resolved_at"] = e.timestamp
            row["resolved_local"] = self.local(e.timestamp)
            row["resolution_seconds"] = (e.timestamp - row["received_at"]).total_seconds()
            row["resolution_met"] = (
                not row["resolution_breached"] and e.timestamp <= row["resolution_due"]
            )
        elif isinstance(e, Ticket.CallbackRecorded):
            row["callbacks"] += 1
            if e.reached:
                row["callbacks_reached"] += 1
                if e.satisfied:
                    row["callbacks_satisfied"] += 1
                    row["status"] = "called_back"
                if e.rating is not None:
                    row["rating_sum"] += int(e.rating)
                    row["rating_count"] += 1
                ticket_steps.on_callback(row, e)
        elif isinstance(e, Ticket.Reopened):
            row["status"] = "reopened"
            row["reopen_count"] += 1
            row["resolved_at"] = row["resolved_local"] = row["resolution_seconds"] = None
            if not row["resolution_breached"]:
                row["resolution_met"] = None
        elif isinstance(e, Ticket.Closed):
            row["status"] = "closed"
            row["closed_at"] = e.timestamp
            row["closed_local"] = row["ended_local"] = self.local(e.timestamp)
            row["closed_by_override"] = bool(e.override)
        elif isinstance(e, Ticket.Cancelled):
            row["status"] = "cancelled"
            row["cancelled_at"] = e.timestamp
            row["cancelled_local"] = row["ended_local"] = self.local(e.timestamp)
        elif isinstance(e, Ticket.Escalated):
            row["escalated"] = True
            row["escalated_at"] = row["escalated_at"] or e.timestamp
        elif isinstance(e, Ticket.SlaBreached):
            row[f"{e.phase}_breached"] = True
            if e.phase != "callback":
                row[f"{e.phase}_met"] = False
        elif isinstance(e, ticket_steps.STEP_EVENTS):
            ticket_steps.apply_step(row, e)
            if isinstance(e, Ticket.Reclassified):
                ticket_categories.classify_into(row, self.taxonomy, e.category)


FACT_DOCS: dict[str, str] = {
    "ticket_id": "Ticket id (UUID).",
    "number": "Ticket number, e.g. TK-2026-000123.",
    "project": "Project code.",
    "region": "Region code of the project.",
    "kind": "complaint, repair, inquiry, suggestion or praise.",
    "channel": "How the ticket came in (phone, walk_in, letter, app, email, web, staff_relay).",
    "priority": "urgent, high, normal or low.",
    "department": "Department the ticket is (last) dispatched or transferred to; null before dispatch.",
    "status": "Current status of the ticket.",
    "received_at": "When the ticket was received (UTC).",
    "received_local": "When the ticket was received, company local time.",
    "received_month": "Month received, company local time (YYYY-MM).",
    "received_quarter": "Quarter received, company local time (YYYY-Qn).",
    "received_year": "Year received, company local time.",
    "response_due": "Response (dispatch) due time under the SLA in force (UTC).",
    "resolution_due": "Resolution due time under the SLA in force (UTC).",
    "dispatched_at": "First dispatch (UTC).",
    "response_seconds": "Response time: received to first dispatch, in seconds.",
    "resolved_at": "Resolution (latest, if reopened; null while reopened) (UTC).",
    "resolved_local": "Resolution time, company local time.",
    "resolution_seconds": "Resolution time: received to resolution, in seconds.",
    "response_met": "Response SLA met (null while undecided).",
    "resolution_met": "Resolution SLA met (null while undecided).",
    "response_breached": "A response SLA breach was recorded.",
    "resolution_breached": "A resolution SLA breach was recorded.",
    "closed_at": "When the ticket was closed (UTC).",
    "closed_local": "When the ticket was closed, company local time.",
    "closed_by_override": "Closed by a supervisor's override (resident not reached).",
    "cancelled_at": "When the ticket was cancelled (UTC).",
    "cancelled_local": "When the ticket was cancelled, company local time.",
    "ended_local": "Closed or cancelled, company local time (end of the backlog).",
    "callbacks": "Callback (回访) attempts.",
    "callbacks_reached": "Callbacks that reached the resident.",
    "callbacks_satisfied": "Callbacks in which the resident was satisfied.",
    "rating_sum": "Sum of callback ratings (1-5).",
    "rating_count": "Number of callback ratings.",
    "reopen_count": "Times the ticket was reopened.",
    "transfers": "Transfers between departments.",
    "escalated": "Escalated to the quality department (a nonconformance raised).",
    "escalated_at": "When it was escalated (UTC).",
    **ticket_steps.FACT_DOCS,
    **ticket_categories.FACT_DOCS,
}

SPEC = KpiSpec(
    kind="tickets",
    prefix="ticket",
    unit="ticket",
    facts="ticket_facts",
    dims={
        "kind": "kind",
        "department": "coalesce(department, 'none')",
        "priority": "priority",
        "channel": "channel",
        "category": "category_l1",
        "subcategory": "category_code",
    },
    dim_docs={
        "kind": "Ticket kind.",
        "department": "Department (none = not dispatched yet).",
        "priority": "Ticket priority.",
        "channel": "Channel the ticket came in by.",
        "category": "Level-1 category code of the taxonomy (other = unknown text); a filter takes a code or a name.",
        "subcategory": "Full category code (level1.level2, or level1 alone); a filter takes a code, name or path.",
    },
    families=(
        Family(
            anchor="received_local",
            measures=(
                Measure("received", "count(*)", "Tickets received in the period.", count=True),
                Measure("cancelled", "count(cancelled_at)", "Of those, cancelled.", count=True),
                Measure(
                    "complaints",
                    "count(*) FILTER (WHERE kind = 'complaint' AND cancelled_at IS NULL)",
                    "Of those, complaints (kind complaint, not cancelled).",
                    count=True,
                ),
                Measure(
                    "repeat_complaints",
                    "count(*) FILTER (WHERE repeat_of IS NOT NULL)",
                    "Of those, repeat complaints: same unit, category and project within 30 days"
                    " of the previous one.",
                    count=True,
                ),
                Measure("resolved", "count(resolved_at)", "Of those, resolved now.", count=True),
                Measure(
                    "response_median_minutes",
                    percentile(0.5, "response_seconds", 60),
                    "Median response time (received to first dispatch), minutes.",
                ),
                Measure(
                    "response_p90_minutes",
                    percentile(0.9, "response_seconds", 60),
                    "90th percentile response time, minutes.",
                ),
                Measure(
                    "resolution_median_hours",
                    percentile(0.5, "resolution_seconds", 3600),
                    "Median resolution time (received to resolved), hours.",
                ),
                Measure(
                    "resolution_p90_hours",
                    percentile(0.9, "resolution_seconds", 3600),
                    "90th percentile resolution time, hours.",
                ),
                Measure(
                    "response_sla_met_pct",
                    pct("count(*) FILTER (WHERE response_met)", "count(response_met)"),
                    "Response SLA met, % of decided tickets.",
                ),
                Measure(
                    "resolution_sla_met_pct",
                    pct("count(*) FILTER (WHERE resolution_met)", "count(resolution_met)"),
                    "Resolution SLA met, % of decided tickets.",
                ),
                Measure(
                    "sla_met_pct",
                    pct(
                        "count(*) FILTER (WHERE response_met AND resolution_met)",
                        "count(*) FILTER (WHERE (response_met AND resolution_met) IS NOT NULL)",
                    ),
                    "Both SLA phases met, % of tickets whose outcome is decided.",
                ),
                Measure(
                    "sla_breaches",
                    "count(*) FILTER (WHERE response_met = false OR resolution_met = false)",
                    "Tickets with at least one SLA phase missed.",
                    count=True,
                ),
                Measure(
                    "callback_rate_pct",
                    pct(
                        "count(*) FILTER (WHERE resolved_at IS NOT NULL AND callbacks_reached > 0)",
                        "count(resolved_at)",
                    ),
                    "Callback rate (回访率): resolved tickets called back (reached), %.",
                ),
                Measure(
                    "satisfaction_pct",
                    pct("sum(callbacks_satisfied)", "sum(callbacks_reached)"),
                    "Callback satisfaction (满意率): satisfied ÷ reached callbacks, %.",
                ),
                Measure(
                    "callback_rating_avg",
                    "round((sum(rating_sum)::numeric / nullif(sum(rating_count), 0)), 2)",
                    "Mean callback rating (1-5).",
                ),
                *(Measure(n, q, d) for n, q, d in ticket_steps.RATING_MEASURES),
                Measure(
                    "callback_breaches",
                    "count(*) FILTER (WHERE callback_breached)",
                    "Tickets whose callback (回访) deadline passed without a callback.",
                    count=True,
                ),
                Measure(
                    "on_hold_hours",
                    "round((sum(paused_seconds) / 3600.0)::numeric, 2)",
                    "Resolution clock paused on hold (挂起), hours in total.",
                ),
                Measure(
                    "reopened",
                    "count(*) FILTER (WHERE reopen_count > 0)",
                    "Tickets reopened at least once.",
                    count=True,
                ),
                Measure(
                    "reopen_rate_pct",
                    pct(
                        "count(*) FILTER (WHERE reopen_count > 0)",
                        "count(*) FILTER (WHERE resolved_at IS NOT NULL OR reopen_count > 0)",
                    ),
                    "Reopen rate: tickets reopened ÷ tickets resolved at least once, %.",
                ),
                Measure(
                    "escalations",
                    "count(*) FILTER (WHERE escalated)",
                    "Tickets escalated to the quality department.",
                    count=True,
                ),
            ),
        ),
        Family(
            anchor="closed_local",
            measures=(
                Measure("closed", "count(*)", "Tickets closed in the period.", count=True),
                Measure(
                    "closed_by_override",
                    "count(*) FILTER (WHERE closed_by_override)",
                    "Of those, closed by a supervisor's override.",
                    count=True,
                ),
            ),
        ),
        Family(
            anchor="received_local",
            until="ended_local",
            measures=(
                Measure(
                    "backlog",
                    "count(*)",
                    "Tickets open at the period's end (received, not closed or cancelled).",
                    count=True,
                ),
            ),
        ),
    ),
    fact_docs=FACT_DOCS,
    fact_exprs={
        "received_month": "to_char(received_local, 'YYYY-MM')",
        "received_quarter": "to_char(received_local, 'YYYY-\"Q\"Q')",
        "received_year": "extract(year FROM received_local)::int",
    },
    extra_views=(
        ExtraView(
            "ticket_kpis_project_category_month",
            ("project", "region", "category", "month"),
            "Ticket KPIs per project, level-1 category and month (complaint analysis)",
        ),
        ExtraView(
            "ticket_kpis_project_subcategory_month",
            ("project", "region", "subcategory", "month"),
            "Ticket KPIs per project, full (level-2) category and month (complaint analysis)",
        ),
    ),
)

TicketKpiProjection.SPEC = SPEC
