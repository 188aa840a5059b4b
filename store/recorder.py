"""The event store's recorder: the library's PostgreSQL recorder without its table lock.

Why: the library serialises every append on `LOCK TABLE ... IN EXCLUSIVE MODE` so that
notification ids commit in id order and a reader tailing by id never passes a gap that
is filled later. That caps appends at about a fifth of what PostgreSQL can do.

Instead each row records the id of the transaction that wrote it (`xid xid8 DEFAULT
pg_current_xact_id()`), and readers (`store.source.EventSource`) consume, in
`(xid, notification_id)` order, only rows whose transaction is older than the oldest
transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`). Every
transaction below that horizon has finished, and every later one gets a larger xid,
so the set of rows below the horizon never grows behind a reader: nothing is skipped,
nothing is reordered, and writers never wait for each other.

Wake-ups: appends poke `store.notifier.Notifier`, which sends `NOTIFY` after the commit.

After the library creates its table, `create_table` runs `table_ddl`
(`store.schema.EVENT_STORE`: the xid column, the hash chain, the write-side indexes).

Extension point (runs inside the append transaction):
- `after_insert(cursor, notification_ids)`: a callable passed to `Application.save(...)`
  as a keyword; it writes rows that must commit atomically with the events (for
  example the idempotency key and its answer).

Bulk appends (a survey file of 100,000 responses): `copy_events` writes the same rows
with COPY instead of INSERT, several times faster: the same table, defaults
(notification id, xid), triggers (the hash chain) and the same first statement.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import PoolTimeout

from store.availability import POOL_WAIT_SECONDS, RECONNECT_TIMEOUT_SECONDS, PoolWaitExpired
from store.notifier import Notifier
from store.schema import EVENT_STORE

log = logging.getLogger("qualtrace.recorder")

AfterInsert = Callable[[Cursor[DictRow], Sequence[int]], None]
#: `(sql, params)`: one more INSERT in the append statement itself (`insert_events(also=…)`),
#: its SQL naming the appended rows `ins` (e.g. `(SELECT max(notification_id) FROM ins)`).
AlsoInsert = tuple[str, Sequence[Any]]


class AppendConnections:
    """A small LIFO of connections for appends, bounded like the library's pool.

    Why not the library's pool: taking and returning a `psycopg_pool` connection costs
    about as much client CPU as the append's own round trip. Here the common case is a
    `list.pop()` and a `list.append()` (atomic under the GIL); only when every
    connection is busy does a caller take the lock, to open one more (up to `size`) or
    wait for one. Errors are translated exactly as the library translates them
    (`PostgresDatastore.get_connection`), so callers see the same
    `eventsourcing.persistence` exceptions; a broken connection is dropped, not reused.
    Connections return rows as tuples; give a cursor `row_factory=dict_row` for dicts.
    """

    def __init__(
        self, datastore: PostgresDatastore, conninfo: str, kwargs: dict[str, Any], size: int
    ) -> None:
        self.conninfo = conninfo
        self.kwargs = {k: v for k, v in kwargs.items() if k != "row_factory"}
        self.timeout_statement = SQL("SET idle_in_transaction_session_timeout = {}").format(
            Literal(f"{int(datastore.idle_in_transaction_session_timeout * 1000)}ms")
        )
        self.size = max(1, size)
        self._free: list[psycopg.Connection[Any]] = []
        self._open = 0  # connections out of the free list or in it
        self._waiting = 0
        self._cond = threading.Condition()
        self._closed = False

    def get(self) -> psycopg.Connection[Any]:
        try:
            return self._free.pop()
        except IndexError:
            return self._get_slow()

    def _get_slow(self) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + 30.0
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._free:
                        return self._free.pop()
                    if self._open < self.size:
                        self._open += 1
                        break
                    if time.monotonic() >= deadline:
                        raise OperationalError(
                            f"no append connection free within 30 s ({self.size} busy)"
                        )
                    # A short wait: a connection put back between our check and this wait
                    # is found on the next turn.
                    self._cond.wait(0.05)
            finally:
                self._waiting -= 1
        try:
            return self._connect()
        except BaseException:
            self._discarded()
            raise

    def put(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed or self._closed or conn.info.transaction_status != TransactionStatus.IDLE:
            conn.close()
            self._discarded()
            return
        self._free.append(conn)
        if self._waiting:
            with self._cond:
                self._cond.notify()

    def drop_idle(self) -> None:
        """Close every idle connection (after one was found broken: a server restart
        breaks them all), so that the retries open fresh ones instead of meeting each."""
        while True:
            try:
                conn = self._free.pop()
            except IndexError:
                return
            conn.close()
            self._discarded()

    def _discarded(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()

    def _connect(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = psycopg.connect(
            self.conninfo, autocommit=True, **self.kwargs
        )
        conn.execute(self.timeout_statement)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._cond:
            free, self._free = self._free, []
        for conn in free:
            conn.close()


def _translate(e: psycopg.Error) -> Exception:
    """The library's exception for a psycopg error (as `PostgresDatastore.get_connection`)."""
    for source, target in (
        (psycopg.InterfaceError, InterfaceError),
        (psycopg.OperationalError, OperationalError),
        (psycopg.DataError, DataError),
        (psycopg.IntegrityError, IntegrityError),
        (psycopg.InternalError, InternalError),
        (psycopg.ProgrammingError, ProgrammingError),
        (psycopg.NotSupportedError, NotSupportedError),
        (psycopg.DatabaseError, DatabaseError),
    ):
        if isinstance(e, source):
            return target(str(e))
    return PersistenceError(str(e))


