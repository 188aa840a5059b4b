"""Reading the event store in commit-safe order.

Appends do not serialise on a table lock (see `store.recorder`), so notification ids
may commit out of order; a reader therefore walks the store in `(xid, notification_id)`
order and only below the oldest running transaction, and its place is a `ReadCursor`
(see there). `EventSource` reads the next batch after a cursor and decodes it into
`EventRecord`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification
from psycopg import sql

from store.records import EventRecord


@dataclass(frozen=True)
class ReadCursor:
    """Where a reader of the store is.

    - `(xid, id)`: the last consumed row in `(xid, notification_id)` order. Rows are
      consumed only below the horizon `pg_snapshot_xmin(pg_current_snapshot())`: every
      transaction with a smaller xid has finished and every new one gets a larger xid,
      so no row can ever appear behind the cursor.
    - `position`: every event with notification id <= position has been consumed.
      Ids are drawn after the appending transaction took its xid, so once every
      transaction that was running when the sequence stood at L has finished (the
      horizon reached that snapshot's xmax), every id <= L is final and visible; the
      position then moves to L, or to just below the smallest id not yet consumed.
      (The bound is the reader's own xid, taken right after reading L: a snapshot's
      xmax is only "latest completed + 1", and running transactions can be above it.)
    - `pending_position`/`pending_xmax`: such an L, and the xid + 1 taken after reading
      it, waiting for the horizon to pass it.
    """

    xid: int = 0
    id: int = 0
    position: int = 0
    pending_position: int | None = None
    pending_xmax: int | None = None


def _notification(row: Any) -> Notification:
    return Notification(
        id=row["notification_id"],
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


@dataclass
class Batch:
    records: list[EventRecord]
    cursor: ReadCursor


class EventSource:
    """Reads stored events in commit-safe order and turns them into `EventRecord`s."""

    def __init__(self, recorder: Any, mapper: Any) -> None:
        self.recorder = recorder
        self.mapper = mapper
        ds = recorder.datastore
        table = sql.Identifier(ds.schema, recorder.events_table_name)
        seq = sql.Identifier(ds.schema, f"{recorder.events_table_name}_notification_id_seq")
        self._sql_sequence = sql.SQL(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS l FROM {}"
        ).format(seq)
        self._sql_async = sql.SQL("SET LOCAL synchronous_commit = off")
        self._sql_next_xid = sql.SQL("SELECT pg_current_xact_id()::text AS x")
        self._sql_rows = sql.SQL(
            "WITH s AS (SELECT pg_current_snapshot() AS s)"
            " SELECT pg_snapshot_xmin(s.s)::text AS xmin, e.*"
            " FROM s LEFT JOIN LATERAL ("
            "  SELECT xid::text AS row_xid, notification_id, originator_id, originator_version, topic, state"
            "  FROM {t} WHERE (xid, notification_id) > (%s::text::xid8, %s) AND xid < pg_snapshot_xmin(s.s)"
            "  ORDER BY xid, notification_id LIMIT %s) e ON true"
        ).format(t=table)
        self._sql_first_unconsumed = sql.SQL(
            "SELECT min(notification_id) AS m FROM {t} WHERE notification_id > %s AND notification_id <= %s"
            " AND (xid, notification_id) > (%s::text::xid8, %s)"
        ).format(t=table)
        self._sql_after_position = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {t}"
            " WHERE notification_id > %s AND xid < pg_snapshot_xmin(pg_current_snapshot())"
            " ORDER BY notification_id LIMIT %s"
        ).format(t=table)

    def read(self, after: ReadCursor | int, limit: int) -> list[EventRecord]:
        """The next events after `after` (a cursor, or a position for one-off scans)."""
        cursor = after if isinstance(after, ReadCursor) else ReadCursor(position=after)
        if isinstance(after, int) and after > 0:
            return self._read_after_position(after, limit)
        return self.read_batch(cursor, limit).records

    def read_batch(self, cursor: ReadCursor, limit: int) -> Batch:
        """The next events below the horizon, and the cursor after them."""
        notifications, after = self.read_notifications(cursor, limit)
        return Batch(records=[self._record(n) for n in notifications], cursor=after)

    def read_notifications(
        self, cursor: ReadCursor, limit: int
    ) -> tuple[list[Notification], ReadCursor]:
        """The stored events after `cursor` below the horizon, and the cursor after them."""
        with self.recorder.datastore.get_connection() as conn:
            with conn.pipeline():
                # Read the sequence, then take an xid (a tiny transaction, not flushed):
                # every transaction holding an id <= L took its xid before ours.
                with conn.transaction():
                    conn.execute(self._sql_async, prepare=True)
                    sequence = conn.execute(self._sql_sequence, prepare=True)
                    next_xid = conn.execute(self._sql_next_xid, prepare=True)
                rows_cur = conn.execute(
                    self._sql_rows, (str(cursor.xid), cursor.id, limit), prepare=True
                )
            last = int(sequence.fetchone()["l"])
            xmax = int(next_xid.fetchone()["x"]) + 1
            rows = rows_cur.fetchall()
            horizon = int(rows[0]["xmin"])
            rows = [r for r in rows if r["notification_id"] is not None]
            xid, nid = (
                (int(rows[-1]["row_xid"]), rows[-1]["notification_id"])
                if rows
                else (cursor.xid, cursor.id)
            )

            # Which sequence value is now known final?
            resolved = 0
            pending: tuple[int, int] | None = None
            if cursor.pending_position is not None and cursor.pending_xmax is not None:
                if cursor.pending_xmax <= horizon:
                    resolved = cursor.pending_position
                else:
                    pending = (cursor.pending_position, cursor.pending_xmax)
            if xmax <= horizon:  # every transaction older than ours has finished
                resolved = max(resolved, last)
            position = cursor.position
            if resolved > position:
                row = conn.execute(
                    self._sql_first_unconsumed, (position, resolved, str(xid), nid), prepare=True
                ).fetchone()
                first = row["m"] if row else None
                position = resolved if first is None else max(position, first - 1)
            if pending is None and last > position and xmax > horizon:
                pending = (last, xmax)
        return [_notification(r) for r in rows], ReadCursor(
            xid, nid, position, *(pending or (None, None))
        )

    def _read_after_position(self, after: int, limit: int) -> list[EventRecord]:
        # One-off scans (benchmarks, tools) from a known-final position: ids > after,
        # in id order, only below the horizon. Tail with `read_batch` instead.
        with self.recorder.datastore.get_connection() as conn:
            rows = conn.execute(self._sql_after_position, (after, limit), prepare=True).fetchall()
        return [self._record(_notification(r)) for r in rows]

    def _record(self, n: Notification) -> EventRecord:
        event = self.mapper.to_domain_event(n)
        qual = type(event).__qualname__
        aggregate, _, etype = qual.rpartition(".")
        return EventRecord(
            position=n.id,
            issue_id=n.originator_id,  # type: ignore[arg-type]  # our ids are UUIDs
            version=n.originator_version,
            topic=n.topic,
            type=etype,
            aggregate=aggregate,
            event=event,
        )

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0
