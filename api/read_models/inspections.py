"""Checklist templates and inspections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from api.read_models.attachments import AttachmentRef
from api.read_models.common import Actor, IssueRef, IssueView, Link, Open, Page


class TemplateView(IssueView):
    number: str
    name: str
    sections: list[dict[str, Any]]
    draft_revision: int
    latest_version: int | None
    versions: dict[str, Any]


class TemplateRow(Open):
    id: str
    number: str
    version: int
    name: str
    status: str
    latest_version: int | None
    draft_revision: int
    sections: int
    items: int
    created_at: datetime
    updated_at: datetime


class TemplatePage(Page):
    items: list[TemplateRow]


# -- inspections ---------------------------------------------------------------------------
class InspectionItem(Open):
    section: str
    section_name: str
    code: str
    requirement: str
    max_points: float
    critical: bool
    points: float | None
    result: str | None
    finding: str | None
    evidence: list[str]
    scored_at: datetime | None
    scored_by: Actor | None


class RaisedNonconformance(Open):
    item: str
    id: str
    number: str | None


class InspectionView(IssueView):
    #: attach: the evidence files its steps named (docs/attachments.md).
    attachments: list[AttachmentRef] = []
    number: str
    project: str
    kind: str
    template_id: str
    template_number: str
    template_version: int
    template_name: str
    planned_for: date
    inspectors: list[str]
    reinspection_of: IssueRef | None
    items: list[InspectionItem]
    scheduled_at: datetime
    started_at: datetime | None
    submitted_at: datetime | None
    finalized_at: datetime | None
    cancelled_at: datetime | None
    score: float | None
    grade: str | None
    pay_adjustment_pct: float | None
    raised_nonconformances: list[RaisedNonconformance]
    appeal: dict[str, Any] | None
    links: list[Link]
    linked_from: list[Link]


class InspectionRow(Open):
    id: str
    number: str
    version: int
    project: str
    region: str | None
    kind: str
    status: str
    template_id: str
    template_version: int
    planned_for: date
    month: str
    inspectors: list[str]
    reinspection_of: str | None
    items_total: int
    items_scored: int
    score: float | None
    grade: str | None
    pay_adjustment_pct: float | None
    nonconformances_raised: int
    scheduled_at: datetime
    submitted_at: datetime | None
    finalized_at: datetime | None
    updated_at: datetime


class InspectionPage(Page):
    items: list[InspectionRow]
