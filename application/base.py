"""The one event store of Qualtrace and the values a command carries in and out.

`QualtraceBase` is the eventsourcing `Application` (one store, one recorder, one
mapper): it loads and saves aggregates and runs SQL beside the store. It has no verbs:
the command path is `application.service.CommandService`, and each bounded context is
a small class composed over that service (`application.app.Qualtrace` builds them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import Transcoder

from application.errors import (
    NotFound,
)
from application.security import Principal
from domain.base import QAggregate, id_for
from domain.errors import DomainError
from store.repository import OneQueryRepository
from store.transcoder import OrjsonTranscoder

A = TypeVar("A", bound=QAggregate)


def parse_ref(kind: str, ref: str) -> UUID:
    """An issue is addressed by its UUID or its human number alike."""
    try:
        return UUID(str(ref))
    except ValueError:
        return id_for(kind, str(ref).strip().upper())


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str  # hash of method, path and body


@dataclass
class Call:
    """One request's cross-cutting facts, from the API to a use case."""

    principal: Principal
    correlation_id: str
    if_match: int | None = None
    idempotency: Idempotency | None = None
    causation_id: str | None = None


@dataclass
class CommandResult:
    id: str
    number: str
    status: str
    version: int
    position: int | None
    created: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "number": self.number,
            "status": self.status,
            "version": self.version,
            "position": self.position,
        }
        out.update(self.extra)
        return out


class QualtraceBase(Application):
    """The one event store of Qualtrace; the contexts reach it through `CommandService`."""

    name = "qualtrace"
    env: ClassVar[dict[str, str]] = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "store.recorder:QualtraceRecorder",
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "COMPRESSOR_TOPIC": "",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        timezone_name: str = "Asia/Shanghai",
        policies: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(env)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(timezone.utc))
        self.tz = ZoneInfo(timezone_name)
        self.policies: dict[str, Any] = policies or {}

    def construct_repository(self) -> Any:
        """The library's repository, reading an aggregate's latest state in one query
        (store/repository.py)."""
        return OneQueryRepository(
            self.mapper, event_store=self.events, snapshot_store=self.snapshots
        )

    def construct_transcoder(self) -> Transcoder:
        """orjson, writing the bytes the library's JSONTranscoder wrote (store/transcoder.py)."""
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """`Application.save`, step for step, with a `ProcessingEvent` that recognises our
        aggregates by class: the library tells aggregates from events with `isinstance`
        against runtime-checkable protocols, which costs tens of microseconds per object."""
        processing_event = _ProcessingEvent()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # type: ignore[no-untyped-call]  # deprecated, as the library does
        return recordings

    # -- database access beside the event store ------------------------------------
    @property
    def datastore(self) -> Any:
        return self.recorder.datastore  # type: ignore[attr-defined]

    def sql(
        self, statement: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []

    # -- loading ---------------------------------------------------------------------
    def load(self, cls: type[A], ref: str | UUID, version: int | None = None) -> A:
        agg_id = ref if isinstance(ref, UUID) else parse_ref(cls.KIND, ref)
        try:
            agg: Any = self.repository.get(agg_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(cls.KIND, str(ref)) from None
        if not isinstance(agg, cls):
            raise NotFound(cls.KIND, str(ref))
        return agg

    def exists(self, cls: type[QAggregate], ref: str) -> bool:
        try:
            self.load(cls, ref)
        except NotFound:
            return False
        return True


class _ProcessingEvent(ProcessingEvent[UUID]):
    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, QAggregate):  # an aggregate, never a domain event
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            else:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def canonical_json(value: Any) -> bytes:
    """The one canonical JSON of Qualtrace: keys sorted, separators (',', ':'), UTF-8,
    non-ASCII kept. Idempotency fingerprints and audit-pack digests hash it
    (tools/verify_pack.py keeps its own copy: it must run with the standard library alone)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


__all__ = [
    "Call",
    "CommandResult",
    "DomainError",
    "Idempotency",
    "QualtraceBase",
    "canonical_json",
    "fingerprint",
    "parse_ref",
]
