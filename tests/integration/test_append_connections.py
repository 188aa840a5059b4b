"""The recorder's own append connections (`AppendConnections`): a connection the server
killed is dropped and the append retried on a fresh one, nothing is lost or doubled;
database errors reach callers as the library's exceptions; closing the datastore
closes them."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict

from store.recorder import QualtraceRecorder


def _recorder(db_url: str) -> QualtraceRecorder:
    p = conninfo_to_dict(db_url)
    ds = PostgresDatastore(
        dbname=str(p["dbname"]),
        host=str(p.get("host") or "127.0.0.1"),
        port=str(p.get("port") or 5432),
        user=str(p.get("user") or "postgres"),
        password=str(p.get("password") or ""),
        pool_size=2,
        max_overflow=0,
        lock_timeout=5,
    )
    r = QualtraceRecorder(ds, events_table_name="append_conn_events")
    r.create_table()
    return r


def _event(originator: uuid.UUID | None = None, version: int = 1) -> StoredEvent:
    return StoredEvent(
        originator_id=originator or uuid.uuid4(),
        originator_version=version,
        topic="domain.tickets:Ticket.Received",
        state=b"{}",
    )


def test_a_killed_connection_is_replaced_and_nothing_is_lost_or_doubled(db_url: str) -> None:
    r = _recorder(db_url)
    try:
        first = r.insert_events([_event()])
        assert first and len(first) == 1
        pids = [c.info.backend_pid for c in r.append_connections._free]
        assert pids, "the append connection went back to the free list"
        with psycopg.connect(db_url, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        second = r.insert_events([_event()])
        assert second and second[0] > first[0]
        assert all(c.info.backend_pid not in pids for c in r.append_connections._free)
        with psycopg.connect(db_url) as conn:
            count = conn.execute("SELECT count(*) FROM append_conn_events").fetchone()
        assert count == (2,)
    finally:
        r.datastore.close()


def test_a_version_conflict_is_the_librarys_integrity_error_and_the_connection_is_reused(
    db_url: str,
) -> None:
    r = _recorder(db_url)
    try:
        aggregate = uuid.uuid4()
        r.insert_events([_event(aggregate, 1)])
        pid = r.append_connections._free[0].info.backend_pid
        with pytest.raises(IntegrityError):
            r.insert_events([_event(aggregate, 1)])
        # A failed statement leaves an idle, healthy connection: it is kept.
        assert [c.info.backend_pid for c in r.append_connections._free] == [pid]
        # Several events in one append are all-or-nothing.
        with pytest.raises(IntegrityError):
            r.insert_events([_event(aggregate, 2), _event(aggregate, 1)])
        assert [e.originator_version for e in r.select_events(aggregate)] == [1]
    finally:
        r.datastore.close()


def test_closing_the_datastore_closes_the_append_connections(db_url: str) -> None:
    r = _recorder(db_url)
    r.insert_events([_event()])
    conns = list(r.append_connections._free)
    assert conns
    r.datastore.close()
    assert all(c.closed for c in conns)


def test_writers_beyond_the_bound_wait_for_a_connection_and_all_append(db_url: str) -> None:
    import threading

    r = _recorder(db_url)
    r.append_connections.size = 2
    opened: list[int] = []
    connect = r.append_connections._connect

    def counting_connect() -> psycopg.Connection:
        conn = connect()
        opened.append(conn.info.backend_pid)
        return conn

    r.append_connections._connect = counting_connect  # type: ignore[method-assign]
    ids: list[int] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(25):
            got = r.insert_events([_event()]) or []
            with lock:
                ids.extend(got)

    try:
        threads = [threading.Thread(target=write) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == len(set(ids)) == 200
        assert len(opened) <= 2 and r.append_connections._open <= 2
    finally:
        r.datastore.close()
