"""Staff with their skills, and dispatch suggestions (issue #16 item 6; docs/dispatch.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from api.read_models.common import Open, Page


class StaffRow(Open):
    id: str
    name: str
    project: str
    region: str | None
    department: str
    skills: list[str]
    status: str = Field(description="active, or left (离职: no longer suggested for dispatch)")
    registered_at: datetime
    version: int
    uuid: str


class StaffPage(Page):
    items: list[StaffRow]


class ScoreReason(Open):
    """One factor of a score (`skill`, `workload`, `resolution`, and `rejected` only for
    someone who rejected this ticket): `value` is the skill level (`l2`, `l1`, `none`), the
    number of open tickets, the median hours (null: no history), or how many times the
    person rejected this ticket (its `points` negative)."""

    factor: str
    value: Any
    points: float
    explanation: str
    explanation_zh: str


class Suggestion(Open):
    rank: int
    staff_id: str
    name: str
    department: str
    score: float
    skills: list[str]
    reasons: list[ScoreReason]
    current_assignee: bool


class SuggestedTicket(Open):
    id: str
    number: str
    project: str
    status: str
    category: str
    category_code: str
    category_path: str
    department: str | None
    assignee: str | None


class DispatchSuggestions(Open):
    ticket: SuggestedTicket
    as_of: datetime
    policy: dict[str, Any]
    items: list[Suggestion]
