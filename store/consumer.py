"""Runs projections: catch up in batches, then follow the store (LISTEN with a polling
fallback, so a lost notification can only delay a projection, never stall it).

Tracking lives in `qt_projection_tracking`. Appends do not serialise on a table lock
(see `application.recorder`), so notification ids may commit out of order; a reader
therefore walks the store in `(xid, notification_id)` order and only below the oldest
running transaction, and its place is a `ReadCursor`: the last consumed
`(cursor_xid, cursor_id)` pair, plus `position` = the largest notification id P such
that every event with id <= P has been applied (what `positions()`, `X-Read-Position`
and `min_position` speak about). Each batch applies the events and moves the cursor in
one transaction, under a lock on the tracking row; two runners of the same projection
(say, the API process and a worker) therefore never apply an event twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import Notification
from psycopg import sql

from application.background import BackgroundLoop
from projections.base import READ_SCHEMA, EventRecord, Projection

log = logging.getLogger("qualtrace.projections")

TRACKING_DDL = [
    "CREATE SCHEMA IF NOT EXISTS qt_read",
    """CREATE TABLE IF NOT EXISTS qt_projection_tracking (
        name text NOT NULL,
        generation int NOT NULL,
        live boolean NOT NULL DEFAULT false,
        position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, generation))""",
    # The reader's place in (xid, notification id) order, and a sequence value waiting
    # for every transaction that could hold a smaller id to finish (see ReadCursor).
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS cursor_xid bigint NOT NULL DEFAULT 0",
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS cursor_id bigint NOT NULL DEFAULT 0",
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS pending_position bigint",
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS pending_xmax bigint",
    # Events the process follower recorded for a trigger (its inline run having failed):
    # a read at the trigger's position waits for them as well.
    """CREATE TABLE IF NOT EXISTS qt_process_consequences (
        trigger_position bigint PRIMARY KEY,
        through bigint NOT NULL)""",
]


def read_target(conn: psycopg.Connection[Any], min_position: int) -> int:
    """The position a read at `min_position` must wait for: `min_position`, or beyond it
    the last event the process follower recorded for a trigger at or before it."""
    row = conn.execute(
        "SELECT max(through) FROM qt_process_consequences WHERE trigger_position <= %s AND through > %s",
        (min_position, min_position),
    ).fetchone()
    return max(min_position, row[0] or 0) if row else min_position


TRACKING_COLUMNS = "generation, position, cursor_xid, cursor_id, pending_position, pending_xmax"


def schema_name(projection: type[Projection] | Projection, generation: int) -> str:
    return f"qt_{projection.name}_g{generation}"


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
            issue_id=n.originator_id,
            version=n.originator_version,
            topic=n.topic,
            type=etype,
            aggregate=aggregate,
            event=event,
        )

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0


class GroupRunner(BackgroundLoop):
    """Keeps several projections' live generations up to date from ONE read of the store.

    Projections whose places (`ReadCursor`) agree (the usual case: they follow the same
    store) share each batch: the events are read and decoded once, applied to each
    projection, and every tracking row moves, in one transaction. One commit per batch
    instead of one per projection is what lets the API and the read side share two cores.
    Projections at different places (one just added, or held back by a failure) are read
    and applied in groups of their own, so no projection ever waits for another.

    A projection that raises is isolated: the batch is applied again to each projection in
    a transaction of its own, the others move on, and the failing one is retried after a
    pause, from where it stands (its events are not skipped; see `FAILURE_PAUSE`).
    """

    BATCH = 1000
    SETTLE_SECONDS = 5.0
    #: A failing projection is left alone for this long before it is tried again.
    FAILURE_PAUSE = 1.0

    def __init__(
        self, conninfo: str, source: EventSource, projections: Sequence[Projection], name: str = ""
    ) -> None:
        self.conninfo = conninfo
        self.source = source
        self.projections = list(projections)
        self.name = name or ",".join(p.name for p in self.projections)
        super().__init__()
        self.thread_name = f"projections-{self.name}"[:60]
        self._paused: dict[str, float] = {}  # projection name -> monotonic time it may run again
        self._settling = False
        self._live = False  # following the store (failures pause a projection) vs a one-off run
        #: Per thread (a one-off `run_once` may run beside the live loop): whether the last
        #: `process` found a projection moved or retired by another runner or a rebuild
        #: meanwhile, so that what it returned says nothing about what is left to do.
        self._thread_state = threading.local()

    # -- setup --------------------------------------------------------------------
    @staticmethod
    def setup(conn: psycopg.Connection[Any], projections: Sequence[Projection]) -> None:
        """Create tracking and, for a projection seen for the first time, generation 1."""
        with conn.transaction():
            for ddl in TRACKING_DDL:
                conn.execute(ddl)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('qt_projection_setup'))")
            for p in projections:
                row = conn.execute(
                    "SELECT generation FROM qt_projection_tracking WHERE name=%s AND live",
                    (p.name,),
                ).fetchone()
                if row is None:
                    create_generation(conn, p, 1)
                    conn.execute(
                        "INSERT INTO qt_projection_tracking (name, generation, live) VALUES (%s, 1, true)",
                        (p.name,),
                    )
                    publish_views(conn, p, 1)

    # -- processing ---------------------------------------------------------------
    def process(self, conn: psycopg.Connection[Any], limit: int | None = None) -> int:
        """Apply the next batch to every projection of the group; return how many events
        the furthest-moving group of them applied (0 also when only positions moved)."""
        self._thread_state.contended = False
        now = time.monotonic()
        ready = [p for p in self.projections if self._paused.get(p.name, 0.0) <= now]
        if not ready:
            return 0
        # Read before any transaction takes an xid: a batch holding an xid while reading
        # would hold back the horizon it reads below (its own, and other readers').
        seen = _live_tracking(conn, [p.name for p in ready], lock=False)
        self._settling = any(cursor.pending_position is not None for _gen, cursor in seen.values())
        groups: dict[ReadCursor, list[Projection]] = {}
        for p in ready:
            if p.name in seen:
                groups.setdefault(seen[p.name][1], []).append(p)
        applied = 0
        for cursor, members in groups.items():
            batch = self.source.read_batch(cursor, limit or self.BATCH)
            if not batch.records and batch.cursor == cursor:
                continue
            applied = max(applied, self._apply(conn, cursor, batch, members))
        return applied

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        cursor: ReadCursor,
        batch: Batch,
        members: list[Projection],
    ) -> int:
        try:
            with conn.transaction():
                locked = _live_tracking(conn, [p.name for p in members], lock=True)
                # Retired by a rebuild, or moved by another runner meanwhile: read again
                # (`process` is called again at once: see `_contended`).
                moving = [p for p in members if p.name in locked and locked[p.name][1] == cursor]
                if len(moving) < len(members):
                    self._thread_state.contended = True
                if not moving:
                    return 0
                for p in moving:
                    with conn.cursor() as cur:
                        apply_records(cur, p, schema_name(p, locked[p.name][0]), batch.records)
                c = batch.cursor
                conn.execute(
                    "UPDATE qt_projection_tracking t SET position=%s, cursor_xid=%s, cursor_id=%s,"
                    " pending_position=%s, pending_xmax=%s, updated_at=now()"
                    " FROM unnest(%s::text[], %s::int[]) AS u(name, generation)"
                    " WHERE t.name = u.name AND t.generation = u.generation",
                    (
                        c.position,
                        c.xid,
                        c.id,
                        c.pending_position,
                        c.pending_xmax,
                        [p.name for p in moving],
                        [locked[p.name][0] for p in moving],
                    ),
                )
            for p in moving:
                self._paused.pop(p.name, None)
            return len(batch.records)
        except Exception as e:
            if conn.broken or conn.closed:
                raise
            if len(members) > 1:  # find the culprit: each on its own
                log.warning(
                    "a projection of group %s failed (%r); applying the batch to each alone",
                    self.name,
                    e,
                )
                applied, failure = 0, None
                for p in members:
                    try:
                        applied = max(applied, self._apply(conn, cursor, batch, [p]))
                    except Exception as each:
                        failure = failure or each
                if failure is not None:
                    raise failure from None
                return applied
            self.error = e
            if not self._live:  # a one-off catch-up reports the failure
                raise
            self._paused[members[0].name] = time.monotonic() + self.FAILURE_PAUSE
            log.exception(
                "projection %s failed; retrying in %.1f s", members[0].name, self.FAILURE_PAUSE
            )
            return 0

    def run_once(self, max_batches: int | None = None) -> int:
        """Process every event recorded so far (or `max_batches` batches); return how many
        events the furthest-moving projection applied."""
        done = 0
        batches = 0
        settle_until = time.monotonic() + self.SETTLE_SECONDS
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                n = self.process(conn)
                if n == 0 and self._contended():
                    continue
                if n == 0:
                    # Nothing left below the horizon; wait (bounded) for transactions that
                    # were running to finish, so the position covers everything recorded.
                    if not self._settling_now(conn) or time.monotonic() > settle_until:
                        break
                    time.sleep(0.005)
                    continue
                done += n
                batches += 1
                if max_batches is not None and batches >= max_batches:
                    break
        return done

    def _contended(self) -> bool:
        return bool(getattr(self._thread_state, "contended", False))

    def _settling_now(self, conn: psycopg.Connection[Any]) -> bool:
        seen = _live_tracking(conn, [p.name for p in self.projections], lock=False)
        return any(cursor.pending_position is not None for _gen, cursor in seen.values())

    def _session(self) -> None:
        """Follow the store (`BackgroundLoop`: a failure, say a lost connection, starts a
        new session after a second)."""
        self._live = True
        channel = getattr(self.source.recorder, "channel_name", "qualtrace_events")
        with (
            psycopg.connect(self.conninfo, autocommit=True) as conn,
            psycopg.connect(self.conninfo, autocommit=True) as listen,
        ):
            listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            while not self._stop.is_set():
                n = self.process(conn)
                if n >= self.BATCH or self._contended():
                    continue  # catching up, or raced by another runner: read on at once
                # Following: wait for the next notification (sent at most every 20 ms, see
                # `Notifier`) even after a batch, so that under load each batch gathers what
                # the last interval appended instead of one commit per projection group per
                # append. Never longer than the poll interval (much shorter while a position
                # waits for running transactions).
                wait = 0.005 if self._settling else 0.5
                if self._paused:
                    wait = min(wait, max(0.005, min(self._paused.values()) - time.monotonic()))
                for _ in listen.notifies(timeout=wait, stop_after=1):
                    pass

    def _failed(self, error: BaseException) -> None:
        log.exception("projection group %s failed; retrying", self.name)


class ProjectionRunner(GroupRunner):
    """Keeps one projection's live generation up to date (a group of one)."""

    def __init__(self, conninfo: str, source: EventSource, projection: Projection) -> None:
        super().__init__(conninfo, source, [projection])
        self.projection = projection


