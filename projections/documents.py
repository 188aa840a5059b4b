"""Reads for printable documents: where a document comes from in the store (the issue's
event at the version printed, the ledger entry sealing it, the ledger's head), and the
figures of a project's monthly report that no list read gives as such.

The documents themselves are rendered by `api/documents/` from these rows and from the
same JSON the GET endpoints return; nothing here writes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.reads import Row, fetch_all, fetch_one
from store.integrity import EVENTS_TABLE

#: More than this many open nonconformances are summarised, not listed one by one.
MAX_LISTED = 200


def issue_seal(pool: Any, issue_id: Any, version: int) -> Row | None:
    """The stored event of `issue_id` at `version` (its position and event hash: the
    head of the issue's own chain at that version), the issue's first position, and the
    ledger entry (seq, chain_hash) sealing it, None while the ledger has not reached it."""
    return fetch_one(
        pool,
        f"""SELECT e.notification_id AS position, e.event_hash,
                   (SELECT min(f.notification_id) FROM public.{EVENTS_TABLE} f
                     WHERE f.originator_id = e.originator_id) AS first_position,
                   l.seq AS ledger_seq, l.chain_hash AS ledger_chain_hash
              FROM public.{EVENTS_TABLE} e
              LEFT JOIN qt_read.ledger l ON l.position = e.notification_id
             WHERE e.originator_id = %s AND e.originator_version = %s""",
        (str(issue_id), version),
    )


def ledger_head(pool: Any) -> Row | None:
    """The ledger's last sealed entry: the store-wide hash chain's head."""
    return fetch_one(
        pool, "SELECT seq, position, chain_hash FROM qt_read.ledger ORDER BY seq DESC LIMIT 1"
    )


def month_inspections(pool: Any, project: str, month: str) -> list[Row]:
    """The project's inspections planned in `month` (YYYY-MM), in planned order."""
    return fetch_all(
        pool,
        """SELECT * FROM qt_read.inspections WHERE project = %s AND month = %s
            ORDER BY planned_for, number""",
        (project, month),
    )


def open_nonconformances(pool: Any, project: str, before: date) -> list[Row]:
    """The project's nonconformances raised before `before` and not closed or
    cancelled now, oldest first."""
    return fetch_all(
        pool,
        """SELECT * FROM qt_read.nonconformances
            WHERE project = %s AND status NOT IN ('closed', 'cancelled') AND raised_at < %s
            ORDER BY raised_at, number LIMIT %s""",
        (project, before, MAX_LISTED),
    )


def published_surveys(pool: Any, projects: list[str], before: Any) -> list[Row]:
    """Published campaigns including any of `projects`, published before `before`,
    oldest first (the CSI trend)."""
    return fetch_all(
        pool,
        """SELECT id, number, title, period_start, period_end, n, csi, cli, published_at,
                  projects, regions
             FROM qt_read.surveys
            WHERE status = 'published' AND projects && %s::text[] AND published_at < %s
            ORDER BY published_at, number""",
        (projects, before),
    )
