"""The events of a ticket (DOMAIN.md §1), each with how it changes the ticket's state.

`Ticket` (domain/tickets.py) names each of them as a class attribute, so they are stored
as `domain.tickets:Ticket.<Name>`, as they always were.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.attachments import no_attachments
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
    sla_policy: dict[str, Any]
    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)


class Dispatched(QAggregate.Event):
    department: str
    assignee: str

    def apply(self, t: Ticket) -> None:
        t.status = "dispatched"
        t.department = self.department
        t.assignee = self.assignee
        t.on_site = False
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
        t.on_site = False
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
    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)

    def apply(self, t: Ticket) -> None:
        t.status = "resolved"
        t.resolution = self.resolution
        t.resolved_at = self.timestamp


class CallbackRecorded(QAggregate.Event):
    reached: bool
    satisfied: bool | None
    rating: int | None
    comment: str | None
    #: {speed, quality, attitude} (及时性, 质量, 态度), each 1-5, or None. Version 2 of the
    #: event; a version 1 event (stored before the three ratings) is upcast with None.
    ratings: dict[str, int] | None

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["ratings"] = None

    def apply(self, t: Ticket) -> None:
        t.callbacks.append(
            {
                "reached": self.reached,
                "satisfied": self.satisfied,
                "rating": self.rating,
                "ratings": dict(self.ratings) if self.ratings else None,
                "comment": self.comment,
                "at": self.timestamp.isoformat(),
            }
        )
        if not self.reached:
            t.unreached_attempts += 1
        else:
            t.callback_done_at = t.callback_done_at or self.timestamp
            if self.satisfied:
                t.status = "called_back"


class Reopened(QAggregate.Event):
    automatic: bool

    def apply(self, t: Ticket) -> None:
        t.status = "reopened"
        t.reopen_count += 1
        t.resolved_at = None
        t.unreached_attempts = 0
        t.callback_done_at = None
        t.on_site = False


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
        t.sla_levels[self.phase] = max(t.sla_levels.get(self.phase, 0), 1)


# -- the field steps (issue #16) -----------------------------------------------------------
class Arrived(QAggregate.Event):
    """The assignee arrived on site (到达现场); arrival implies acceptance."""

    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)

    def apply(self, t: Ticket) -> None:
        t.status = "in_progress"
        t.on_site = True
        t.arrived_at = t.arrived_at or self.timestamp
        t.accepted_at = t.accepted_at or self.timestamp


class PutOnHold(QAggregate.Event):
    """挂起: waiting for parts or for the resident (the reason is the event's `reason`)."""

    def apply(self, t: Ticket) -> None:
        t.status = "on_hold"
        t.on_hold_since = self.timestamp
        t.holds.append(
            {
                "from": self.timestamp.isoformat(),
                "to": None,
                "reason": self.reason,
                "by": self.actor["name"],
                "paused_seconds": None,
            }
        )


class Resumed(QAggregate.Event):
    """Back to work. `paused_seconds` is the SLA time the hold took (working time on a
    business calendar), by which the resolution due time moved."""

    paused_seconds: float
    previous_resolution_due: datetime
    resolution_due: datetime

    def apply(self, t: Ticket) -> None:
        t.status = "in_progress"
        t.on_hold_since = None
        t.paused_seconds += self.paused_seconds
        t.resolution_due = self.resolution_due
        if t.holds:
            t.holds[-1] = {
                **t.holds[-1],
                "to": self.timestamp.isoformat(),
                "paused_seconds": self.paused_seconds,
            }


class Reclassified(QAggregate.Event):
    """Kind, category or priority corrected; when the priority changes the SLA due times
    are recomputed from this moment (both old and new are kept in `due_history`)."""

    previous: dict[str, str]
    kind: str
    category: str
    priority: str
    previous_response_due: datetime
    previous_resolution_due: datetime
    response_due: datetime
    resolution_due: datetime
    sla_policy: dict[str, Any]

    def apply(self, t: Ticket) -> None:
        t.kind, t.category, t.priority = self.kind, self.category, self.priority
        t.response_due, t.resolution_due = self.response_due, self.resolution_due
        t.sla_policy = dict(self.sla_policy)
        t.due_history.append(
            {
                "at": self.timestamp.isoformat(),
                "by": self.actor["name"],
                "reason": self.reason,
                "previous": dict(self.previous),
                "previous_response_due": self.previous_response_due.isoformat(),
                "previous_resolution_due": self.previous_resolution_due.isoformat(),
                "response_due": self.response_due.isoformat(),
                "resolution_due": self.resolution_due.isoformat(),
            }
        )


class Rejected(QAggregate.Event):
    """拒单: the assignee hands the ticket back to dispatch, with a reason."""

    department: str | None
    assignee: str

    def apply(self, t: Ticket) -> None:
        t.status = "rejected"
        t.assignee = None
        t.on_site = False
        t.rejections += 1


class SlaEscalated(QAggregate.Event):
    """A breached SLA phase escalated to a level of the policy's ladder (level 1 to the
    supervisor, level 2 to the project manager by default). Not `Escalated`: that one is
    the escalation to the quality department, which raises a nonconformance."""

    phase: str
    level: int
    to: str
    due_at: datetime

    def apply(self, t: Ticket) -> None:
        t.sla_levels[self.phase] = max(t.sla_levels.get(self.phase, 0), self.level + 1)
        t.sla_escalations.append(
            {
                "phase": self.phase,
                "level": self.level,
                "to": self.to,
                "at": self.timestamp.isoformat(),
            }
        )
