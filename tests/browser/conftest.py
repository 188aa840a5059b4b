"""A real service on a 127.0.0.1 port and one headless Chromium per module.

Chromium and chromedriver come from Debian's packages (`/usr/bin/chromium`,
`/usr/bin/chromedriver`; `QUALTRACE_CHROMIUM` / `QUALTRACE_CHROMEDRIVER` override).
Without them these tests skip, unless `QUALTRACE_REQUIRE_BROWSER=1` (as `.ci/run` sets),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import live_service

CHROMIUM = os.environ.get("QUALTRACE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("QUALTRACE_CHROMEDRIVER", "/usr/bin/chromedriver")
#: Where the tests save screenshots of the main screens: a temporary folder, unless
#: `QUALTRACE_SCREENSHOTS` names one (`QUALTRACE_SCREENSHOTS=docs/screenshots` refreshes
#: the ones docs/console.md shows).
SCREENSHOTS = Path(
    os.environ.get("QUALTRACE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "qualtrace-screenshots"
)


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    reason = f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("QUALTRACE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + "; QUALTRACE_REQUIRE_BROWSER=1 makes this a failure", pytrace=False)
    pytest.skip(reason)


class Service:
    """The composed service behind uvicorn on 127.0.0.1, and an HTTP client for set-up."""

    def __init__(self, container: Any, base: str) -> None:
        self.container = container
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)
        self._tokens: dict[tuple[Any, ...], str] = {}

    def token(
        self,
        role: str,
        user: str | None = None,
        name: str | None = None,
        projects: tuple[str, ...] = (),
        region: str | None = None,
    ) -> str:
        from api.tokens import TokenStore

        key = (role, user, name, projects, region)
        if key not in self._tokens:
            _, self._tokens[key] = TokenStore(self.container.url).create(
                user or f"{role}-1",
                name or role.replace("_", " ").title(),
                role,
                list(projects),
                region,
            )
        return self._tokens[key]

    def post(self, path: str, body: Any = None, role: str = "admin", **who: Any) -> dict[str, Any]:
        r = self.http.post(
            path, json=body or {}, headers={"Authorization": f"Bearer {self.token(role, **who)}"}
        )
        assert r.status_code in (200, 201), r.text
        return r.json()

    def get(
        self, path: str, role: str = "auditor", params: Any = None, **who: Any
    ) -> dict[str, Any]:
        r = self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {self.token(role, **who)}"}
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def service(pg_admin_url: str, template_db: str) -> Iterator[Service]:
    _browser_or_skip()
    with live_service(
        pg_admin_url,
        template_db,
        "browser-test-server",
        pool_size=4,
        rate_limit_burst=2000,
        rate_limit_per_second=500,
    ) as (container, base):
        svc = Service(container, base)
        try:
            yield svc
        finally:
            svc.http.close()


@pytest.fixture(scope="module")
def browser(service: Service) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        "--lang=zh-CN",
        # Chromium's own background traffic (updates, sync, safe browsing) is not ours:
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
