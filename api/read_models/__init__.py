"""Response bodies of the reads, for the OpenAPI document (and the clients generated from it).

They describe what the endpoints answer; they do not shape it: routes declare them with
`responses=ok(Model)`, so FastAPI documents them without validating or filtering the body.
Every model allows members it does not name (`extra="allow"`): a body may carry more than
is typed here, never less. Timestamps are ISO 8601 with an offset; `allowed_steps` are the
URL segments a client may post to next.

The models live per area in this package; this module re-exports them all."""

from api.read_models.audit import (
    AuditEvent,
    AuditEventPage,
    AuditPack,
    AuditTrailEvent,
    IntegrityReport,
    IssueBrief,
    IssueHistory,
    IssueState,
    IssueTrace,
    KpiAnswer,
    KpiRow,
)
from api.read_models.common import Actor, IssueRef, IssueView, Link, Open, Page, ok
from api.read_models.inspections import (
    InspectionItem,
    InspectionPage,
    InspectionRow,
    InspectionView,
    RaisedNonconformance,
    TemplatePage,
    TemplateRow,
    TemplateView,
)
from api.read_models.nonconformances import (
    LinkedIssue,
    NonconformancePage,
    NonconformanceRow,
    NonconformanceView,
)
from api.read_models.org import Project, ProjectPage, Region, RegionPage
from api.read_models.service import Health, Readiness
from api.read_models.surveys import (
    SurveyPage,
    SurveyResponsePage,
    SurveyResponseRow,
    SurveyResponseView,
    SurveyResults,
    SurveyRow,
    SurveyView,
)
from api.read_models.tickets import TicketNote, TicketPage, TicketReporter, TicketRow, TicketView

__all__ = [
    "Actor",
    "AuditEvent",
    "AuditEventPage",
    "AuditPack",
    "AuditTrailEvent",
    "Health",
    "InspectionItem",
    "InspectionPage",
    "InspectionRow",
    "InspectionView",
    "IntegrityReport",
    "IssueBrief",
    "IssueHistory",
    "IssueRef",
    "IssueState",
    "IssueTrace",
    "IssueView",
    "KpiAnswer",
    "KpiRow",
    "Link",
    "LinkedIssue",
    "NonconformancePage",
    "NonconformanceRow",
    "NonconformanceView",
    "Open",
    "Page",
    "Project",
    "ProjectPage",
    "RaisedNonconformance",
    "Readiness",
    "Region",
    "RegionPage",
    "SurveyPage",
    "SurveyResponsePage",
    "SurveyResponseRow",
    "SurveyResponseView",
    "SurveyResults",
    "SurveyRow",
    "SurveyView",
    "TemplatePage",
    "TemplateRow",
    "TemplateView",
    "TicketNote",
    "TicketPage",
    "TicketReporter",
    "TicketRow",
    "TicketView",
    "ok",
]
