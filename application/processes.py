"""Processes: what a stored event calls for, done exactly once (DOMAIN.md §2, §3).

"A failed item raises a nonconformance", "an escalated ticket raises one": the triggering
event (`Inspection.Submitted`, `Ticket.Escalated`) is stored first and already names the
nonconformances it calls for (their numbers are drawn before, so their ids are known:
`id_for("nonconformance", number)`). `Processes.complete(issue_id, version)` then raises
each missing one with `causation_id` = the trigger's event id and the trigger's actor and
correlation id. It runs twice over: inline right after the command (`follow_up`, so the
answer and a read of one's own writes include the nonconformance) and in a tracked
follower of the event store (`qualtrace.processes`), which finishes whatever a crash left
between the trigger and its result. A nonconformance is created at version 1 of a
deterministic id, so a second attempt from either path conflicts in the store and is
skipped: exactly once.

Recurrence (same project and checklist item within 90 days) needs a lookup across issues.
`NonconformanceIndex` reads `qt_nc_recurrence`, a small table written by a commit hook in
the SAME transaction as the events that raise (or cancel) a nonconformance — so it is
never behind the event store, unlike a projection. Every command that raises or cancels
a nonconformance passes `index.hooks(...)` to the service's commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg import Cursor
from psycopg.rows import DictRow

from application.base import CommandResult
from application.service import CommandService, Hook
from domain.base import SYSTEM, Actor, Ctx, QAggregate, event_id, id_for
from domain.inspections import Inspection
from domain.nonconformances import RECURRENCE_WINDOW_DAYS, Nonconformance
from domain.tickets import Ticket

log = logging.getLogger("qualtrace.processes")

#: The events that call for nonconformances: (aggregate class name, event class name).
PROCESS_TRIGGERS = frozenset({("Inspection", "Submitted"), ("Ticket", "Escalated")})


def _has_pending(agg: Nonconformance, event_class: type) -> bool:
    return any(isinstance(e, event_class) for e in agg.pending_events)


class NonconformanceIndex:
    """The write-side recurrence index of nonconformances, kept by a commit hook."""

    def __init__(self, service: CommandService) -> None:
        self.service = service

    def mark_recurrence(self, nc: Nonconformance) -> None:
        """Mark a newly raised NC as a recurrence of the latest earlier, uncancelled NC of
        the same project and checklist item raised within the window (system's judgement)."""
        if nc.item_key is None or nc.recurrence_of is not None or nc.version != 1:
            return
        window = int(self.service.policies.get("nc_recurrence_days", RECURRENCE_WINDOW_DAYS))
        rows = self.service.sql(
            """SELECT nc_id, number, raised_at FROM qt_nc_recurrence
               WHERE project = %s AND item = %s AND NOT cancelled AND nc_id <> %s
                 AND raised_at >= %s AND raised_at <= %s
               ORDER BY raised_at DESC LIMIT 1""",
            (nc.project, nc.item_key, nc.id, nc.raised_at - timedelta(days=window), nc.raised_at),
        )
        if not rows:
            return
        raised = nc.pending_events[0]
        ctx = Ctx(
            SYSTEM,
            nc.raised_at,
            getattr(raised, "correlation_id", "") or "recurrence",
            event_id(nc.id, 1),
        )
        row = rows[0]
        nc.mark_recurrence(ctx, str(row["nc_id"]), row["number"], row["raised_at"])

    def hooks(self, aggs: Sequence[QAggregate]) -> list[Hook]:
        """Mark the raised NCs' recurrences now; the hook that indexes them (and marks the
        cancelled ones) in the commit's transaction. None when nothing concerns the index."""
        ncs = [a for a in aggs if isinstance(a, Nonconformance) and a.item_key]
        raised = [nc for nc in ncs if _has_pending(nc, Nonconformance.Raised)]
        gone = [nc.id for nc in ncs if _has_pending(nc, Nonconformance.Cancelled)]
        if not raised and not gone:
            return []
        for nc in raised:
            self.mark_recurrence(nc)
        rows = [(nc.id, nc.number, nc.project, nc.item_key, nc.raised_at) for nc in raised]

        def index(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            for row in rows:
                cur.execute(
                    "INSERT INTO qt_nc_recurrence (nc_id, number, project, item, raised_at)"
                    " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (nc_id) DO NOTHING",
                    row,
                )
            for nc_id in gone:
                cur.execute(
                    "UPDATE qt_nc_recurrence SET cancelled = true WHERE nc_id = %s", (nc_id,)
                )

        return [index]


class Processes:
    """Trigger event -> the nonconformances it names, exactly once."""

    def __init__(self, service: CommandService, index: NonconformanceIndex) -> None:
        self.service = service
        self.index = index

    def requests(self, issue_id: UUID, version: int) -> tuple[Any, list[dict[str, Any]]]:
        """The trigger event at (issue, version) and the nonconformances it calls for."""
        events = list(self.service.store.events.get(issue_id, gt=version - 1, lte=version))
        if not events:
            return None, []
        event: Any = events[0]
        if isinstance(event, Inspection.Submitted):
            ins = self.service.load(Inspection, issue_id, version)
            return event, ins.nonconformance_requests()
        if isinstance(event, Ticket.Escalated):
            t = self.service.load(Ticket, issue_id, version)
            source = {"type": "ticket", "ref": t.number, "id": str(t.id), "number": t.number}
            return event, [
                {
                    "number": event.nonconformance_number,
                    "project": t.project,
                    "source": {**source, "kind": "ticket"},
                    "severity": event.severity,
                    "description": f"Escalated from {t.number}: {event.reason}",
                    "department": t.department,
                }
            ]
        return event, []

    def complete(self, issue_id: UUID, version: int) -> list[int]:
        """Raise each nonconformance the trigger event at (issue, version) calls for and that
        does not exist yet; return the positions of the events recorded (none when done)."""
        return self._complete(issue_id, version)[1]

    def _complete(self, issue_id: UUID, version: int) -> tuple[list[UUID], list[int]]:
        trigger, requests = self.requests(issue_id, version)
        ids = [id_for("nonconformance", request["number"]) for request in requests]
        missing = [
            (nc_id, request)
            for nc_id, request in zip(ids, requests, strict=True)
            if not self._recorded(nc_id)
        ]
        if not missing:
            return ids, []  # raised before (inline, or by another run of the follower)
        ctx = Ctx(
            Actor(**trigger.actor),
            self.service.clock(),
            trigger.correlation_id,
            event_id(issue_id, version),
        )
        try:  # all of them in one transaction: the usual case
            ncs = [Nonconformance.raise_(ctx, **request) for _, request in missing]
            return ids, self.service.record(*ncs, hooks=self.index.hooks(ncs))
        except IntegrityError:
            pass  # another path raised some meanwhile: one by one, skipping those
        positions: list[int] = []
        for nc_id, request in missing:
            nc = Nonconformance.raise_(ctx, **request)
            try:
                positions.extend(self.service.record(nc, hooks=self.index.hooks([nc])))
            except IntegrityError:
                if not self._recorded(nc_id):
                    raise
                continue  # lost the race to the other path: it is raised, once
        return ids, positions

    def _recorded(self, issue_id: UUID) -> bool:
        return bool(self.service.store.recorder.select_events(issue_id, limit=1))

    def follow_up(self, result: CommandResult, issue_id: UUID, version: int) -> CommandResult:
        """Run the process for a trigger just stored, inline; a failure here is left to the
        follower (the trigger is stored and names what it raises). The answer's position
        then covers the raised nonconformances (whoever raised them, so a replayed answer
        equals the first), and `min_position` reads include them."""
        try:
            ids, _ = self._complete(issue_id, version)
        except Exception:
            log.exception(
                "process for %s:%s failed inline; the follower will complete it", issue_id, version
            )
            return result
        if ids:
            table = self.service.store.recorder.events_table_name  # type: ignore[attr-defined]
            rows = self.service.sql(
                f"SELECT max(notification_id) AS p FROM {table}"
                " WHERE originator_id = ANY(%s) AND originator_version = 1",
                (ids,),
            )
            if rows and rows[0]["p"] is not None:
                result.position = max(result.position or 0, int(rows[0]["p"]))
        return result
