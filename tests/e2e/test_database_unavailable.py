"""While the database refuses connections the service answers 503 with Retry-After (never
500), readiness says so, nothing is recorded; once it is back the same process answers
again without a restart, and the retried command is recorded exactly once
(store/availability.py, docs/faults.md)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.e2e.test_ticket_lifecycle import TICKET


def _events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM qualtrace_events").fetchone()
    assert row is not None
    return int(row[0])


def _allow_connections(admin_url: str, dbname: str, allow: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:  # and every open session goes, as in a restart
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )


def test_a_command_while_the_database_is_away_gets_503_and_is_recorded_once_when_retried(
    api: Any, pg_admin_url: str, db_url: str
) -> None:
    api.setup_org()
    r = api.post("/tickets", TICKET, role="front_desk", headers={"Idempotency-Key": "k-before"})
    assert r.status_code == 201, r.text
    before = _events(db_url)
    dbname = str(conninfo_to_dict(db_url)["dbname"])

    # The database goes away: every session is terminated and new ones are refused.
    _allow_connections(pg_admin_url, dbname, False)
    try:
        r = api.post("/tickets", TICKET, role="front_desk", headers={"Idempotency-Key": "k-away"})
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "database is unavailable" in r.json()["detail"]
        # Reads too, and readiness says not ready (with the same Retry-After).
        r = api.get("/tickets", role="front_desk")
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        r = api.client.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert r.headers["Retry-After"] == "1"
    finally:
        _allow_connections(pg_admin_url, dbname, True)
    # Nothing of the refused command was recorded.
    assert _events(db_url) == before

    # Back: the same app (no restart) answers the retried command, once.
    r = api.post("/tickets", TICKET, role="front_desk", headers={"Idempotency-Key": "k-away"})
    assert r.status_code == 201, r.text
    again = api.post("/tickets", TICKET, role="front_desk", headers={"Idempotency-Key": "k-away"})
    assert again.status_code == 201 and again.json()["id"] == r.json()["id"]
    assert _events(db_url) == before + 1
    assert api.client.get("/readyz").status_code == 200
