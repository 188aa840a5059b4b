"""The read models dispatch suggestions stand on (`staff`, and the `tickets` columns
`assigned_at` and `assignee_hold_seconds`) rebuild from the events to the same rows and
the same candidates as were built event by event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections.staff import dispatch_candidates
from tests.e2e.test_dispatch_suggestions import T0, Desk, desk, history  # noqa: F401


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        out = {}
        for query in (
            "SELECT * FROM qt_read.staff ORDER BY id",
            "SELECT id, assignee, status, assigned_at, assignee_hold_seconds, resolved_at"
            " FROM qt_read.tickets ORDER BY id",
        ):
            out[query] = cur.execute(query).fetchall()
        return out


def test_rebuilt_staff_and_ticket_rows_give_the_same_candidates(desk: Desk) -> None:  # noqa: F811
    history(desk)
    desk.at(T0 + timedelta(days=10)).post("/staff/chen.jie/skills", {"skills": ["other"]})
    c = desk.api.container
    c.run_projections_once()
    since = T0 + timedelta(days=10) - timedelta(days=30)
    before, candidates = rows(c.url), dispatch_candidates(c.pool, "P1", since)
    assert len(candidates) == 5 and any(x.resolution_hours for x in candidates)
    assert any(r["assignee_hold_seconds"] == 3600 for r in before[list(before)[1]])
    for name in ("staff", "tickets"):
        assert c.rebuild(name)["generation"] == 2
    assert rows(c.url) == before
    assert dispatch_candidates(c.pool, "P1", since) == candidates
