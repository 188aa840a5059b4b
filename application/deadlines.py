"""The deadline watcher: records ticket SLA breaches and nonconformance `Overdue` events,
each exactly once, however often it runs, restarts or races another watcher.

How it stays exactly-once:
- Candidates come from the read side (`qt_read.tickets`, `qt_read.nonconformances`), but
  the projection only *suggests*: for each candidate the aggregate is loaded from the
  event store and its own state decides (`Ticket.due_breaches`,
  `Nonconformance.overdue_due`). An event already recorded is visible there at once, so a
  lagging projection can only delay a breach (until it catches up), never repeat one.
- The new event is appended with optimistic concurrency (aggregate version): if another
  watcher or a user wrote meanwhile, the append fails, the aggregate is reloaded and
  decides again. A crash after reading candidates but before saving leaves nothing
  behind; the next run finds the same candidates and records each breach once.

Every event it records has the system actor, the run's correlation id and, as
`causation_id`, the event that set the passed due date.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg.types.json import Jsonb

from application.app import Qualtrace
from domain.base import SYSTEM, Ctx, event_id
from domain.inspections import Inspection
from domain.nonconformances import PENDING_RECTIFICATION, Nonconformance
from domain.policies import DEFAULT_SLA_ESCALATION
from domain.tickets import Ticket
from domain.vocabulary import PRIORITIES
from store.background import BackgroundLoop

log = logging.getLogger("qualtrace.deadlines")

#: A ticket is a candidate when the next level of one of its SLA phases (0 = the breach
#: at the due time, n = the escalation ladder's level n, `%(offsets)s`: minutes past the
#: due time per priority and level) has passed with the phase's step not done by then.
TICKET_CANDIDATES = """
    WITH c AS (
        SELECT id, status, resolved_at, callback_due, callback_done_at, callback_level,
               CASE WHEN response_ends = 'arrival' THEN arrived_at ELSE dispatched_at END
                   AS response_done,
               response_due + make_interval(
                   mins => (%(offsets)s::jsonb -> priority ->> response_level)::int) AS response_at,
               resolution_due + make_interval(
                   mins => (%(offsets)s::jsonb -> priority ->> resolution_level)::int)
                   AS resolution_at
        FROM qt_read.tickets WHERE status <> 'cancelled' AND id::text > %(after)s)
    SELECT id::text AS id FROM c WHERE
        (response_at < %(now)s AND (response_done IS NULL OR response_done > response_at))
     OR (resolution_at < %(now)s AND ((resolved_at IS NULL AND status NOT IN ('closed', 'on_hold'))
                                      OR resolved_at > resolution_at))
     OR (callback_level = 0 AND callback_due < %(now)s
         AND ((callback_done_at IS NULL AND status <> 'closed') OR callback_done_at > callback_due))
    ORDER BY id::text LIMIT %(limit)s"""

NC_CANDIDATES = """
    SELECT id::text AS id FROM qt_read.nonconformances
    WHERE status = ANY(%(pending)s) AND due_date < %(now)s AND NOT overdue AND NOT extension_pending
      AND id::text > %(after)s
    ORDER BY id::text LIMIT %(limit)s"""

#: loop (issue #15): planned inspections past their due time, from the write-side index
#: `qt_inspection_dues` (written with the plan; the aggregate decides).
INSPECTION_CANDIDATES = """
    SELECT inspection_id::text AS id FROM qt_inspection_dues
    WHERE NOT settled AND due_at < %(now)s AND inspection_id::text > %(after)s
    ORDER BY inspection_id::text LIMIT %(limit)s"""


@dataclass
class RunReport:
    at: datetime
    correlation_id: str
    tickets_checked: int = 0
    sla_breaches: int = 0
    #: `SlaEscalated` recorded (levels of the escalation ladder, issue #16).
    sla_escalations: int = 0
    nonconformances_checked: int = 0
    overdue: int = 0
    inspections_checked: int = 0
    inspections_missed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "correlation_id": self.correlation_id,
            "tickets_checked": self.tickets_checked,
            "sla_breaches": self.sla_breaches,
            "sla_escalations": self.sla_escalations,
            "nonconformances_checked": self.nonconformances_checked,
            "overdue": self.overdue,
            "inspections_checked": self.inspections_checked,
            "inspections_missed": self.inspections_missed,
            "errors": list(self.errors),
        }


class DeadlineWatcher(BackgroundLoop):
    """Scans for passed due dates and records them. `run_once()` for a single pass;
    `start()` runs passes every `interval` seconds in a daemon thread."""

    BATCH = 500
    RETRIES = 5

    thread_name = "deadline-watcher"

    def __init__(self, app: Qualtrace, interval: float = 30.0) -> None:
        super().__init__()
        self.app = app
        self.service = app.service
        self.interval = interval
        self.last_report: RunReport | None = None

    # -- one pass -------------------------------------------------------------------
    def run_once(self) -> RunReport:
        now = self.service.clock()
        report = RunReport(at=now, correlation_id=f"deadline-watcher:{uuid.uuid4()}")
        for ticket_id in self._candidates(TICKET_CANDIDATES, now):
            report.tickets_checked += 1
            try:
                report.sla_breaches += self._retrying(
                    lambda i=ticket_id: self.check_ticket(i, now, report)
                )
            except Exception as e:  # one bad issue must not stop the others
                log.exception("deadline watcher: ticket %s", ticket_id)
                report.errors.append(f"ticket {ticket_id}: {e}")
        for nc_id in self._candidates(NC_CANDIDATES, now):
            report.nonconformances_checked += 1
            try:
                report.overdue += self._retrying(
                    lambda i=nc_id: self.check_nonconformance(i, now, report)
                )
            except Exception as e:
                log.exception("deadline watcher: nonconformance %s", nc_id)
                report.errors.append(f"nonconformance {nc_id}: {e}")
        for ins_id in self._candidates(INSPECTION_CANDIDATES, now):
            report.inspections_checked += 1
            try:
                report.inspections_missed += self._retrying(
                    lambda i=ins_id: self.check_inspection(i, now, report)
                )
            except Exception as e:
                log.exception("deadline watcher: inspection %s", ins_id)
                report.errors.append(f"inspection {ins_id}: {e}")
        self.last_report = report
        return report

    def _candidates(self, query: str, now: datetime) -> list[str]:
        out: list[str] = []
        after = ""
        while True:
            rows = self.service.sql(
                query,
                {
                    "now": now,
                    "after": after,
                    "limit": self.BATCH,
                    "pending": list(PENDING_RECTIFICATION),
                    "offsets": Jsonb(self._offsets()),
                },
            )
            out.extend(r["id"] for r in rows)
            if len(rows) < self.BATCH:
                return out
            after = rows[-1]["id"]

    def _retrying(self, attempt: Any) -> int:
        for n in range(self.RETRIES):
            try:
                return int(attempt())
            except IntegrityError:
                if n == self.RETRIES - 1:
                    raise
        return 0

    def _ladder(self) -> list[dict[str, Any]]:
        policy = self.service.policies.get("ticket") or {}
        return list(policy.get("escalation", DEFAULT_SLA_ESCALATION))

    def _offsets(self) -> dict[str, list[int]]:
        """Minutes past the due time at which each level falls due, per priority."""
        ladder = self._ladder()
        return {p: [0, *(int(lv["after_minutes"][p]) for lv in ladder)] for p in PRIORITIES}

    def check_ticket(self, ticket_id: str, now: datetime, report: RunReport) -> int:
        """Record each SLA level of the ticket that has fallen due, once: the breach
        (`SlaBreached`), then the escalation ladder's levels (`SlaEscalated`), each caused
        by the event before it."""
        ticket = self.service.load(Ticket, UUID(ticket_id))
        ladder = self._ladder()
        steps = ticket.deadline_steps(now, ladder)
        if not steps:
            return 0
        breaches = escalations = 0
        for phase, level, due in steps:
            # The breach is caused by Received (it set the due times); a level by the one before.
            cause = event_id(ticket.id, 1) if level == 0 else ticket.last_event_id
            ticket.record_breach(
                Ctx(SYSTEM, now, report.correlation_id, cause), phase, due, level, ladder
            )
            if level == 0:
                breaches += 1
            else:
                escalations += 1
        self.save(ticket)
        report.sla_escalations += escalations  # counted once saved (a lost race retries)
        return breaches

    def check_nonconformance(self, nc_id: str, now: datetime, report: RunReport) -> int:
        """Record `Overdue` for the NC's current due date if it passed without rectification."""
        nc = self.service.load(Nonconformance, UUID(nc_id))
        if not nc.record_overdue(Ctx(SYSTEM, now, report.correlation_id)):
            return 0
        self.save(nc)
        return 1

    def check_inspection(self, ins_id: str, now: datetime, report: RunReport) -> int:
        """Record `InspectionMissed` if the planned inspection was not submitted by its due
        time; then stop scanning it (once missed, or once submitted or cancelled)."""
        ins = self.service.load(Inspection, UUID(ins_id))
        recorded = ins.record_missed(Ctx(SYSTEM, now, report.correlation_id))
        if recorded:
            self.save(ins)
        if recorded or ins.missed or ins.status not in ("scheduled", "in_progress"):
            self.service.sql(
                "UPDATE qt_inspection_dues SET settled = true WHERE inspection_id = %s",
                (UUID(ins_id),),
            )
        return int(recorded)

    def save(self, aggregate: Any) -> None:
        """Append the new events (optimistic concurrency: a lost race raises IntegrityError)."""
        self.service.record(aggregate)

    # -- background (`BackgroundLoop`) --------------------------------------------------
    def _session(self) -> None:
        # The first pass waits one interval, so a process that starts and stops at once
        # (and tests that move the clock by hand) are not raced by a background pass.
        while not self._stop.wait(self.interval):
            report = self.run_once()
            if report.sla_breaches or report.overdue or report.inspections_missed:
                log.info("deadline watcher: %s", report.as_dict())

    def _failed(self, error: BaseException) -> None:
        log.exception("deadline watcher pass failed; retrying next interval")

    def _retry_seconds(self) -> float:
        return 0.0  # the next session waits its interval before the next pass
