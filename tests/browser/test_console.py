"""The quality console in a real headless Chromium, against the real service on 127.0.0.1.

One browser for the module; each test signs in as the role it needs. Screenshots of the
main screens are written to docs/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Service

pytestmark = pytest.mark.timeout(120)

FRONT_DESK = {"role": "front_desk", "user": "wang.fang", "name": "王芳 Wang Fang"}
QM = {"role": "quality_manager", "user": "zhou.min", "name": "周敏 Zhou Min"}
INSPECTOR = {"role": "inspector", "user": "chen.jie", "name": "陈杰 Chen Jie"}
AUDITOR = {"role": "auditor", "user": "sun.li", "name": "孙立 Sun Li"}
#: Every URL the page loaded: the document itself and each resource (scripts, styles, fetches).
FETCHED = "return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map(e => e.name)"
#: The browser logs the API's 4xx answers the tests provoke (401, 403, 412, 422).
EXPECTED_REFUSAL = re.compile(r"the server responded with a status of 4(01|03|12|22)")
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"

TEMPLATE = {
    "name": "项目月度品质自检表",
    "sections": [
        {
            "code": "CS",
            "name": "客户服务",
            "items": [
                {
                    "code": "CS-01",
                    "requirement": "前台接待礼貌, 仪容仪表规范",
                    "max_points": 10,
                    "critical": False,
                },
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
                    "requirement": "消防通道畅通",
                    "max_points": 10,
                    "critical": False,
                }
            ],
        },
    ],
}


class Console:
    """The browser, driven the way a person would: sign in, open screens, fill forms."""

    def __init__(self, driver: Any, service: Service) -> None:
        self.driver = driver
        self.service = service
        self.signed_in_as: str | None = None

    def wait(self, condition: Any, timeout: float = 10) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def find(self, css: str, timeout: float = 10) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text_of(self, css: str, contains: str, timeout: float = 10) -> str:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.wait(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), contains), timeout)
        return str(self.find(css).text)

    def sign_in(self, who: dict[str, Any]) -> None:
        if self.signed_in_as == who["user"]:
            return
        d = self.driver
        if not d.current_url.startswith(self.service.base + "/console"):
            d.get(self.service.base + "/console")
        if self.signed_in_as is not None:
            self.find("#sign-out").click()
        token = self.service.token(**who)
        self.find("#token").send_keys(token)
        self.find("#signin-submit").click()
        self.text_of("#who-name", who["name"])
        self.signed_in_as = who["user"]

    def open(self, hash_path: str) -> None:
        """Go to a screen the way a link does (same page, new hash)."""
        self.driver.execute_script("location.hash = arguments[0]", hash_path)

    def open_issue(self, kind: str, number: str) -> None:
        self.open(f"#/issue/{kind}/{number}")
        self.text_of("#issue-number", number)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def world(service: Service) -> dict[str, Any]:
    """Region SH, projects P1 and P2; a complaint (whose description is an XSS attempt)
    dispatched and escalated into a nonconformance; a checklist template."""
    service.post("/regions", {"code": "SH", "name": "上海城市公司"})
    for code in ("P1", "P2"):
        service.post(
            "/projects", {"code": code, "name": f"项目 {code}", "region": "SH", "households": 800}
        )
    ticket = new_ticket(service, XSS)
    service.post(
        f"/tickets/{ticket['id']}/dispatch",
        {"department": "engineering", "assignee": "li.lei"},
        **FRONT_DESK,
    )
    escalated = service.post(
        f"/tickets/{ticket['id']}/escalate",
        {"reason": "同一问题第三次投诉", "severity": "major"},
        **FRONT_DESK,
    )
    template = service.post("/checklist-templates", TEMPLATE, **QM)
    service.post(f"/checklist-templates/{template['id']}/publish", **QM)
    nc = escalated["nonconformance"]
    reinspection = service.post(
        "/inspections",
        {
            "project": "P1",
            "kind": "regional_monthly",
            "template_id": template["id"],
            "planned_for": "2026-03-20",
            "inspectors": ["chen.jie"],
            "reinspection_of": nc["number"],
        },
        **INSPECTOR,
    )
    return {"ticket": ticket, "nc": nc, "template": template, "reinspection": reinspection}


def new_ticket(service: Service, description: str = "楼道灯不亮") -> dict[str, Any]:
    return service.post(
        "/tickets",
        {
            "project": "P1",
            "kind": "complaint",
            "channel": "phone",
            "priority": "normal",
            "category": "lighting",
            "description": description,
            "reporter": {"name": "张伟", "unit": "3-1202", "phone": "13812345678"},
        },
        **FRONT_DESK,
    )


@pytest.fixture(scope="module")
def console(browser: Any, service: Service) -> Console:
    browser.get(service.base + "/console")
    browser.execute_script("performance.setResourceTimingBufferSize(5000)")
    return Console(browser, service)


def test_sign_in_shows_who_you_are_and_keeps_the_token_out_of_urls_and_cookies(
    console: Console, world: dict[str, Any]
) -> None:
    console.find("#token")
    console.screenshot("sign-in")
    console.sign_in(AUDITOR)
    assert "Auditor" in console.find("#who-role").text
    assert "Company-wide" in console.find("#who-scope").text
    d = console.driver
    token = console.service.token(**AUDITOR)
    assert d.execute_script("return sessionStorage.getItem('qualtrace.token')") == token
    assert token not in d.current_url and d.get_cookies() == []
    assert d.execute_script("return document.cookie") == ""


def test_a_wrong_token_is_refused_on_the_sign_in_form(console: Console, service: Service) -> None:
    console.driver.get(service.base + "/console")
    console.signed_in_as = None
    console.driver.execute_script("sessionStorage.clear()")
    console.driver.refresh()
    console.find("#token").send_keys("not-a-token")
    console.find("#signin-submit").click()
    assert "invalid" in console.text_of("#signin-error", "invalid")
    assert console.driver.execute_script("return sessionStorage.getItem('qualtrace.token')") is None


def test_find_a_ticket_by_its_number(console: Console, world: dict[str, Any]) -> None:
    console.sign_in(AUDITOR)
    console.open("#/")
    box = console.find("#find-ref")
    box.clear()
    box.send_keys(world["ticket"]["number"].lower())
    console.find("#find-submit").click()
    console.text_of("#issue-number", world["ticket"]["number"])
    assert "#/issue/ticket/" in console.driver.current_url


def test_list_filters_find_the_escalated_nonconformance(
    console: Console, world: dict[str, Any]
) -> None:
    console.sign_in(AUDITOR)
    console.open("#/list/nonconformances?source=ticket&severity=major")
    table = console.text_of("#list-table", world["nc"]["number"])
    assert "严重 major" in table
    assert "null" not in console.find("main").text and "undefined" not in console.find("main").text
    console.screenshot("nonconformance-list")
    console.open("#/list/nonconformances?severity=critical")
    console.find("#list-empty")


def test_timeline_shows_every_event_with_actor_company_time_and_diff(
    console: Console, service: Service, world: dict[str, Any]
) -> None:
    console.sign_in(AUDITOR)
    number = world["ticket"]["number"]
    console.open_issue("ticket", number)
    console.find("#timeline li.event")
    history = service.get(f"/audit/{number}", **AUDITOR)["events"]
    shown = console.all("#timeline li.event")
    assert [e.get_attribute("data-type") for e in shown] == [e["type"] for e in history]
    assert len(shown) == 3
    dispatched = shown[1]
    assert "王芳 Wang Fang" in dispatched.text
    # Received at 2026-…T…Z; the company's zone (Asia/Shanghai) is UTC+8.
    assert "engineering" in dispatched.find_element("css selector", "table.diff").text
    assert "同一问题第三次投诉" in shown[2].text
    console.screenshot("ticket-timeline")


def test_as_of_slider_shows_the_issue_at_that_version(
    console: Console, world: dict[str, Any]
) -> None:
    console.sign_in(AUDITOR)
    console.open_issue("ticket", world["ticket"]["number"])
    console.text_of("#asof-status", "dispatched")
    slider = console.find("#asof-slider")
    console.driver.execute_script(
        "arguments[0].value = 1; arguments[0].dispatchEvent(new Event('change'))", slider
    )
    console.text_of("#asof-status", "received")
    assert console.find("#asof-department").text == "—"
    assert "v1" in console.find("#asof-caption").text
    # The current state above is unchanged.
    assert "dispatched" in console.find("#issue-status").text


def test_trace_graph_shows_the_linked_nonconformance_and_clicks_through(
    console: Console, world: dict[str, Any]
) -> None:
    console.sign_in(AUDITOR)
    console.open_issue("ticket", world["ticket"]["number"])
    node = console.find(f"#trace-node-{world['nc']['number']}")
    console.find(f"#trace-node-{world['reinspection']['number']}")
    console.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", console.find("#trace")
    )
    console.screenshot("trace-graph")
    node.click()
    console.text_of("#issue-number", world["nc"]["number"])
    # …and back: the NC's graph shows the ticket it came from.
    console.find(f"#trace-node-{world['ticket']['number']}")


def test_audit_pack_download_and_the_issues_chain(console: Console, world: dict[str, Any]) -> None:
    console.sign_in(AUDITOR)
    console.open_issue("ticket", world["ticket"]["number"])
    console.find("#download-pack").click()
    result = console.text_of("#pack-result", "Downloaded")
    assert f"audit-pack-{world['ticket']['number']}.json" in result
    assert re.search(r"SHA-256 [0-9a-f]{64}", result)
    console.find("#verify-chain").click()
    assert "intact" in console.text_of("#chain-result", "intact")


def test_dispatch_a_ticket_through_the_form_and_see_the_new_version(
    console: Console, service: Service
) -> None:
    ticket = new_ticket(service)
    console.sign_in(FRONT_DESK)
    console.open_issue("ticket", ticket["number"])
    assert "1" in console.find("#issue-version").text
    console.find("#step-dispatch").click()
    from selenium.webdriver.support.ui import Select

    Select(console.find("#form-dispatch-department")).select_by_value("engineering")
    console.find("#form-dispatch-assignee").send_keys("li.lei")
    console.find("#form-dispatch button[type=submit]").click()
    console.text_of("#issue-version", "2")
    assert "dispatched" in console.find("#issue-status").text
    assert "2" in console.find("#flash").text
    assert service.get(f"/tickets/{ticket['number']}", **AUDITOR)["assignee"] == "li.lei"


def test_the_assignee_arrives_and_puts_on_hold_through_the_field_step_forms(
    console: Console, service: Service, world: dict[str, Any]
) -> None:
    """Issue #16: the field steps in the console; a hold without a reason is refused by
    the API and the problem is shown next to the reason field."""
    staff = {"role": "staff", "user": "li.lei", "name": "李雷 Li Lei"}
    ticket = new_ticket(service, "水管漏水")
    service.post(
        f"/tickets/{ticket['id']}/dispatch",
        {"department": "engineering", "assignee": "li.lei"},
        **FRONT_DESK,
    )
    console.sign_in(staff)
    console.open_issue("ticket", ticket["number"])
    console.find("#step-arrive").click()
    console.find("#form-arrive button[type=submit]").click()
    console.text_of("#issue-version", "3")
    assert "in progress" in console.find("#issue-status").text
    console.find("#step-hold").click()
    reason = console.find("#form-hold-reason")
    reason.send_keys("   ")  # blank: the browser lets it through, the API names the field
    console.driver.execute_script("arguments[0].removeAttribute('required')", reason)
    console.find("#form-hold button[type=submit]").click()
    error = console.find('#form-hold .field-error[data-for="reason"]')  # visible once it has text
    assert error.text.strip()
    assert (
        service.get(f"/tickets/{ticket['number']}", **AUDITOR)["version"] == 3
    )  # nothing recorded
    reason.clear()
    reason.send_keys("等待配件")
    console.find("#form-hold button[type=submit]").click()
    console.text_of("#issue-version", "4")
    assert "on hold" in console.find("#issue-status").text
    got = service.get(f"/tickets/{ticket['number']}", **AUDITOR)
    assert got["status"] == "on_hold" and got["holds"][0]["reason"] == "等待配件"


def test_a_stale_form_says_so_instead_of_overwriting(
    console: Console, service: Service, world: dict[str, Any]
) -> None:
    ticket = new_ticket(service)
    console.sign_in(FRONT_DESK)
    console.open_issue("ticket", ticket["number"])
    console.find("#step-dispatch").click()
    # Someone else moves the ticket on while the form is open.
    service.post(f"/tickets/{ticket['id']}/notes", {"text": "住户来电催促"}, **FRONT_DESK)
    from selenium.webdriver.support.ui import Select

    Select(console.find("#form-dispatch-department")).select_by_value("cleaning")
    console.find("#form-dispatch-assignee").send_keys("zhao.qiang")
    console.find("#form-dispatch button[type=submit]").click()
    message = console.text_of("#form-dispatch .form-error", "stale")
    assert "version 1" in message and "version 2" in message
    assert service.get(f"/tickets/{ticket['number']}", **AUDITOR)["status"] == "received"


def test_a_bad_field_shows_the_problem_next_to_that_field(console: Console) -> None:
    console.sign_in(FRONT_DESK)
    console.open("#/new/ticket")
    from selenium.webdriver.support.ui import Select

    console.find("#form-receive-project")
    for name, value in (
        ("project", "P1"),
        ("kind", "repair"),
        ("channel", "walk_in"),
        ("priority", "high"),
    ):
        Select(console.find(f"#form-receive-{name}")).select_by_value(value)
    console.find("#form-receive-category").send_keys("water")
    console.find("#form-receive-description").send_keys("厨房漏水")
    console.find("#form-receive-reporter-name").send_keys("李娜")
    console.find("#form-receive-reporter-unit").send_keys("5-0801")
    console.find("#form-receive-reporter-phone").send_keys("call me")
    console.find("#form-receive button[type=submit]").click()
    error = console.find('#form-receive .field-error[data-for="reporter.phone"]')
    assert error.text.strip()
    # Fixed, it goes through and opens the new ticket.
    phone = console.find("#form-receive-reporter-phone")
    phone.clear()
    phone.send_keys("13900001111")
    console.find("#form-receive button[type=submit]").click()
    console.text_of("#issue-status", "received")


def test_an_auditor_sees_the_phone_masked_and_the_front_desk_whole(
    console: Console, world: dict[str, Any]
) -> None:
    number = world["ticket"]["number"]
    console.sign_in(AUDITOR)
    console.open_issue("ticket", number)
    assert console.find("#state-reporter-phone").text == "138****5678"
    assert console.find("#state-reporter-name").text == "张*"
    console.sign_in(FRONT_DESK)
    console.open_issue("ticket", number)
    assert console.find("#state-reporter-phone").text == "13812345678"
    assert console.find("#state-reporter-name").text == "张伟"
    # The front desk may not read the audit history: the console says so, it does not work around it.
    assert "may not" in console.find("#timeline-panel .denied").text


def test_an_html_description_renders_as_text(console: Console, world: dict[str, Any]) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    console.sign_in(AUDITOR)
    console.open_issue("ticket", world["ticket"]["number"])
    cell = console.find("#state-description")
    assert cell.text == XSS
    assert cell.find_elements("css selector", "script, img") == []
    assert "<script>" in console.find("#timeline").text
    with pytest.raises(NoAlertPresentException):
        _ = console.driver.switch_to.alert.text


def test_nonconformance_notice_form(
    console: Console, service: Service, world: dict[str, Any]
) -> None:
    from selenium.webdriver.support.ui import Select

    console.sign_in(QM)
    number = world["nc"]["number"]
    console.open_issue("nonconformance", number)
    console.find("#step-notice").click()
    Select(console.find("#form-notice-responsible_department")).select_by_value("engineering")
    console.find("#form-notice-responsible_person").send_keys("李雷 Li Lei")
    console.driver.execute_script("document.getElementById('form-notice').scrollIntoView()")
    console.screenshot("nonconformance-form")
    console.find("#form-notice button[type=submit]").click()
    console.text_of("#issue-status", "noticed")
    assert (
        service.get(f"/nonconformances/{number}", **AUDITOR)["responsible_person"] == "李雷 Li Lei"
    )


def test_score_and_submit_an_inspection_on_a_tablet(
    console: Console, service: Service, world: dict[str, Any]
) -> None:
    from selenium.webdriver.support.ui import Select

    inspection = service.post(
        "/inspections",
        {
            "project": "P1",
            "kind": "self_check",
            "template_id": world["template"]["id"],
            "planned_for": "2026-03-05",
            "inspectors": ["chen.jie"],
        },
        **INSPECTOR,
    )
    service.post(f"/inspections/{inspection['id']}/start", **INSPECTOR)
    d = console.driver
    d.set_window_size(820, 1180)  # a tablet held upright
    try:
        console.sign_in(INSPECTOR)
        console.open_issue("inspection", inspection["number"])
        for code, points, result in (
            ("CS-01", "10", "pass"),
            ("CS-02", "4", "fail"),
            ("SEC-01", "9", "pass"),
        ):
            card = f"#score-{code}"
            console.find(f"{card}-points").send_keys(points)
            Select(console.find(f"{card}-result")).select_by_value(result)
            if result == "fail":
                console.find(f"{card}-finding").send_keys("两宗投诉超过24小时未回复")
            console.find(f"{card} button[type=submit]").click()
            console.text_of(f"{card} .saved", "Saved")
        console.screenshot("inspection-scoring-tablet")
        console.find("#step-submit").click()
        console.find("#form-submit button[type=submit]").click()
        console.text_of("#issue-status", "submitted")
        assert console.find("#state-score").text not in ("", "—")
    finally:
        d.set_window_size(1366, 900)


def test_integrity_screen_shows_the_store_status_and_ledger_head(console: Console) -> None:
    console.sign_in(AUDITOR)
    console.open("#/integrity")
    assert "Intact" in console.text_of("#integrity-status", "Intact")
    assert len(console.find("#integrity-result dd.hash").text) == 64
    console.screenshot("integrity")


def test_a_ticket_shows_its_evidence_photos_as_thumbnails(
    console: Console, service: Service, world: dict[str, Any]
) -> None:
    """attach (docs/attachments.md): a before photo named at reception is on the ticket's
    screen as a thumbnail the console fetched with the token (a blob: image)."""
    from tests.attach_files import photo

    r = service.http.post(
        "/attachments",
        files={"file": ("门厅漏水.jpg", photo(color=(30, 90, 160)), "image/jpeg")},
        headers={"Authorization": f"Bearer {service.token(**FRONT_DESK)}"},
    )
    assert r.status_code == 201, r.text
    digest = r.json()["digest"]
    with_photo = service.post(
        "/tickets",
        {
            "project": "P1",
            "kind": "repair",
            "channel": "phone",
            "priority": "normal",
            "category": "水电维修",
            "description": "门厅漏水",
            "reporter": {"name": "张伟", "unit": "3-1202", "phone": "13812345678"},
            "attachments": [digest],
        },
        **FRONT_DESK,
    )
    console.sign_in(FRONT_DESK)
    console.open_issue("ticket", with_photo["number"])
    figure = console.find(f"#attachments figure[data-digest='{digest}']")
    console.wait(
        lambda d: d.execute_script(
            "const i = document.querySelector('#attachments img.thumb');"
            " return i && i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:');"
        )
    )
    assert "receive" in figure.text and "image/jpeg" in figure.text
    console.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", figure)
    console.screenshot("ticket-evidence")


def test_no_request_leaves_127_0_0_1_and_no_csp_violation(
    console: Console, service: Service
) -> None:
    d = console.driver
    urls = d.execute_script(FETCHED)
    assert len(urls) > 5
    assert all(u.startswith(service.base + "/") for u in urls), [
        u for u in urls if not u.startswith(service.base)
    ]
    # Swagger UI at /docs, from local files.
    d.get(service.base + "/docs")
    console.signed_in_as = None
    console.find(".swagger-ui .info .title", timeout=20)
    urls = d.execute_script(FETCHED)
    assert any(u.endswith("/openapi.json") for u in urls)
    assert all(u.startswith(service.base + "/") for u in urls), urls
    problems = [
        e["message"]
        for e in d.get_log("browser")
        if "Content Security Policy" in e["message"]
        or (e["level"] == "SEVERE" and not EXPECTED_REFUSAL.search(e["message"]))
    ]
    assert problems == []
