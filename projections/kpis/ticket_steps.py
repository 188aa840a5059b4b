"""The field steps of issue #16 on the ticket facts (projections/kpis/tickets.py):
arrival (the response SLA may end there), holds (the pause moves the resolution due time
and is kept as `paused_seconds`), reclassification (kind, priority and due times follow),
rejections, callback breaches and the three callback ratings.

Kept apart so that the ticket KPI module only gains a few lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.tickets import RATING_DIMENSIONS, Ticket

#: Fact columns this module adds to `ticket_facts` (with their docs).
COLUMNS_DDL = """,
            response_ends text NOT NULL DEFAULT 'dispatch',
            arrived_at timestamptz,
            paused_seconds double precision NOT NULL DEFAULT 0,
            holds int NOT NULL DEFAULT 0,
            rejections int NOT NULL DEFAULT 0,
            reclassified int NOT NULL DEFAULT 0,
            callback_breached boolean NOT NULL DEFAULT false,
            speed_sum int NOT NULL DEFAULT 0,
            speed_count int NOT NULL DEFAULT 0,
            quality_sum int NOT NULL DEFAULT 0,
            quality_count int NOT NULL DEFAULT 0,
            attitude_sum int NOT NULL DEFAULT 0,
            attitude_count int NOT NULL DEFAULT 0"""

FACT_DOCS: dict[str, str] = {
    "response_ends": "Where the response SLA ends: dispatch or arrival (the ticket's policy).",
    "arrived_at": "First arrival on site by the assignee (UTC).",
    "paused_seconds": "Time on hold (挂起) that paused the resolution clock, in SLA seconds.",
    "holds": "Times the ticket was put on hold.",
    "rejections": "Times the assignee rejected the ticket back to dispatch (拒单).",
    "reclassified": "Times the ticket was reclassified.",
    "callback_breached": "The callback (回访) deadline passed without a callback reaching the resident.",
    "speed_sum": "Sum of callback speed ratings (及时性, 1-5).",
    "speed_count": "Number of callback speed ratings.",
    "quality_sum": "Sum of callback quality ratings (质量, 1-5).",
    "quality_count": "Number of callback quality ratings.",
    "attitude_sum": "Sum of callback attitude ratings (态度, 1-5).",
    "attitude_count": "Number of callback attitude ratings.",
}

STEP_EVENTS = (
    Ticket.Arrived,
    Ticket.PutOnHold,
    Ticket.Resumed,
    Ticket.Reclassified,
    Ticket.Rejected,
)


def on_received(row: dict[str, Any], e: Any) -> None:
    row.update(
        response_ends=e.sla_policy.get("response_ends", "dispatch"),
        paused_seconds=0.0,
        holds=0,
        rejections=0,
        reclassified=0,
        callback_breached=False,
        **{f"{d}_{x}": 0 for d in RATING_DIMENSIONS for x in ("sum", "count")},
    )


def response_done(row: dict[str, Any], when: datetime) -> None:
    """The response SLA ended at `when` (first dispatch, or arrival per the policy)."""
    row["response_seconds"] = (when - row["received_at"]).total_seconds()
    row["response_met"] = not row["response_breached"] and when <= row["response_due"]


def apply_step(row: dict[str, Any], e: Any) -> None:
    if isinstance(e, Ticket.Arrived):
        row["status"] = "in_progress"
        if row["arrived_at"] is None:
            row["arrived_at"] = e.timestamp
            if row["response_ends"] == "arrival":
                response_done(row, e.timestamp)
    elif isinstance(e, Ticket.PutOnHold):
        row["status"] = "on_hold"
        row["holds"] += 1
    elif isinstance(e, Ticket.Resumed):
        row["status"] = "in_progress"
        row["paused_seconds"] += float(e.paused_seconds)
        row["resolution_due"] = e.resolution_due
    elif isinstance(e, Ticket.Reclassified):
        row["kind"], row["priority"] = e.kind, e.priority
        row["response_due"], row["resolution_due"] = e.response_due, e.resolution_due
        row["reclassified"] += 1
    elif isinstance(e, Ticket.Rejected):
        row["status"] = "rejected"
        row["rejections"] += 1


def on_callback(row: dict[str, Any], e: Any) -> None:
    for dim, value in (e.ratings or {}).items():
        row[f"{dim}_sum"] += int(value)
        row[f"{dim}_count"] += 1


def rating_measure(dim: str, label: str) -> tuple[str, str, str]:
    """(name, SQL, doc) of the mean rating of one dimension."""
    return (
        f"callback_{dim}_avg",
        f"round((sum({dim}_sum)::numeric / nullif(sum({dim}_count), 0)), 2)",
        f"Mean callback {dim} rating ({label}, 1-5).",
    )


RATING_MEASURES = (
    rating_measure("speed", "及时性"),
    rating_measure("quality", "质量"),
    rating_measure("attitude", "态度"),
)
