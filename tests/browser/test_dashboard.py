"""The console's dashboard in a real headless Chromium, on a small demo organisation.

`qualtrace.demo.fill` records four projects' six months (60 tickets, the monthly
inspections and their nonconformances, two survey campaigns) into the module's service;
a quality manager opens the dashboard. Every chart must draw (its container reports the
data points it drew, and they equal the figures of the KPI rows it was drawn from), with
no browser console error, no request leaving 127.0.0.1, and each chart's CSV download
byte for byte the API's CSV of the same query.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Service

pytestmark = pytest.mark.timeout(120)

QM = {"role": "quality_manager", "user": "zhou.min", "name": "周敏 Zhou Min"}
FETCHED = (
    "return [...performance.getEntriesByType('navigation'),"
    " ...performance.getEntriesByType('resource')].map(e => e.name)"
)
#: chart id -> (KPI kind, group_by), as js/screens/dashboard.js queries them.
CHARTS = {
    "tickets-volume": ("tickets", "month"),
    "tickets-times": ("tickets", "month"),
    "inspection-scores": ("inspections", "project,month"),
    "inspection-grades": ("inspections", "project"),
    "failed-items": ("inspections", "item"),
    "nc-trend": ("nonconformances", "month,source"),
    "survey-csi": ("surveys", "campaign"),
}


def _points(chart: str, rows: list[dict[str, Any]]) -> int:
    """The data points a chart draws from its rows (non-null figures it plots)."""

    def n(*fields: str) -> int:
        return sum(1 for r in rows for f in fields if r.get(f) is not None)

    if chart == "tickets-volume":
        return n("received", "closed", "sla_met_pct")
    if chart == "tickets-times":
        return n("response_median_minutes", "resolution_median_hours")
    if chart == "inspection-scores":
        return n("score_avg")
    if chart == "inspection-grades":
        return n("grade_a", "grade_b", "grade_c", "grade_d", "grade_e")
    if chart == "failed-items":
        return n("items_failed", "item_fail_rate_pct")
    if chart == "nc-trend":
        return n("open", "overdue", "closed_on_time")
    assert chart == "survey-csi"
    ci = sum(1 for r in rows if r["csi_ci95_low"] is not None and r["csi_ci95_high"] is not None)
    return n("csi", "cli") + ci


@pytest.fixture(scope="module")
def demo(service: Service) -> dict[str, Any]:
    from qualtrace.demo import fill

    result = fill(
        service.container.url, projects=4, tickets=60, months=6, survey_responses=12, workers=1
    )
    assert result["rejected_commands"] == 0, result.get("rejections")
    # Wait until the service's projections have every demo event (the KPI facts included).
    deadline = time.monotonic() + 30
    while True:
        rows = service.get("/kpis/surveys", params={"group_by": "campaign"}, role="auditor")["rows"]
        tickets = service.get("/kpis/tickets", params={"group_by": "month"})["rows"]
        if len(rows) == 2 and sum(r["received"] for r in tickets) == 60:
            break
        assert time.monotonic() < deadline, "the projections did not catch up with the demo"
        time.sleep(0.2)
    return result


def test_the_dashboard_draws_every_chart_offline_and_each_csv_is_the_apis(
    browser: Any, service: Service, demo: dict[str, Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = browser
    d.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    d.get(service.base + "/console")
    token = service.token(**QM)
    WebDriverWait(d, 10).until(lambda d: d.find_elements(By.ID, "token"))
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "signin-submit").click()
    WebDriverWait(d, 10).until(lambda d: "Zhou Min" in d.find_element(By.ID, "who-name").text)
    d.find_element(By.CSS_SELECTOR, 'nav a[href="#/dashboard"]').click()

    def drawn(d: Any) -> dict[str, str] | None:
        got = {c: d.find_element(By.ID, f"chart-{c}").get_attribute("data-points") for c in CHARTS}
        return got if all(got.values()) else None

    points = WebDriverWait(d, 30).until(drawn)
    H = {"Authorization": f"Bearer {token}"}
    for chart, (kind, group_by) in CHARTS.items():
        rows = service.http.get(f"/kpis/{kind}", params={"group_by": group_by}, headers=H).json()[
            "rows"
        ]
        assert rows, chart
        assert int(points[chart]) == _points(chart, rows) > 0, (chart, points[chart])
        # Drawn: a canvas the size of its container, with pixels on it.
        canvas = d.find_element(By.CSS_SELECTOR, f"#chart-{chart} canvas")
        assert canvas.size["width"] > 300 and canvas.size["height"] > 200, chart

    # A chart's CSV is the API's CSV of the same query, byte for byte.
    d.find_element(By.ID, "csv-survey-csi").click()
    WebDriverWait(d, 10).until(lambda d: (tmp_path / "kpis-survey-csi.csv").exists())
    WebDriverWait(d, 10).until(
        lambda d: "kpis-survey-csi.csv" in d.find_element(By.ID, "status-survey-csi").text
    )
    saved = (tmp_path / "kpis-survey-csi.csv").read_bytes()
    api_csv = service.http.get(
        "/kpis/surveys", params={"group_by": "campaign", "format": "csv"}, headers=H
    )
    assert api_csv.status_code == 200 and saved == api_csv.content
    assert [r["campaign"] for r in csv.DictReader(io.StringIO(saved.decode()))] == [
        "SV-2025-000001",
        "SV-2025-000002",
    ]

    # Filters: one region's one project, two months; the charts redraw from that query.
    d.execute_script("location.hash = '#/dashboard?region=EC&project=EC01&from=2025-02&to=2025-03'")
    WebDriverWait(d, 10).until(
        lambda d: d.find_element(By.ID, "dash-from").get_attribute("value") == "2025-02"
    )
    points = WebDriverWait(d, 30).until(drawn)
    q = {"region": "EC", "project": "EC01", "from": "2025-02", "to": "2025-03"}
    rows = service.http.get("/kpis/tickets", params={**q, "group_by": "month"}, headers=H).json()[
        "rows"
    ]
    assert rows and all(r["month"] in ("2025-02", "2025-03") for r in rows)
    assert any(
        "/kpis/tickets?" in u and all(f"{k}={v}" in u for k, v in q.items())
        for u in d.execute_script(FETCHED)
    )
    assert int(points["tickets-volume"]) == _points("tickets-volume", rows)
    d.find_element(By.ID, "csv-tickets-volume").click()
    WebDriverWait(d, 10).until(lambda d: (tmp_path / "kpis-tickets-volume.csv").exists())
    WebDriverWait(d, 10).until(
        lambda d: "kpis-tickets-volume.csv" in d.find_element(By.ID, "status-tickets-volume").text
    )
    api_csv = service.http.get(
        "/kpis/tickets", params={**q, "group_by": "month", "format": "csv"}, headers=H
    )
    assert (tmp_path / "kpis-tickets-volume.csv").read_bytes() == api_csv.content

    # Back to the whole company, the whole dashboard in one screenshot.
    d.execute_script("location.hash = '#/dashboard'")
    WebDriverWait(d, 10).until(
        lambda d: d.find_element(By.ID, "dash-from").get_attribute("value") == ""
    )
    WebDriverWait(d, 30).until(drawn)
    size = d.get_window_size()
    try:
        d.set_window_size(1366, 2000)
        WebDriverWait(d, 10).until(drawn)
        time.sleep(0.3)  # ECharts redraws on its resize handler
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(SCREENSHOTS / "dashboard.png"))
    finally:
        d.set_window_size(size["width"], size["height"])

    urls = d.execute_script(FETCHED)
    assert any(u.endswith("/vendor/echarts/echarts.esm.min.js") for u in urls)
    assert sum("/kpis/" in u for u in urls) >= 5
    assert all(u.startswith(service.base + "/") for u in urls), [
        u for u in urls if not u.startswith(service.base + "/")
    ]
    problems = [
        e["message"]
        for e in d.get_log("browser")
        if e["level"] in ("SEVERE", "WARNING") or "Content Security Policy" in e["message"]
    ]
    assert problems == []
