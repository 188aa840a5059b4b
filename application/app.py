"""The composed Qualtrace application: one event store, one command service, and one
small service per bounded context built over it (each given what it needs, explicitly).

    app.tickets.dispatch(call, ref, department, assignee)
    app.inspections.submit(call, ref)        # raises nonconformances through app.processes
    app.surveys.publish(call, ref)
    app.survey_responses.import_csv(call, ref, data)
"""

from __future__ import annotations

from typing import Any, ClassVar

from application.assessments import AssessmentService
from application.attachments import AttachmentService
from application.audit import AuditQueries
from application.base import QualtraceBase
from application.circulars import CircularProcess, Circulars  # notify
from application.inspection_plans import InspectionPlanService
from application.inspections import InspectionService
from application.nonconformances import NonconformanceService
from application.notify.inbox import Inbox  # notify
from application.notify.webhooks import Webhooks  # notify
from application.org import OrgService
from application.personal_data import PersonalDataReads
from application.processes import NonconformanceIndex, Processes
from application.service import CommandService
from application.staff import StaffService  # dispatch suggestions (issue #16 item 6)
from application.survey_campaigns import CampaignAccess, SurveyCampaigns
from application.survey_reads import SurveyReads
from application.survey_responses import SurveyResponses
from application.templates import TemplateService
from application.tickets import TicketService
from application.warnings import WarningService
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.tickets import Ticket


class Qualtrace(QualtraceBase):
    name = "qualtrace"
    snapshotting_intervals: ClassVar = {Ticket: 50, Nonconformance: 50, Inspection: 50}

    def __init__(self, env: dict[str, str] | None = None, **options: Any) -> None:
        super().__init__(env, **options)
        service = self.service = CommandService(self)
        index = NonconformanceIndex(service)
        self.processes = Processes(service, index)
        self.org = OrgService(service)
        # attach (issue #16 item 4): evidence files, referenced from commands by digest
        self.attachments = AttachmentService(service)
        self.tickets = TicketService(service, self.processes, self.attachments)
        self.nonconformances = NonconformanceService(service, index, self.attachments)
        self.templates = TemplateService(service)
        self.inspections = InspectionService(service, self.processes, self.attachments)
        survey_reads = SurveyReads(service)
        access = CampaignAccess(service)
        self.surveys = SurveyCampaigns(service, access, survey_reads)
        self.survey_responses = SurveyResponses(service, access, survey_reads)
        self.audit = AuditQueries(service)
        self.personal_data = PersonalDataReads(service)
        # notify: circulars, the circular process, in-app notifications, webhooks
        self.circulars = Circulars(service)
        self.circular_process = CircularProcess(service)
        self.inbox = Inbox(service)
        self.webhooks = Webhooks(service)
        self.warnings = WarningService(service)  # early warnings (issue #14 item 5)
        # loop (issue #15): inspection plans, assessments
        self.inspection_plans = InspectionPlanService(service)
        self.assessments = AssessmentService(service)
        self.staff = StaffService(service)  # dispatch suggestions (issue #16 item 6)
