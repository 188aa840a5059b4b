"""Tickets: customer requests and complaints (客户服务工单), DOMAIN.md §1."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain import ticket_events as events
from domain.attachments import require_digests
from domain.base import Ctx, QAggregate, event_id, id_for, require_choice, require_text
from domain.calendars import BusinessCalendar
from domain.errors import InvalidValue, NotAssignee, RuleViolation
from domain.policies import (
    DEFAULT_CALLBACK_REOPEN_BELOW,
    DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE,
    RESPONSE_ENDS,
)
from domain.vocabulary import (
    CHANNELS,
    DEPARTMENTS,
    NUMBER_PREFIXES,
    PRIORITIES,
    SEVERITIES,
    TICKET_KINDS,
)

_ALWAYS = ("note",)
#: The three callback ratings (回访评价): 及时性, 质量, 态度.
RATING_DIMENSIONS = ("speed", "quality", "attitude")

#: The state version 2 of `Ticket` added, with its defaults (for upcasting old snapshots).
_V2_STATE: dict[str, Any] = {
    "arrived_at": None,
    "on_site": False,
    "on_hold_since": None,
    "holds": [],
    "paused_seconds": 0.0,
    "rejections": 0,
    "due_history": [],
    "callback_done_at": None,
    "sla_levels": {},
    "sla_escalations": [],
}


class Ticket(QAggregate):
    KIND = "ticket"
    PREFIX = NUMBER_PREFIXES["ticket"]
    STATES = {
        "received": ("dispatch", "cancel", "escalate", "reclassify", *_ALWAYS),
        "dispatched": (
            "accept",
            "dispatch",
            "transfer",
            "cancel",
            "escalate",
            "arrive",
            "reject",
            "reclassify",
            *_ALWAYS,
        ),
        "in_progress": (
            "resolve",
            "transfer",
            "cancel",
            "escalate",
            "arrive",
            "hold",
            "reject",
            "reclassify",
            *_ALWAYS,
        ),
        "on_hold": ("resume", "cancel", "escalate", *_ALWAYS),
        "rejected": ("dispatch", "cancel", "escalate", "reclassify", *_ALWAYS),
        "resolved": ("callback", "close", "reopen", "escalate", *_ALWAYS),
        "called_back": ("close", "reopen", "escalate", *_ALWAYS),
        "reopened": (
            "dispatch",
            "accept",
            "transfer",
            "cancel",
            "escalate",
            "arrive",
            "reject",
            "reclassify",
            *_ALWAYS,
        ),
        "closed": ("escalate", *_ALWAYS),
        "cancelled": _ALWAYS,
    }
    #: Version 2 (issue #16) added the field steps' state; a version 1 snapshot is upcast.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.update(copy.deepcopy(_V2_STATE))
        state["sla_levels"] = dict.fromkeys(state.get("sla_breaches") or [], 1)

    # -- events (domain/ticket_events.py) ---------------------------------------------
    Received = events.Received
    Dispatched = events.Dispatched
    Accepted = events.Accepted
    Transferred = events.Transferred
    NoteAdded = events.NoteAdded
    Resolved = events.Resolved
    CallbackRecorded = events.CallbackRecorded
    Reopened = events.Reopened
    Closed = events.Closed
    Cancelled = events.Cancelled
    Escalated = events.Escalated
    SlaBreached = events.SlaBreached
    # the field steps (issue #16)
    Arrived = events.Arrived
    PutOnHold = events.PutOnHold
    Resumed = events.Resumed
    Reclassified = events.Reclassified
    Rejected = events.Rejected
    SlaEscalated = events.SlaEscalated

    # -- state -------------------------------------------------------------------
    def __init__(
        self,
        number: str,
        project: str,
        kind: str,
        channel: str,
        priority: str,
        category: str,
        description: str,
        reporter: dict[str, str],
        response_due: datetime,
        resolution_due: datetime,
        sla_policy: dict[str, Any],
        timestamp: datetime,
        **_: Any,
    ) -> None:
        self.number = number
        self.project = project
        self.kind = kind
        self.channel = channel
        self.priority = priority
        self.category = category
        self.description = description
        self.reporter = dict(reporter)
        self.response_due = response_due
        self.resolution_due = resolution_due
        self.sla_policy = dict(sla_policy)
        self.status = "received"
        self.received_at = timestamp
        self.department: str | None = None
        self.assignee: str | None = None
        self.dispatched_at: datetime | None = None
        self.accepted_at: datetime | None = None
        #: The resolution that stands (the latest); a reopen clears it. Resolution time and
        #: the resolution SLA measure it, here and in the KPIs (projections/kpis/tickets.py).
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.closed_by_override = False
        self.resolution: str | None = None
        self.callbacks: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.unreached_attempts = 0
        self.reopen_count = 0
        self.transfers = 0
        self.escalations: list[dict[str, str]] = []
        self.links: list[dict[str, str]] = []
        self.sla_breaches: list[str] = []
        # the field steps (issue #16); `_V2_STATE` gives an old snapshot the same defaults
        self.arrived_at: datetime | None = None
        self.on_site = False
        self.on_hold_since: datetime | None = None
        self.holds: list[dict[str, Any]] = []
        self.paused_seconds = 0.0
        self.rejections = 0
        self.due_history: list[dict[str, Any]] = []
        self.callback_done_at: datetime | None = None
        #: Per SLA phase: 1 = breach recorded, 1 + n = escalated to ladder level n.
        self.sla_levels: dict[str, int] = {}
        self.sla_escalations: list[dict[str, Any]] = []

    # -- commands ----------------------------------------------------------------
    @classmethod
    def receive(
        cls,
        ctx: Ctx,
        *,
        number: str,
        project: str,
        kind: str,
        channel: str,
        priority: str,
        category: str,
        description: str,
        reporter: dict[str, Any],
        sla: dict[str, dict[str, int]],
        calendar: BusinessCalendar | None = None,
        response_ends: str = "dispatch",
        callback_minutes: int | None = None,
        attachments: list[str] | None = None,
    ) -> Ticket:
        require_choice("kind", kind, TICKET_KINDS)
        require_choice("channel", channel, CHANNELS)
        require_choice("priority", priority, PRIORITIES)
        category = require_text("category", category, 200)
        description = require_text("description", description, 4000)
        if not isinstance(reporter, dict):
            raise InvalidValue("reporter", "is required")
        rep = {
            "name": require_text("reporter.name", reporter.get("name"), 100),
            "unit": require_text("reporter.unit", reporter.get("unit"), 100),
            "phone": require_text("reporter.phone", reporter.get("phone"), 40),
        }
        require_choice("response_ends", response_ends, RESPONSE_ENDS)
        policy = sla_terms(sla, priority, calendar, response_ends, callback_minutes)
        response_due, resolution_due = due_times(ctx.now, policy, calendar)
        return cls._create(
            cls.Received,
            id=id_for("ticket", number),
            number=number,
            project=project,
            kind=kind,
            channel=channel,
            priority=priority,
            category=category,
            description=description,
            reporter=rep,
            response_due=response_due,
            resolution_due=resolution_due,
            sla_policy=policy,
            attachments=require_digests("attachments", attachments),
            **cls.meta(ctx),
        )

    def dispatch(self, ctx: Ctx, department: str, assignee: str) -> None:
        self.check_step("dispatch")
        require_choice("department", department, DEPARTMENTS)
        assignee = require_text("assignee", assignee, 100)
        self.record(self.Dispatched, ctx, department=department, assignee=assignee)

    def accept(self, ctx: Ctx) -> None:
        self.check_step("accept")
        if self.department is None:
            raise RuleViolation(
                self.KIND,
                self.status,
                "accept",
                "the ticket has no department yet; dispatch it first",
                ["dispatch"],
            )
        self.record(self.Accepted, ctx)

    def transfer(self, ctx: Ctx, department: str, assignee: str | None, reason: str) -> None:
        self.check_step("transfer")
        require_choice("department", department, DEPARTMENTS)
        reason = require_text("reason", reason, 2000)
        if assignee is not None:
            assignee = require_text("assignee", assignee, 100)
        self.record(
            self.Transferred,
            ctx,
            reason,
            from_department=self.department,
            department=department,
            assignee=assignee,
        )

    # -- the field steps (issue #16) -----------------------------------------------------
    def _require_assignee(self, ctx: Ctx, step: str, supervisor_may: bool = False) -> None:
        """Only the assignee (a supervisor too, where `supervisor_may`) may take `step`."""
        if supervisor_may and ctx.actor.role == "supervisor":
            return
        if self.assignee is None or ctx.actor.id != self.assignee:
            who = f"the assignee ({self.assignee})" if self.assignee else "an assignee"
            extra = " or a supervisor" if supervisor_may else ""
            raise NotAssignee(
                step, f"only {who}{extra} may {step} this ticket; you are {ctx.actor.id}"
            )

    def arrive(self, ctx: Ctx, attachments: list[str] | None = None) -> None:
        """到达现场: the assignee is on site (arrival implies acceptance); `attachments`
        are the "before" photos."""
        self.check_step("arrive")
        self._require_assignee(ctx, "arrive")
        if self.on_site:
            raise RuleViolation(
                self.KIND,
                self.status,
                "arrive",
                "the assignee's arrival is already recorded",
                self.allowed_steps(),
            )
        self.record(self.Arrived, ctx, attachments=require_digests("attachments", attachments))

    def hold(self, ctx: Ctx, reason: str) -> None:
        """挂起: the resolution clock stops until `resume`."""
        self.check_step("hold")
        reason = require_text("reason", reason, 2000)
        self._require_assignee(ctx, "hold", supervisor_may=True)
        self.record(self.PutOnHold, ctx, reason)

    def resume(self, ctx: Ctx, reason: str, calendar: BusinessCalendar | None = None) -> None:
        """Back to work: the resolution due time moves by the SLA time the hold took."""
        self.check_step("resume")
        reason = require_text("reason", reason, 2000)
        self._require_assignee(ctx, "resume", supervisor_may=True)
        assert self.on_hold_since is not None
        cal = self.calendar_in_force(calendar)
        if cal is not None:
            paused = cal.working_seconds(self.on_hold_since, ctx.now)
            due = cal.add(self.resolution_due, paused) if paused else self.resolution_due
        else:
            paused = (ctx.now - self.on_hold_since).total_seconds()
            due = self.resolution_due + timedelta(seconds=paused)
        self.record(
            self.Resumed,
            ctx,
            reason,
            paused_seconds=paused,
            previous_resolution_due=self.resolution_due,
            resolution_due=due,
        )

    def reclassify(
        self,
        ctx: Ctx,
        reason: str,
        sla: dict[str, dict[str, int]],
        kind: str | None = None,
        category: str | None = None,
        priority: str | None = None,
        calendar: BusinessCalendar | None = None,
    ) -> None:
        """Correct kind, category or priority. A new priority recomputes the SLA due times
        from now (phases already done keep theirs); the old ones stay in `due_history`."""
        self.check_step("reclassify")
        reason = require_text("reason", reason, 2000)
        new_kind = require_choice("kind", kind, TICKET_KINDS) if kind is not None else self.kind
        new_cat = require_text("category", category, 200) if category is not None else self.category
        new_prio = (
            require_choice("priority", priority, PRIORITIES)
            if priority is not None
            else self.priority
        )
        if (new_kind, new_cat, new_prio) == (self.kind, self.category, self.priority):
            raise InvalidValue(
                "kind", "reclassify to the same kind, category and priority changes nothing"
            )
        response_due, resolution_due, policy = (
            self.response_due,
            self.resolution_due,
            self.sla_policy,
        )
        if new_prio != self.priority:
            policy = sla_terms(
                sla,
                new_prio,
                calendar,
                self.sla_policy.get("response_ends", "dispatch"),
                self.sla_policy.get("callback_minutes"),
            )
            new_response, new_resolution = due_times(ctx.now, policy, calendar)
            if self.response_done_at is None:
                response_due = new_response
            if self.resolved_at is None:
                resolution_due = new_resolution
        self.record(
            self.Reclassified,
            ctx,
            reason,
            previous={"kind": self.kind, "category": self.category, "priority": self.priority},
            kind=new_kind,
            category=new_cat,
            priority=new_prio,
            previous_response_due=self.response_due,
            previous_resolution_due=self.resolution_due,
            response_due=response_due,
            resolution_due=resolution_due,
            sla_policy=policy,
        )

    def reject(self, ctx: Ctx, reason: str) -> None:
        """拒单: the assignee hands the ticket back to dispatch."""
        self.check_step("reject")
        reason = require_text("reason", reason, 2000)
        self._require_assignee(ctx, "reject")
        assert self.assignee is not None
        self.record(self.Rejected, ctx, reason, department=self.department, assignee=self.assignee)

    def calendar_in_force(self, calendar: BusinessCalendar | None) -> BusinessCalendar | None:
        """The calendar this ticket's SLA runs on (None: round the clock)."""
        if calendar is None or self.sla_policy.get("calendar") is None:
            return None
        return calendar if calendar.applies_to(self.priority) else None

    @property
    def response_done_at(self) -> datetime | None:
        """When the response SLA ended: first dispatch, or arrival when the policy says so."""
        if self.sla_policy.get("response_ends") == "arrival":
            return self.arrived_at
        return self.dispatched_at

    @property
    def callback_due(self) -> datetime | None:
        """回访 due: `callback_minutes` after the resolution that stands (wall clock)."""
        minutes = self.sla_policy.get("callback_minutes")
        if self.resolved_at is None or not minutes:
            return None
        return self.resolved_at + timedelta(minutes=int(minutes))

    def add_note(self, ctx: Ctx, text: str) -> None:
        self.check_step("note")
        self.record(self.NoteAdded, ctx, text=require_text("text", text, 4000))

    def resolve(self, ctx: Ctx, resolution: str, attachments: list[str] | None = None) -> None:
        self.check_step("resolve")
        self.record(
            self.Resolved,
            ctx,
            resolution=require_text("resolution", resolution, 4000),
            attachments=require_digests("attachments", attachments),
        )

    def callback(
        self,
        ctx: Ctx,
        reached: bool,
        satisfied: bool | None,
        rating: int | None,
        comment: str | None,
        ratings: dict[str, Any] | None = None,
        reopen_below: int = DEFAULT_CALLBACK_REOPEN_BELOW,
    ) -> None:
        """Record a callback (回访). An unsatisfied callback, or one rating any of speed,
        quality and attitude below `reopen_below`, reopens the ticket."""
        self.check_step("callback")
        if self.status == "called_back":
            raise RuleViolation(
                self.KIND,
                self.status,
                "callback",
                "a satisfied callback is already recorded",
                self.allowed_steps(),
            )
        if not isinstance(reached, bool):
            raise InvalidValue("reached", "must be true or false")
        if reached and not isinstance(satisfied, bool):
            raise InvalidValue("satisfied", "is required when the resident was reached")
        if not reached and (satisfied is not None or rating is not None):
            raise InvalidValue("satisfied", "cannot be given when the resident was not reached")
        if ratings is not None:
            if not reached:
                raise InvalidValue("ratings", "cannot be given when the resident was not reached")
            ratings = check_ratings(ratings)
        if rating is not None and (
            not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5
        ):
            raise InvalidValue("rating", "must be an integer from 1 to 5")
        if comment is not None:
            comment = require_text("comment", comment, 2000)
        self.record(
            self.CallbackRecorded,
            ctx,
            reached=reached,
            satisfied=satisfied if reached else None,
            rating=rating,
            comment=comment,
            ratings=ratings,
        )
        low = [f"{k} {v}" for k, v in (ratings or {}).items() if v < reopen_below]
        if reached and (satisfied is False or low):
            why = (
                "unsatisfied callback"
                if satisfied is False
                else f"callback rating below {reopen_below}: {', '.join(low)}"
            )
            self.record(
                self.Reopened, ctx.caused_by(event_id(self.id, self.version)), why, automatic=True
            )

    def reopen(self, ctx: Ctx, reason: str) -> None:
        self.check_step("reopen")
        self.record(self.Reopened, ctx, require_text("reason", reason, 2000), automatic=False)

    def close(
        self,
        ctx: Ctx,
        override_reason: str | None = None,
        min_unreached: int = DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE,
    ) -> None:
        """Close after a satisfied callback, or by a supervisor's override after unreached callbacks."""
        self.check_step("close")
        if override_reason is None:
            if self.status != "called_back":
                raise RuleViolation(
                    self.KIND,
                    self.status,
                    "close",
                    "closing needs a satisfied callback, or a supervisor's override_reason after "
                    f"{min_unreached} unreached callback attempts (now {self.unreached_attempts})",
                    self.allowed_steps(),
                )
            self.record(self.Closed, ctx, override=False)
            return
        reason = require_text("override_reason", override_reason, 2000)
        if ctx.actor.role != "supervisor":
            raise RuleViolation(
                self.KIND,
                self.status,
                "close",
                "only a supervisor may close with an override",
                self.allowed_steps(),
            )
        if self.status != "called_back" and self.unreached_attempts < min_unreached:
            raise RuleViolation(
                self.KIND,
                self.status,
                "close",
                f"an override needs {min_unreached} unreached callback attempts; "
                f"{self.unreached_attempts} recorded",
                self.allowed_steps(),
            )
        self.record(self.Closed, ctx, reason, override=True)

    def cancel(self, ctx: Ctx, reason: str) -> None:
        self.check_step("cancel")
        self.record(self.Cancelled, ctx, require_text("reason", reason, 2000))

    def escalate(self, ctx: Ctx, reason: str, severity: str, nc_id: UUID, nc_number: str) -> None:
        self.check_step("escalate")
        reason = require_text("reason", reason, 2000)
        require_choice("severity", severity, SEVERITIES)
        if self.escalations:
            raise RuleViolation(
                self.KIND,
                self.status,
                "escalate",
                f"already escalated to {self.escalations[0]['number']}",
                self.allowed_steps(),
            )
        self.record(
            self.Escalated,
            ctx,
            reason,
            severity=severity,
            nonconformance_id=nc_id,
            nonconformance_number=nc_number,
        )

    # -- deadlines ---------------------------------------------------------------
    def _phase_clock(self, phase: str) -> tuple[datetime | None, datetime | None, bool]:
        """(due, done at, running) of an SLA phase; a phase not running cannot breach
        while undone (the resolution clock stops on hold and at closing)."""
        if phase == "response":
            return self.response_due, self.response_done_at, True
        if phase == "resolution":
            running = self.status not in ("on_hold", "closed")
            return self.resolution_due, self.resolved_at, running
        return self.callback_due, self.callback_done_at, self.status != "closed"

    def due_breaches(self, now: datetime) -> list[tuple[str, datetime]]:
        """The SLA phases whose breach is to be recorded now: (phase, due)."""
        return [(phase, due) for phase, _, due in self.deadline_steps(now)]

    def deadline_steps(
        self, now: datetime, ladder: list[dict[str, Any]] | tuple[dict[str, Any], ...] = ()
    ) -> list[tuple[str, int, datetime]]:
        """What the deadline watcher must record now, in order: (phase, level, due), level
        0 = the breach (`SlaBreached`), level n = ladder level n (`SlaEscalated`), each
        once. A level falls due `after_minutes[priority]` past the phase's due time, when
        the phase's step was not done by then. response = first dispatch (or arrival, per
        policy); resolution = the resolution that stands; callback = a callback reaching
        the resident after it (breach only, no ladder)."""
        out: list[tuple[str, int, datetime]] = []
        if self.status == "cancelled":
            return out
        for phase in ("response", "resolution", "callback"):
            due, done, running = self._phase_clock(phase)
            if due is None:
                continue
            steps = 1 if phase == "callback" else 1 + len(ladder)
            for level in range(self.sla_levels.get(phase, 0), steps):
                minutes = (
                    0 if level == 0 else int(ladder[level - 1]["after_minutes"][self.priority])
                )
                at = due + timedelta(minutes=minutes)
                if (done is None and running and now > at) or (done is not None and done > at):
                    out.append((phase, level, due))
                else:
                    break
        return out

    def record_breach(
        self,
        ctx: Ctx,
        phase: str,
        due_at: datetime,
        level: int = 0,
        ladder: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Record level `level` of a phase's breach, once."""
        if self.sla_levels.get(phase, 0) > level:
            return
        if level == 0:
            self.record(self.SlaBreached, ctx, phase=phase, due_at=due_at)
        else:
            self.record(
                self.SlaEscalated,
                ctx,
                phase=phase,
                level=level,
                to=str(ladder[level - 1]["to"]),
                due_at=due_at,
            )

    def sla_figures(self, now: datetime) -> dict[str, Any]:
        """The SLA as it stands: per phase its due time, when it ended, met or not, and
        the breach/escalation level; the pauses (holds) and the due-time history."""

        def phase(name: str) -> dict[str, Any]:
            due, done, _ = self._phase_clock(name)
            met: bool | None = None
            if done is not None and due is not None:
                met = done <= due and name not in self.sla_breaches
            elif name in self.sla_breaches:
                met = False
            return {
                "due": due,
                "done_at": done,
                "met": met,
                "breached": name in self.sla_breaches,
                "level": self.sla_levels.get(name, 0),
            }

        paused = self.paused_seconds
        if self.on_hold_since is not None and self.status == "on_hold":
            paused += (now - self.on_hold_since).total_seconds()
        return {
            "terms": dict(self.sla_policy),
            "response": {
                **phase("response"),
                "ends_at": self.sla_policy.get("response_ends", "dispatch"),
            },
            "resolution": {
                **phase("resolution"),
                "paused_seconds": paused,
                "on_hold_since": self.on_hold_since,
            },
            "callback": phase("callback"),
            "holds": list(self.holds),
            "due_history": list(self.due_history),
            "escalations": list(self.sla_escalations),
        }


def check_ratings(ratings: Any) -> dict[str, int]:
    """The three callback ratings: speed (及时性), quality (质量), attitude (态度), 1-5."""
    if not isinstance(ratings, dict):
        raise InvalidValue("ratings", "must be an object {speed, quality, attitude}")
    extra = set(ratings) - set(RATING_DIMENSIONS)
    if extra:
        raise InvalidValue(f"ratings.{sorted(extra)[0]}", "is not a rating dimension")
    out: dict[str, int] = {}
    for dim in RATING_DIMENSIONS:
        v = ratings.get(dim)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 5:
            raise InvalidValue(f"ratings.{dim}", "must be an integer from 1 to 5")
        out[dim] = v
    return out


def sla_terms(
    sla: dict[str, dict[str, int]],
    priority: str,
    calendar: BusinessCalendar | None,
    response_ends: str,
    callback_minutes: int | None,
) -> dict[str, Any]:
    """The SLA terms a ticket records (each result records the policy that produced it)."""
    terms: dict[str, Any] = {
        "response_minutes": sla["response"][priority],
        "resolution_minutes": sla["resolution"][priority],
    }
    # Only what differs from the original policy is added, so old tickets read the same.
    if response_ends != "dispatch":
        terms["response_ends"] = response_ends
    if callback_minutes:
        terms["callback_minutes"] = callback_minutes
    if calendar is not None and calendar.applies_to(priority):
        terms["calendar"] = calendar.name
    return terms


def due_times(
    now: datetime, terms: dict[str, Any], calendar: BusinessCalendar | None
) -> tuple[datetime, datetime]:
    """(response due, resolution due) counted from `now`: in working time on the calendar
    the terms name, else round the clock."""
    response, resolution = terms["response_minutes"], terms["resolution_minutes"]
    if calendar is not None and terms.get("calendar") == calendar.name:
        return calendar.add(now, response * 60), calendar.add(now, resolution * 60)
    return now + timedelta(minutes=response), now + timedelta(minutes=resolution)
