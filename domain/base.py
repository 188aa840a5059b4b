"""What every Qualtrace aggregate and event shares: who did it, why, in which request.

Every event carries `actor`, `correlation_id`, `causation_id` and `reason` as required
dataclass fields (no defaults), and `timestamp` is the `now` of the command context:
an event cannot be constructed without an actor, and `Meta.__post_init__` refuses an
actor without id, name and role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from domain.errors import IllegalStep, InvalidValue, MissingActor

QUALTRACE_NS = uuid5(NAMESPACE_URL, "https://qualtrace.example/ids")


def id_for(kind: str, key: str) -> UUID:
    """Deterministic aggregate id for a natural key (a human number, a code)."""
    return uuid5(QUALTRACE_NS, f"{kind}:{key}")


@dataclass(frozen=True)
class Actor:
    """The authenticated principal who caused an event (never a name typed in a body)."""

    id: str
    name: str
    role: str

    def __post_init__(self) -> None:
        for attr in ("id", "name", "role"):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr).strip():
                raise MissingActor(f"actor.{attr} is required")

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "role": self.role}


SYSTEM = Actor(id="system", name="Qualtrace", role="system")


@dataclass(frozen=True)
class Ctx:
    """The context of one command: who, when, which request, caused by which event."""

    actor: Actor
    now: datetime
    correlation_id: str
    causation_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.actor, Actor):
            raise MissingActor("a command needs an authenticated actor")
        if self.now.tzinfo is None:
            raise InvalidValue("now", "must be timezone-aware")

    def caused_by(self, event_id: str) -> Ctx:
        return Ctx(self.actor, self.now, self.correlation_id, event_id, dict(self.extra))


def utc(ts: datetime) -> datetime:
    return ts.astimezone(timezone.utc)


def event_id(originator_id: UUID, version: int) -> str:
    """The identity of an event, used as `causation_id` by what it causes."""
    return f"{originator_id}:{version}"


class QAggregate(Aggregate):
    """Base of all Qualtrace aggregates.

    `STATES` maps a state to the steps allowed in it; `check_step` raises `IllegalStep`
    naming the state and the allowed steps.
    """

    KIND: ClassVar[str] = ""
    STATES: ClassVar[dict[str, tuple[str, ...]]] = {}

    class Event(Aggregate.Event):
        actor: dict[str, str]
        correlation_id: str
        causation_id: str | None
        reason: str | None

        def __post_init__(self) -> None:
            super().__post_init__()
            actor = self.actor
            if not isinstance(actor, dict) or not all(
                isinstance(actor.get(k), str) and actor.get(k) for k in ("id", "name", "role")
            ):
                raise MissingActor(f"{type(self).__qualname__} has no valid actor")

    class Created(Event, Aggregate.Created):
        pass

    status: str

    # -- helpers ---------------------------------------------------------------
    @staticmethod
    def meta(ctx: Ctx, reason: str | None = None) -> dict[str, Any]:
        if not isinstance(ctx, Ctx):
            raise MissingActor("a command needs a context with an actor")
        return {
            "actor": ctx.actor.as_dict(),
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.causation_id,
            "reason": reason,
            "timestamp": utc(ctx.now),
        }

    def record(
        self, event_class: type[Event], ctx: Ctx, reason: str | None = None, **data: Any
    ) -> None:
        """Trigger `event_class` with the context's metadata."""
        self.trigger_event(event_class, **self.meta(ctx, reason), **data)

    def check_step(self, step: str) -> None:
        allowed = self.STATES.get(self.status, ())
        if step not in allowed:
            raise IllegalStep(self.KIND, self.status, step, allowed)

    def allowed_steps(self) -> list[str]:
        return list(self.STATES.get(self.status, ()))

    @property
    def last_event_id(self) -> str:
        return event_id(self.id, self.version)


def require_text(name: str, value: Any, max_len: int = 4000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(name, "is required")
    if len(value) > max_len:
        raise InvalidValue(name, f"is longer than {max_len} characters")
    return value.strip()


def require_choice(name: str, value: Any, choices: tuple[str, ...] | frozenset[str]) -> str:
    if value not in choices:
        raise InvalidValue(name, f"must be one of {', '.join(sorted(choices))}")
    return str(value)


def keep_topics(aggregate: type[QAggregate], module: str) -> None:
    """Store `aggregate` and its events under the topics they had in `module`.

    A stored event names its class by topic (`module:Class.Event`); moving an aggregate
    to another module would change the topic of new events (and queries comparing topics
    would miss the old ones). eventsourcing honours an explicit `TOPIC` on a class, and
    `register_topic` resolves it back to the moved class.
    """
    classes = [aggregate] + [
        v
        for v in vars(aggregate).values()
        if isinstance(v, type) and issubclass(v, Aggregate.Event)
    ]
    for cls in classes:
        topic = f"{module}:{cls.__qualname__}"
        setattr(cls, "TOPIC", topic)  # noqa: B010 - a class attribute the library reads
        register_topic(topic, cls)
