"""Consumers of the event store: catch up in batches, then follow the store (LISTEN
with a polling fallback, so a lost notification can only delay a consumer, never stall
it).

Each consumer's place is a `ReadCursor` in `qt_projection_tracking` (`store.tracking`).
Each batch applies the events and moves the cursor in one transaction, under a lock on
the tracking row; two runners of the same projection (say, the API process and a
worker) therefore never apply an event twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from store.availability import check_pools, unavailable
from store.background import BackgroundLoop
from store.records import EventRecord, Projection
from store.source import Batch, EventSource, ReadCursor
from store.tracking import live_tracking, schema_name, tracking_of

log = logging.getLogger("qualtrace.projections")


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
        seen = live_tracking(conn, [p.name for p in ready], lock=False)
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
                locked = live_tracking(conn, [p.name for p in members], lock=True)
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
        seen = live_tracking(conn, [p.name for p in self.projections], lock=False)
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
        if unavailable(error):
            # The database went away (a restart): one line, not a traceback a second, and
            # the read pool's dead idle connections dropped at once (store/availability.py).
            log.warning(
                "projection group %s: database unavailable (%s); retrying", self.name, error
            )
            check_pools(getattr(self.source.recorder.datastore, "pool", None))
            return
        log.exception("projection group %s failed; retrying", self.name)


class ProjectionRunner:
    """Keeps ONE projection's live generation up to date: for one-off catch-ups (tests,
    the CLI, benchmarks) and for a consumer that must not share its batches (the process
    follower records events; it must not hold up the read models).

    It has a group of one (`group`) rather than being one: what it adds is the name of
    its projection, and the group is what the service starts and stops.
    """

    def __init__(self, conninfo: str, source: EventSource, projection: Projection) -> None:
        self.projection = projection
        self.group = GroupRunner(conninfo, source, [projection])

    @property
    def BATCH(self) -> int:
        """The group's batch size."""
        return self.group.BATCH

    @BATCH.setter
    def BATCH(self, value: int) -> None:
        self.group.BATCH = value

    @property
    def error(self) -> BaseException | None:
        return self.group.error

    @property
    def running(self) -> bool:
        return self.group.running

    def run_once(self, max_batches: int | None = None) -> int:
        """Process every event recorded so far (or `max_batches` batches)."""
        return self.group.run_once(max_batches)

    def start(self) -> None:
        self.group.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.group.stop(timeout)


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
    seen = tracking_of(conn, projection.name, generation, lock=False)
    if seen is None:
        return 0
    batch = source.read_batch(seen[1], limit)
    if not batch.records and batch.cursor == seen[1]:
        return 0
    with conn.transaction():
        locked = tracking_of(conn, projection.name, seen[0], lock=True, live=generation is None)
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
