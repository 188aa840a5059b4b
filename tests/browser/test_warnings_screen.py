"""The early-warnings screen in a real headless Chromium, against the real service on
127.0.0.1: warnings raised by the watcher from tickets received through the API, listed
with their figures, acknowledged by a project manager and resolved by a quality manager."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Service
from tests.browser.test_console import Console

pytestmark = pytest.mark.timeout(120)

QM = {"role": "quality_manager", "user": "zhou.min", "name": "周敏 Zhou Min"}
PM_P1 = {
    "role": "project_manager",
    "user": "liu.yang",
    "name": "刘洋 Liu Yang",
    "projects": ("P1",),
}
PM_P2 = {"role": "project_manager", "user": "xu.jing", "name": "许静 Xu Jing", "projects": ("P2",)}
FRONT_DESK = {"role": "front_desk", "user": "wang.fang", "name": "王芳 Wang Fang"}


def complaint(service: Service, project: str) -> dict[str, Any]:
    return service.post(
        "/tickets",
        {
            "project": project,
            "kind": "complaint",
            "channel": "phone",
            "priority": "normal",
            "category": "noise",
            "description": "夜间施工噪音",
            "reporter": {"name": "张伟", "unit": "3-1202", "phone": "13812345678"},
        },
        **FRONT_DESK,
    )


@pytest.fixture(scope="module")
def raised(service: Service) -> list[str]:
    """Four complaints in P1 this week and three in P2 (no history): two warnings."""
    service.post("/regions", {"code": "SH", "name": "上海城市公司"})
    for code in ("P1", "P2"):
        service.post(
            "/projects", {"code": code, "name": f"项目 {code}", "region": "SH", "households": 800}
        )
    last = max(
        [complaint(service, "P1")["position"] for _ in range(4)]
        + [complaint(service, "P2")["position"] for _ in range(3)]
    )
    service.get("/kpis/tickets", role="quality_manager", params={"min_position": last})
    run = service.container.warning_watcher.run_once()
    assert len(run.raised) == 2, run
    head = service.container.app.recorder.max_notification_id()
    listed = service.get("/warnings", role="quality_manager", params={"min_position": head})
    assert len(listed["items"]) == 2  # the read side has them before the browser looks
    return list(run.raised)


@pytest.fixture(scope="module")
def console(browser: Any, service: Service) -> Console:
    browser.get(service.base + "/console")
    return Console(browser, service)


def test_the_warnings_screen_lists_acknowledges_and_resolves(
    console: Console, raised: list[str]
) -> None:
    p1, p2 = raised
    console.sign_in(QM)
    console.open("#/warnings")
    console.find("#warnings-table")
    rows = console.all("#warnings-table tbody tr")
    assert sorted(r.get_attribute("data-number") for r in rows) == sorted(raised)
    text = console.find("#warnings-table").text
    assert "本周投诉量超过前8周中位数的2倍" in text and "complaints" in text
    console.screenshot("warnings")

    # A project manager of P2 sees P2's warning only, and acknowledges it.
    console.sign_in(PM_P2)
    console.open("#/warnings")
    console.find("#warnings-table")
    assert [r.get_attribute("data-number") for r in console.all("#warnings-table tbody tr")] == [p2]
    assert not console.all(f"#warning-resolve-{p2}")  # resolving is the quality manager's
    console.find(f"#warning-acknowledge-{p2}").click()
    console.find(f"#warning-note-{p2}").send_keys("已安排夜间巡查")
    console.find(f"#warning-acknowledge-submit-{p2}").click()
    console.text_of(f"tr[data-number='{p2}'] .warning-status", "acknowledged")

    # The quality manager resolves it with what was done.
    console.sign_in(QM)
    console.open("#/warnings?project=P2")
    console.text_of(f"tr[data-number='{p2}'] .warning-status", "acknowledged")
    console.find(f"#warning-resolve-{p2}").click()
    console.find(f"#warning-note-{p2}").send_keys("施工时间已调整至白天")
    console.find(f"#warning-resolve-submit-{p2}").click()
    console.text_of(f"tr[data-number='{p2}'] .warning-status", "resolved")
    assert not console.all(f"#warning-resolve-{p2}")
    console.open("#/warnings?status=resolved")
    console.find("#warnings-table")
    assert [r.get_attribute("data-number") for r in console.all("#warnings-table tbody tr")] == [p2]
    history = console.service.get(f"/audit/{p2}")
    assert [e["type"] for e in history["events"]] == [
        "WarningRaised",
        "WarningAcknowledged",
        "WarningResolved",
    ]
    # P1's warning is untouched.
    assert console.service.get(f"/warnings/{p1}", role="quality_manager")["status"] == "raised"
    console.sign_in(PM_P1)
    console.open("#/warnings")
    console.find("#warnings-table")
    assert [r.get_attribute("data-number") for r in console.all("#warnings-table tbody tr")] == [p1]
