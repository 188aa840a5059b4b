"""`GET /audit/integrity` serves the last full verification on record with its time and
position, and re-hashes only the events written since, at most a cap of them (issue #17;
store/verifications.py, docs/audit.md). `qualtrace verify` and the worker's periodic
verification record their results; two workers never verify at once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from datetime import datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from application.integrity_watch import LOCK, UNLOCK, IntegrityWatcher
from tests.e2e.test_ticket_lifecycle import TICKET

DESK = {"role": "front_desk", "user": "li.na", "name": "Li Na"}
AUDITOR = {"role": "auditor", "user": "sun.li", "name": "Sun Li"}


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM qualtrace_events").fetchone()
    return int(row[0]) if row and row[0] else 0


def recorded(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT trigger, through_position, ok FROM integrity_verifications ORDER BY id"
        ).fetchall()


def tamper(url: str, position: int) -> None:
    """Rewrite one stored event's state around the triggers (what an intruder with the
    database owner's rights could do): one more space, still the same JSON."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("ALTER TABLE qualtrace_events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE qualtrace_events SET state = state || convert_to(' ', 'UTF8')"
            " WHERE notification_id = %s",
            (position,),
        )
        conn.execute("ALTER TABLE qualtrace_events ENABLE TRIGGER USER")


def tickets(api: Any, n: int) -> list[dict[str, Any]]:
    return [ok(api.post("/tickets", TICKET, **DESK), 201) for _ in range(n)]


def test_the_first_request_verifies_a_small_store_and_later_ones_only_the_tail(api: Any) -> None:
    api.setup_org()
    first = tickets(api, 2)
    url = api.container.url
    assert recorded(url) == []
    report = ok(api.get("/audit/integrity", **AUDITOR))
    # Nothing on record, a store below the cap: verified whole now, and recorded.
    assert report["ok"] is True and report["first_broken_link"] is None
    assert report["through_position"] == head(url) == first[-1]["position"]
    assert datetime.fromisoformat(report["verified_at"])
    assert report["verified_by"] == "request" and report["events"] == head(url)
    assert report["tail"]["new_events"] == 0 and report["tail"]["complete"] is True
    assert recorded(url) == [("request", head(url), True)]

    # Written since: re-hashed by the request, not recorded.
    later = tickets(api, 3)
    report = ok(api.get("/audit/integrity", **AUDITOR))
    assert report["ok"] is True and report["through_position"] == first[-1]["position"]
    assert report["tail"]["new_events"] == 3 and report["tail"]["through_position"] == head(url)
    assert report["events"] == head(url)
    assert len(recorded(url)) == 1

    # Tampering with an event written since the last verification is found at once.
    tamper(url, later[1]["position"])
    report = ok(api.get("/audit/integrity", **AUDITOR))
    assert report["ok"] is False
    link = report["first_broken_link"]
    assert (link["check"], link["position"], link["issue_id"]) == (
        "event_hash",
        later[1]["position"],
        later[1]["id"],
    )
    assert report["tail"]["ok"] is False

    # Tampering inside the verified range (an event the last verification saw committed)
    # is found by the next full verification.
    with psycopg.connect(url) as conn:
        (verified,) = conn.execute(  # type: ignore[misc]
            "SELECT min(e.notification_id) FROM qualtrace_events e, (SELECT * FROM"
            " integrity_verifications ORDER BY id DESC LIMIT 1) v WHERE e.xid < v.snapshot_xmax"
            " AND NOT e.xid = ANY(v.snapshot_xip)"
        ).fetchone()
    assert verified is not None and verified < later[1]["position"]
    tamper(url, verified)
    report = ok(api.get("/audit/integrity", **AUDITOR))
    assert [b["position"] for b in report["broken_links"]] == [later[1]["position"]]
    api.container.app.audit.verify_and_record("test")
    report = ok(api.get("/audit/integrity", **AUDITOR))
    assert report["verified_by"] == "test" and report["through_position"] == head(url)
    assert [b["position"] for b in report["broken_links"]][:2] == [verified, later[1]["position"]]
    assert report["tail"]["new_events"] == 0


