"""The one command path of Qualtrace: execute → authorise → check If-Match → mutate → commit.

Every context (tickets, inspections, nonconformances, surveys, ...) is a small class
composed over one `CommandService`, and runs its verbs through `execute` (an existing
aggregate) or `create` (a new one). Both end in `commit`, the one place that writes:

- the aggregates' new events, in one append transaction (`record`), or with the
  recorder's COPY for a bulk batch (`stored=`: events already mapped, e.g. a survey file);
- in that same transaction, after the insert, the command's HOOKS in order — each a
  callable `(cursor, notification_ids)` that writes what must commit with the events
  (the nonconformance recurrence index, a survey's membership index, the guard that the
  campaign did not move) — and then the idempotency record of the answer;
- the answer: ids, version and the position of the last event written.

A lost race (another writer appended the same version first, or a guard hook failed with
`qt_campaign_moved`) is retried from a fresh load unless the client pinned a version
with If-Match. A repeated Idempotency-Key replays the first answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from application.base import Call, CommandResult, QualtraceBase
from application.errors import (
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    NotFound,
    PreconditionFailed,
    UnknownReference,
)
from application.security import authorize, can
from domain.base import Actor, Ctx, QAggregate, id_for
from domain.errors import DomainError
from domain.vocabulary import NUMBER_PREFIXES
from store.schema import NUMBER_SEQUENCE

A = TypeVar("A", bound=QAggregate)

#: Runs in a command's append transaction, after the events' insert.
Hook = Callable[[Cursor[DictRow], Sequence[int]], None]

#: What a guard hook raises (in the database) when what the command read has moved on.
MOVED = "qt_campaign_moved"

#: The idempotency record written by the append statement itself (`also`); `ins` are the
#: appended rows, the answer's position their last notification id.
IDEMPOTENCY_ROW = (
    "INSERT INTO idempotency_keys (principal_id, key, fingerprint, status_code, answer)"
    " SELECT %s, %s, %s, %s, %s::jsonb || jsonb_build_object('position',"
    " (SELECT max(notification_id) FROM ins))"
)


def lost_race(error: Exception) -> bool:
    """Another writer got there first: the same aggregate version, or a guard that failed."""
    return isinstance(error, IntegrityError) or MOVED in str(error)


class CommandService:
    """The command path over the one event store (`QualtraceBase`), by composition."""

    MAX_CONFLICT_RETRIES = 5

    def __init__(self, store: QualtraceBase) -> None:
        self.store = store
        self._project_cache: dict[str, str] = {}
        self._known_sequences: set[str] = set()

    # -- what every context needs of the store -------------------------------------
    @property
    def policies(self) -> dict[str, Any]:
        return self.store.policies

    def clock(self) -> datetime:
        return self.store.clock()

    def local_now(self) -> datetime:
        return self.clock().astimezone(self.store.tz)

    def sql(
        self, statement: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        return self.store.sql(statement, params)

    def load(self, cls: type[A], ref: str | UUID, version: int | None = None) -> A:
        return self.store.load(cls, ref, version)

    def exists(self, cls: type[QAggregate], ref: str) -> bool:
        return self.store.exists(cls, ref)

    def ctx(self, call: Call) -> Ctx:
        p = call.principal
        return Ctx(
            Actor(p.id, p.name, p.role), self.clock(), call.correlation_id, call.causation_id
        )

    # -- organisation: projects and their regions --------------------------------------
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

    def require_project(self, field: str, code: str) -> str:
        """Return the project's region, or raise naming the field with the unknown code."""
        region = self.project_region(code)
        if region is None:
            raise UnknownReference(field, f"unknown project code '{code}'")
        return region

    def require_project_for(self, call: Call, action: str, field: str, code: str) -> str:
        """The region of a project a command names, for the caller: 403 if its role may not
        do `action` at all; a project outside its scope answers exactly like one that does
        not exist (422 naming the field), so that existence never leaks (docs/security.md)."""
        if not can(call.principal, action):
            raise Forbidden(call.principal.role, action)
        region = self.project_region(code)
        if region is None or not call.principal.sees(code, region):
            raise UnknownReference(field, f"unknown project code '{code}'")
        return region

    def authorize(self, call: Call, action: str, project: str | None) -> None:
        region = self.project_region(project) if project else None
        if not authorize(call.principal, action, project, region):
            if project is not None and not call.principal.sees(project, region):
                # Out of scope: indistinguishable from a missing issue.
                raise NotFound("issue", "")
            raise Forbidden(call.principal.role, action)

    # -- human numbers ---------------------------------------------------------------
    def next_number(self, kind: str) -> str:
        """`TK-2026-000123`: unique and increasing per kind and calendar year (company time).

        Drawn from a PostgreSQL sequence outside the command's transaction, so a
        command that fails after drawing leaves a gap; numbers are never reused.
        """
        prefix = NUMBER_PREFIXES[kind]
        year = self.local_now().year
        seq = f"qt_number_{prefix.lower()}_{year}"
        if seq not in self._known_sequences:  # one DDL round trip per process and year
            try:
                with self.store.datastore.transaction(commit=True) as cur:
                    cur.execute(NUMBER_SEQUENCE.format(name=seq))
            except (IntegrityError, ProgrammingError):
                pass  # two first-of-the-year commands raced to create it; the other one did
            self._known_sequences.add(seq)
        # One statement in autocommit (the pool's connections are): one round trip, not
        # BEGIN / SELECT / COMMIT. `nextval` is never rolled back anyway.
        with self.store.datastore.get_connection() as conn:
            row = conn.execute(f"SELECT nextval('{seq}') AS n", prepare=True).fetchone()
        assert row is not None
        return f"{prefix}-{year}-{int(row['n']):06d}"

    def next_numbers(self, kind: str, count: int) -> list[str]:
        """`count` numbers of `kind` in one round trip (same sequence as `next_number`)."""
        if count <= 0:
            return []
        first = self.next_number(kind)
        if count == 1:
            return [first]
        prefix, year, _ = first.split("-")
        seq = f"qt_number_{prefix.lower()}_{year}"
        rows = self.sql(f"SELECT nextval('{seq}') AS n FROM generate_series(1, %s)", (count - 1,))
        return [first, *(f"{prefix}-{year}-{int(r['n']):06d}" for r in rows)]

    # -- the command path --------------------------------------------------------------
    def execute(
        self,
        call: Call,
        action: str,
        cls: type[A],
        ref: str | UUID,
        step: Callable[[A, Ctx], Sequence[QAggregate] | CommandResult | None],
        *,
        extra: Callable[[A], dict[str, Any]] | None = None,
        hooks: Callable[[A], Sequence[Hook]] | None = None,
        load: Callable[[], A] | None = None,
        lock: Callable[[], AbstractContextManager[Any]] | None = None,
        retries: int = MAX_CONFLICT_RETRIES,
        gave_up: Callable[[A], Exception] | None = None,
        stored: Callable[[A], Sequence[StoredEvent]] | None = None,
    ) -> CommandResult:
        """get → authorise → check If-Match → mutate → commit, retrying on a lost race
        unless the client pinned a version with If-Match.

        `load` replaces "load `cls` by `ref`, authorise `action` on its project" (a
        context with its own reach, e.g. a survey response through its campaign); `lock`
        is held around each attempt; `step` may return further aggregates to commit with
        the target, or a `CommandResult` to answer without writing; `hooks` and `extra`
        are taken from the mutated target; `gave_up` is the error after `retries` lost races;
        `stored` gives a bulk batch of new issues' events to commit after the target's
        (the answer is then "created").
        """
        replay = self.replay(call)
        if replay is not None:
            return replay
        agg: A | None = None
        for _attempt in range(retries):
            with lock() if lock is not None else nullcontext():
                if load is not None:
                    agg = load()
                else:
                    agg = self.load(cls, ref)
                    self.authorize(call, action, getattr(agg, "project", None))
                try:
                    if call.if_match is not None and call.if_match != agg.version:
                        raise PreconditionFailed(agg.version, call.if_match)
                    out = step(agg, self.ctx(call))
                except (DomainError, PreconditionFailed):
                    # A duplicate with the same Idempotency-Key may have won meanwhile: the
                    # issue has moved on because of *this* request, so answer as the winner did.
                    replay = self.replay(call)
                    if replay is not None:
                        return replay
                    raise
                if isinstance(out, CommandResult):
                    return out
                batch = stored(agg) if stored else ()
                try:
                    return self.commit(
                        call,
                        agg,
                        *(out or ()),
                        hooks=hooks(agg) if hooks else (),
                        extra=extra(agg) if extra else None,
                        stored=batch,
                        created=bool(batch),
                    )
                except PersistenceError as e:
                    if not lost_race(e):
                        raise
                    replay = self._replay_race(call, e)
                    if replay is not None:
                        return replay
                    if call.if_match is not None and MOVED not in str(e):
                        raise PreconditionFailed(None, call.if_match) from None
        assert agg is not None
        if gave_up is not None:
            raise gave_up(agg)
        raise Conflict(cls.KIND, agg.status, "the issue was changed concurrently; retry")

    def create(
        self,
        call: Call,
        action: str | None,
        project: str | None,
        build: Callable[[Ctx], Sequence[QAggregate]],
        *,
        extra: Callable[[QAggregate], dict[str, Any]] | None = None,
        hooks: Callable[[Sequence[QAggregate]], Sequence[Hook]] | None = None,
        retries: int = 1,
        exists: Callable[[QAggregate], Exception] | None = None,
        gave_up: Callable[[], Exception] | None = None,
    ) -> CommandResult:
        """Create a new issue (the first aggregate `build` returns) and any it raises.

        `action` None: `build` authorises itself (it reads what decides). A guard hook's
        lost race is built again up to `retries` times; the store refusing the new id
        means it `exists` (409).

        With an Idempotency-Key the first answer is NOT looked up first (a round trip on
        every command): the idempotency record is written by the append statement
        itself, so a repeated key makes that statement fail on the key's primary key and
        nothing is recorded; any failure of a command with a key then looks the key up
        and answers the first answer if there is one (a repeat that the domain refuses,
        e.g. a region registered twice, gets the first answer too). A repeat draws a
        number it does not use: a gap, as a failed command leaves."""
        try:
            return self._create(
                call, action, project, build, extra, hooks, retries, exists, gave_up
            )
        except Exception:
            if call.idempotency is not None:
                replay = self.replay(call)
                if replay is not None:
                    return replay
            raise

    def _create(
        self,
        call: Call,
        action: str | None,
        project: str | None,
        build: Callable[[Ctx], Sequence[QAggregate]],
        extra: Callable[[QAggregate], dict[str, Any]] | None,
        hooks: Callable[[Sequence[QAggregate]], Sequence[Hook]] | None,
        retries: int,
        exists: Callable[[QAggregate], Exception] | None,
        gave_up: Callable[[], Exception] | None,
    ) -> CommandResult:
        if action is not None:
            self.authorize(call, action, project)
        for _attempt in range(retries):
            aggs = build(self.ctx(call))
            try:
                return self.commit(
                    call,
                    *aggs,
                    created=True,
                    hooks=hooks(aggs) if hooks else (),
                    extra=extra(aggs[0]) if extra else None,
                )
            except PersistenceError as e:
                if not lost_race(e):
                    raise
                replay = self._replay_race(call, e)
                if replay is not None:
                    return replay
                if MOVED in str(e):
                    continue
                if exists is not None:
                    raise exists(aggs[0]) from None
                number = getattr(aggs[0], "number", "")
                raise Conflict(
                    aggs[0].KIND, "exists", f"{aggs[0].KIND} {number} already exists"
                ) from None
        raise gave_up() if gave_up is not None else Conflict("request", "racing", "retry")

    def commit(
        self,
        call: Call | None,
        main: QAggregate,
        *others: QAggregate,
        created: bool = False,
        extra: dict[str, Any] | None = None,
        hooks: Sequence[Hook] = (),
        stored: Sequence[StoredEvent] = (),
    ) -> CommandResult:
        """Write the aggregates' new events (then `stored`, a bulk batch, with COPY) and
        run `hooks`, then the idempotency record, in their append transaction."""
        result = CommandResult(
            id=str(main.id),
            number=str(getattr(main, "number", "")),
            status=main.status,
            version=main.version,
            position=None,
            created=created,
            extra=extra or {},
        )
        after = list(hooks)
        also = None
        if call is not None and call.idempotency is not None:
            if after or stored:
                after.append(self._idempotency_writer(call, result))
            else:  # the record in the append statement itself: one round trip in all
                also = self._idempotency_row(call, result)
        positions = self.record(main, *others, hooks=after, stored=stored, also=also)
        result.position = max(positions) if positions else self.store.recorder.max_notification_id()
        return result

    def record(
        self,
        *aggs: QAggregate,
        hooks: Sequence[Hook] = (),
        stored: Sequence[StoredEvent] = (),
        also: tuple[str, Sequence[Any]] | None = None,
    ) -> list[int]:
        """Append the aggregates' pending events (and `stored`) in one transaction with
        the hooks (or with `also`, one more INSERT in the append statement, see
        `QualtraceRecorder.insert_events`); return the notification ids written (with
        `stored`: the last one)."""

        def after_insert(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            for hook in hooks:
                hook(cur, ids)

        run = after_insert if hooks else None
        if stored:
            to_stored = self.store.mapper.to_stored_event
            events = [to_stored(e) for a in aggs for e in a.collect_events()]
            position = self.store.recorder.copy_events([*events, *stored], run)  # type: ignore[attr-defined]
            return [position] if position is not None else []
        kwargs: dict[str, Any] = {"after_insert": run} if run is not None else {}
        if also is not None:
            kwargs["also"] = also
        recordings = self.store.save(*aggs, **kwargs)
        return [r.notification.id for r in recordings]

    # -- idempotency -----------------------------------------------------------------
    def _idempotency_writer(self, call: Call, result: CommandResult) -> Hook:
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

    def _idempotency_row(self, call: Call, result: CommandResult) -> tuple[str, Sequence[Any]]:
        """The idempotency record as an INSERT inside the append statement: the answer's
        position is the last notification id appended (`ins`)."""
        idem = call.idempotency
        assert idem is not None
        return (
            IDEMPOTENCY_ROW,
            (
                call.principal.id,
                idem.key,
                idem.fingerprint,
                201 if result.created else 200,
                Jsonb(result.as_dict()),
            ),
        )

    def replay(self, call: Call) -> CommandResult | None:
        """The first answer to this Idempotency-Key, if there was one."""
        if call.idempotency is None:
            return None
        # One statement in autocommit: one round trip, not BEGIN / SELECT / COMMIT.
        with self.store.datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT fingerprint, status_code, answer FROM idempotency_keys"
                " WHERE principal_id=%s AND key=%s",
                (call.principal.id, call.idempotency.key),
                prepare=True,
            ).fetchone()
        if row is None:
            return None
        if row["fingerprint"] != call.idempotency.fingerprint:
            raise IdempotencyMismatch(call.idempotency.key)
        answer = dict(row["answer"])
        base = {k: answer.pop(k) for k in ("id", "number", "status", "version", "position")}
        return CommandResult(**base, created=row["status_code"] == 201, extra=answer)

    def _replay_race(self, call: Call, error: Exception) -> CommandResult | None:
        """After a lost race: the answer of a duplicate of this very request that won."""
        replay = self.replay(call)
        if replay is None and "idempotency" in str(error):  # pragma: no cover
            raise Conflict(
                "request", "racing", "a request with this Idempotency-Key is in progress"
            )
        return replay
