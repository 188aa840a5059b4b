"""Survey campaigns, their results and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.read_models.common import IssueView, Open, Page


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
