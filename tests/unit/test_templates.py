"""Checklist templates: drafts are edited, a published version never changes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from domain.base import Actor, Ctx
from domain.errors import IllegalStep, InvalidValue, RuleViolation
from domain.templates import ChecklistTemplate

QM = Ctx(
    Actor("qm-1", "Zhou Min", "quality_manager"),
    datetime(2026, 3, 1, tzinfo=timezone.utc),
    "corr-1",
)

SECTIONS: list[dict[str, Any]] = [
    {
        "code": "CS",
        "name": "客户服务",
        "items": [
            {"code": "CS-01", "requirement": "前台接待礼貌", "max_points": 10, "critical": False},
            {
                "code": "CS-02",
                "requirement": "投诉24小时内回复",
                "max_points": 10,
                "critical": True,
            },
        ],
    },
    {
        "code": "SEC",
        "name": "安全管理",
        "items": [
            {
                "code": "SEC-01",
                "requirement": "夜间巡逻记录完整",
                "max_points": 5,
                "critical": False,
            },
        ],
    },
]


def draft(sections: Any = None) -> ChecklistTemplate:
    return ChecklistTemplate.draft(
        QM, number="CT-2026-000001", name="月度品质检查表", sections=sections or SECTIONS
    )


def test_publishing_numbers_versions_from_one_and_keeps_each_versions_content() -> None:
    t = draft()
    t.publish(QM)
    assert t.status == "published" and t.latest_version == 1
    # Revising after publication starts the next draft; version 1 is untouched.
    changed = [{**SECTIONS[0], "items": SECTIONS[0]["items"][:1]}]
    t.revise(QM, None, changed)
    assert t.status == "draft"
    assert t.version_content(1)["sections"][0]["items"][1]["code"] == "CS-02"
    t.publish(QM)
    assert t.latest_version == 2
    assert [len(s["items"]) for s in t.version_content(2)["sections"]] == [1]
    assert [len(s["items"]) for s in t.version_content(1)["sections"]] == [2, 1]
    assert t.version_content(None)["template_version"] == 2


def test_a_draft_is_edited_in_place_until_published() -> None:
    t = draft()
    t.revise(QM, "新版检查表", None)
    assert t.name == "新版检查表" and t.draft_revision == 2 and t.latest_version is None


def test_a_published_template_cannot_be_published_again_without_a_revision() -> None:
    t = draft()
    t.publish(QM)
    with pytest.raises(IllegalStep) as e:
        t.publish(QM)
    assert e.value.state == "published" and e.value.allowed == ["revise"]


def test_republishing_identical_content_is_refused() -> None:
    t = draft()
    t.publish(QM)
    t.revise(QM, None, SECTIONS)
    with pytest.raises(RuleViolation):
        t.publish(QM)


def test_a_template_without_a_published_version_cannot_be_pinned() -> None:
    t = draft()
    with pytest.raises(InvalidValue) as e:
        t.version_content(None)
    assert e.value.field == "template_version"
    t.publish(QM)
    with pytest.raises(InvalidValue):
        t.version_content(2)


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ([], "sections"),
        ([{"code": "A", "name": "A", "items": []}], "sections.0.items"),
        (
            [
                {
                    "code": "A",
                    "name": "A",
                    "items": [{"code": "X", "requirement": "r", "max_points": 0}],
                }
            ],
            "sections.0.items.0.max_points",
        ),
        (
            [
                {
                    "code": "A",
                    "name": "A",
                    "items": [{"code": "X", "requirement": "r", "max_points": True}],
                }
            ],
            "sections.0.items.0.max_points",
        ),
        (
            [
                {
                    "code": "A",
                    "name": "A",
                    "items": [{"code": "X", "requirement": "r", "max_points": 5}],
                },
                {
                    "code": "B",
                    "name": "B",
                    "items": [{"code": "X", "requirement": "r", "max_points": 5}],
                },
            ],
            "sections.1.items.0.code",
        ),
        (
            [
                {
                    "code": "A",
                    "name": "A",
                    "items": [{"code": "X", "requirement": "r", "max_points": 5}],
                },
                {
                    "code": "A",
                    "name": "B",
                    "items": [{"code": "Y", "requirement": "r", "max_points": 5}],
                },
            ],
            "sections.1.code",
        ),
        (
            [
                {
                    "code": "A",
                    "name": "A",
                    "items": [{"code": "X", "requirement": " ", "max_points": 5}],
                }
            ],
            "sections.0.items.0.requirement",
        ),
    ],
)
def test_invalid_sections_are_refused_naming_the_field(sections: Any, field: str) -> None:
    with pytest.raises(InvalidValue) as e:
        ChecklistTemplate.draft(QM, number="CT-2026-000002", name="x", sections=sections)
    assert e.value.field == field
