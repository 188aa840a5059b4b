"""Nonconformances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.read_models.attachments import AttachmentRef
from api.read_models.common import IssueView, Link, Open, Page


class LinkedIssue(Open):
    direction: str
    rel: str
    id: str
    kind: str
    number: str | None


class NonconformanceView(IssueView):
    #: attach: the evidence files its steps named (docs/attachments.md).
    attachments: list[AttachmentRef] = []
    number: str
    project: str
    source: dict[str, Any]
    severity: str
    description: str
    department: str | None
    raised_at: datetime
    responsible_department: str | None
    responsible_person: str | None
    due_date: datetime | None
    noticed_at: datetime | None
    root_cause: str | None
    corrective_actions: list[str]
    preventive_actions: list[str]
    plan_status: str | None
    rectification: dict[str, Any] | None
    rectified_at: datetime | None
    verifications: list[dict[str, Any]]
    extension_request: dict[str, Any] | None
    overdue: bool
    closed_at: datetime | None
    closed_on_time: bool | None
    cancelled_at: datetime | None
    links: list[Link]
    linked_issues: list[LinkedIssue]


class NonconformanceRow(Open):
    id: str
    number: str
    version: int
    project: str
    region: str | None
    source: str
    source_number: str | None
    severity: str
    status: str
    department: str | None
    responsible_person: str | None
    due_date: datetime | None
    overdue: bool
    raised_at: datetime
    closed_at: datetime | None
    closed_on_time: bool | None
    updated_at: datetime


class NonconformancePage(Page):
    items: list[NonconformanceRow]