def test_a_request_re_hashes_at_most_the_cap(api: Any) -> None:
    api.setup_org()
    settings = api.container.settings.model_copy(update={"integrity_tail_cap": 2})
    capped = TestClient(create_app(dataclasses.replace(api.container, settings=settings)))
    auditor = api.token("auditor")
    # Nothing on record and a store above the cap: no full verification in the request;
    # the first events are re-hashed, and the answer says that is all it is.
    report = ok(capped.get("/audit/integrity", headers=auditor))
    assert report["verified_at"] is None and report["through_position"] is None
    assert report["tail"]["complete"] is False and report["tail"]["events"] == 2
    assert report["tail"]["through_position"] == 2 and recorded(api.container.url) == []

    api.container.app.audit.verify_and_record("test")
    before = head(api.container.url)
    tickets(api, 5)
    with capped as client:
        report = ok(client.get("/audit/integrity", headers=auditor))
    tail = report["tail"]
    assert tail["complete"] is False and tail["events"] == 2
    assert tail["after_position"] == before == report["through_position"]
    assert tail["new_events"] == 2 and tail["through_position"] == before + 2


def test_an_event_committed_late_below_the_verified_position_is_in_the_tail(api: Any) -> None:
    """Positions are drawn before commit: an event can become visible after a verification
    whose snapshot already holds higher positions. Its transaction was running when the
    snapshot was taken (it is in the recorded `snapshot_xip`), so the tail still covers it."""
    api.setup_org()
    url = api.container.url
    late = psycopg.connect(url)
    try:
        # An event inserted (position drawn) and not yet committed ...
        row = late.execute(
            "INSERT INTO qualtrace_events (originator_id, originator_version, topic, state)"
            " SELECT gen_random_uuid(), 1, topic, state FROM qualtrace_events"
            " WHERE originator_version = 1 ORDER BY notification_id LIMIT 1"
            " RETURNING notification_id"
        ).fetchone()
        assert row is not None
        position = int(row[0])
        # ... while others commit after it and a full verification runs.
        tickets(api, 1)
        api.container.app.audit.verify_and_record("test")
        report = ok(api.get("/audit/integrity", **AUDITOR))
        assert report["through_position"] > position
        late.commit()
    finally:
        late.close()
    assert ok(api.get("/audit/integrity", **AUDITOR))["ok"] is True
    tamper(url, position)
    report = ok(api.get("/audit/integrity", **AUDITOR))
    assert report["ok"] is False and report["first_broken_link"]["position"] == position


def test_the_cli_records_its_verification(api: Any) -> None:
    api.setup_org()
    tickets(api, 1)
    env = {**os.environ, "DATABASE_URL": api.container.url, "QUALTRACE_SETUP_SCHEMA": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "qualtrace.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert recorded(api.container.url) == [("cli", head(api.container.url), True)]
    report = ok(api.get("/audit/integrity", **AUDITOR))
    assert report["verified_by"] == "cli" and report["tail"]["new_events"] == 0


def test_the_worker_verifies_when_due_and_two_never_verify_at_once(api: Any) -> None:
    api.setup_org()
    url = api.container.url
    now = [1e10]
    watcher = IntegrityWatcher(api.container.app.audit, interval=3600, clock=lambda: now[0])
    assert watcher.due_in() == IntegrityWatcher.FIRST_DELAY  # nothing on record yet
    # Another process holds the verification lock: this one does not verify.
    with psycopg.connect(url, autocommit=True) as other:
        assert other.execute(LOCK).fetchone() == (True,)
        assert watcher.run_once() is False
        other.execute(UNLOCK)
    assert recorded(url) == []
    assert watcher.run_once() is True
    assert recorded(url) == [("worker", head(url), True)]
    with psycopg.connect(url) as conn:
        (at,) = conn.execute("SELECT max(verified_at) FROM integrity_verifications").fetchone()  # type: ignore[misc]
    now[0] = at.timestamp() + 600
    assert watcher.due_in() == 3000  # an hour after the last one
    now[0] = at.timestamp() + 7200
    assert watcher.due_in() == 0
    # Racing: of two watchers started together, each verification runs alone.
    twin = IntegrityWatcher(api.container.app.audit, interval=3600, clock=lambda: now[0])
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.run_once())) for w in (watcher, twin)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) in ([False, True], [True, True])  # never both at the same time
    assert len(recorded(url)) == 1 + results.count(True)