def apply_records(
    cur: psycopg.Cursor[Any], projection: Projection, schema: str, records: Sequence[EventRecord]
) -> None:
    """Apply a batch of events to one projection's tables in `schema` (caller's transaction)."""
    if not records:
        return
    projection.begin_batch(cur, schema)
    for rec in records:
        if projection.handles(rec):
            projection.handle(cur, rec, schema)
    projection.end_batch(cur, schema)


def _live_tracking(
    conn: psycopg.Connection[Any], names: Sequence[str], lock: bool
) -> dict[str, tuple[int, ReadCursor]]:
    """name -> (live generation, cursor) for `names`; locked in name order when `lock`."""
    rows = conn.execute(
        f"SELECT name, {TRACKING_COLUMNS} FROM qt_projection_tracking WHERE live AND name = ANY(%s)"
        " ORDER BY name" + (" FOR UPDATE" if lock else ""),
        (list(names),),
    ).fetchall()
    return {r[0]: (r[1], ReadCursor(r[3], r[4], r[2], r[5], r[6])) for r in rows}


def _tracking(
    conn: psycopg.Connection[Any], name: str, generation: int | None, lock: bool, live: bool = False
) -> tuple[int, ReadCursor] | None:
    where = "name=%s AND live" if generation is None else "name=%s AND generation=%s"
    params: tuple[Any, ...] = (name,) if generation is None else (name, generation)
    if live and generation is not None:
        where += " AND live"
    row = conn.execute(
        f"SELECT {TRACKING_COLUMNS} FROM qt_projection_tracking WHERE {where}"
        + (" FOR UPDATE" if lock else ""),
        params,
    ).fetchone()
    if row is None:
        return None
    return row[0], ReadCursor(row[2], row[3], row[1], row[4], row[5])


