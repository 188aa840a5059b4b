"""Idempotency-Key (API.md): a retry returns the first answer and records nothing new,
also when the duplicates race; the key is stored in the same transaction as the events."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import psycopg

TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def events(api: Any) -> int:
    with psycopg.connect(api.container.url) as conn:
        return int(conn.execute("SELECT count(*) FROM qualtrace_events").fetchone()[0])  # type: ignore[index]


def test_a_retry_returns_the_first_answer_and_records_nothing_new(api: Any) -> None:
    api.setup_org()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/tickets", TICKET, role="front_desk", headers=key)
    assert first.status_code == 201, first.text
    before = events(api)
    # The same body with other key order and whitespace is the same request.
    reordered = json.dumps(dict(reversed(list(TICKET.items()))), indent=2).encode()
    again = api.client.post(
        "/tickets",
        content=reordered,
        headers={**api.token("front_desk"), **key, "Content-Type": "application/json"},
    )
    assert again.status_code == 201 and again.json() == first.json()
    assert events(api) == before
    # On a step of an existing issue too.
    ref = first.json()["id"]
    dkey = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"department": "engineering", "assignee": "wang.wei"}
    d1 = api.post(f"/tickets/{ref}/dispatch", body, role="supervisor", headers=dkey)
    d2 = api.post(f"/tickets/{ref}/dispatch", body, role="supervisor", headers=dkey)
    assert d1.status_code == d2.status_code == 200 and d1.json() == d2.json()
    assert api.get(f"/tickets/{ref}", role="supervisor").json()["version"] == 2


def test_the_same_key_with_another_body_is_422_and_records_nothing(api: Any) -> None:
    api.setup_org()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert api.post("/tickets", TICKET, role="front_desk", headers=key).status_code == 201
    before = events(api)
    r = api.post("/tickets", {**TICKET, "priority": "low"}, role="front_desk", headers=key)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["path"] == "Idempotency-Key"
    assert events(api) == before


def test_keys_belong_to_their_principal(api: Any) -> None:
    api.setup_org()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    a = api.post("/tickets", TICKET, role="front_desk", headers=key)
    b = api.post("/tickets", TICKET, role="front_desk", user="desk-2", headers=key)
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_racing_duplicates_over_http_record_one_set_of_events(api: Any) -> None:
    api.setup_org()
    ticket = api.post("/tickets", TICKET, role="front_desk").json()
    before = events(api)
    headers = {**api.token("supervisor"), "Idempotency-Key": str(uuid.uuid4())}
    create_headers = {**api.token("front_desk"), "Idempotency-Key": str(uuid.uuid4())}
    n = 8
    barrier = threading.Barrier(2 * n, timeout=30)
    answers: list[Any] = []
    lock = threading.Lock()

    def send(path: str, body: dict[str, Any], h: dict[str, str]) -> None:
        barrier.wait()
        r = api.client.post(path, json=body, headers=h)
        with lock:
            answers.append((path, r.status_code, r.json()))

    threads = [
        threading.Thread(
            target=send,
            args=(
                f"/tickets/{ticket['id']}/escalate",
                {"reason": "多次投诉", "severity": "major"},
                headers,
            ),
        )
        for _ in range(n)
    ] + [threading.Thread(target=send, args=("/tickets", TICKET, create_headers)) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    escalations = [(s, b) for p, s, b in answers if p != "/tickets"]
    creations = [(s, b) for p, s, b in answers if p == "/tickets"]
    # Every duplicate got the one answer of the request that won.
    assert {s for s, _ in escalations} == {200} and len({str(b) for _, b in escalations}) == 1, (
        escalations
    )
    assert {s for s, _ in creations} == {201} and len({str(b) for _, b in creations}) == 1, (
        creations
    )
    # One escalation (ticket event + raised nonconformance) and one new ticket: three events.
    assert events(api) == before + 3
    detail = api.get(f"/tickets/{ticket['id']}", role="supervisor").json()
    assert detail["version"] == 2
    listed = api.get(
        "/tickets", role="supervisor", params={"min_position": escalations[0][1]["position"]}
    ).json()
    assert len(listed["items"]) == 2


def test_the_key_is_stored_in_the_transaction_that_records_the_events(api: Any) -> None:
    api.setup_org()
    ticket = api.post("/tickets", TICKET, role="front_desk").json()
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key}
    # A command that fails (stale If-Match) stores no key: the retry does the work.
    stale = api.post(
        f"/tickets/{ticket['id']}/notes",
        {"text": "已联系"},
        role="supervisor",
        headers={**headers, "If-Match": "7"},
    )
    assert stale.status_code == 412
    ok = api.post(
        f"/tickets/{ticket['id']}/notes", {"text": "已联系"}, role="supervisor", headers=headers
    )
    assert ok.status_code == 200 and ok.json()["version"] == 2
    # The key's row and the event's row were written by one transaction (same xmin).
    with psycopg.connect(api.container.url) as conn:
        key_xid = conn.execute(
            "SELECT xmin::text FROM idempotency_keys WHERE key = %s", (key,)
        ).fetchone()
        event_xid = conn.execute(
            "SELECT xmin::text FROM qualtrace_events WHERE notification_id = %s",
            (ok.json()["position"],),
        ).fetchone()
    assert key_xid is not None and key_xid == event_xid
