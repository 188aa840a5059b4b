"""Webhooks and e-mail against real servers on 127.0.0.1: a receiver that fails, times
out and recovers gets every delivery, signed, in position order, while no database
connection waits on it; 410 disables a subscription; bad URLs are 422; e-mail goes
through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from qualtrace.settings import Settings
from tests.receiver import Receiver

SECRET = "s3cret-s3cret-s3cret"
DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}
FD = {"role": "front_desk", "user": "fd-1", "name": "Front Desk"}


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:  # a free port (aiosmtpd's readiness check cannot use port 0)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@pytest.fixture
def settings(db_url: str, smtp: tuple[int, Mailbox]) -> Settings:
    return Settings(
        database_url=db_url,
        pool_size=4,
        read_wait_seconds=5.0,
        webhook_timeout_seconds=1.0,
        delivery_backoff_seconds=0.05,
        delivery_backoff_cap_seconds=0.2,
        delivery_max_attempts=4,
        smtp_host="127.0.0.1",
        smtp_port=smtp[0],
        notify_emails={"staff-7": "staff7@example.com"},
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(hold_seconds=2.0).start()
    yield r
    r.stop()


def doc_verify() -> Any:
    """The receiver's check, exactly as docs/notifications.md prints it."""
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"```python\n(import hashlib.*?)```", text, re.S)
    assert code is not None
    lines = code.group(1).strip().splitlines()
    assert len(lines) <= 10
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)  # noqa: S102 - the documented snippet itself
    return scope["verify"]


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def subscribe(api: Any, url: str, **body: Any) -> dict[str, Any]:
    payload = {"url": url, "secret": SECRET, **body}
    return ok(api.post("/webhooks", payload, role="admin"), 201)


