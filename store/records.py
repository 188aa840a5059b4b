"""What a consumer of the event store sees and implements.

`EventRecord` is a stored event as `store.source.EventSource` hands it out; `Projection`
is the interface `store.consumer` drives: a tracked reader that applies batches of
records to tables of its own generation schema (`qt_<name>_g<N>`, see
`store.generations`), in the batch's transaction. Read models (`projections/`) and the
process follower (`qualtrace.processes`) implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from psycopg import Cursor

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

    def layout_key(self) -> str:
        """What else its rows depend on besides the events and the code (a time zone, a
        taxonomy): a change of it rebuilds the read model (`store.generations.layout`)."""
        return ""

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:  # noqa: B027
        """Hook: called at the start of each batch's transaction."""

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:  # noqa: B027
        """Hook: called before each batch's transaction commits."""
