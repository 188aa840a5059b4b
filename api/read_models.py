"""Response bodies of the reads, for the OpenAPI document (and the clients generated from it).

They describe what the endpoints answer; they do not shape it: routes declare them with
`responses=ok(Model)`, so FastAPI documents them without validating or filtering the body.
Every model allows members it does not name (`extra="allow"`): a body may carry more than
is typed here, never less. Timestamps are ISO 8601 with an offset; `allowed_steps` are the
URL segments a client may post to next."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


def ok(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its 200 answer is documented as `model`."""
    return {200: {"model": model}}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Actor(Open):
    id: str
    name: str
    role: str


class IssueRef(Open):
    """Another issue, by id and number."""

    id: str
    number: str | None


class Link(Open):
    """A link recorded on an issue: its relation and the issue at the other end."""

    rel: str
    kind: str
    id: str
    number: str | None = None


class Page(Open):
    next_cursor: str | None


class IssueView(Open):
    """What every issue's `GET` answers (tickets, inspections, nonconformances, templates,
    surveys, survey responses), besides the members of its kind."""

    id: str
    version: int
    status: str
    created_at: datetime
    updated_at: datetime
    allowed_steps: list[str]


# -- organisation --------------------------------------------------------------------------
class Region(Open):
    code: str
    name: str
    id: str
    registered_at: datetime


class RegionPage(Page):
    items: list[Region]


class Project(Open):
    code: str
    name: str
    region: str
    households: int | None
    id: str
    registered_at: datetime


class ProjectPage(Page):
    items: list[Project]


# -- tickets -------------------------------------------------------------------------------
class TicketReporter(Open):
    name: str
    unit: str
    phone: str


class TicketNote(Open):
    text: str
    at: datetime
    by: str | None


class TicketView(IssueView):
    number: str
    project: str
    kind: str
    channel: str
    priority: str
    category: str
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


# -- checklist templates -------------------------------------------------------------------
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


# -- nonconformances -----------------------------------------------------------------------
class LinkedIssue(Open):
    direction: str
    rel: str
    id: str
    kind: str
    number: str | None


class NonconformanceView(IssueView):
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


# -- surveys -------------------------------------------------------------------------------
class SurveyView(IssueView):
    number: str
    title: str
    objectives: str
    party: str
    agency: str | None
    methods: list[str]
    segments: list[str]
    projects: list[str]
    period: dict[str, Any]
    target_sample: int
    target_csi: float
    questions: list[dict[str, Any]]
    responses_recorded: int


class SurveyRow(Open):
    id: str
    number: str
    version: int
    title: str
    party: str
    status: str
    projects: list[str]
    segments: list[str]
    methods: list[str]
    target_sample: int
    target_csi: float
    responses: int
    drafted_at: datetime
    updated_at: datetime


class SurveyPage(Page):
    items: list[SurveyRow]


class SurveyResults(Open):
    id: str
    number: str
    status: str
    provisional: bool
    results: dict[str, Any] | None
    parameters: dict[str, Any] | None


class SurveyResponseView(IssueView):
    number: str
    campaign_id: str
    campaign_number: str
    respondent_ref: str
    project: str
    segment: str
    method: str
    answers: dict[str, int | None]
    comment: str | None
    complaint: bool
    valid: bool
    recorded_at: datetime


class SurveyResponseRow(Open):
    id: str
    version: int
    survey_id: str
    survey_number: str
    respondent_ref: str
    project: str
    segment: str
    method: str
    status: str
    valid: bool
    complaint: bool
    recorded_at: datetime


class SurveyResponsePage(Page):
    items: list[SurveyResponseRow]


# -- KPIs ----------------------------------------------------------------------------------
class KpiRow(Open):
    """One row of figures: the `group_by` dimensions asked for (`project`, `month`, …) and the
    kind's measures, each a number or null. Its members depend on the request."""


class KpiAnswer(Open):
    rows: list[KpiRow]


# -- audit ---------------------------------------------------------------------------------
class AuditEvent(Open):
    position: int
    version: int
    type: str
    occurred_at: datetime
    actor: dict[str, Any] | None
    correlation_id: str | None
    causation_id: str | None
    summary: str
    data: Any


class AuditTrailEvent(AuditEvent):
    issue_id: str
    issue_kind: str
    issue_number: str | None
    project: str | None
    region: str | None


class AuditEventPage(Page):
    items: list[AuditTrailEvent]


class IssueHistory(Open):
    id: str
    number: str | None
    kind: str
    project: str | None
    events: list[AuditEvent]


class IssueBrief(Open):
    id: str
    number: str | None
    kind: str
    project: str | None


class IssueTrace(IssueBrief):
    issues: list[dict[str, Any]]
    links: list[dict[str, Any]]


class IssueState(Open):
    """An issue as it was: shaped like the live `GET` of its kind."""

    id: str
    version: int
    status: str
    created_at: datetime
    updated_at: datetime
    allowed_steps: list[str]


class IntegrityReport(Open):
    ok: bool
    events: int
    issues: int
    first_broken_link: dict[str, Any] | None


class AuditPack(Open):
    """A self-contained, verifiable file of events (see tools/verify_pack.py)."""

    manifest_sha256: str


# -- service -------------------------------------------------------------------------------
class Health(Open):
    status: str


class Readiness(Open):
    status: str
