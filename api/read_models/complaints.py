"""Complaint analysis answers (issue #16 item 5; docs/complaints.md)."""

from __future__ import annotations

from typing import Any

from api.read_models.common import Open


class CategoryRow(Open):
    code: str
    level: int
    parent: str | None
    name: str
    name_en: str


class CategoryList(Open):
    """The category taxonomy in force, both levels as flat rows, and the table itself."""

    items: list[CategoryRow]
    taxonomy: dict[str, Any]


class ComplaintRows(Open):
    """Rows of the top categories or of the repeat complaints."""

    rows: list[dict[str, Any]]


class ComplaintAnalysis(Open):
    """A project's monthly complaint analysis: totals, per level-1 and level-2 category
    (share %, month-on-month change, repeats, closure %, satisfaction %), the repeat
    complaints and the category texts the taxonomy did not know."""

    project: dict[str, Any]
    month: str
    previous_month: str
    kinds: list[str]
    totals: dict[str, Any]
    by_category: list[dict[str, Any]]
    by_subcategory: list[dict[str, Any]]
    repeats: list[dict[str, Any]]
    unknown_texts: list[dict[str, Any]]
