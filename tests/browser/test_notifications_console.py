"""The console's notifications screen (notify): the unread badge, the caller's
notifications, and a circular marked read with one click (a receipt the auditor sees)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Service
from tests.browser.test_console import Console

STAFF = {"role": "staff", "user": "staff-7", "name": "王强 Wang Qiang", "projects": ("P1",)}
QM = {"role": "quality_manager", "user": "zhou.min", "name": "周敏 Zhou Min"}


@pytest.fixture(scope="module")
def console(browser: Any, service: Service) -> Iterator[Console]:
    yield Console(browser, service)


def test_a_staff_member_sees_the_badge_the_list_and_marks_a_circular_read(
    console: Console, service: Service
) -> None:
    service.token(**STAFF)  # a principal before the events: the circular reaches them
    service.post("/regions", {"code": "NR", "name": "通知区"})
    service.post("/projects", {"code": "P1", "name": "一号项目", "region": "NR"})
    ticket = service.post(
        "/tickets",
        {
            "project": "P1",
            "kind": "repair",
            "channel": "phone",
            "priority": "high",
            "category": "水电维修",
            "description": "厨房水管漏水",
            "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
        },
        role="front_desk",
    )
    service.post(
        f"/tickets/{ticket['id']}/dispatch",
        {"department": "engineering", "assignee": "staff-7"},
        role="front_desk",
    )
    tb = service.post("/circulars", {"title": "关于消防通道的通报", "text": "各项目自查"}, **QM)
    mine = service.get("/me/notifications", params={"min_position": tb["position"]}, **STAFF)
    assert mine["unread"] == 2
    console.sign_in(STAFF)
    console.open("#/notifications")
    assert console.text_of("#unread-badge", "2") == "2"
    console.text_of("#my-notifications", ticket["number"])
    row = console.find(f'#circulars li[data-number="{tb["number"]}"]')
    assert "关于消防通道的通报" in row.text
    row.find_element("css selector", "button").click()
    console.text_of(f'#circulars li[data-number="{tb["number"]}"]', "Read")
    console.screenshot("notifications")
    deadline = time.monotonic() + 10  # the read model follows the receipt's event
    while True:
        seen = service.get("/circulars", role="auditor")
        receipts = next(c for c in seen["items"] if c["number"] == tb["number"])["receipts"]
        if receipts or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [r["id"] for r in receipts] == ["staff-7"]