def _no_retry_on_pool_timeout(
    get_connection: Callable[[], AbstractContextManager[Any]],
) -> Callable[[], AbstractContextManager[Any]]:
    """`get_connection` raising `PoolWaitExpired` (not retried by the library) where the
    pool gave up waiting for a connection (store/availability.py)."""

    @contextmanager
    def wrapped() -> Iterator[Any]:
        try:
            with get_connection() as conn:
                yield conn
        except OperationalError as e:
            if isinstance(e.__cause__, PoolTimeout):
                raise PoolWaitExpired(str(e)) from e
            raise

    return wrapped


class QualtraceRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder: no table lock, rows stamped with their xid,
    NOTIFY after commit, and an in-transaction `after_insert` hook."""

    #: Run after the library created the events table; `{schema}`, `{table}` and
    #: `{index}` (the xid index) are filled in.
    table_ddl: Sequence[str] = EVENT_STORE

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sequence_name = f"{self.events_table_name}_notification_id_seq"
        self.xid_index_name = f"{self.events_table_name}_xid_idx"
        pool = self.datastore.pool
        # Back at once after an outage, not after the pool's backoff (store/availability.py).
        pool.reconnect_timeout = RECONNECT_TIMEOUT_SECONDS
        # A 503 after 5 s while no connection can be had, not ten retried 30 s waits.
        pool.timeout = POOL_WAIT_SECONDS
        self.datastore.get_connection = _no_retry_on_pool_timeout(  # type: ignore[method-assign,assignment]
            self.datastore.get_connection
        )
        conninfo: Any = pool.conninfo
        kwargs: Any = pool.kwargs
        conninfo = conninfo() if callable(conninfo) else conninfo
        kwargs = dict((kwargs() if callable(kwargs) else kwargs) or {})
        self.notifier = Notifier(conninfo, kwargs, self.channel_name)
        self.append_connections = AppendConnections(
            self.datastore,
            conninfo,
            {k: v for k, v in kwargs.items() if k != "row_factory"},
            pool.max_size,
        )
        # Closing the application closes the datastore (the library never closes a
        # recorder): close the append connections with it.
        close_datastore = self.datastore.close

        def close() -> None:
            self.append_connections.close()
            close_datastore()

        self.datastore.close = close  # type: ignore[method-assign]
        # One pipelined statement replaces LOCK TABLE: keep the lock timeout (it bounds
        # the wait on a competing insert of the same aggregate version), and take the
        # transaction's xid BEFORE the insert draws notification ids, so that any id a
        # reader can see in the sequence belongs to a transaction with a smaller xid
        # than a snapshot taken afterwards (see `EventSource` for why that matters).
        self.begin_append_statement = SQL(
            "SELECT set_config('lock_timeout', {timeout}, true), pg_current_xact_id()"
        ).format(timeout=Literal(f"{self.datastore.lock_timeout}s"))

        # The append itself: ONE statement. The CTE takes the transaction's xid (and the
        # lock timeout) before any row draws a notification id (ids are drawn when rows
        # are projected, after the join with `x` produced them), and the rows keep the
        # order of the list. Without an `after_insert` hook it runs in autocommit: one
        # round trip is the whole transaction.
        head = (
            "WITH x AS (SELECT pg_current_xact_id() AS xid, set_config('lock_timeout', {timeout}, true) AS lt)"
            " INSERT INTO {table} (originator_id, originator_version, topic, state, xid)"
        )
        self.insert_statement = SQL(
            head + " SELECT e.originator_id, e.originator_version, e.topic, e.state, x.xid FROM x,"
            " unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[]) WITH ORDINALITY"
            " AS e(originator_id, originator_version, topic, state, n)"
            " ORDER BY e.n RETURNING notification_id"
        ).format(
            timeout=Literal(f"{self.datastore.lock_timeout}s"),
            table=Identifier(self.datastore.schema, self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )
        # The same for one event (most commands) with scalar parameters: adapting four
        # one-element arrays costs the client more CPU than the whole round trip.
        self.insert_one_statement = SQL(
            head + " SELECT %s, %s, %s, %s, x.xid FROM x RETURNING notification_id"
        ).format(
            timeout=Literal(f"{self.datastore.lock_timeout}s"),
            table=Identifier(self.datastore.schema, self.events_table_name),
        )

        # Rendered once: composing an `sql.Composed` into bytes on every append costs more
        # client CPU than adapting the parameters.
        self._insert_sql = self.insert_statement.as_bytes(None)
        self._insert_one_sql = self.insert_one_statement.as_bytes(None)
        self._also_statements: dict[tuple[bytes, str], bytes] = {}

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            for ddl in self.table_ddl:
                curs.execute(
                    SQL(ddl).format(  # type: ignore[arg-type]
                        schema=Identifier(self.datastore.schema),
                        table=Identifier(self.events_table_name),
                        index=Identifier(self.xid_index_name),
                    )
                )

    def _lock_table(self, curs: Cursor[DictRow]) -> None:
        """No table lock: order comes from transaction ids at read time instead."""
        curs.execute(self.begin_append_statement, prepare=True)

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        """No NOTIFY inside the transaction (it would serialise commits); see `insert_events`."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append in one statement (see `insert_statement`); with an `after_insert` hook,
        the hook's statements share its transaction."""
        if not stored_events:
            return super().insert_events(stored_events, **kwargs)
        statement: bytes
        params: tuple[Any, ...]
        if len(stored_events) == 1:
            e = stored_events[0]
            statement, params = (
                self._insert_one_sql,
                (e.originator_id, e.originator_version, e.topic, e.state),
            )
        else:
            statement = self._insert_sql
            params = (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            )
        after_insert: AfterInsert | None = kwargs.get("after_insert")
        also: AlsoInsert | None = kwargs.get("also")
        if also is not None:
            if after_insert is not None:
                raise ValueError("give either after_insert or also, not both")
            statement = self._with_also(statement, also[0])
            params = (*params, *also[1])
        connections = self.append_connections
        conn = connections.get()
        try:
            if after_insert is None:
                ids = [r[0] for r in conn.execute(statement, params, prepare=True).fetchall()]
            else:
                with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(statement, params, prepare=True)
                    ids = [r["notification_id"] for r in cur.fetchall()]
                    after_insert(cur, ids)
        except psycopg.Error as e:
            if conn.broken:
                conn.close()
                connections.drop_idle()  # the server went away: the idle ones are dead too
            raise _translate(e) from e
        finally:
            connections.put(conn)
        self.notifier.poke()
        return ids

    def _with_also(self, statement: bytes, also_sql: str) -> bytes:
        """The append statement with one more data-modifying CTE: `WITH x AS (…), ins AS
        (INSERT … RETURNING notification_id), also AS (<also_sql>) SELECT notification_id
        FROM ins`. One statement in autocommit: the events and the extra row commit
        together or not at all, in one round trip instead of BEGIN / INSERT / INSERT /
        COMMIT. `also_sql` names the appended rows `ins`; rendered once per statement."""
        key = (statement, also_sql)
        cached = self._also_statements.get(key)
        if cached is None:
            head, _, insert = statement.partition(b" INSERT INTO ")
            cached = (
                head
                + b", ins AS (INSERT INTO "
                + insert
                + b"), also AS ("
                + also_sql.encode()
                + b") SELECT notification_id FROM ins ORDER BY notification_id"
            )
            self._also_statements[key] = cached
        return cached

    def copy_events(
        self, stored_events: Sequence[StoredEvent], after_insert: AfterInsert | None = None
    ) -> int | None:
        """Append many events with COPY in one transaction, in list order, and return the
        notification id of the last (positions are drawn from the same sequence as
        `insert_events`, and the insert trigger stamps the same hash chain).
        `after_insert(cursor, [last_id])` runs in the transaction, as for `insert_events`."""
        if not stored_events:
            return None
        table = Identifier(self.datastore.schema, self.events_table_name)
        copy = SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        last = SQL(
            "SELECT max(notification_id) AS p FROM {} WHERE xid = pg_current_xact_id()"
        ).format(table)
        connections = self.append_connections
        conn = connections.get()
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                # As `insert_events`: the transaction's xid is taken before any row draws
                # a notification id (readers rely on it; see the module's docstring).
                cur.execute(self.begin_append_statement, prepare=True)
                with cur.copy(copy) as cp:
                    cp.set_types(["uuid", "int8", "text", "bytea"])
                    for e in stored_events:
                        cp.write_row((e.originator_id, e.originator_version, e.topic, e.state))
                cur.execute(last)
                row = cur.fetchone()
                position = int(row["p"]) if row and row["p"] is not None else None
                if after_insert is not None:
                    after_insert(cur, [position] if position is not None else [])
        except psycopg.Error as e:
            if conn.broken:
                conn.close()
                connections.drop_idle()  # the server went away: the idle ones are dead too
            raise _translate(e) from e
        finally:
            connections.put(conn)
        self.notifier.poke()
        return position
