"""The composed Qualtrace application: one event store, one mixin of verbs per context."""

from __future__ import annotations

from typing import ClassVar

from application.audit import AuditQueries
from application.inspections import InspectionCommands
from application.nonconformances import NonconformanceCommands
from application.personal_data import PersonalDataReads
from application.surveys import SurveyCommands
from application.tickets import TicketCommands
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.tickets import Ticket


class Qualtrace(
    InspectionCommands,
    NonconformanceCommands,
    TicketCommands,
    SurveyCommands,
    AuditQueries,
    PersonalDataReads,
):
    name = "qualtrace"
    snapshotting_intervals: ClassVar = {Ticket: 50, Nonconformance: 50, Inspection: 50}
