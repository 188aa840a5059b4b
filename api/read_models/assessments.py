"""Inspection plans and assessments (issue #15): the bodies their GETs answer.

`AssessmentView` is what the PDF documents and reports read: score, grade,
pay_adjustment_pct, result (base_score, deducted, …), inputs[] and deductions[] (each
naming its event: id, number, version, position), responsible[] and pay_adjustments[],
status, and the steps (reviewed, approved, published_at, appeal)."""

from __future__ import annotations

from typing import Any

from api.read_models.common import IssueView, Open, Page


class AssessmentView(IssueView):
    number: str
    project: str
    region: str | None
    period: str
    period_kind: str
    period_start: str
    period_end: str
    score: float
    grade: str
    pay_adjustment_pct: float
    result: dict[str, Any]
    inputs: list[dict[str, Any]]
    deductions: list[dict[str, Any]]
    policy: dict[str, Any]
    responsible: list[dict[str, Any]]
    pay_adjustments: list[dict[str, Any]]
    appeal: dict[str, Any] | None


class AssessmentPage(Page):
    items: list[Open]


class InspectionPlanPage(Page):
    items: list[Open]


class PlanKpis(Open):
    rows: list[Open]
