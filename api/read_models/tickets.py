"""Tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.read_models.attachments import AttachmentRef
from api.read_models.common import IssueRef, IssueView, Link, Open, Page


class TicketReporter(Open):
    name: str
    unit: str
    phone: str


class TicketNote(Open):
    text: str
    at: datetime
    by: str | None


class TicketView(IssueView):
    #: attach: the evidence files its steps named (docs/attachments.md).
    attachments: list[AttachmentRef] = []
    number: str
    project: str
    kind: str
    channel: str
    priority: str
    category: str
    #: The category as the taxonomy in force classifies it: l1, l1_name, l2, l2_name,
    #: code, path, known (docs/complaints.md).
    category_class: dict[str, Any] | None = None
    description: str
    reporter: TicketReporter
    personal_data: str
    department: str | None
    assignee: str | None
    received_at: datetime
    response_due: datetime
    resolution_due: datetime
    dispatched_at: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    resolution: str | None
    closed_by_override: bool
    callbacks: list[dict[str, Any]]
    notes: list[TicketNote]
    reopen_count: int
    transfers: int
    escalations: list[IssueRef]
    links: list[Link]
    # the field steps and the SLA as the field runs it (issue #16; docs/tickets.md)
    arrived_at: datetime | None = None
    on_hold_since: datetime | None = None
    holds: list[dict[str, Any]] = []
    paused_seconds: float = 0
    rejections: int = 0
    due_history: list[dict[str, Any]] = []
    sla_escalations: list[dict[str, Any]] = []
    sla: dict[str, Any] | None = None


class TicketRow(Open):
    id: str
    number: str
    version: int
    project: str
    region: str | None
    kind: str
    channel: str
    priority: str
    category: str
    status: str
    department: str | None
    assignee: str | None
    received_at: datetime
    response_due: datetime | None
    resolution_due: datetime | None
    dispatched_at: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    reopen_count: int
    escalated: bool
    updated_at: datetime


class TicketPage(Page):
    items: list[TicketRow]
