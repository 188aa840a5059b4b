"""Inspection plans (检查计划): which kind of inspection each project gets and when.

A plan is recorded once (`Adopted`) with everything it scheduled: for each project and
each occurrence of its recurrence (`domain.recurrence`), the number of the `Scheduled`
inspection written in the same transaction, its planned date and its due time. The
inspections are created at once for the whole span (at most 12 months), so the plan's
one event names every inspection it caused and nothing is scheduled twice. A plan can be
withdrawn (`Withdrawn`, with a reason); `application.inspection_plans` cancels, in the
same transaction, the inspections it scheduled that have not started and are not yet due
(docs/assessment.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.base import Ctx, QAggregate, id_for, require_choice, require_text
from domain.errors import InvalidValue
from domain.vocabulary import INSPECTION_KINDS, NUMBER_PREFIXES

#: Kinds a `rate` recurrence is for (夜间查岗, 神秘客户暗访); the others are calendar rules.
RATE_KINDS = ("night_check", "mystery_visit")


class InspectionPlan(QAggregate):
    KIND = "inspection_plan"
    PREFIX = NUMBER_PREFIXES["inspection_plan"]
    STATES = {"active": ("withdraw",), "withdrawn": ()}

    class Adopted(QAggregate.Created):
        number: str
        name: str
        kind: str
        recurrence: dict[str, Any]
        start_month: str
        months: int
        projects: list[str]
        region: str | None
        template: dict[str, Any]
        inspectors: list[str]
        occurrences: list[dict[str, Any]]

    class Withdrawn(QAggregate.Event):
        def apply(self, plan: InspectionPlan) -> None:
            plan.status = "withdrawn"
            plan.withdrawn_at = self.timestamp

    def __init__(
        self,
        number: str,
        name: str,
        kind: str,
        recurrence: dict[str, Any],
        start_month: str,
        months: int,
        projects: list[str],
        region: str | None,
        template: dict[str, Any],
        inspectors: list[str],
        occurrences: list[dict[str, Any]],
        timestamp: Any,
        **_: Any,
    ) -> None:
        self.number = number
        self.name = name
        self.kind = kind
        self.recurrence = dict(recurrence)
        self.start_month = start_month
        self.months = months
        self.projects = list(projects)
        self.region = region
        self.template = dict(template)
        self.inspectors = list(inspectors)
        self.occurrences = [dict(o) for o in occurrences]
        self.status = "active"
        self.created_at = timestamp
        self.withdrawn_at: datetime | None = None

    @property
    def project(self) -> str | None:
        """A plan over one project is that project's; a wider one is the region's (None)."""
        return self.projects[0] if len(self.projects) == 1 else None

    @classmethod
    def create(
        cls,
        ctx: Ctx,
        *,
        number: str,
        name: str,
        kind: str,
        recurrence: dict[str, Any],
        start_month: str,
        months: int,
        projects: list[str],
        region: str | None,
        template: dict[str, Any],
        inspectors: list[str],
        occurrences: list[dict[str, Any]],
    ) -> InspectionPlan:
        require_choice("kind", kind, INSPECTION_KINDS)
        if (recurrence["type"] == "rate") != (kind in RATE_KINDS):
            raise InvalidValue(
                "recurrence.type",
                "a rate recurrence is for night_check and mystery_visit, and those need one",
            )
        if not projects:
            raise InvalidValue("projects", "name at least one project (or a region with projects)")
        return cls._create(
            cls.Adopted,
            id=id_for(cls.KIND, number),
            number=number,
            name=require_text("name", name, 200),
            kind=kind,
            recurrence=dict(recurrence),
            start_month=start_month,
            months=months,
            projects=list(projects),
            region=region,
            template=dict(template),
            inspectors=list(inspectors),
            occurrences=[dict(o) for o in occurrences],
            **cls.meta(ctx),
        )

    def withdraw(self, ctx: Ctx, reason: str) -> None:
        self.check_step("withdraw")
        self.record(self.Withdrawn, ctx, require_text("reason", reason, 2000))
