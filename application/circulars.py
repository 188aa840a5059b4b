"""Company-wide circulars (全公司通报): raised by a quality manager, or — exactly once — by
the process that follows a re-check finding a rectification not effective.

The trigger is a stored `Nonconformance.Verified` with `effective=False`. `CircularProcess`
(run by a tracked follower of the store, `CircularFollower`) raises the circular with
`causation_id` = the verification's event id and the verifier as actor. Its number is
drawn from the `TB` sequence; exactly once is held by `qt_circular_triggers`, written in
the circular's own append transaction with the trigger's event id as primary key: a
second attempt (a replayed batch, a second follower) fails that insert, its transaction
rolls back (leaving a gap in the numbers, never a second circular).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg import Cursor
from psycopg.rows import DictRow

from application.base import Call, CommandResult
from application.errors import NotFound
from application.service import CommandService
from domain.base import Actor, Ctx, QAggregate, event_id
from domain.circulars import Circular
from domain.nonconformances import Nonconformance

log = logging.getLogger("qualtrace.circulars")

#: The events that call for a circular: (aggregate class name, event class name).
CIRCULAR_TRIGGERS = frozenset({("Nonconformance", "Verified")})


class Circulars:
    """Circular use cases: raise (quality manager), read (every principal, receipted)."""

    def __init__(self, service: CommandService) -> None:
        self.service = service

    def raise_(
        self, call: Call, *, title: str, text: str, project: str | None = None
    ) -> CommandResult:
        if project is not None:
            self.service.require_project_for(call, "circular.raise", "project", project)

        def build(ctx: Ctx) -> list[QAggregate]:
            number = self.service.next_number("circular")
            return [Circular.raise_(ctx, number, title, text, "manual", project)]

        return self.service.create(call, "circular.raise", project, build)

    def read(self, call: Call, ref: str) -> CommandResult:
        """Record the caller's read receipt (once; a second read answers the same)."""

        def load() -> Circular:
            c = self.service.load(Circular, ref)
            # Company-wide: every principal may read it, whatever its scope.
            self.service.authorize(call, "circular.mark_read", None)
            return c

        def step(c: Circular, ctx: Ctx) -> CommandResult | None:
            if c.has_read(ctx.actor.id):
                return CommandResult(
                    id=str(c.id), number=c.number, status=c.status, version=c.version, position=None
                )
            c.read(ctx)
            return None

        return self.service.execute(call, "circular.mark_read", Circular, ref, step, load=load)

    def get(self, ref: str) -> Circular:
        return self.service.load(Circular, ref)


class CircularProcess:
    """A verification that found the rectification not effective -> one circular."""

    def __init__(self, service: CommandService) -> None:
        self.service = service

    def complete(self, issue_id: UUID, version: int) -> list[int]:
        """Raise the circular the event at (issue, version) calls for, unless it exists;
        return the positions recorded (none when there was nothing, or nothing left, to do)."""
        events = list(self.service.store.events.get(issue_id, gt=version - 1, lte=version))
        if not events:
            return []
        trigger: Any = events[0]
        if not isinstance(trigger, Nonconformance.Verified) or trigger.effective:
            return []
        trigger_id = event_id(issue_id, version)
        if self.service.sql(
            "SELECT 1 FROM qt_circular_triggers WHERE trigger_event = %s", (trigger_id,)
        ):
            return []
        try:
            nc = self.service.load(Nonconformance, issue_id, version)
        except NotFound:  # pragma: no cover - the trigger is in the store
            return []
        ctx = Ctx(Actor(**trigger.actor), self.service.clock(), trigger.correlation_id, trigger_id)
        number = self.service.next_number("circular")
        failed = len([v for v in nc.verifications if not v["effective"]])
        title = f"全公司通报: {nc.number} 复检整改未完成 (rectification not effective)"
        text = (
            f"项目 {nc.project} 的不合格项 {nc.number}"
            f"({nc.severity}; {nc.description})复检未通过: 整改未完成。"
            f" Re-check of nonconformance {nc.number} at project {nc.project} found the"
            f" rectification not effective (failed verification no. {failed}"
            f"{'; notes: ' + trigger.notes if trigger.notes else ''}); verified by"
            f" {trigger.actor['name']}. Responsible: {nc.responsible_department or '-'}"
            f" / {nc.responsible_person or '-'}."
        )
        circular = Circular.raise_(
            ctx,
            number,
            title,
            text,
            "automatic",
            nc.project,
            {"id": str(nc.id), "number": nc.number},
        )

        def once(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            cur.execute(
                "INSERT INTO qt_circular_triggers (trigger_event, circular_id, number)"
                " VALUES (%s, %s, %s)",
                (trigger_id, circular.id, number),
            )

        try:
            return self.service.record(circular, hooks=[once])
        except IntegrityError:
            log.info("circular for %s was raised by another run; skipped", trigger_id)
            return []
