"""Staff and their skills, and dispatch suggestions built from them (issue #16 item 6)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from application.base import Call, CommandResult
from application.errors import Conflict
from application.service import CommandService
from domain.base import Ctx, QAggregate
from domain.categories import DEFAULT, Taxonomy
from domain.dispatch import DISPATCH_POLICY, Candidate, suggest
from domain.staff import StaffMember, staff_id
from domain.tickets import Ticket

#: (project, resolved since) -> the project's staff as the read side knows them now.
CandidateReader = Callable[[str, datetime], list[Candidate]]

#: The steps that (re)assign a ticket: suggestions are offered only where one is allowed.
ASSIGNING_STEPS = ("dispatch", "transfer")


class StaffService:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    @property
    def taxonomy(self) -> Taxonomy:
        """The category taxonomy skills are codes of and tickets are classified by: the
        ticket policy's `categories` when it carries one (complaint analysis, issue #16
        item 5), else the default of domain/categories.py."""
        taxonomy = (self.service.policies.get("ticket") or {}).get("categories")
        return taxonomy if isinstance(taxonomy, Taxonomy) else DEFAULT

    @property
    def policy(self) -> dict[str, Any]:
        """The scoring table (`domain.dispatch.DISPATCH_POLICY` unless configured)."""
        return self.service.policies.get("dispatch") or DISPATCH_POLICY

    def register(
        self,
        call: Call,
        user_id: str,
        name: str,
        project: str,
        department: str,
        skills: list[str] | None = None,
    ) -> CommandResult:
        self.service.require_project_for(call, "staff.register", "project", project)

        def taken(_: Any = None) -> Conflict:
            return Conflict("staff", "active", f"staff member {user_id} is already registered")

        def build(ctx: Ctx) -> list[QAggregate]:
            if self.service.exists(StaffMember, str(staff_id(user_id))):
                raise taken()
            return [
                StaffMember.register(ctx, user_id, name, project, department, skills, self.taxonomy)
            ]

        # Two registrations of one user racing: the store refuses the second id (409).
        return self.service.create(call, None, project, build, exists=taken)

    def set_skills(self, call: Call, ref: str, skills: list[str]) -> CommandResult:
        return self.service.execute(
            call,
            "staff.skills",
            StaffMember,
            ref,
            lambda s, c: s.set_skills(c, skills, self.taxonomy),
        )

    def move(
        self, call: Call, ref: str, project: str, department: str, reason: str
    ) -> CommandResult:
        """调岗: the caller must be in scope of the staff member's project (else 404, as for
        any command on them) and of the project they move to (else 422, as if unknown)."""

        def step(s: StaffMember, c: Ctx) -> None:
            self.service.require_project_for(call, "staff.move", "project", project)
            s.move(c, project, department, reason)

        return self.service.execute(call, "staff.move", StaffMember, ref, step)

    def leave(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call, "staff.leave", StaffMember, ref, lambda s, c: s.leave(c, reason)
        )

    def rejoin(
        self, call: Call, ref: str, project: str, department: str, reason: str
    ) -> CommandResult:
        def step(s: StaffMember, c: Ctx) -> None:
            self.service.require_project_for(call, "staff.rejoin", "project", project)
            s.rejoin(c, project, department, reason)

        return self.service.execute(call, "staff.rejoin", StaffMember, ref, step)

    def suggestions(self, call: Call, ref: str, read: CandidateReader) -> dict[str, Any]:
        """The project's staff ranked for ticket `ref`: 404 outside the caller's scope (as
        `GET /tickets/{id}`), 409 when the ticket's state allows no dispatch or transfer."""
        ticket = self.service.load(Ticket, ref)
        self.service.authorize(call, "ticket.suggest_dispatch", ticket.project)
        allowed = ticket.allowed_steps()
        if not any(step in allowed for step in ASSIGNING_STEPS):
            raise Conflict(
                "ticket",
                ticket.status,
                f"ticket {ticket.number} is {ticket.status}: it can be neither dispatched nor"
                " transferred, so there is nobody to suggest",
                allowed,
            )
        now = self.service.clock()
        policy = self.policy
        since = now - timedelta(days=int(policy["resolution"]["window_days"]))
        cat = self.taxonomy.classify(ticket.category)
        # Who rejected this ticket back to dispatch, and how often (its own events).
        rejected = Counter(
            str(e.assignee)
            for e in self.service.store.events.get(ticket.id)
            if isinstance(e, Ticket.Rejected)
        )
        items = suggest(
            ticket.category, read(ticket.project, since), self.taxonomy, policy, dict(rejected)
        )
        for item in items:  # a transfer or re-dispatch: who has the ticket now
            item["current_assignee"] = item["staff_id"] == ticket.assignee
        return {
            "ticket": {
                "id": str(ticket.id),
                "number": ticket.number,
                "project": ticket.project,
                "status": ticket.status,
                "category": ticket.category,
                "category_code": cat.code,
                "category_path": cat.path,
                "department": ticket.department,
                "assignee": ticket.assignee,
            },
            "as_of": now,
            "policy": policy,
            "items": items,
        }
