"""The events of a nonconformance (DOMAIN.md §3), each with how it changes the aggregate's state.

`Nonconformance` (domain/nonconformances.py) names each of them as a class attribute, so they are stored
as `domain.nonconformances:Nonconformance.<Name>`, as they always were.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.attachments import no_attachments
from domain.base import QAggregate, event_id

if TYPE_CHECKING:
    from domain.nonconformances import Nonconformance


class Raised(QAggregate.Created):
    number: str
    project: str
    source: dict[str, Any]
    severity: str
    description: str
    department: str | None


class RecurrenceMarked(QAggregate.Event):
    recurrence_of: dict[str, Any]
    links: list[dict[str, str]]

    def apply(self, nc: Nonconformance) -> None:
        nc.recurrence_of = dict(self.recurrence_of)
        nc.links.extend(dict(link) for link in self.links)


class NoticeIssued(QAggregate.Event):
    notice_no: int
    responsible_department: str
    responsible_person: str
    due_date: datetime
    escalation_level: str
    deduction: bool

    def apply(self, nc: Nonconformance) -> None:
        nc.status = "noticed"
        nc.notice_count = self.notice_no
        nc.responsible_department = self.responsible_department
        nc.responsible_person = self.responsible_person
        nc.due_date = self.due_date
        nc.due_set_by = event_id(self.originator_id, self.originator_version)
        nc.escalation_level = self.escalation_level
        nc.deduction = nc.deduction or self.deduction
        nc.noticed_at = nc.noticed_at or self.timestamp
        nc.overdue = False
        nc.rectified_at = None
        nc.plan_status = None
        nc.extension_request = None


class RootCauseAnalysed(QAggregate.Event):
    analysis: str

    def apply(self, nc: Nonconformance) -> None:
        nc.status = "analysed"
        nc.root_cause = self.analysis


class PlanSubmitted(QAggregate.Event):
    corrective_actions: list[str]
    preventive_actions: list[str]

    def apply(self, nc: Nonconformance) -> None:
        nc.status = "planned"
        nc.corrective_actions = list(self.corrective_actions)
        nc.preventive_actions = list(self.preventive_actions)
        nc.plan_status = "submitted"


class PlanApproved(QAggregate.Event):
    def apply(self, nc: Nonconformance) -> None:
        nc.status = "plan_approved"
        nc.plan_status = "approved"


class PlanSentBack(QAggregate.Event):
    def apply(self, nc: Nonconformance) -> None:
        nc.status = "analysed"
        nc.plan_status = "sent_back"


class RectificationReported(QAggregate.Event):
    summary: str
    evidence: list[str]
    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)

    def apply(self, nc: Nonconformance) -> None:
        nc.status = "rectified"
        nc.rectification = {"summary": self.summary, "evidence": list(self.evidence)}
        nc.rectified_at = self.timestamp
        nc.overdue = False


class Verified(QAggregate.Event):
    effective: bool
    notes: str | None
    links: list[dict[str, str]]
    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)

    def apply(self, nc: Nonconformance) -> None:
        nc.verifications.append(
            {
                "effective": self.effective,
                "notes": self.notes,
                "at": self.timestamp.isoformat(),
                "by": self.actor["name"],
                "inspection": self.links[0]["number"] if self.links else None,
            }
        )
        nc.links.extend(dict(link) for link in self.links)


class Closed(QAggregate.Event):
    on_time: bool

    def apply(self, nc: Nonconformance) -> None:
        nc.status = "closed"
        nc.closed_at = self.timestamp
        nc.closed_on_time = self.on_time
        nc.overdue = False


class ExtensionRequested(QAggregate.Event):
    new_due_date: datetime
    remedial_measures: str

    def apply(self, nc: Nonconformance) -> None:
        nc.extension_request = {
            "new_due_date": self.new_due_date.isoformat(),
            "remedial_measures": self.remedial_measures,
            "reason": self.reason,
            "requested_by": self.actor["name"],
            "at": self.timestamp.isoformat(),
        }


class ExtensionApproved(QAggregate.Event):
    previous_due_date: datetime
    due_date: datetime

    def apply(self, nc: Nonconformance) -> None:
        nc.due_date = self.due_date
        nc.due_set_by = event_id(self.originator_id, self.originator_version)
        nc.extension_request = None
        nc.extensions += 1
        nc.overdue = False


class ExtensionRejected(QAggregate.Event):
    def apply(self, nc: Nonconformance) -> None:
        nc.extension_request = None


class Overdue(QAggregate.Event):
    due_date: datetime

    def apply(self, nc: Nonconformance) -> None:
        nc.overdue = True
        nc.overdue_dues.append(self.due_date.isoformat())


class DispositionDecided(QAggregate.Event):
    disposition: str
    notes: str | None

    def apply(self, nc: Nonconformance) -> None:
        nc.disposition = self.disposition


class Cancelled(QAggregate.Event):
    def apply(self, nc: Nonconformance) -> None:
        nc.status = "cancelled"
        nc.cancelled_at = self.timestamp
        nc.overdue = False


class DeductionRecorded(QAggregate.Event):
    """Points off the project's next assessment for a re-check found not effective (seed 003:
    "同时在下次考核中给予扣分"), at every failed verification; `policy` is the table it used."""

    project: str
    points: float
    rule: str
    policy: dict[str, Any]

    def apply(self, nc: Nonconformance) -> None:
        if not hasattr(nc, "deductions"):
            nc.deductions = []
        nc.deductions.append(
            {
                "rule": self.rule,
                "points": self.points,
                "at": self.timestamp.isoformat(),
                "event": event_id(self.originator_id, self.originator_version),
            }
        )
