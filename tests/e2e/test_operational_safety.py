"""Operational safety: rate limit per principal (429 + Retry-After), request deadlines
(504), and structured JSON logs that never carry a phone number or a token."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.logs import JsonFormatter, RedactingFilter

TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水，业主电话 138 1234 5678",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def client_with(container: Any, **overrides: Any) -> TestClient:
    """The HTTP app over the same container with other settings."""
    settings = container.settings.model_copy(update=overrides)
    return TestClient(create_app(dataclasses.replace(container, settings=settings)))


def test_a_principal_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected(
    api: Any,
) -> None:
    api.setup_org()
    with client_with(api.container, rate_limit_per_second=0.2, rate_limit_burst=3) as client:
        busy, calm = api.token("auditor"), api.token("supervisor")
        assert [client.get("/tickets", headers=busy).status_code for _ in range(3)] == [
            200,
            200,
            200,
        ]
        r = client.get("/tickets", headers=busy)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["retry-after"]) >= 1
        # Commands count too, and are refused before anything is recorded.
        assert (
            client.post("/regions", json={"code": "BJ", "name": "北京"}, headers=busy).status_code
            == 429
        )
        assert client.get("/tickets", headers=calm).status_code == 200
        # Health checks carry no principal and are never limited.
        assert all(client.get("/healthz").status_code == 200 for _ in range(10))


def test_guessing_tokens_is_throttled_per_address_without_locking_out_valid_principals(
    api: Any,
) -> None:
    with client_with(api.container, rate_limit_per_second=0.2, rate_limit_burst=3) as client:
        guesses = [
            client.get("/tickets", headers={"Authorization": f"Bearer qt_{i:016x}_guess"})
            for i in range(4)
        ]
        assert [r.status_code for r in guesses] == [401, 401, 401, 429]
        assert int(guesses[-1].headers["retry-after"]) >= 1
        assert client.get("/tickets", headers=api.token("auditor")).status_code == 200


def test_requests_without_a_token_are_limited_per_address_and_principals_are_not(
    api: Any,
) -> None:
    with client_with(api.container, rate_limit_per_second=0.2, rate_limit_burst=3) as client:
        # Public pages and protected ones alike: without a token, one bucket per address.
        anonymous = [client.get("/openapi.json").status_code for _ in range(2)]
        anonymous.append(client.get("/tickets").status_code)
        assert anonymous == [200, 200, 401]
        for path in ("/openapi.json", "/tickets"):
            r = client.get(path)
            assert r.status_code == 429, path
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["retry-after"]) >= 1
            assert "without a token" in r.json()["detail"]
        # A principal behind the same address has its own bucket ...
        assert client.get("/tickets", headers=api.token("auditor")).status_code == 200
        # ... and probes are never limited.
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))
    with client_with(api.container, rate_limit_per_second=0.2, rate_limit_burst=3) as client:
        # A bearer header on a page that checks no token does not get around the limit:
        # such a request is counted against the address once answered.
        fake = {"Authorization": "Bearer qt_0000000000000000_guess"}
        assert [client.get("/openapi.json", headers=fake).status_code for _ in range(3)] == [
            200,
            200,
            200,
        ]
        assert client.get("/openapi.json").status_code == 429


def test_a_request_past_its_deadline_is_504_problem_json(api: Any) -> None:
    api.setup_org()
    with client_with(api.container, request_timeout_seconds=0.3, read_wait_seconds=3) as client:
        # Waiting for a position the read side will not reach in time outlives the deadline.
        r = client.get("/tickets", headers=api.token("supervisor"), params={"min_position": 10**9})
        assert r.status_code == 504
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Idempotency-Key" in r.json()["detail"]
        assert client.get("/tickets", headers=api.token("supervisor")).status_code == 200


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record of every logger, through the service's own filter and formatter."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# A mainland mobile number standing on its own (not digits inside a UUID or a longer number).
PHONES = re.compile(r"(?<![\w\-])1\d{2}[ \-.]?\d{4}[ \-.]?\d{4}(?!\d)")


def test_no_log_line_carries_a_phone_number_or_a_token(api: Any, log_lines: io.StringIO) -> None:
    api.setup_org()
    headers = api.token("front_desk")
    token = headers["Authorization"].split()[1]
    # A day at the front desk: tickets with phones, reads of them, mistakes, refusals.
    t = api.post("/tickets", TICKET, role="front_desk").json()
    api.get(f"/tickets/{t['id']}", role="front_desk")
    api.post(
        f"/tickets/{t['id']}/dispatch",
        {"department": "engineering", "assignee": "13812345678"},
        role="supervisor",
    )
    api.post(
        "/tickets",
        {**TICKET, "reporter": {**TICKET["reporter"], "phone": "138-1234-5678x"}},
        role="front_desk",
    )
    api.client.get("/tickets", headers={"Authorization": f"Bearer {token}x"})
    api.client.get(f"/tickets?token={token}&phone=13812345678", headers=headers)
    api.client.get(
        "/tickets",
        headers={"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"},
    )
    # And a careless log call somewhere in the service.
    logging.getLogger("qualtrace.somewhere").warning(
        "calling back %s (+86 138 1234 5678) with Bearer %s, jwt %s",
        "13812345678",
        token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    )
    try:
        raise ValueError(f"bad phone 13812345678 for token {token}")
    except ValueError:
        logging.getLogger("qualtrace.somewhere").exception("failed")
    api.container.run_projections_once()

    lines = [line for line in log_lines.getvalue().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records) >= 8
    for line in lines:
        assert not PHONES.search(line), line
        assert token not in line and token[:20] not in line, line
        assert "eyJhbGciOiJSUzI1NiJ9" not in line, line
    # The access log names the correlation id and the principal, never the query string.
    access = [r for r in records if r["logger"] == "qualtrace.access"]
    assert len(access) >= 7
    assert all(r["correlation_id"] and "?" not in r["path"] for r in access)
    assert {r["principal_id"] for r in access} >= {"front_desk-1", "supervisor-1", None}
    assert any("[redacted]" in r["msg"] for r in records if r["logger"] == "qualtrace.somewhere")
