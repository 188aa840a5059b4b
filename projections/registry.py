"""Every projection Qualtrace runs, by name."""

from __future__ import annotations

from domain.categories import Taxonomy
from projections.assessments import AssessmentLoopProjection
from projections.audit import AuditTrailProjection
from projections.base import Projection
from projections.circulars import CircularListProjection  # notify
from projections.inspections import InspectionListProjection
from projections.kpis.facts import DEFAULT_TIMEZONE, FactProjection
from projections.kpis.inspections import InspectionKpiProjection
from projections.kpis.nonconformances import NonconformanceKpiProjection
from projections.kpis.surveys import SurveyKpiProjection
from projections.kpis.tickets import TicketKpiProjection
from projections.ledger import LedgerProjection
from projections.nonconformances import NonconformanceListProjection
from projections.org import OrgProjection
from projections.staff import StaffProjection  # dispatch suggestions (issue #16 item 6)
from projections.surveys import SurveyListProjection
from projections.tickets import TicketListProjection
from projections.warnings import WarningListProjection

PROJECTIONS: list[type[Projection]] = [
    OrgProjection,
    TicketListProjection,
    NonconformanceListProjection,
    InspectionListProjection,
    SurveyListProjection,
    AuditTrailProjection,
    TicketKpiProjection,
    InspectionKpiProjection,
    NonconformanceKpiProjection,
    SurveyKpiProjection,
    LedgerProjection,
    CircularListProjection,  # notify
    # early warnings (issue #14 item 5)
    WarningListProjection,
    AssessmentLoopProjection,  # loop (issue #15)
    StaffProjection,  # dispatch suggestions (issue #16 item 6)
]


def _make(cls: type[Projection], timezone: str, taxonomy: Taxonomy | None = None) -> Projection:
    """KPI projections place facts in local periods: they take the company time zone;
    the ticket facts also classify categories with the taxonomy in force."""
    if issubclass(cls, TicketKpiProjection):
        return cls(timezone=timezone, taxonomy=taxonomy)
    return cls(timezone=timezone) if issubclass(cls, FactProjection) else cls()  # type: ignore[call-arg]


def all_projections(
    timezone: str = DEFAULT_TIMEZONE, taxonomy: Taxonomy | None = None
) -> list[Projection]:
    return [_make(cls, timezone, taxonomy) for cls in PROJECTIONS]


def by_name(
    name: str, timezone: str = DEFAULT_TIMEZONE, taxonomy: Taxonomy | None = None
) -> Projection:
    for cls in PROJECTIONS:
        if cls.name == name:
            return _make(cls, timezone, taxonomy)
    raise KeyError(f"unknown projection '{name}'; known: {', '.join(c.name for c in PROJECTIONS)}")
