"""The complaint analysis screen (投诉分析) in a real headless Chromium, against the real
service: complaints received through the API last month and this month, the monthly
analysis shown as totals, a bar chart and the table by category, with the repeat
complaint and the unknown category text listed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import Service
from tests.browser.test_console import Console

pytestmark = pytest.mark.timeout(120)

QM = {"role": "quality_manager", "user": "zhou.min", "name": "周敏 Zhou Min"}
FRONT_DESK = {"role": "front_desk", "user": "wang.fang", "name": "王芳 Wang Fang"}
TZ = ZoneInfo("Asia/Shanghai")


def complaint(service: Service, category: str, unit: str) -> dict[str, Any]:
    return service.post(
        "/tickets",
        {
            "project": "P1",
            "kind": "complaint",
            "channel": "phone",
            "priority": "normal",
            "category": category,
            "description": "业主来电投诉",
            "reporter": {"name": "张伟", "unit": unit, "phone": "13812345678"},
        },
        **FRONT_DESK,
    )


@pytest.fixture(scope="module")
def month(service: Service) -> str:
    """Last month (received with the service's clock set back): 水电 ×2, 绿化 ×1.
    This month: 水电 ×3 (two from 2-201, the second a repeat), 安保 ×2, 停车, 服务态度
    and an unknown text: 8 complaints."""
    app = service.container.app
    real = app.clock
    first = datetime.now(TZ).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
    past = (first - timedelta(days=15)).astimezone(timezone.utc)
    ticks = iter(range(1, 1000))
    app.clock = lambda: past + timedelta(minutes=next(ticks))
    try:
        service.post("/regions", {"code": "SH", "name": "上海城市公司"})
        service.post(
            "/projects", {"code": "P1", "name": "绿地花园", "region": "SH", "households": 1200}
        )
        complaint(service, "水电", "1-101")
        complaint(service, "漏水", "1-102")
        complaint(service, "绿化", "5-501")
    finally:
        app.clock = real
    last = 0
    for category, unit in (
        ("水电", "2-201"),
        ("工程维修 › 水电", "2-201"),
        ("停电", "3-301"),
        ("安保", "4-401"),
        ("安保", "4-402"),
        ("安保 > 停车", "6-601"),
        ("服务态度", "7-701"),
        ("电梯口堆放杂物太多", "8-801"),
    ):
        last = complaint(service, category, unit)["position"]
    service.get("/kpis/tickets", role="quality_manager", params={"min_position": last})
    return datetime.now(TZ).strftime("%Y-%m")


@pytest.fixture(scope="module")
def console(browser: Any, service: Service) -> Console:
    browser.get(service.base + "/console")
    return Console(browser, service)


def test_the_complaint_analysis_screen_shows_the_month(console: Console, month: str) -> None:
    console.sign_in(QM)
    console.open(f"#/complaints?project=P1&month={month}")
    console.text_of("#complaints-total", "8")
    assert "+5" in console.find("#complaints-change").text  # 8 against last month's 3
    assert console.find("#complaints-repeat-total").text == "1"
    rows = [
        (
            r.get_attribute("data-level"),
            r.get_attribute("data-code"),
            r.find_element("css selector", ".complaints-count").text,
        )
        for r in console.all("#complaints-table tbody tr")
    ]
    # level-1 rows by count (ties: last month's count, then code), level-2 rows under them
    assert rows == [
        ("1", "engineering", "3"),
        ("2", "engineering.plumbing_electrical", "3"),
        ("1", "security", "3"),
        ("2", "security", "2"),
        ("2", "security.parking", "1"),
        ("1", "attitude", "1"),
        ("1", "other", "1"),
        ("1", "greening", "0"),
    ]
    rows = console.all("#complaints-repeats tbody tr")
    assert len(rows) == 1 and "工程维修 › 水电" in rows[0].text
    assert "电梯口堆放杂物太多" in console.find("#complaints-unknown").text
    # the chart drew both months' bars for every level-1 category of the API's answer
    analysis = console.service.get(f"/projects/P1/complaints/{month}", role="quality_manager")
    console.wait(
        lambda d: (
            d.find_element("css selector", "#chart-complaints").get_attribute("data-points")
            == str(2 * len(analysis["by_category"]))
        )
    )
    console.screenshot("complaint-analysis")
    console.driver.execute_script(
        "document.querySelector('#complaints-table').scrollIntoView({block: 'start'})"
    )
    console.screenshot("complaint-analysis-table")
