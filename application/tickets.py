"""Ticket use cases (DOMAIN.md §1): verbs in, ids and positions out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.base import Call, CommandResult
from application.processes import Processes
from application.service import CommandService
from domain.base import Ctx, id_for
from domain.policies import DEFAULT_SLA, DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE
from domain.tickets import Ticket


class TicketService:
    def __init__(self, service: CommandService, processes: Processes) -> None:
        self.service = service
        self.processes = processes

    @property
    def sla_policy(self) -> dict[str, dict[str, int]]:
        return self.service.policies.get("sla", DEFAULT_SLA)

    def receive(self, call: Call, **fields: Any) -> CommandResult:
        project = fields["project"]
        self.service.require_project_for(call, "ticket.receive", "project", project)

        def build(ctx: Ctx) -> list[Ticket]:
            number = self.service.next_number("ticket")
            return [Ticket.receive(ctx, number=number, sla=self.sla_policy, **fields)]

        return self.service.create(call, "ticket.receive", project, build)

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

    def resolve(self, call: Call, ref: str, resolution: str) -> CommandResult:
        return self.service.execute(
            call, "ticket.resolve", Ticket, ref, lambda t, c: t.resolve(c, resolution)
        )

    def callback(
        self,
        call: Call,
        ref: str,
        reached: bool,
        satisfied: bool | None,
        rating: int | None,
        comment: str | None,
    ) -> CommandResult:
        return self.service.execute(
            call,
            "ticket.callback",
            Ticket,
            ref,
            lambda t, c: t.callback(c, reached, satisfied, rating, comment),
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