def process_batch(
    conn: psycopg.Connection[Any],
    source: EventSource,
    projection: Projection,
    generation: int | None,
    limit: int,
) -> int:
    """Apply the next batch of events to one generation (the live one when None);
    return how many events it applied (0 also when only the position moved)."""
    # Read before this transaction takes an xid: a batch holding an xid while reading
    # would hold back the horizon it reads below (its own, and other projections').
    seen = _tracking(conn, projection.name, generation, lock=False)
    if seen is None:
        return 0
    batch = source.read_batch(seen[1], limit)
    if not batch.records and batch.cursor == seen[1]:
        return 0
    with conn.transaction():
        locked = _tracking(conn, projection.name, seen[0], lock=True, live=generation is None)
        if locked is None:
            # Retired by a rebuild that switched generations meanwhile: look again next time.
            return 0
        gen, cursor = locked
        if cursor != seen[1]:  # another runner moved it meanwhile: read again under the lock
            batch = source.read_batch(cursor, limit)
        with conn.cursor() as cur:
            apply_records(cur, projection, schema_name(projection, gen), batch.records)
            c = batch.cursor
            cur.execute(
                "UPDATE qt_projection_tracking SET position=%s, cursor_xid=%s, cursor_id=%s,"
                " pending_position=%s, pending_xmax=%s, updated_at=now() WHERE name=%s AND generation=%s",
                (c.position, c.xid, c.id, c.pending_position, c.pending_xmax, projection.name, gen),
            )
        return len(batch.records)


def _place(conn: psycopg.Connection[Any], name: str, generation: int) -> tuple[int, int]:
    """The last event a generation consumed, in (xid, id) order."""
    found = _tracking(conn, name, generation, lock=False)
    return (found[1].xid, found[1].id) if found is not None else (0, 0)


