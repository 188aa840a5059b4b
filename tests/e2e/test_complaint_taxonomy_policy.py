"""A company's own category taxonomy (ticket policy `categories`) replaces the default:
`GET /categories` lists it and tickets are classified, counted and filtered by it; a
malformed table is refused at start-up with the fault named."""

from __future__ import annotations

from typing import Any

import pytest

from domain.policies import validate_ticket_policy
from qualtrace.settings import Settings

TAXONOMY = {
    "facilities": {
        "name": "设施设备",
        "aliases": ["设备"],
        "children": {"water": {"name": "给排水", "aliases": ["漏水"]}, "lifts": {"name": "电梯"}},
    },
    "order": {"name": "秩序维护", "children": {}},
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        pool_size=4,
        read_wait_seconds=5.0,
        ticket_policy={"categories": TAXONOMY},
    )


def test_the_configured_taxonomy_is_listed_and_classifies_tickets(api: Any) -> None:
    r = api.get("/categories", role="front_desk")
    assert r.status_code == 200, r.text
    assert [i["code"] for i in r.json()["items"]] == [
        "facilities",
        "facilities.water",
        "facilities.lifts",
        "order",
    ]
    api.setup_org()
    position = 0
    for category in (
        "漏水",
        "设施设备/电梯",
        "秩序维护",
        "水电",
    ):  # 水电 is the default's, not this one's
        r = api.post(
            "/tickets",
            {
                "project": "P1",
                "kind": "complaint",
                "channel": "phone",
                "priority": "normal",
                "category": category,
                "description": "投诉",
                "reporter": {"name": "张三", "unit": "1-101", "phone": "13812345678"},
            },
            role="front_desk",
        )
        assert r.status_code == 201, r.text
        position = r.json()["position"]
    r = api.get(
        "/kpis/tickets",
        role="quality_manager",
        params={"group_by": "subcategory", "min_position": position},
    )
    assert r.status_code == 200, r.text
    assert {row["subcategory"]: row["complaints"] for row in r.json()["rows"]} == {
        "facilities.water": 1,
        "facilities.lifts": 1,
        "order": 1,
        "other": 1,
    }
    r = api.get(
        "/kpis/tickets",
        role="quality_manager",
        params={"group_by": "category", "category": "设备", "min_position": position},
    )
    assert [(row["category"], row["complaints"]) for row in r.json()["rows"]] == [("facilities", 2)]


@pytest.mark.parametrize(
    ("table", "fault"),
    [
        ([], "non-empty"),
        ({"Bad": {"name": "x"}}, "lower-case"),
        ({"a": {"name": "甲", "children": {"x": {"name": ""}}}}, "a.x needs"),
    ],
)
def test_a_malformed_taxonomy_is_refused_naming_the_fault(table: Any, fault: str) -> None:
    with pytest.raises(ValueError, match=f"ticket policy categories: .*{fault}"):
        validate_ticket_policy({"categories": table})
