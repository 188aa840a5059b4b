"""The events of a ticket (DOMAIN.md §1), each with how it changes the ticket's state.

`Ticket` (domain/tickets.py) names each of them as a class attribute, so they are stored
as `domain.tickets:Ticket.<Name>`, as they always were.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.base import QAggregate

if TYPE_CHECKING:
    from domain.tickets import Ticket


class Received(QAggregate.Created):
    number: str
    project: str
    kind: str
    channel: str
    priority: str
    category: str
    description: str
    reporter: dict[str, str]
    response_due: datetime
    resolution_due: datetime
    sla_policy: dict[str, int]


class Dispatched(QAggregate.Event):
    department: str
    assignee: str

    def apply(self, t: Ticket) -> None:
        t.status = "dispatched"
        t.department = self.department
        t.assignee = self.assignee
        if t.dispatched_at is None:
            t.dispatched_at = self.timestamp


class Accepted(QAggregate.Event):
    def apply(self, t: Ticket) -> None:
        t.status = "in_progress"
        t.accepted_at = t.accepted_at or self.timestamp


class Transferred(QAggregate.Event):
    from_department: str | None
    department: str
    assignee: str | None

    def apply(self, t: Ticket) -> None:
        t.status = "dispatched"
        t.department = self.department
        t.assignee = self.assignee
        t.transfers += 1
        if t.dispatched_at is None:
            t.dispatched_at = self.timestamp


class NoteAdded(QAggregate.Event):
    text: str

    def apply(self, t: Ticket) -> None:
        t.notes.append(
            {"text": self.text, "at": self.timestamp.isoformat(), "by": self.actor["name"]}
        )


class Resolved(QAggregate.Event):
    resolution: str

    def apply(self, t: Ticket) -> None:
        t.status = "resolved"
        t.resolution = self.resolution
        t.resolved_at = self.timestamp


class CallbackRecorded(QAggregate.Event):
    reached: bool
    satisfied: bool | None
    rating: int | None
    comment: str | None

    def apply(self, t: Ticket) -> None:
        t.callbacks.append(
            {
                "reached": self.reached,
                "satisfied": self.satisfied,
                "rating": self.rating,
                "comment": self.comment,
                "at": self.timestamp.isoformat(),
            }
        )
        if not self.reached:
            t.unreached_attempts += 1
        elif self.satisfied:
            t.status = "called_back"


class Reopened(QAggregate.Event):
    automatic: bool

    def apply(self, t: Ticket) -> None:
        t.status = "reopened"
        t.reopen_count += 1
        t.resolved_at = None
        t.unreached_attempts = 0


class Closed(QAggregate.Event):
    override: bool

    def apply(self, t: Ticket) -> None:
        t.status = "closed"
        t.closed_at = self.timestamp
        t.closed_by_override = self.override


class Cancelled(QAggregate.Event):
    def apply(self, t: Ticket) -> None:
        t.status = "cancelled"
        t.cancelled_at = self.timestamp


class Escalated(QAggregate.Event):
    severity: str
    nonconformance_id: UUID
    nonconformance_number: str

    def apply(self, t: Ticket) -> None:
        t.escalations.append(
            {"id": str(self.nonconformance_id), "number": self.nonconformance_number}
        )
        t.links.append(
            {
                "rel": "escalated_to",
                "kind": "nonconformance",
                "id": str(self.nonconformance_id),
                "number": self.nonconformance_number,
            }
        )


class SlaBreached(QAggregate.Event):
    phase: str  # response | resolution
    due_at: datetime

    def apply(self, t: Ticket) -> None:
        t.sla_breaches.append(self.phase)
