"""KPI answers, the audit trail, issue history and state, integrity, audit packs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from api.read_models.common import Open, Page


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
    """The last full verification on record, with the events written since re-hashed
    (`tail`; at most `QUALTRACE_INTEGRITY_TAIL_CAP` of them per request)."""

    ok: bool
    events: int
    issues: int
    first_broken_link: dict[str, Any] | None
    verified_at: datetime | None = Field(
        None, description="when the last full verification's snapshot was taken (null: none yet)"
    )
    through_position: int | None = Field(
        None, description="the largest position that verification re-hashed"
    )
    tail: dict[str, Any] | None = Field(
        None,
        description="the events after it, re-hashed by this request: after_position,"
        " through_position, events (re-hashed: after its position, or committed after its"
        " snapshot below it), new_events (after its position),"
        " complete (false: more than the cap), ok, first_broken_link",
    )


class AuditPack(Open):
    """A self-contained, verifiable file of events (see tools/verify_pack.py)."""

    manifest_sha256: str
