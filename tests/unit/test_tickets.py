"""The ticket aggregate's rules, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.base import Actor, Ctx, QAggregate
from domain.errors import IllegalStep, InvalidValue, MissingActor, RuleViolation
from domain.policies import DEFAULT_SLA
from domain.tickets import Ticket

T0 = datetime(2026, 3, 31, 23, 30, tzinfo=timezone.utc)
DESK = Actor("li.na", "Li Na", "front_desk")
SUP = Actor("zhao", "Zhao Lei", "supervisor")
STAFF = Actor("wang.wei", "Wang Wei", "staff")


def ctx(actor: Actor = DESK, minutes: float = 0) -> Ctx:
    return Ctx(actor, T0 + timedelta(minutes=minutes), "corr-1")


def new_ticket(priority: str = "normal") -> Ticket:
    return Ticket.receive(
        ctx(),
        number="TK-2026-000001",
        project="P1",
        kind="repair",
        channel="phone",
        priority=priority,
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        sla=DEFAULT_SLA,
    )


def resolved_ticket() -> Ticket:
    t = new_ticket()
    t.dispatch(ctx(SUP, 5), "engineering", "wang.wei")
    t.accept(ctx(STAFF, 10))
    t.resolve(ctx(STAFF, 60), "fixed")
    return t


def test_receiving_sets_sla_due_times_from_the_policy_and_records_it() -> None:
    t = new_ticket("urgent")
    assert t.response_due == T0 + timedelta(minutes=15)
    assert t.resolution_due == T0 + timedelta(hours=4)
    assert t.sla_policy == {"response_minutes": 15, "resolution_minutes": 240}
    assert t.status == "received"


def test_every_event_carries_actor_correlation_and_time() -> None:
    t = resolved_ticket()
    for e in t.collect_events():
        assert e.actor["id"] and e.actor["name"] and e.actor["role"]
        assert e.correlation_id == "corr-1"
        assert e.timestamp.tzinfo is not None


def test_an_event_cannot_be_recorded_without_an_actor() -> None:
    t = new_ticket()
    with pytest.raises(MissingActor):
        Ctx(None, T0, "c")  # type: ignore[arg-type]
    with pytest.raises(MissingActor):
        Actor("", "x", "staff")
    with pytest.raises(TypeError):
        # the metadata fields are required: no default actor exists
        t.trigger_event(Ticket.NoteAdded, text="x")
    with pytest.raises(MissingActor):
        t.trigger_event(
            Ticket.NoteAdded, text="x", actor={}, correlation_id="c", causation_id=None, reason=None
        )
    with pytest.raises(MissingActor):
        QAggregate.meta(None)  # type: ignore[arg-type]


def test_an_illegal_step_names_the_state_and_the_allowed_steps() -> None:
    t = new_ticket()
    with pytest.raises(IllegalStep) as err:
        t.resolve(ctx(STAFF), "done")
    assert err.value.state == "received"
    assert "dispatch" in err.value.allowed and "resolve" not in err.value.allowed
    assert "received" in str(err.value) and "dispatch" in str(err.value)


def test_an_unsatisfied_callback_reopens_the_ticket_caused_by_the_callback() -> None:
    t = resolved_ticket()
    t.callback(ctx(DESK, 120), True, False, 2, "还在漏")
    assert t.status == "reopened" and t.reopen_count == 1
    events = t.collect_events()
    callback, reopened = events[-2], events[-1]
    assert type(reopened).__name__ == "Reopened"
    assert reopened.causation_id == f"{t.id}:{callback.originator_version}"
    assert reopened.reason == "unsatisfied callback"


def test_closing_needs_a_satisfied_callback() -> None:
    t = resolved_ticket()
    with pytest.raises(RuleViolation):
        t.close(ctx(DESK))
    t.callback(ctx(DESK), True, True, 5, None)
    t.close(ctx(DESK))
    assert t.status == "closed" and not t.closed_by_override


def test_a_supervisor_override_needs_three_unreached_callbacks_and_a_reason() -> None:
    t = resolved_ticket()
    t.callback(ctx(DESK), False, None, None, None)
    t.callback(ctx(DESK), False, None, None, None)
    with pytest.raises(RuleViolation):
        t.close(ctx(SUP), "resident unreachable")
    t.callback(ctx(DESK), False, None, None, None)
    with pytest.raises(RuleViolation):
        t.close(ctx(DESK), "front desk may not override")
    t.close(ctx(SUP), "resident unreachable after 3 attempts")
    assert t.status == "closed" and t.closed_by_override


def test_callback_input_is_checked() -> None:
    t = resolved_ticket()
    with pytest.raises(InvalidValue) as err:
        t.callback(ctx(), True, None, None, None)
    assert err.value.field == "satisfied"
    with pytest.raises(InvalidValue) as err:
        t.callback(ctx(), True, True, 6, None)
    assert err.value.field == "rating"


def test_a_breach_is_found_once_and_only_after_the_due_time() -> None:
    t = new_ticket("urgent")
    assert t.due_breaches(T0 + timedelta(minutes=14)) == []
    late = T0 + timedelta(minutes=16)
    assert t.due_breaches(late) == [("response", t.response_due)]
    t.record_breach(Ctx(DESK, late, "c"), "response", t.response_due)
    assert t.due_breaches(late) == []
    t.record_breach(Ctx(DESK, late, "c"), "response", t.response_due)
    assert t.sla_breaches == ["response"]


def test_escalation_links_the_nonconformance_and_happens_once() -> None:
    from domain.base import id_for

    t = new_ticket()
    nc = id_for("nonconformance", "NC-2026-000001")
    t.escalate(ctx(SUP), "repeated complaint", "major", nc, "NC-2026-000001")
    assert t.links == [
        {"rel": "escalated_to", "kind": "nonconformance", "id": str(nc), "number": "NC-2026-000001"}
    ]
    with pytest.raises(RuleViolation):
        t.escalate(ctx(SUP), "again", "major", nc, "NC-2026-000001")


STEPS = st.lists(
    st.sampled_from(
        [
            "dispatch",
            "accept",
            "transfer",
            "note",
            "resolve",
            "callback_ok",
            "callback_bad",
            "callback_none",
            "reopen",
            "close",
            "close_override",
            "cancel",
        ]
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_any_command_sequence_keeps_the_ticket_valid(steps: list[str]) -> None:
    """Whatever is attempted, the state stays one of the lifecycle's and replays identically."""
    t = new_ticket()
    actions = {
        "dispatch": lambda: t.dispatch(ctx(SUP), "engineering", "wang.wei"),
        "accept": lambda: t.accept(ctx(STAFF)),
        "transfer": lambda: t.transfer(ctx(SUP), "cleaning", None, "wrong department"),
        "note": lambda: t.add_note(ctx(), "note"),
        "resolve": lambda: t.resolve(ctx(STAFF), "done"),
        "callback_ok": lambda: t.callback(ctx(), True, True, 5, None),
        "callback_bad": lambda: t.callback(ctx(), True, False, 1, None),
        "callback_none": lambda: t.callback(ctx(), False, None, None, None),
        "reopen": lambda: t.reopen(ctx(), "resident called again"),
        "close": lambda: t.close(ctx()),
        "close_override": lambda: t.close(ctx(SUP), "unreachable"),
        "cancel": lambda: t.cancel(ctx(SUP), "duplicate"),
    }
    for step in steps:
        before = t.version
        try:
            actions[step]()
        except (IllegalStep, RuleViolation):
            assert t.version == before  # a refused step records nothing
    assert t.status in Ticket.STATES
    if t.status == "closed":
        assert t.closed_by_override or any(c["satisfied"] for c in t.callbacks)
    # Replaying the recorded events rebuilds the same state.
    events = list(t.collect_events())
    copy = None
    for e in events:
        copy = e.mutate(copy)
    assert copy is not None and vars(copy) == vars(t) | {"_pending_events": copy._pending_events}


