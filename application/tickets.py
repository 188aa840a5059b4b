"""Ticket use cases (DOMAIN.md §1): verbs in, ids and positions out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from application.base import Call, CommandResult, QualtraceBase
from application.org import OrgCommands
from domain.base import Ctx, id_for
from domain.policies import DEFAULT_SLA, DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE
from domain.tickets import Ticket


class TicketCommands(OrgCommands, QualtraceBase):
    if TYPE_CHECKING:  # provided by NonconformanceCommands in the composed application

        def follow_up(
            self, result: CommandResult, issue_id: UUID, version: int
        ) -> CommandResult: ...

    @property
    def sla_policy(self) -> dict[str, dict[str, int]]:
        return self.policies.get("sla", DEFAULT_SLA)

    def receive_ticket(self, call: Call, **fields: Any) -> CommandResult:
        project = fields["project"]
        self.require_project("project", project)

        def build(ctx: Ctx) -> list[Ticket]:
            return [
                Ticket.receive(
                    ctx, number=self.next_number("ticket"), sla=self.sla_policy, **fields
                )
            ]

        return self.create(call, "ticket.receive", project, build)

    def dispatch_ticket(
        self, call: Call, ref: str, department: str, assignee: str
    ) -> CommandResult:
        return self.execute(
            call, "ticket.dispatch", Ticket, ref, lambda t, c: t.dispatch(c, department, assignee)
        )

    def accept_ticket(self, call: Call, ref: str) -> CommandResult:
        return self.execute(call, "ticket.accept", Ticket, ref, lambda t, c: t.accept(c))

    def transfer_ticket(
        self, call: Call, ref: str, department: str, assignee: str | None, reason: str
    ) -> CommandResult:
        return self.execute(
            call,
            "ticket.transfer",
            Ticket,
            ref,
            lambda t, c: t.transfer(c, department, assignee, reason),
        )

    def note_ticket(self, call: Call, ref: str, text: str) -> CommandResult:
        return self.execute(call, "ticket.note", Ticket, ref, lambda t, c: t.add_note(c, text))

    def resolve_ticket(self, call: Call, ref: str, resolution: str) -> CommandResult:
        return self.execute(
            call, "ticket.resolve", Ticket, ref, lambda t, c: t.resolve(c, resolution)
        )

    def callback_ticket(
        self,
        call: Call,
        ref: str,
        reached: bool,
        satisfied: bool | None,
        rating: int | None,
        comment: str | None,
    ) -> CommandResult:
        return self.execute(
            call,
            "ticket.callback",
            Ticket,
            ref,
            lambda t, c: t.callback(c, reached, satisfied, rating, comment),
        )

    def reopen_ticket(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.execute(call, "ticket.reopen", Ticket, ref, lambda t, c: t.reopen(c, reason))

    def close_ticket(self, call: Call, ref: str, override_reason: str | None) -> CommandResult:
        attempts = int(
            self.policies.get(
                "unreached_attempts_for_override", DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE
            )
        )
        return self.execute(
            call, "ticket.close", Ticket, ref, lambda t, c: t.close(c, override_reason, attempts)
        )

    def cancel_ticket(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.execute(call, "ticket.cancel", Ticket, ref, lambda t, c: t.cancel(c, reason))

    def escalate_ticket(self, call: Call, ref: str, reason: str, severity: str) -> CommandResult:
        """Escalate to the quality department. The `Escalated` event names the nonconformance
        (its number is drawn first); the process in `NonconformanceCommands` raises it once,
        caused by that event, inline here or by the tracked follower after a crash."""
        raised: dict[str, Any] = {}

        def step(t: Ticket, ctx: Ctx) -> None:
            number = raised.get("number") or self.next_number("nonconformance")
            raised["number"] = number
            raised["id"] = str(id_for("nonconformance", number))
            t.escalate(ctx, reason, severity, id_for("nonconformance", number), number)

        result = self.execute(
            call,
            "ticket.escalate",
            Ticket,
            ref,
            step,
            extra=lambda t: {"nonconformance": dict(t.escalations[-1])},
        )
        return self.follow_up(result, UUID(result.id), result.version)

    def get_ticket(self, call: Call, ref: str, version: int | None = None) -> Ticket:
        ticket = self.load(Ticket, ref, version)
        self.authorize(call, "ticket.read", ticket.project)
        return ticket

    def record_sla_breaches(self, ctx: Ctx, ref: str) -> int:
        """Deadline watcher step: record each passed SLA phase once (idempotent by state)."""
        ticket = self.load(Ticket, ref)
        breaches = ticket.due_breaches(ctx.now)
        for phase, due in breaches:
            ticket.record_breach(ctx, phase, due)
        if breaches:
            self.save(ticket)
        return len(breaches)
