"""The `eventsourcing` library's own recorder test cases, run against `QualtraceRecorder`.

`eventsourcing.tests.persistence` ships the contract every recorder must meet (insert and
select, optimistic concurrency on (originator, version), notifications selected by
position, topic filters, concurrent writers without conflicts, subscriptions). Each test
gets its own database cloned from the template, so every case starts from an empty table.

Left out: the two `test_performance`/`test_concurrent_throughput` cases only print timings
(speed is measured in `bench/`, never in tests).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)
from psycopg.conninfo import conninfo_to_dict

from store.recorder import QualtraceRecorder
from store.source import EventSource, ReadCursor


@pytest.fixture(autouse=True)
def _database(request: Any, db_url: str) -> Any:
    p = conninfo_to_dict(db_url)
    request.instance.datastores = []
    request.instance.make_datastore = lambda: PostgresDatastore(
        dbname=str(p["dbname"]),
        host=str(p.get("host") or "127.0.0.1"),
        port=str(p.get("port") or 5432),
        user=str(p.get("user") or "postgres"),
        password=str(p.get("password") or ""),
        pool_size=12,
        max_overflow=12,
        lock_timeout=10,
    )
    yield
    for ds in request.instance.datastores:
        ds.close()


class _Recorder:
    datastores: list[PostgresDatastore]
    make_datastore: Any

    def create_recorder(self) -> QualtraceRecorder:
        ds = self.make_datastore()
        self.datastores.append(ds)
        recorder = QualtraceRecorder(ds, events_table_name="library_cases")
        recorder.create_table()
        return recorder


class TestQualtraceRecorderAsApplicationRecorder(
    _Recorder, ApplicationRecorderTestCase[QualtraceRecorder]
):
    def test_performance(self) -> None:
        pytest.skip("timing only; see bench/")

    def test_concurrent_throughput(self) -> None:
        pytest.skip("timing only; see bench/")

    def test_insert_subscribe(self) -> None:
        # The library keeps this case optional (not every recorder has subscriptions);
        # ours notifies after commit from a background thread, and a subscription must
        # still see every event.
        self.optional_test_insert_subscribe()


class TestQualtraceRecorderNonInterleaving(_Recorder, NonInterleavingNotificationIDsBaseCase):
    """The library's case asserts that two racing 1,000-event transactions draw
    non-interleaved *ids*; that holds only under its table lock. Without the lock ids
    may interleave, so the property that readers rely on is asserted in *read order*
    instead: in `(xid, notification_id)` order each transaction's events are contiguous."""

    def test(self) -> None:
        recorder = self.create_recorder()
        stacks = [self.create_stack(self.new_originator_id()) for _ in range(2)]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def insert(stack: Any) -> None:
            try:
                start.wait()
                recorder.insert_events(stack)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=insert, args=(s,)) for s in stacks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        source = EventSource(recorder, mapper=None)
        cursor = ReadCursor()
        order: list[Any] = []
        while True:
            got, cursor = source.read_notifications(cursor, 500)
            if not got:
                break
            order.extend(n.originator_id for n in got)
        assert len(order) == 2 * self.insert_num
        first, second = order[0], order[-1]
        assert first != second
        assert order == [first] * self.insert_num + [second] * self.insert_num
