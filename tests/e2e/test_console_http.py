"""The console and /docs over HTTP: served by the service itself, from local files, with
a strict Content-Security-Policy and no external origin anywhere in what they load."""

from __future__ import annotations

import re
from typing import Any

import pytest

from console.routes import CONSOLE_CSP, STATIC

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def test_root_redirects_to_the_console(api: Any) -> None:
    r = api.client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/console"


@pytest.mark.parametrize(
    "path", ["/console", "/console/", "/console/static/js/app.js", "/console/static/style.css"]
)
def test_console_responses_carry_the_security_headers(api: Any, path: str) -> None:
    r = api.client.get(path)
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP == CONSOLE_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_modules_are_served_as_javascript(api: Any) -> None:
    r = api.client.get("/console/static/js/app.js")
    assert r.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")


def test_the_console_page_has_no_inline_script_or_style_and_no_external_origin(api: Any) -> None:
    html = api.client.get("/console").text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html and " style=" not in html
    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
            assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML\(|DOMParser", text), (
                path
            )
            assert "document.write" not in text and not re.search(r"\beval\(", text), path


def test_docs_is_swagger_ui_from_local_files_under_its_own_csp(api: Any) -> None:
    r = api.client.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp
    assert "http" not in csp
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) == []
    sources = re.findall(r"""(?:src|href)="([^"]+)\"""", r.text)
    assert sources and all(s.startswith("/console/static/") or s == "data:," for s in sources)
    for s in sources:
        if s.startswith("/"):
            assert api.client.get(s).status_code == 200, s


def test_console_config_names_the_company_time_zone_and_nothing_secret(api: Any) -> None:
    body = api.client.get("/console/config.json").json()
    assert body["timezone"] == "Asia/Shanghai"
    assert set(body) == {"timezone", "version"}


def test_a_missing_static_file_is_404_not_a_directory_listing(api: Any) -> None:
    assert api.client.get("/console/static/../../api/app.py").status_code == 404
    assert api.client.get("/console/static/nothing.js").status_code == 404
