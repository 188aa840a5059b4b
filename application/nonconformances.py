"""Nonconformance use cases (DOMAIN.md §3): verbs in, ids and positions out.

Recurrence (same project and checklist item within 90 days) needs a lookup across
issues. It reads `qt_nc_recurrence`, a small table written in the SAME transaction as
the events that raise (or cancel) a nonconformance, through the recorder's
`after_insert` hook — so it is never behind the event store, unlike a projection.
`save()` is wrapped so that every path that raises a nonconformance with a
`source.item` (an inspection's submit, a manual raise) is covered, whoever wrote it.

Processes (DOMAIN.md: "a failed item raises a nonconformance", "an escalated ticket
raises one"): the triggering event (`Inspection.Submitted`, `Ticket.Escalated`) is
stored first and already names the nonconformances it calls for (their numbers are
drawn before, so their ids are known: `id_for("nonconformance", number)`).
`complete_process(issue_id, version)` then raises each missing one with
`causation_id` = the trigger's event id and the trigger's actor and correlation id.
It runs twice over: inline right after the command (so the answer and a read of one's
own writes include the nonconformance) and in a tracked follower of the event store
(`qualtrace.processes`), which finishes whatever a crash left between the trigger and
its result. A nonconformance is created at version 1 of a deterministic id, so a second
attempt from either path conflicts in the store and is skipped: exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from psycopg import Cursor
from psycopg.rows import DictRow

from application.base import Call, CommandResult, QualtraceBase, parse_ref
from application.errors import UnknownReference
from application.org import OrgCommands
from domain.base import SYSTEM, Actor, Ctx, event_id, id_for
from domain.inspections import Inspection
from domain.nonconformances import (
    DEFAULT_NOTICE_DAYS,
    RECURRENCE_WINDOW_DAYS,
    Nonconformance,
)
from domain.tickets import Ticket
from domain.vocabulary import NONCONFORMANCE_SOURCES

log = logging.getLogger("qualtrace.processes")

#: The events that call for nonconformances: (aggregate class name, event class name).
PROCESS_TRIGGERS = frozenset({("Inspection", "Submitted"), ("Ticket", "Escalated")})

#: source.type -> the kind of issue its `ref` names (others are free-text references).
LINKED_SOURCES = {"ticket": "ticket", "inspection": "inspection", "survey": "survey"}

AfterInsert = Callable[[Cursor[DictRow], Sequence[int]], None]


def _chain(first: AfterInsert | None, second: AfterInsert) -> AfterInsert:
    def both(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
        if first is not None:
            first(cur, ids)
        second(cur, ids)

    return both


def _has_pending(agg: Nonconformance, event_class: type) -> bool:
    return any(isinstance(e, event_class) for e in agg.pending_events)


class NonconformanceCommands(OrgCommands, QualtraceBase):
    @property
    def notice_days(self) -> int:
        return int(self.policies.get("nc_notice_days", DEFAULT_NOTICE_DAYS))

    # -- raising -------------------------------------------------------------------
    def raise_nonconformance(
        self,
        call: Call,
        *,
        project: str,
        source: dict[str, Any],
        severity: str,
        description: str,
        department: str | None = None,
    ) -> CommandResult:
        self.require_project("project", project)
        resolved = self._resolve_source(project, source)

        def build(ctx: Ctx) -> list[Nonconformance]:
            nc = Nonconformance.raise_(
                ctx,
                number=self.next_number("nonconformance"),
                project=project,
                source=resolved,
                severity=severity,
                description=description,
                department=department,
            )
            self.mark_recurrence(nc)
            return [nc]

        return self.create(call, "nonconformance.raise", project, build)

    def _resolve_source(self, project: str, source: dict[str, Any]) -> dict[str, Any]:
        """Resolve `source.ref` to the issue it names (ticket, inspection, survey)."""
        if not isinstance(source, dict) or source.get("type") not in NONCONFORMANCE_SOURCES:
            return (
                dict(source) if isinstance(source, dict) else {}
            )  # the domain names the bad field
        out = {k: v for k, v in source.items() if v is not None}
        kind = LINKED_SOURCES.get(out["type"])
        ref = out.get("ref")
        if kind is None or not ref:
            return out
        agg = self._find_issue(kind, str(ref))
        if agg is None:
            raise UnknownReference("source.ref", f"unknown {kind} '{ref}'")
        if getattr(agg, "project", None) not in (None, project) and kind != "survey":
            raise UnknownReference(
                "source.ref", f"{agg.number} belongs to project {agg.project}, not {project}"
            )
        out.update(
            {
                "id": str(agg.id),
                "number": str(getattr(agg, "number", ref)),
                "kind": kind,
                "ref": str(ref),
            }
        )
        return out

    def _find_issue(self, kind: str, ref: str) -> Any:
        try:
            agg: Any = self.repository.get(parse_ref(kind, ref))
        except (AggregateNotFoundError, ValueError):
            return None
        return agg if getattr(agg, "KIND", None) == kind else None

    # -- recurrence ----------------------------------------------------------------
    def mark_recurrence(self, nc: Nonconformance) -> None:
        """Mark a newly raised NC as a recurrence of the latest earlier, uncancelled NC of
        the same project and checklist item raised within the window (system's judgement)."""
        if nc.item_key is None or nc.recurrence_of is not None or nc.version != 1:
            return
        window = int(self.policies.get("nc_recurrence_days", RECURRENCE_WINDOW_DAYS))
        rows = self.sql(
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

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save, keeping the recurrence index in the same transaction as the events."""
        ncs = [o for o in objs if isinstance(o, Nonconformance)]
        raised = [nc for nc in ncs if nc.item_key and _has_pending(nc, Nonconformance.Raised)]
        cancelled = [nc for nc in ncs if nc.item_key and _has_pending(nc, Nonconformance.Cancelled)]
        if raised or cancelled:
            for nc in raised:
                self.mark_recurrence(nc)
            rows = [(nc.id, nc.number, nc.project, nc.item_key, nc.raised_at) for nc in raised]
            gone = [nc.id for nc in cancelled]

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

            kwargs["after_insert"] = _chain(kwargs.get("after_insert"), index)
        return super().save(*objs, **kwargs)

    # -- processes: trigger event -> nonconformances, exactly once ---------------------
    def process_requests(self, issue_id: UUID, version: int) -> tuple[Any, list[dict[str, Any]]]:
        """The trigger event at (issue, version) and the nonconformances it calls for."""
        events = list(self.events.get(issue_id, gt=version - 1, lte=version))
        if not events:
            return None, []
        event: Any = events[0]
        kind = (type(event).__qualname__.rpartition(".")[0], type(event).__name__)
        if kind == ("Inspection", "Submitted"):
            ins = self.load(Inspection, issue_id, version)
            return event, ins.nonconformance_requests()
        if kind == ("Ticket", "Escalated"):
            t = self.load(Ticket, issue_id, version)
            return event, [
                {
                    "number": event.nonconformance_number,
                    "project": t.project,
                    "source": {
                        "type": "ticket",
                        "ref": t.number,
                        "id": str(t.id),
                        "number": t.number,
                        "kind": "ticket",
                    },
                    "severity": event.severity,
                    "description": f"Escalated from {t.number}: {event.reason}",
                    "department": t.department,
                }
            ]
        return event, []

    def complete_process(self, issue_id: UUID, version: int) -> list[int]:
        """Raise each nonconformance the trigger event at (issue, version) calls for and that
        does not exist yet; return the positions of the events recorded (none when done)."""
        return self._complete(issue_id, version)[1]

    def _complete(self, issue_id: UUID, version: int) -> tuple[list[UUID], list[int]]:
        trigger, requests = self.process_requests(issue_id, version)
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
            self.clock(),
            trigger.correlation_id,
            event_id(issue_id, version),
        )
        try:  # all of them in one transaction: the usual case
            recordings = self.save(
                *[Nonconformance.raise_(ctx, **request) for _, request in missing]
            )
            return ids, [r.notification.id for r in recordings]
        except IntegrityError:
            pass  # another path raised some meanwhile: one by one, skipping those
        positions: list[int] = []
        for nc_id, request in missing:
            try:
                recordings = self.save(Nonconformance.raise_(ctx, **request))
            except IntegrityError:
                if not self._recorded(nc_id):
                    raise
                continue  # lost the race to the other path: it is raised, once
            positions.extend(r.notification.id for r in recordings)
        return ids, positions

    def _recorded(self, issue_id: UUID) -> bool:
        return bool(self.recorder.select_events(issue_id, limit=1))

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
            rows = self.sql(
                f"SELECT max(notification_id) AS p FROM {self.recorder.events_table_name}"  # type: ignore[attr-defined]
                " WHERE originator_id = ANY(%s) AND originator_version = 1",
                (ids,),
            )
            if rows and rows[0]["p"] is not None:
                result.position = max(result.position or 0, int(rows[0]["p"]))
        return result

    # -- the lifecycle ---------------------------------------------------------------
    def notice_nonconformance(
        self,
        call: Call,
        ref: str,
        responsible_department: str,
        responsible_person: str,
        due_date: datetime | date | None = None,
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.notice",
            Nonconformance,
            ref,
            lambda n, c: n.notice(
                c, responsible_department, responsible_person, due_date, self.tz, self.notice_days
            ),
        )

    def analyse_nonconformance(self, call: Call, ref: str, analysis: str) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.root_cause",
            Nonconformance,
            ref,
            lambda n, c: n.analyse(c, analysis),
        )

    def plan_nonconformance(
        self, call: Call, ref: str, corrective_actions: list[str], preventive_actions: list[str]
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.plan",
            Nonconformance,
            ref,
            lambda n, c: n.plan(c, corrective_actions, preventive_actions),
        )

    def decide_nonconformance_plan(
        self, call: Call, ref: str, approved: bool, reason: str | None
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.plan_decision",
            Nonconformance,
            ref,
            lambda n, c: n.decide_plan(c, approved, reason),
        )

    def rectify_nonconformance(
        self, call: Call, ref: str, summary: str, evidence: list[str] | None
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.rectify",
            Nonconformance,
            ref,
            lambda n, c: n.rectify(c, summary, evidence),
        )

    def verify_nonconformance(
        self,
        call: Call,
        ref: str,
        effective: bool,
        notes: str | None,
        due_date: datetime | date | None = None,
        inspection: str | None = None,
    ) -> CommandResult:
        reinspection: dict[str, str] | None = None
        if inspection is not None:
            found = self._find_issue("inspection", inspection)
            if found is None:
                raise UnknownReference("inspection", f"unknown inspection '{inspection}'")
            reinspection = {"id": str(found.id), "number": str(found.number)}
        return self.execute(
            call,
            "nonconformance.verify",
            Nonconformance,
            ref,
            lambda n, c: n.verify(
                c, effective, notes, self.tz, due_date, self.notice_days, reinspection
            ),
        )

    def request_nonconformance_extension(
        self,
        call: Call,
        ref: str,
        new_due_date: datetime | date,
        reason: str,
        remedial_measures: str,
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.extension",
            Nonconformance,
            ref,
            lambda n, c: n.request_extension(c, new_due_date, reason, remedial_measures, self.tz),
        )

    def decide_nonconformance_extension(
        self, call: Call, ref: str, approved: bool, reason: str | None
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.extension_decision",
            Nonconformance,
            ref,
            lambda n, c: n.decide_extension(c, approved, reason),
        )

    def dispose_nonconformance(
        self, call: Call, ref: str, disposition: str, notes: str | None, reason: str | None
    ) -> CommandResult:
        return self.execute(
            call,
            "nonconformance.disposition",
            Nonconformance,
            ref,
            lambda n, c: n.decide_disposition(c, disposition, notes, reason),
        )

    def cancel_nonconformance(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.execute(
            call, "nonconformance.cancel", Nonconformance, ref, lambda n, c: n.cancel(c, reason)
        )

    # -- reads ---------------------------------------------------------------------
    def get_nonconformance(
        self, call: Call, ref: str | UUID, version: int | None = None
    ) -> Nonconformance:
        nc = self.load(Nonconformance, ref, version)
        self.authorize(call, "nonconformance.read", nc.project)
        return nc
