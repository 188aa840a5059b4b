"""The events of an inspection (DOMAIN.md §2), each with how it changes the aggregate's state.

`Inspection` (domain/inspections.py) names each of them as a class attribute, so they are stored
as `domain.inspections:Inspection.<Name>`, as they always were.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.attachments import no_attachments
from domain.base import QAggregate

if TYPE_CHECKING:
    from domain.inspections import Inspection


class Scheduled(QAggregate.Created):
    number: str
    project: str
    kind: str
    template_id: str
    template_number: str
    template_version: int
    template_name: str
    items: list[dict[str, Any]]
    planned_for: str
    inspectors: list[str]
    reinspection_of: dict[str, str] | None
    links: list[dict[str, str]]


class Started(QAggregate.Event):
    def apply(self, i: Inspection) -> None:
        i.status = "in_progress"
        i.started_at = self.timestamp


class ItemScored(QAggregate.Event):
    item: str
    points: float | None
    result: str
    finding: str | None
    evidence: list[str]
    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)

    def apply(self, i: Inspection) -> None:
        i._set_score(
            self.item,
            self.points,
            self.result,
            self.finding,
            self.evidence,
            self.actor,
            self.timestamp,
        )


class ItemRescored(QAggregate.Event):
    item: str
    points: float | None
    result: str
    finding: str | None
    evidence: list[str]
    previous: dict[str, Any]
    #: Evidence files by digest (docs/attachments.md). Version 2 of the event added them;
    #: a version 1 event is upcast with none.
    attachments: list[str]
    class_version = 2
    upcast_v1_v2 = staticmethod(no_attachments)

    def apply(self, i: Inspection) -> None:
        it = i.item(self.item)
        it["history"].append(
            {**self.previous, "replaced_at": self.timestamp.isoformat(), "reason": self.reason}
        )
        i._set_score(
            self.item,
            self.points,
            self.result,
            self.finding,
            self.evidence,
            self.actor,
            self.timestamp,
        )


class Submitted(QAggregate.Event):
    score: float
    grade: str
    pay_adjustment_pct: float
    awarded: float
    applicable_max: float
    grading_policy: list[dict[str, Any]]
    failed_items: list[str]
    links: list[dict[str, str]]

    def apply(self, i: Inspection) -> None:
        i.status = "submitted"
        i.submitted_at = self.timestamp
        i._set_result(
            self.score, self.grade, self.pay_adjustment_pct, self.awarded, self.applicable_max
        )
        i.grading_policy = self.grading_policy
        for link in self.links:
            i.links.append(dict(link))
            i.raised_nonconformances.append(
                {
                    "item": link["item"],
                    "id": link["id"],
                    "number": link["number"],
                    "severity": link["severity"],
                    "overturned_on_appeal": False,
                }
            )


class Appealed(QAggregate.Event):
    items: list[str]

    def apply(self, i: Inspection) -> None:
        i.status = "appealed"
        i.appeal = {
            "items": list(self.items),
            "reason": self.reason,
            "by": dict(self.actor),
            "at": self.timestamp.isoformat(),
            "decision": None,
        }


class AppealDecided(QAggregate.Event):
    accepted: bool
    adjustments: list[dict[str, Any]]
    score: float
    grade: str
    pay_adjustment_pct: float
    awarded: float
    applicable_max: float
    previous: dict[str, Any]
    grading_policy: list[dict[str, Any]]
    links: list[dict[str, str]]

    def apply(self, i: Inspection) -> None:
        i.status = "appeal_decided"
        for adj in self.adjustments:
            it = i.item(adj["item"])
            it["history"].append(
                {
                    **adj["previous"],
                    "replaced_at": self.timestamp.isoformat(),
                    "reason": f"appeal: {self.reason}",
                }
            )
            it["points"] = adj["points"]
            it["result"] = adj["result"]
            it["scored_by"] = dict(self.actor)
            it["scored_at"] = self.timestamp.isoformat()
        overturned = {link["id"] for link in self.links}
        for nc in i.raised_nonconformances:
            if nc["id"] in overturned:
                nc["overturned_on_appeal"] = True
        i.links.extend(dict(link) for link in self.links)
        i._set_result(
            self.score, self.grade, self.pay_adjustment_pct, self.awarded, self.applicable_max
        )
        if i.appeal is not None:
            i.appeal["decision"] = {
                "accepted": self.accepted,
                "reason": self.reason,
                "by": dict(self.actor),
                "at": self.timestamp.isoformat(),
                "previous": dict(self.previous),
            }


class Finalized(QAggregate.Event):
    score: float
    grade: str
    pay_adjustment_pct: float

    def apply(self, i: Inspection) -> None:
        i.status = "finalized"
        i.finalized_at = self.timestamp


class Cancelled(QAggregate.Event):
    def apply(self, i: Inspection) -> None:
        i.status = "cancelled"
        i.cancelled_at = self.timestamp


# -- loop (issue #15): inspection plans and the missed-inspection deadline --------------
class Planned(QAggregate.Event):
    """The inspection belongs to a plan and is due by `due_at` (recorded with `Scheduled`)."""

    number: str
    project: str
    kind: str
    planned_for: str
    plan: dict[str, str]
    occurrence: str
    due_at: datetime
    links: list[dict[str, str]]

    def apply(self, i: Inspection) -> None:
        i.plan = dict(self.plan)
        i.occurrence = self.occurrence
        i.due_at = self.due_at
        i.links.extend(dict(link) for link in self.links)


class InspectionMissed(QAggregate.Event):
    """Not submitted by its due time: recorded once, by the deadline watcher (or by a late
    submission that finds it not yet recorded)."""

    project: str
    kind: str
    due_at: datetime

    def apply(self, i: Inspection) -> None:
        i.missed = True