def settling(conn: psycopg.Connection[Any], name: str, generation: int | None = None) -> bool:
    """Whether the position still waits for running transactions to finish."""
    found = _tracking(conn, name, generation, lock=False)
    return found is not None and found[1].pending_position is not None


def create_generation(
    conn: psycopg.Connection[Any], projection: Projection, generation: int
) -> str:
    schema = schema_name(projection, generation)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for ddl in projection.tables:
        conn.execute(ddl.format(schema=schema))  # type: ignore[arg-type]
    return schema


def publish_views(conn: psycopg.Connection[Any], projection: Projection, generation: int) -> None:
    """Point the stable views at `generation` (within the caller's transaction)."""
    schema = schema_name(projection, generation)
    for table in projection.views:
        view = sql.Identifier(READ_SCHEMA, table)
        select = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
        try:
            # Replaced in place: views built on it (the reporting schema) stay untouched, so
            # their readers and this switch lock in the same order and cannot deadlock.
            with conn.transaction():
                conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(view, select))
        except psycopg.errors.InvalidTableDefinition:  # columns changed: dependents go too
            conn.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(view))
            conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(view, select))
    for hook in VIEW_HOOKS:
        hook(conn, projection, generation)


#: Called after views are (re)published, e.g. to recreate reporting views over them.
VIEW_HOOKS: list[Any] = []


def rebuild(
    conninfo: str, source: EventSource, projection: Projection, batch: int = 5000
) -> dict[str, Any]:
    """Build a new generation beside the live one from the events, then switch readers
    over atomically and drop the old generation. The live runner keeps working meanwhile."""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            live = conn.execute(
                "SELECT generation FROM qt_projection_tracking WHERE name=%s AND live",
                (projection.name,),
            ).fetchone()
            old = live[0] if live else 0
            top = conn.execute(
                "SELECT coalesce(max(generation), 0) FROM qt_projection_tracking WHERE name=%s",
                (projection.name,),
            ).fetchone()
            new = (top[0] if top else 0) + 1
            conn.execute(
                "DELETE FROM qt_projection_tracking WHERE name=%s AND NOT live", (projection.name,)
            )
            create_generation(conn, projection, new)
            conn.execute(
                "INSERT INTO qt_projection_tracking (name, generation, live) VALUES (%s, %s, false)",
                (projection.name, new),
            )
        events = 0
        settle_until = time.monotonic() + 10.0
        while True:  # catch up outside the lock, the position settled too (bounded)
            if process_batch(conn, source, projection, new, batch):
                continue
            if not settling(conn, projection.name, new) or time.monotonic() > settle_until:
                break
            time.sleep(0.005)
        with conn.transaction():
            # Lock the live row: the live runner waits here, then finds itself retired.
            conn.execute(
                "SELECT 1 FROM qt_projection_tracking WHERE name=%s FOR UPDATE", (projection.name,)
            )
            live_place = _place(conn, projection.name, old) if old else (0, 0)
            give_up = time.monotonic() + 10.0
            while True:
                n = process_batch(conn, source, projection, new, batch)
                events += n
                if n:
                    continue
                # Never switch readers to a generation that has not consumed everything the
                # live one has: both read in (xid, id) order, so compare the cursors. (Not
                # the positions: ours holds an xid now, so the new generation's position
                # cannot settle until this transaction ends; it does right after.)
                if _place(conn, projection.name, new) >= live_place:
                    break
                if time.monotonic() > give_up:
                    raise RuntimeError(
                        f"rebuild of {projection.name} could not reach the live generation's place {live_place}:"
                        " a long-running transaction holds the read horizon back; try again"
                    )
                time.sleep(0.01)
            conn.execute(
                "UPDATE qt_projection_tracking SET live = (generation = %s) WHERE name=%s",
                (new, projection.name),
            )
            publish_views(conn, projection, new)
            if old:
                conn.execute(
                    "DELETE FROM qt_projection_tracking WHERE name=%s AND generation=%s",
                    (projection.name, old),
                )
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(schema_name(projection, old))
                    )
                )
        position = conn.execute(
            "SELECT position FROM qt_projection_tracking WHERE name=%s AND live", (projection.name,)
        ).fetchone()
    return {
        "projection": projection.name,
        "generation": new,
        "position": position[0] if position else 0,
        "seconds": round(time.monotonic() - started, 3),
    }


def positions(conn: psycopg.Connection[Any], names: Sequence[str] | None = None) -> dict[str, int]:
    rows = conn.execute(
        "SELECT name, position FROM qt_projection_tracking WHERE live"
        + (" AND name = ANY(%s)" if names else ""),
        (list(names),) if names else (),
    ).fetchall()
    return {r[0]: r[1] for r in rows}
