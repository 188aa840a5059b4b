"""The service layer's shared machinery: one event store, commands with metadata,
optimistic concurrency, idempotency keys and human numbers."""

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
from eventsourcing.persistence import IntegrityError, ProgrammingError
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from application.errors import (
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    NotFound,
    PreconditionFailed,
)
from application.security import Principal, authorize
from domain.base import Actor, Ctx, QAggregate, id_for
from domain.errors import DomainError
from domain.vocabulary import NUMBER_PREFIXES
from store.schema import NUMBER_SEQUENCE

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
    """The one event store of Qualtrace; each bounded context adds its verbs as a mixin."""

    name = "qualtrace"
    env: ClassVar[dict[str, str]] = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "store.recorder:QualtraceRecorder",
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "COMPRESSOR_TOPIC": "",
    }
    MAX_CONFLICT_RETRIES = 5

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
        self._project_cache: dict[str, Any] = {}

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

    # -- organisation helpers used by every context ----------------------------------
    def project_region(self, code: str) -> str | None:
        """The region of a project, or None when the project is unknown."""
        if code in self._project_cache:
            return self._project_cache[code]
        from domain.org import Project

        try:
            project = self.load(Project, id_for("project", code))
        except NotFound:
            return None
        self._project_cache[code] = project.region
        return project.region

    def authorize(self, call: Call, action: str, project: str | None) -> None:
        region = self.project_region(project) if project else None
        if not authorize(call.principal, action, project, region):
            if project is not None and not call.principal.sees(project, region):
                # Out of scope: indistinguishable from a missing issue.
                raise NotFound("issue", "")
            raise Forbidden(call.principal.role, action)

    def ctx(self, call: Call) -> Ctx:
        p = call.principal
        return Ctx(
            Actor(p.id, p.name, p.role), self.clock(), call.correlation_id, call.causation_id
        )

    def local_now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    # -- human numbers ---------------------------------------------------------------
    def next_number(self, kind: str) -> str:
        """`TK-2026-000123`: unique and increasing per kind and calendar year (company time).

        Drawn from a PostgreSQL sequence outside the command's transaction, so a
        command that fails after drawing leaves a gap; numbers are never reused.
        """
        prefix = NUMBER_PREFIXES[kind]
        year = self.local_now().year
        seq = f"qt_number_{prefix.lower()}_{year}"
        known: set[str] = self.__dict__.setdefault("_known_sequences", set())
        if seq not in known:  # one DDL round trip per process and year, not per command
            try:
                with self.datastore.transaction(commit=True) as cur:
                    cur.execute(NUMBER_SEQUENCE.format(name=seq))
            except (IntegrityError, ProgrammingError):
                pass  # two first-of-the-year commands raced to create it; the other one did
            known.add(seq)
        # One statement in autocommit (the pool's connections are): one round trip, not
        # BEGIN / SELECT / COMMIT. `nextval` is never rolled back anyway.
        with self.datastore.get_connection() as conn:
            row = conn.execute(f"SELECT nextval('{seq}') AS n", prepare=True).fetchone()
        assert row is not None
        return f"{prefix}-{year}-{int(row['n']):06d}"

    # -- running commands ------------------------------------------------------------
    def execute(
        self,
        call: Call,
        action: str,
        cls: type[A],
        ref: str | UUID,
        step: Callable[[A, Ctx], Sequence[QAggregate] | None],
        extra: Callable[[A], dict[str, Any]] | None = None,
    ) -> CommandResult:
        """get → authorise → check version → mutate → save, retrying on a lost race
        unless the client pinned a version with If-Match."""
        replay = self.replay_idempotent(call)
        if replay is not None:
            return replay
        for attempt in range(self.MAX_CONFLICT_RETRIES):
            agg = self.load(cls, ref)
            self.authorize(call, action, getattr(agg, "project", None))
            try:
                if call.if_match is not None and call.if_match != agg.version:
                    raise PreconditionFailed(agg.version, call.if_match)
                ctx = self.ctx(call)
                others = step(agg, ctx) or ()
            except (DomainError, PreconditionFailed):
                # A duplicate with the same Idempotency-Key may have won meanwhile: the
                # issue has moved on because of *this* request, so answer as the winner did.
                replay = self.replay_idempotent(call)
                if replay is not None:
                    return replay
                raise
            try:
                return self.commit(call, agg, *others, extra=extra(agg) if extra else None)
            except IntegrityError as e:
                if "idempotency" in str(e):
                    return self._replay_after_race(call)
                replay = self.replay_idempotent(call)
                if replay is not None:  # lost the race to a duplicate of this very request
                    return replay
                if call.if_match is not None:
                    raise PreconditionFailed(None, call.if_match) from None
                if attempt == self.MAX_CONFLICT_RETRIES - 1:
                    raise Conflict(
                        cls.KIND, agg.status, "the issue was changed concurrently; retry"
                    ) from None
        raise AssertionError("unreachable")

    def create(
        self,
        call: Call,
        action: str,
        project: str | None,
        build: Callable[[Ctx], Sequence[QAggregate]],
        extra: Callable[[QAggregate], dict[str, Any]] | None = None,
    ) -> CommandResult:
        """Create a new issue (the first aggregate returned) and any it raises."""
        replay = self.replay_idempotent(call)
        if replay is not None:
            return replay
        self.authorize(call, action, project)
        aggs = build(self.ctx(call))
        try:
            result = self.commit(call, *aggs, created=True, extra=extra(aggs[0]) if extra else None)
        except IntegrityError as e:
            if "idempotency" in str(e):
                return self._replay_after_race(call)
            raise Conflict(
                aggs[0].KIND,
                "exists",
                f"{aggs[0].KIND} {getattr(aggs[0], 'number', '')} already exists",
            ) from None
        return result

    def commit(
        self,
        call: Call | None,
        main: QAggregate,
        *others: QAggregate,
        created: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> CommandResult:
        result = CommandResult(
            id=str(main.id),
            number=str(getattr(main, "number", "")),
            status=main.status,
            version=main.version,
            position=None,
            created=created,
            extra=extra or {},
        )
        kwargs: dict[str, Any] = {}
        if call is not None and call.idempotency is not None:
            kwargs["after_insert"] = self._idempotency_writer(call, result)
        recordings = self.save(main, *others, **kwargs)
        positions = [r.notification.id for r in recordings]
        result.position = max(positions) if positions else self.recorder.max_notification_id()
        return result

    # -- idempotency -----------------------------------------------------------------
    def _idempotency_writer(
        self, call: Call, result: CommandResult
    ) -> Callable[[Cursor[DictRow], Sequence[int]], None]:
        idem = call.idempotency
        assert idem is not None

        def write(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            answer = result.as_dict()
            answer["position"] = max(ids) if ids else None
            cur.execute(
                "INSERT INTO idempotency_keys (principal_id, key, fingerprint, status_code, answer)"
                " VALUES (%s, %s, %s, %s, %s)",
                (
                    call.principal.id,
                    idem.key,
                    idem.fingerprint,
                    201 if result.created else 200,
                    Jsonb(answer),
                ),
            )

        return write

    def replay_idempotent(self, call: Call) -> CommandResult | None:
        if call.idempotency is None:
            return None
        rows = self.sql(
            "SELECT fingerprint, status_code, answer FROM idempotency_keys WHERE principal_id=%s AND key=%s",
            (call.principal.id, call.idempotency.key),
        )
        if not rows:
            return None
        row = rows[0]
        if row["fingerprint"] != call.idempotency.fingerprint:
            raise IdempotencyMismatch(call.idempotency.key)
        answer = dict(row["answer"])
        base = {k: answer.pop(k) for k in ("id", "number", "status", "version", "position")}
        return CommandResult(**base, created=row["status_code"] == 201, extra=answer)

    def _replay_after_race(self, call: Call) -> CommandResult:
        replay = self.replay_idempotent(call)
        if replay is None:  # pragma: no cover - the winner's row must be visible now
            raise Conflict(
                "request", "racing", "a request with this Idempotency-Key is in progress"
            )
        return replay


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
