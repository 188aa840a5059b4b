"""The event feed for integrations (`GET /events`, `GET /events/stream`): the audit
trail's rows in position order, but only up to the audit projection's tracked position.

Why that bound makes the feed gap-free: the audit projection reads the store through
`store.source.EventSource` (commit-safe order) and moves its tracked `position` only to
a value P such that every event with position <= P has been applied, in the same
transaction as the rows. So once a reader has seen the rows up to P, no row <= P can
appear later: a client that resumes after the last position it received (or after the
`safe` position of a page it read) can neither skip nor repeat an event. Rows above P
may already be there (applied out of position order); they are held back until P passes
them. The bound and the rows are read in one statement, i.e. one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from projections.reads import Row, Scope, fetch_all, scope_clause

#: The consumer whose tracked position bounds the feed (`AuditTrailProjection.name`).
FEED_CONSUMER = "audit"


@dataclass(frozen=True)
class FeedPage:
    """Up to `limit` rows after a position, and `safe`: the feed is final up to here."""

    rows: list[Row]
    safe: int
    full: bool

    @property
    def next_after(self) -> int:
        """Where the next read starts: after the last row of a full page; otherwise after
        `safe` (everything up to it was considered, in scope or not)."""
        if self.full and self.rows:
            return int(self.rows[-1]["position"])
        return self.safe


def feed_page(pool: Any, scope: Scope, after: int, limit: int) -> FeedPage:
    """The caller's events with `after < position <= safe`, oldest first."""
    where, params = scope_clause(scope)
    query = sql.SQL(
        """WITH t AS (SELECT coalesce(max(position), 0) AS safe FROM qt_projection_tracking
                       WHERE live AND name = %s)
           SELECT t.safe AS feed_safe, e.* FROM t LEFT JOIN LATERAL (
               SELECT * FROM qt_read.audit_events
                WHERE {where} AND position > %s AND position <= t.safe
                ORDER BY position LIMIT %s) e ON true"""
    ).format(where=where)
    rows = fetch_all(pool, query, [FEED_CONSUMER, *params, after, limit])
    safe = int(rows[0]["feed_safe"]) if rows else 0
    found = [r for r in rows if r["position"] is not None]
    for r in found:
        r.pop("feed_safe", None)
    return FeedPage(rows=found, safe=max(safe, after), full=len(found) >= limit)
