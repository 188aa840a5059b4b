"""The repository: an aggregate's latest state in ONE query (snapshot and the events after it).

The library's `Repository` reads the latest snapshot, then the events after it: two
round trips and two statements composed per read. Reading the current state of an issue
is what every command and every `GET /tickets/{id}` does, so here it is one prepared
statement, rendered once:

    WITH s AS (the latest snapshot)
    SELECT 0, s.* UNION ALL SELECT 1, <events after s's version>  ORDER BY 1, 2

and the state is projected exactly as the library does (snapshot first, then the events,
each decoded by the application's mapper). Reads of an earlier version (`version=`)
keep the library's path.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProjectorFunction, Repository
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg.sql import SQL, Identifier


class OneQueryRepository(Repository[UUID]):
    """`Repository` whose latest-state read is one statement (see the module doc)."""

    def __init__(self, mapper: Mapper[UUID], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mapper = mapper
        self._latest_sql: bytes | None = None

    def _latest_statement(self) -> bytes:
        if self._latest_sql is None:
            assert self.snapshot_store is not None
            events: Any = self.event_store.recorder
            snapshots: Any = self.snapshot_store.recorder
            schema = events.datastore.schema
            self._latest_sql = (
                SQL(
                    "WITH s AS (SELECT originator_version, topic, state FROM {snapshots}"
                    " WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1)"
                    " SELECT 0 AS k, originator_version, topic, state FROM s"
                    " UNION ALL"
                    " SELECT 1, e.originator_version, e.topic, e.state FROM {events} e"
                    " WHERE e.originator_id = %s"
                    " AND e.originator_version > coalesce((SELECT originator_version FROM s), 0)"
                    " ORDER BY 1, 2"
                )
                .format(
                    snapshots=Identifier(schema, snapshots.events_table_name),
                    events=Identifier(schema, events.events_table_name),
                )
                .as_bytes(None)
            )
        return self._latest_sql

    def _reconstruct_aggregate(
        self, aggregate_id: UUID, version: int | None, projector_func: ProjectorFunction[Any, Any]
    ) -> Any:
        if version is not None or self.snapshot_store is None:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        datastore: Any = cast(Any, self.event_store.recorder).datastore
        with datastore.get_connection() as conn:
            rows = conn.execute(
                self._latest_statement(), (aggregate_id, aggregate_id), prepare=True
            ).fetchall()
        to_event = self.mapper.to_domain_event
        domain_events: Iterable[Any] = (
            to_event(
                StoredEvent(
                    originator_id=aggregate_id,
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
            )
            for row in rows
        )
        aggregate = projector_func(None, chain(domain_events))
        if aggregate is None:
            msg = f"Aggregate {aggregate_id!r} version {version!r} not found."
            raise AggregateNotFoundError(msg)
        return aggregate
