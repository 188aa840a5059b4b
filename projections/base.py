"""Read models built from the event store, written in batches together with their
tracking position (one transaction per batch), so a crash never skips or repeats one.

Each projection owns tables in a schema of its own generation (`qt_<name>_g<N>`);
readers use stable views in the `qt_read` schema. A rebuild fills a new generation
beside the live one and switches the views in one transaction (see `runner.rebuild`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from psycopg import Cursor

READ_SCHEMA = "qt_read"

META_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "actor",
        "correlation_id",
        "causation_id",
        "reason",
    }
)


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


@dataclass(frozen=True)
class EventRecord:
    """A stored event as projections see it."""

    position: int
    issue_id: UUID
    version: int
    topic: str
    type: str
    aggregate: str
    event: Any

    @property
    def occurred_at(self) -> datetime:
        return self.event.timestamp

    @property
    def actor(self) -> dict[str, str]:
        return getattr(self.event, "actor", {}) or {}

    def data(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self.event).items() if k not in META_FIELDS}


class Projection(ABC):
    """A read model. `tables` are DDL templates with `{schema}`; `views` names the tables
    exposed in `qt_read` (and in `reporting`, for those listed in `reporting_views`)."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    tables: ClassVar[list[str]] = []
    views: ClassVar[list[str]] = []

    @abstractmethod
    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        """Apply one event to the tables in `schema` (within the batch's transaction)."""

    def handles(self, rec: EventRecord) -> bool:
        """Whether this projection wants the event at all; others still advance tracking."""
        return True

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:  # noqa: B027
        """Hook: called at the start of each batch's transaction."""

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:  # noqa: B027
        """Hook: called before each batch's transaction commits."""