def deliveries(api: Any, hook: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/webhooks/{hook}/deliveries", role="admin"))["items"]


def wait(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def test_a_failing_then_slow_receiver_gets_every_delivery_signed_and_in_order(
    api: Any, receiver: Receiver
) -> None:
    api.setup_org()
    url = api.container.url

    def busy_connections() -> list[Any]:
        """The delivery loop's connections that are in a transaction or running a query,
        and how many of its pool's connections are checked out."""
        with psycopg.connect(url, autocommit=True) as conn:
            busy = conn.execute(
                "SELECT application_name, state FROM pg_stat_activity"
                " WHERE application_name LIKE 'qualtrace-deliveries%%' AND state <> 'idle'"
            ).fetchall()
        stats = api.container.deliveries.pool.get_stats()
        return [*busy, stats["pool_size"] - stats["pool_available"]]

    receiver.script = deque([500, "timeout"])
    receiver.on_hold = busy_connections
    hook = subscribe(api, receiver.url, event_types=["Ticket.Received", "Ticket.Dispatched"])
    assert hook["status"] == "active" and hook["secret"] == SECRET
    positions = []
    for _ in range(3):
        t = ok(api.post("/tickets", TICKET, **FD), 201)
        positions.append(t["position"])
    d = ok(
        api.post(
            f"/tickets/{t['id']}/dispatch", {"department": "engineering", "assignee": "s-1"}, **FD
        )
    )
    positions.append(d["position"])
    got = receiver.wait_for(4)
    assert [g.json["position"] for g in got] == positions  # in order, the first one retried
    assert receiver.answered[:3] == [500, "timeout", 200]
    # While the receiver held a request, no delivery connection was open or in a transaction.
    assert receiver.hold_checks == [[0]]
    verify = doc_verify()
    for g in got:
        assert verify(SECRET, g.headers, g.body)
        assert not verify("another-secret-value", g.headers, g.body)
        assert g.headers["X-Qualtrace-Position"] == str(g.json["position"])
    assert got[0].json["event"]["data"]["reporter"]["phone"] == "138****5678"
    rows = wait(lambda: [r for r in deliveries(api, hook["id"]) if r["status"] == "sent"])
    assert len(rows) == 4 and rows[0]["attempts"] == 3
    assert {r["attempts"] for r in rows[1:]} == {1}
    listed = ok(api.get("/webhooks", role="admin"))["items"]
    assert listed[0]["deliveries"] == {"sent": 4} and "secret" not in listed[0]


def test_dead_after_the_last_attempt_and_the_next_position_goes_on(
    api: Any, receiver: Receiver
) -> None:
    api.setup_org()
    receiver.script = deque([503, 503, 503, 503])
    hook = subscribe(api, receiver.url, event_types=["Ticket.Received"])
    first = ok(api.post("/tickets", TICKET, **FD), 201)
    second = ok(api.post("/tickets", TICKET, **FD), 201)
    got = receiver.wait_for(1)
    assert [g.json["position"] for g in got] == [second["position"]]
    rows = wait(lambda: (r := deliveries(api, hook["id"])) and r[-1]["status"] == "sent" and r)
    assert [(r["position"], r["status"], r["attempts"]) for r in rows] == [
        (first["position"], "dead", 4),
        (second["position"], "sent", 1),
    ]
    assert rows[0]["last_status"] == 503


def test_a_410_disables_the_subscription(api: Any, receiver: Receiver) -> None:
    api.setup_org()
    receiver.script = deque([410])
    hook = subscribe(api, receiver.url, event_types=["*"])
    ok(api.post("/tickets", TICKET, **FD), 201)
    ok(api.post("/tickets", TICKET, **FD), 201)
    listed = wait(
        lambda: [
            w for w in ok(api.get("/webhooks", role="admin"))["items"] if w["status"] == "disabled"
        ]
    )
    assert listed and "410" in listed[0]["status_reason"]
    time.sleep(0.3)
    assert receiver.got == []  # nothing more is sent to it
    rows = deliveries(api, hook["id"])
    # The first is dead; the second, if it was derived before the subscription was
    # disabled, is never sent (and none is added after).
    assert rows[0]["status"] == "dead" and rows[0]["last_status"] == 410
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in rows[1:])


@pytest.mark.parametrize(
    "url, why",
    [
        ("ftp://example.com/hook", "http"),
        ("javascript:alert(1)", "http"),
        ("http://example.com/" + "a" * 2000, "2000"),
        ("http://testserver/hook", "itself"),
        ("", "required"),
    ],
)
def test_a_bad_webhook_url_is_422_and_nothing_is_registered(api: Any, url: str, why: str) -> None:
    r = api.post("/webhooks", {"url": url, "event_types": ["*"]}, role="admin")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "url" in r.text and why in r.text.replace(",", "")
    assert ok(api.get("/webhooks", role="admin"))["items"] == []


def test_a_webhook_points_nowhere_near_this_service_and_only_admins_manage_them(
    api: Any, receiver: Receiver
) -> None:
    own = api.container.settings.public_urls
    assert own == []
    bad = api.post("/webhooks", {"url": receiver.url, "event_types": ["Nope"]}, role="admin")
    assert bad.status_code == 422 and "event_types.0" in bad.text
    kinds = api.post("/webhooks", {"url": receiver.url, "notification_kinds": ["x"]}, role="admin")
    assert kinds.status_code == 422 and "notification_kinds.0" in kinds.text
    assert api.post("/webhooks", {"url": receiver.url}, role="admin").status_code == 422
    assert (
        api.post(
            "/webhooks", {"url": receiver.url, "event_types": ["*"]}, role="quality_manager"
        ).status_code
        == 403
    )
    hook = subscribe(api, receiver.url, event_types=["*"])
    gone = api.client.delete(f"/webhooks/{hook['id']}", headers=api.token("admin"))
    assert gone.status_code == 200 and gone.json()["status"] == "deleted"
    again = api.client.delete(f"/webhooks/{hook['id']}", headers=api.token("admin"))
    assert again.status_code == 200
    assert ok(api.get("/webhooks", role="admin"))["items"] == []


def test_a_notification_is_mailed_through_a_real_smtp_server(
    api: Any, smtp: tuple[int, Mailbox]
) -> None:
    api.setup_org()
    _, box = smtp
    before = len(box.messages)
    t = ok(api.post("/tickets", TICKET, **FD), 201)
    ok(
        api.post(
            f"/tickets/{t['id']}/dispatch",
            {"department": "engineering", "assignee": "staff-7"},
            **FD,
        )
    )
    wait(lambda: len(box.messages) > before)
    mail = box.messages[before]
    assert mail.rcpt_tos == ["staff7@example.com"]
    text = mail.content.decode("utf-8", "replace")
    assert t["number"] in text
    time.sleep(0.2)
    assert len(box.messages) == before + 1  # once
