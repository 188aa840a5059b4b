"""Tamper evidence: every stored event is hashed when written, chained per issue and,
through the ledger, across the store; the database refuses edits; `verify` catches an
edit made around the triggers by a superuser and names the first broken link."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg
import pytest

from application.base import Call
from application.security import Principal
from store.integrity import GENESIS, event_hash, state_digest

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")
STAFF = Principal("wang.wei", "Wang Wei", "staff")

TABLE = "qualtrace_events"


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id="integrity-test")


def two_tickets(app: Any) -> tuple[str, str]:
    """Region, project and two tickets with a few steps each; returns their ids."""
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "绿地花园", "SH")
    ids = []
    for desc in ("厨房漏水", "电梯异响"):
        t = app.tickets.receive(
            call(DESK),
            project="P1",
            kind="repair",
            channel="phone",
            priority="normal",
            category="维修",
            description=desc,
            reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        )
        app.tickets.dispatch(call(SUP), t.id, "engineering", "wang.wei")
        app.tickets.accept(call(STAFF), t.id)
        app.tickets.note(call(STAFF), t.id, "parts ordered")
        ids.append(t.id)
    return ids[0], ids[1]


def row(conn: psycopg.Connection[Any], issue_id: str, version: int) -> dict[str, Any]:
    r = conn.execute(
        f"SELECT notification_id, topic, state, prev_hash, event_hash FROM {TABLE}"
        " WHERE originator_id=%s AND originator_version=%s",
        (issue_id, version),
    ).fetchone()
    assert r is not None
    return {
        "position": r[0],
        "topic": r[1],
        "state": bytes(r[2]),
        "prev_hash": r[3],
        "event_hash": r[4],
    }


def tamper(url: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run statements as the superuser with the user triggers switched off, then back on."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        for stmt, params in statements:
            conn.execute(stmt, params)
        conn.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


@pytest.fixture
def sealed(container: Any) -> tuple[Any, str, str]:
    """Two tickets written and sealed by the ledger; verify passes before any tampering."""
    a, b = two_tickets(container.app)
    container.run_projections_once()
    result = container.app.audit.verify_integrity()
    assert result.ok, result.as_dict()
    assert result.sealed == result.events and result.unsealed == 0
    return container, a, b


def test_every_event_is_hashed_when_written_and_chained_to_the_previous_version_of_its_issue(
    container: Any,
) -> None:
    a, _ = two_tickets(container.app)
    with psycopg.connect(container.url) as conn:
        first, second = row(conn, a, 1), row(conn, a, 2)
    assert first["prev_hash"] == GENESIS
    assert second["prev_hash"] == first["event_hash"]
    # Anyone can recompute the hash from the stored row with the standard library.
    assert second["event_hash"] == event_hash(
        a, 2, second["topic"], second["prev_hash"], state_digest(second["state"])
    )


def test_the_database_refuses_update_delete_and_truncate_of_events(container: Any) -> None:
    a, _ = two_tickets(container.app)
    with psycopg.connect(container.url, autocommit=True) as conn:
        for stmt in (
            f"UPDATE {TABLE} SET topic = topic WHERE originator_id = '{a}'",
            f"DELETE FROM {TABLE} WHERE originator_id = '{a}'",
            f"TRUNCATE {TABLE}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="immutable"):
                conn.execute(stmt)
        count = conn.execute(
            f"SELECT count(*) FROM {TABLE} WHERE originator_id=%s", (a,)
        ).fetchone()
    assert count is not None and count[0] == 4


def test_verify_catches_a_changed_byte_of_state(sealed: tuple[Any, str, str]) -> None:
    container, a, _ = sealed
    with psycopg.connect(container.url) as conn:
        target = row(conn, a, 3)
    state = bytearray(target["state"])
    i = state.index(b"actor")
    state[i] = ord("A")
    tamper(
        container.url,
        (
            f"UPDATE {TABLE} SET state=%s WHERE originator_id=%s AND originator_version=3",
            (bytes(state), a),
        ),
    )
    result = container.app.audit.verify_integrity()
    assert not result.ok
    broken = result.as_dict()["first_broken_link"]
    assert broken["check"] == "event_hash"
    assert (broken["issue_id"], broken["version"], broken["position"]) == (a, 3, target["position"])


def test_verify_catches_a_rewrite_that_also_recomputes_the_issue_chain_through_the_ledger(
    sealed: tuple[Any, str, str],
) -> None:
    container, a, _ = sealed
    with psycopg.connect(container.url) as conn:
        v4 = row(conn, a, 4)
    # The forger edits the last event and recomputes its hash consistently.
    state = v4["state"].replace(b"parts ordered", b"parts arrived")
    forged = event_hash(a, 4, v4["topic"], v4["prev_hash"], state_digest(state))
    tamper(
        container.url,
        (
            f"UPDATE {TABLE} SET state=%s, event_hash=%s WHERE originator_id=%s AND originator_version=4",
            (state, forged, a),
        ),
    )
    broken = container.app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert broken["check"] == "ledger_event_hash"
    assert (broken["issue_id"], broken["version"], broken["position"]) == (a, 4, v4["position"])


def test_verify_catches_a_deleted_row(sealed: tuple[Any, str, str]) -> None:
    container, a, _ = sealed
    with psycopg.connect(container.url) as conn:
        v2 = row(conn, a, 2)
    tamper(
        container.url,
        (f"DELETE FROM {TABLE} WHERE originator_id=%s AND originator_version=2", (a,)),
    )
    result = container.app.audit.verify_integrity()
    checks = {b.check for b in result.breaks}
    broken = result.as_dict()["first_broken_link"]
    assert broken["check"] == "ledger_event_missing"
    assert (broken["issue_id"], broken["version"], broken["position"]) == (a, 2, v2["position"])
    # The issue's own chain shows the gap too.
    assert "version_sequence" in checks


def test_verify_catches_the_deletion_of_an_issues_last_event(sealed: tuple[Any, str, str]) -> None:
    container, _, b = sealed
    tamper(
        container.url,
        (f"DELETE FROM {TABLE} WHERE originator_id=%s AND originator_version=4", (b,)),
    )
    broken = container.app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert (
        broken["check"] == "ledger_event_missing"
        and broken["issue_id"] == b
        and broken["version"] == 4
    )


def test_verify_catches_two_rows_whose_states_were_swapped(sealed: tuple[Any, str, str]) -> None:
    container, a, b = sealed
    with psycopg.connect(container.url) as conn:
        ra, rb = row(conn, a, 3), row(conn, b, 3)
    tamper(
        container.url,
        (
            f"UPDATE {TABLE} SET state=%s WHERE originator_id=%s AND originator_version=3",
            (rb["state"], a),
        ),
        (
            f"UPDATE {TABLE} SET state=%s WHERE originator_id=%s AND originator_version=3",
            (ra["state"], b),
        ),
    )
    result = container.app.audit.verify_integrity()
    hashed = {(x.issue_id, x.version) for x in result.breaks if x.check == "event_hash"}
    assert hashed == {(a, 3), (b, 3)}
    assert result.as_dict()["first_broken_link"]["position"] == min(ra["position"], rb["position"])


def test_verify_catches_an_inserted_row_without_a_valid_hash(sealed: tuple[Any, str, str]) -> None:
    container, a, _ = sealed
    with psycopg.connect(container.url) as conn:
        v4 = row(conn, a, 4)
    state = v4["state"].replace(b"parts ordered", b"forged note")
    tamper(
        container.url,
        (
            f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state) VALUES (%s, 5, %s, %s)",
            (a, v4["topic"], state),
        ),
    )
    broken = container.app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert broken["check"] == "event_hash" and broken["issue_id"] == a and broken["version"] == 5


def test_verify_catches_a_well_hashed_row_slipped_into_the_sealed_range(container: Any) -> None:
    app = container.app
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "绿地花园", "SH")
    t = app.tickets.receive(
        call(DESK),
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="维修",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
    )
    # A free position inside what the ledger will seal (a rolled-back append leaves such gaps).
    with psycopg.connect(container.url, autocommit=True) as conn:
        gap = conn.execute(
            f"SELECT nextval(pg_get_serial_sequence('{TABLE}', 'notification_id'))"
        ).fetchone()
    assert gap is not None
    app.tickets.note(call(DESK), t.id, "later note")
    container.run_projections_once()
    assert app.audit.verify_integrity().ok
    with psycopg.connect(container.url) as conn:
        v1 = row(conn, t.id, 1)
    # The forger slips a whole invented ticket into the gap, hashed by the book.
    forged_id = "00000000-0000-4000-8000-000000000001"
    state = v1["state"].replace(t.id.encode(), forged_id.encode())
    forged = event_hash(forged_id, 1, v1["topic"], GENESIS, state_digest(state))
    tamper(
        container.url,
        (
            f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state, prev_hash, event_hash, notification_id)"
            " VALUES (%s, 1, %s, %s, %s, %s, %s)",
            (forged_id, v1["topic"], state, GENESIS, forged, gap[0]),
        ),
    )
    broken = app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert broken["check"] == "ledger_unsealed"
    assert (broken["issue_id"], broken["version"], broken["position"]) == (forged_id, 1, gap[0])


def test_qualtrace_verify_exits_non_zero_and_names_the_broken_link(
    sealed: tuple[Any, str, str],
) -> None:
    container, a, _ = sealed
    env = {"DATABASE_URL": container.url, "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [sys.executable, "-m", "qualtrace.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert '"ok": true' in ok.stdout
    tamper(
        container.url,
        (f"DELETE FROM {TABLE} WHERE originator_id=%s AND originator_version=3", (a,)),
    )
    bad = subprocess.run(
        [sys.executable, "-m", "qualtrace.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "ledger_event_missing" in bad.stdout and a in bad.stdout


def test_verify_catches_two_rows_whose_positions_were_swapped(sealed: tuple[Any, str, str]) -> None:
    container, a, b = sealed
    with psycopg.connect(container.url) as conn:
        ra, rb = row(conn, a, 2), row(conn, b, 2)
    # Reorder the store: each event keeps its content and hash, but takes the other's place.
    tamper(
        container.url,
        (f"UPDATE {TABLE} SET notification_id = -1 WHERE notification_id = %s", (ra["position"],)),
        (
            f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = %s",
            (ra["position"], rb["position"]),
        ),
        (f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = -1", (rb["position"],)),
    )
    result = container.app.audit.verify_integrity()
    broken = result.as_dict()["first_broken_link"]
    # The first break is at the earlier of the two places (the issue chain sees a version
    # out of order there; the ledger sees another event than the one it sealed).
    assert broken["position"] == min(ra["position"], rb["position"])
    assert broken["check"] in ("version_sequence", "ledger_event_hash")
    assert {x.position for x in result.breaks if x.check == "ledger_event_hash"} == {
        ra["position"],
        rb["position"],
    }


def test_verify_catches_a_moved_event_time_that_would_mislead_as_of(
    sealed: tuple[Any, str, str],
) -> None:
    container, a, _ = sealed
    # `occurred_at` (what as-of searches by) is stamped from the state; moving it is named.
    tamper(
        container.url,
        (
            f"UPDATE {TABLE} SET occurred_at = occurred_at - interval '1 year'"
            " WHERE originator_id=%s AND originator_version=3",
            (a,),
        ),
    )
    broken = container.app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert (broken["check"], broken["issue_id"], broken["version"]) == ("occurred_at", a, 3)
