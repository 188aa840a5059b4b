"""Tickets: customer requests and complaints (客户服务工单), DOMAIN.md §1."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain import ticket_events as events
from domain.base import Ctx, QAggregate, event_id, id_for, require_choice, require_text
from domain.errors import InvalidValue, RuleViolation
from domain.policies import DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE
from domain.vocabulary import (
    CHANNELS,
    DEPARTMENTS,
    NUMBER_PREFIXES,
    PRIORITIES,
    SEVERITIES,
    TICKET_KINDS,
)

_ALWAYS = ("note",)


class Ticket(QAggregate):
    KIND = "ticket"
    PREFIX = NUMBER_PREFIXES["ticket"]
    STATES = {
        "received": ("dispatch", "cancel", "escalate", *_ALWAYS),
        "dispatched": ("accept", "dispatch", "transfer", "cancel", "escalate", *_ALWAYS),
        "in_progress": ("resolve", "transfer", "cancel", "escalate", *_ALWAYS),
        "resolved": ("callback", "close", "reopen", "escalate", *_ALWAYS),
        "called_back": ("close", "reopen", "escalate", *_ALWAYS),
        "reopened": ("dispatch", "accept", "transfer", "cancel", "escalate", *_ALWAYS),
        "closed": ("escalate", *_ALWAYS),
        "cancelled": _ALWAYS,
    }

    # -- events (domain/ticket_events.py) ---------------------------------------------
    Received = events.Received
    Dispatched = events.Dispatched
    Accepted = events.Accepted
    Transferred = events.Transferred
    NoteAdded = events.NoteAdded
    Resolved = events.Resolved
    CallbackRecorded = events.CallbackRecorded
    Reopened = events.Reopened
    Closed = events.Closed
    Cancelled = events.Cancelled
    Escalated = events.Escalated
    SlaBreached = events.SlaBreached

    # -- state -------------------------------------------------------------------
    def __init__(
        self,
        number: str,
        project: str,
        kind: str,
        channel: str,
        priority: str,
        category: str,
        description: str,
        reporter: dict[str, str],
        response_due: datetime,
        resolution_due: datetime,
        sla_policy: dict[str, int],
        timestamp: datetime,
        **_: Any,
    ) -> None:
        self.number = number
        self.project = project
        self.kind = kind
        self.channel = channel
        self.priority = priority
        self.category = category
        self.description = description
        self.reporter = dict(reporter)
        self.response_due = response_due
        self.resolution_due = resolution_due
        self.sla_policy = dict(sla_policy)
        self.status = "received"
        self.received_at = timestamp
        self.department: str | None = None
        self.assignee: str | None = None
        self.dispatched_at: datetime | None = None
        self.accepted_at: datetime | None = None
        #: The resolution that stands (the latest); a reopen clears it. Resolution time and
        #: the resolution SLA measure it, here and in the KPIs (projections/kpis/tickets.py).
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.closed_by_override = False
        self.resolution: str | None = None
        self.callbacks: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.unreached_attempts = 0
        self.reopen_count = 0
        self.transfers = 0
        self.escalations: list[dict[str, str]] = []
        self.links: list[dict[str, str]] = []
        self.sla_breaches: list[str] = []

    # -- commands ----------------------------------------------------------------
    @classmethod
    def receive(
        cls,
        ctx: Ctx,
        *,
        number: str,
        project: str,
        kind: str,
        channel: str,
        priority: str,
        category: str,
        description: str,
        reporter: dict[str, Any],
        sla: dict[str, dict[str, int]],
    ) -> Ticket:
        require_choice("kind", kind, TICKET_KINDS)
        require_choice("channel", channel, CHANNELS)
        require_choice("priority", priority, PRIORITIES)
        category = require_text("category", category, 200)
        description = require_text("description", description, 4000)
        if not isinstance(reporter, dict):
            raise InvalidValue("reporter", "is required")
        rep = {
            "name": require_text("reporter.name", reporter.get("name"), 100),
            "unit": require_text("reporter.unit", reporter.get("unit"), 100),
            "phone": require_text("reporter.phone", reporter.get("phone"), 40),
        }
        response_min = sla["response"][priority]
        resolution_min = sla["resolution"][priority]
        return cls._create(
            cls.Received,
            id=id_for("ticket", number),
            number=number,
            project=project,
            kind=kind,
            channel=channel,
            priority=priority,
            category=category,
            description=description,
            reporter=rep,
            response_due=ctx.now + timedelta(minutes=response_min),
            resolution_due=ctx.now + timedelta(minutes=resolution_min),
            sla_policy={"response_minutes": response_min, "resolution_minutes": resolution_min},
            **cls.meta(ctx),
        )

    def dispatch(self, ctx: Ctx, department: str, assignee: str) -> None:
        self.check_step("dispatch")
        require_choice("department", department, DEPARTMENTS)
        assignee = require_text("assignee", assignee, 100)
        self.record(self.Dispatched, ctx, department=department, assignee=assignee)

    def accept(self, ctx: Ctx) -> None:
        self.check_step("accept")
        if self.department is None:
            raise RuleViolation(
                self.KIND,
                self.status,
                "accept",
                "the ticket has no department yet; dispatch it first",
                ["dispatch"],
            )
        self.record(self.Accepted, ctx)

    def transfer(self, ctx: Ctx, department: str, assignee: str | None, reason: str) -> None:
        self.check_step("transfer")
        require_choice("department", department, DEPARTMENTS)
        reason = require_text("reason", reason, 2000)
        if assignee is not None:
            assignee = require_text("assignee", assignee, 100)
        self.record(
            self.Transferred,
            ctx,
            reason,
            from_department=self.department,
            department=department,
            assignee=assignee,
        )

    def add_note(self, ctx: Ctx, text: str) -> None:
        self.check_step("note")
        self.record(self.NoteAdded, ctx, text=require_text("text", text, 4000))

    def resolve(self, ctx: Ctx, resolution: str) -> None:
        self.check_step("resolve")
        self.record(self.Resolved, ctx, resolution=require_text("resolution", resolution, 4000))

    def callback(
        self,
        ctx: Ctx,
        reached: bool,
        satisfied: bool | None,
        rating: int | None,
        comment: str | None,
    ) -> None:
        """Record a callback (回访). An unsatisfied callback reopens the ticket."""
        self.check_step("callback")
        if self.status == "called_back":
            raise RuleViolation(
                self.KIND,
                self.status,
                "callback",
                "a satisfied callback is already recorded",
                self.allowed_steps(),
            )
        if not isinstance(reached, bool):
            raise InvalidValue("reached", "must be true or false")
        if reached and not isinstance(satisfied, bool):
            raise InvalidValue("satisfied", "is required when the resident was reached")
        if not reached and (satisfied is not None or rating is not None):
            raise InvalidValue("satisfied", "cannot be given when the resident was not reached")
        if rating is not None and (
            not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5
        ):
            raise InvalidValue("rating", "must be an integer from 1 to 5")
        if comment is not None:
            comment = require_text("comment", comment, 2000)
        self.record(
            self.CallbackRecorded,
            ctx,
            reached=reached,
            satisfied=satisfied if reached else None,
            rating=rating,
            comment=comment,
        )
        if reached and satisfied is False:
            self.record(
                self.Reopened,
                ctx.caused_by(event_id(self.id, self.version)),
                "unsatisfied callback",
                automatic=True,
            )

    def reopen(self, ctx: Ctx, reason: str) -> None:
        self.check_step("reopen")
        self.record(self.Reopened, ctx, require_text("reason", reason, 2000), automatic=False)

    def close(
        self,
        ctx: Ctx,
        override_reason: str | None = None,
        min_unreached: int = DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE,
    ) -> None:
        """Close after a satisfied callback, or by a supervisor's override after unreached callbacks."""
        self.check_step("close")
        if override_reason is None:
            if self.status != "called_back":
                raise RuleViolation(
                    self.KIND,
                    self.status,
                    "close",
                    "closing needs a satisfied callback, or a supervisor's override_reason after "
                    f"{min_unreached} unreached callback attempts (now {self.unreached_attempts})",
                    self.allowed_steps(),
                )
            self.record(self.Closed, ctx, override=False)
            return
        reason = require_text("override_reason", override_reason, 2000)
        if ctx.actor.role != "supervisor":
            raise RuleViolation(
                self.KIND,
                self.status,
                "close",
                "only a supervisor may close with an override",
                self.allowed_steps(),
            )
        if self.status != "called_back" and self.unreached_attempts < min_unreached:
            raise RuleViolation(
                self.KIND,
                self.status,
                "close",
                f"an override needs {min_unreached} unreached callback attempts; "
                f"{self.unreached_attempts} recorded",
                self.allowed_steps(),
            )
        self.record(self.Closed, ctx, reason, override=True)

    def cancel(self, ctx: Ctx, reason: str) -> None:
        self.check_step("cancel")
        self.record(self.Cancelled, ctx, require_text("reason", reason, 2000))

    def escalate(self, ctx: Ctx, reason: str, severity: str, nc_id: UUID, nc_number: str) -> None:
        self.check_step("escalate")
        reason = require_text("reason", reason, 2000)
        require_choice("severity", severity, SEVERITIES)
        if self.escalations:
            raise RuleViolation(
                self.KIND,
                self.status,
                "escalate",
                f"already escalated to {self.escalations[0]['number']}",
                self.allowed_steps(),
            )
        self.record(
            self.Escalated,
            ctx,
            reason,
            severity=severity,
            nonconformance_id=nc_id,
            nonconformance_number=nc_number,
        )

    # -- deadlines ---------------------------------------------------------------
    def due_breaches(self, now: datetime) -> list[tuple[str, datetime]]:
        """SLA phases whose due time passed before the step was done and not yet recorded:
        response = the first dispatch, resolution = the resolution that stands."""
        out: list[tuple[str, datetime]] = []
        if self.status == "cancelled":
            return out
        if "response" not in self.sla_breaches:
            done = self.dispatched_at
            if (done is None and now > self.response_due) or (
                done is not None and done > self.response_due
            ):
                out.append(("response", self.response_due))
        if "resolution" not in self.sla_breaches:
            # The resolution that stands: a reopen (an unsatisfied callback) says the request
            # was not resolved, clears `resolved_at`, and the clock runs on until the next one.
            done = self.resolved_at
            if (done is None and now > self.resolution_due and self.status != "closed") or (
                done is not None and done > self.resolution_due
            ):
                out.append(("resolution", self.resolution_due))
        return out

    def record_breach(self, ctx: Ctx, phase: str, due_at: datetime) -> None:
        if phase in self.sla_breaches:
            return
        self.record(self.SlaBreached, ctx, phase=phase, due_at=due_at)
