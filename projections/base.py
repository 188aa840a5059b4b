"""Read models built from the event store, written in batches together with their
tracking position (one transaction per batch), so a crash never skips or repeats one.

Each projection owns tables in a schema of its own generation (`qt_<name>_g<N>`);
readers use stable views in the `qt_read` schema. A rebuild fills a new generation
beside the live one and switches the views in one transaction (see
`store.generations.rebuild`). A projection implements `Projection` and reads
`EventRecord`s; both belong to the store's consumer interface (`store.records`).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate
from psycopg import Cursor

from store.records import META_FIELDS, EventRecord, Projection
from store.schema import READ_SCHEMA

__all__ = [
    "META_FIELDS",
    "PROJECT_REGIONS_DDL",
    "READ_SCHEMA",
    "EventRecord",
    "Projection",
    "events_of",
    "record_project_region",
    "update_row",
]

#: Each projection keeps its own project → region map in its own schema (so that it
#: rebuilds alone), filled from `Project.Registered` by `record_project_region`.
PROJECT_REGIONS_DDL = (
    "CREATE TABLE {schema}.project_regions (project text PRIMARY KEY, region text NOT NULL)"
)


def record_project_region(cur: Cursor[Any], schema: str, rec: EventRecord) -> None:
    """Remember a registered project's region in this projection's `project_regions`."""
    cur.execute(
        f"INSERT INTO {schema}.project_regions VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (rec.event.code, rec.event.region),
    )


def events_of(*aggregates: type) -> tuple[type, ...]:
    """Every event class the aggregates name as class attributes (`Ticket.Dispatched` …)."""
    return tuple(
        v
        for aggregate in aggregates
        for v in vars(aggregate).values()
        if isinstance(v, type) and issubclass(v, Aggregate.Event)
    )


def update_row(
    cur: Cursor[Any], table: str, rec: EventRecord, assignments: str = "", params: Any = ()
) -> None:
    """`UPDATE table SET <assignments>, version = …, updated_at = … WHERE id = <issue>`:
    every event of an issue moves its row's version, even one that changes nothing else."""
    head = f"{assignments}, " if assignments else ""
    cur.execute(
        f"UPDATE {table} SET {head}version = %s, updated_at = %s WHERE id = %s",
        (*params, rec.version, rec.event.timestamp, rec.issue_id),
    )
