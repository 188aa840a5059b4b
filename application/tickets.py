"""Ticket use cases (DOMAIN.md §1): verbs in, ids and positions out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.attachments import AttachmentService
from application.base import Call, CommandResult
from application.processes import Processes
from application.service import CommandService
from domain.base import Ctx, id_for
from domain.calendars import BusinessCalendar
from domain.categories import Taxonomy
from domain.policies import (
    DEFAULT_SLA,
    DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE,
    validate_ticket_policy,
)
from domain.tickets import Ticket

#: The ticket field policy when none is configured (defaults of domain/policies.py).
_DEFAULT_FIELD_POLICY = validate_ticket_policy(None)


class TicketService:
    def __init__(
        self, service: CommandService, processes: Processes, attachments: AttachmentService
    ) -> None:
        self.service = service
        self.processes = processes
        self.attachments = attachments

    @property
    def sla_policy(self) -> dict[str, dict[str, int]]:
        return self.service.policies.get("sla", DEFAULT_SLA)

    @property
    def field_policy(self) -> dict[str, Any]:
        """Field steps, calendars, escalation ladder, callbacks (validate_ticket_policy)."""
        return self.service.policies.get("ticket") or _DEFAULT_FIELD_POLICY

    @property
    def taxonomy(self) -> Taxonomy:
        """The category taxonomy in force (ticket policy `categories`; domain/categories.py)."""
        taxonomy: Taxonomy = self.field_policy["categories"]
        return taxonomy

    def calendar_for(self, project: str) -> BusinessCalendar | None:
        """The project's business calendar (or the "*" one), None for round the clock."""
        policy = self.field_policy
        name = policy["project_calendars"].get(project, policy["project_calendars"].get("*"))
        return policy["calendars"].get(name) if name else None

    def receive(self, call: Call, **fields: Any) -> CommandResult:
        project = fields["project"]
        wanted = fields.pop("attachments", None)
        self.service.require_project_for(call, "ticket.receive", "project", project)
        policy = self.field_policy
        files: list[str] = []

        def build(ctx: Ctx) -> list[Ticket]:
            files[:] = self.attachments.require(call, wanted)
            number = self.service.next_number("ticket")
            return [
                Ticket.receive(
                    ctx,
                    number=number,
                    sla=self.sla_policy,
                    calendar=self.calendar_for(project),
                    response_ends=policy["response_ends"],
                    callback_minutes=policy["callback_minutes"],
                    attachments=files,
                    **fields,
                )
            ]

        return self.service.create(
            call,
            "ticket.receive",
            project,
            build,
            hooks=lambda ts: self.attachments.hooks(ts[0], "receive", files),
        )

    def dispatch(self, call: Call, ref: str, department: str, assignee: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.dispatch", Ticket, ref, lambda t, c: t.dispatch(c, department, assignee)
        )

    def accept(self, call: Call, ref: str) -> CommandResult:
        return self.service.execute(call, "ticket.accept", Ticket, ref, lambda t, c: t.accept(c))

    def transfer(
        self, call: Call, ref: str, department: str, assignee: str | None, reason: str
    ) -> CommandResult:
        return self.service.execute(
            call,
            "ticket.transfer",
            Ticket,
            ref,
            lambda t, c: t.transfer(c, department, assignee, reason),
        )

    def note(self, call: Call, ref: str, text: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.note", Ticket, ref, lambda t, c: t.add_note(c, text)
        )

    def resolve(
        self, call: Call, ref: str, resolution: str, attachments: list[str] | None = None
    ) -> CommandResult:
        """Record what was done; `attachments` are the "after" photos."""
        files: list[str] = []

        def step(t: Ticket, c: Ctx) -> None:
            files[:] = self.attachments.require(call, attachments)
            t.resolve(c, resolution, files)

        return self.service.execute(
            call,
            "ticket.resolve",
            Ticket,
            ref,
            step,
            hooks=lambda t: self.attachments.hooks(t, "resolve", files),
        )

    def callback(
        self,
        call: Call,
        ref: str,
        reached: bool,
        satisfied: bool | None,
        rating: int | None,
        comment: str | None,
        ratings: dict[str, int] | None = None,
    ) -> CommandResult:
        below = int(self.field_policy["callback_reopen_below"])
        return self.service.execute(
            call,
            "ticket.callback",
            Ticket,
            ref,
            lambda t, c: t.callback(c, reached, satisfied, rating, comment, ratings, below),
        )

    # -- the field steps (issue #16) -------------------------------------------------------
    def arrive(self, call: Call, ref: str, attachments: list[str] | None = None) -> CommandResult:
        """On site; `attachments` are the "before" photos."""
        files: list[str] = []

        def step(t: Ticket, c: Ctx) -> None:
            files[:] = self.attachments.require(call, attachments)
            t.arrive(c, files)

        return self.service.execute(
            call,
            "ticket.arrive",
            Ticket,
            ref,
            step,
            hooks=lambda t: self.attachments.hooks(t, "arrive", files),
        )

    def hold(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.hold", Ticket, ref, lambda t, c: t.hold(c, reason)
        )

    def resume(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call,
            "ticket.resume",
            Ticket,
            ref,
            lambda t, c: t.resume(c, reason, self.calendar_for(t.project)),
        )

    def reclassify(
        self,
        call: Call,
        ref: str,
        reason: str,
        kind: str | None = None,
        category: str | None = None,
        priority: str | None = None,
    ) -> CommandResult:
        return self.service.execute(
            call,
            "ticket.reclassify",
            Ticket,
            ref,
            lambda t, c: t.reclassify(
                c, reason, self.sla_policy, kind, category, priority, self.calendar_for(t.project)
            ),
        )

    def reject(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.reject", Ticket, ref, lambda t, c: t.reject(c, reason)
        )

    def reopen(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.reopen", Ticket, ref, lambda t, c: t.reopen(c, reason)
        )

    def close(self, call: Call, ref: str, override_reason: str | None) -> CommandResult:
        attempts = int(
            self.service.policies.get(
                "unreached_attempts_for_override", DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE
            )
        )
        return self.service.execute(
            call, "ticket.close", Ticket, ref, lambda t, c: t.close(c, override_reason, attempts)
        )

    def cancel(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.cancel", Ticket, ref, lambda t, c: t.cancel(c, reason)
        )

    def escalate(self, call: Call, ref: str, reason: str, severity: str) -> CommandResult:
        """Escalate to the quality department. The `Escalated` event names the nonconformance
        (its number is drawn first); `Processes` raises it once, caused by that event,
        inline here or by the tracked follower after a crash."""
        raised: dict[str, Any] = {}

        def step(t: Ticket, ctx: Ctx) -> None:
            number = raised.get("number") or self.service.next_number("nonconformance")
            raised["number"] = number
            t.escalate(ctx, reason, severity, id_for("nonconformance", number), number)

        result = self.service.execute(
            call,
            "ticket.escalate",
            Ticket,
            ref,
            step,
            extra=lambda t: {"nonconformance": dict(t.escalations[-1])},
        )
        return self.processes.follow_up(result, UUID(result.id), result.version)

    def get(self, call: Call, ref: str, version: int | None = None) -> Ticket:
        ticket = self.service.load(Ticket, ref, version)
        self.service.authorize(call, "ticket.read", ticket.project)
        return ticket