def test_the_resolution_sla_measures_the_resolution_that_stands_not_the_first() -> None:
    # Normal priority: resolution due 72 h after receipt. Resolved after one hour ...
    t = resolved_ticket()
    due = t.resolution_due
    first = t.resolved_at
    assert first == T0 + timedelta(minutes=60) and first < due
    assert t.due_breaches(due + timedelta(minutes=1)) == []
    # ... but the resident is not satisfied: the ticket reopens and is no longer resolved.
    t.callback(ctx(DESK, 120), True, False, 2, "还在漏")
    assert t.status == "reopened" and t.resolved_at is None
    # Still within the SLA: nothing to record.
    assert t.due_breaches(due - timedelta(minutes=1)) == []
    # Past the due time and not resolved again: the resolution SLA is breached, although
    # the first resolution was on time.
    assert t.due_breaches(due + timedelta(minutes=1)) == [("resolution", due)]
    # Resolved again after the due time: that resolution is the one measured, and it is late.
    t.dispatch(ctx(SUP, 73 * 60), "engineering", "wang.wei")
    t.accept(ctx(STAFF, 73 * 60 + 5))
    t.resolve(ctx(STAFF, 74 * 60), "pipe replaced")
    assert t.resolved_at == T0 + timedelta(hours=74)
    assert t.due_breaches(due + timedelta(hours=3)) == [("resolution", due)]


def test_a_reopened_ticket_resolved_again_in_time_meets_the_resolution_sla() -> None:
    t = resolved_ticket()
    t.reopen(ctx(SUP, 90), "resident called: still leaking")
    t.dispatch(ctx(SUP, 95), "engineering", "wang.wei")
    t.accept(ctx(STAFF, 100))
    t.resolve(ctx(STAFF, 600), "pipe replaced")
    assert t.resolved_at == T0 + timedelta(minutes=600)
    assert t.due_breaches(t.resolution_due + timedelta(days=1)) == []
