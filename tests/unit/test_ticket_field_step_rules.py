"""Business calendars and the ticket field steps' rules, without a database."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from domain.base import Actor, Ctx
from domain.calendars import calendar_from
from domain.errors import IllegalStep, InvalidValue, NotAssignee, RuleViolation
from domain.policies import DEFAULT_SLA, validate_ticket_policy
from domain.tickets import Ticket

CST = timezone(timedelta(hours=8))
OFFICE = calendar_from(
    "office",
    {
        "hours": [["09:00", "12:00"], ["13:00", "18:00"]],
        "holidays": ["2026-10-01", "2026-10-02"],
        "workdays": ["2026-10-10"],  # a Saturday made a working day (调休)
    },
)
DESK = Actor("li.na", "Li Na", "front_desk")
SUP = Actor("zhao.min", "Zhao Min", "supervisor")
LI = Actor("li.qiang", "Li Qiang", "staff")
WANG = Actor("wang.wei", "Wang Wei", "staff")


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def ctx(actor: Actor, when: datetime) -> Ctx:
    return Ctx(actor, when.astimezone(timezone.utc), "c")


def test_working_time_skips_lunch_nights_weekends_and_holidays_and_counts_makeup_days() -> None:
    # Friday 17:00 + 2 h: 17-18 Friday, then Monday 09:00-10:00.
    assert OFFICE.add(at(6, 17), 2 * 3600) == at(9, 10)
    # Lunch is not working time: 11:30 + 1 h = 13:30.
    assert OFFICE.add(at(2, 11, 30), 3600) == at(2, 13, 30)
    # Before opening: counting starts at 09:00.
    assert OFFICE.add(at(2, 6), 60) == at(2, 9, 1)
    # 30 Sept (Wed) 17:00 + 2 h: 1 and 2 Oct are holidays, 3-4 Oct a weekend, so Mon 5 Oct 10:00.
    assert OFFICE.add(at(30, 17, month=9), 2 * 3600) == at(5, 10, month=10)
    # Friday 9 Oct 17:00 + 2 h: Saturday 10 Oct is a working day (调休): 10 Oct 10:00.
    assert OFFICE.add(at(9, 17, month=10), 2 * 3600) == at(10, 10, month=10)
    # working_seconds is add's inverse.
    start, end = at(6, 11, 40), at(10, 10)
    seconds = OFFICE.working_seconds(start, end)
    assert seconds == (20 + 5 * 60 + 8 * 60 + 60) * 60  # Fri 11:40-12, 13-18; Mon all day; Tue 9-10
    assert OFFICE.add(start, seconds) == end
    assert OFFICE.working_seconds(end, start) == 0


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"hours": [["12:00", "09:00"]]}, "ordered"),
        ({"hours": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
        ({"weekdays": [0, 8]}, "ISO weekday"),
        ({"holidays": ["2026-02-30"]}, "invalid date"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"priorities": ["someday"]}, "priorities"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_fault(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calendar_from("bad", spec)


def test_a_bad_ticket_policy_is_refused_naming_the_fault() -> None:
    with pytest.raises(ValueError, match="response_ends"):
        validate_ticket_policy({"response_ends": "never"})
    with pytest.raises(ValueError, match="names no calendar"):
        validate_ticket_policy({"project_calendars": {"P1": "nope"}})
    with pytest.raises(ValueError, match="below level 1"):
        validate_ticket_policy(
            {
                "escalation": [
                    {
                        "to": "supervisor",
                        "after_minutes": dict.fromkeys(DEFAULT_SLA["response"], 60),
                    },
                    {
                        "to": "project_manager",
                        "after_minutes": dict.fromkeys(DEFAULT_SLA["response"], 0),
                    },
                ]
            }
        )
    assert validate_ticket_policy(None)["escalation"][1]["to"] == "project_manager"


def dispatched(priority: str = "normal", when: datetime | None = None) -> Ticket:
    when = when or at(2, 10)
    t = Ticket.receive(
        ctx(DESK, when),
        number="TK-2026-000001",
        project="P1",
        kind="repair",
        channel="phone",
        priority=priority,
        category="水电维修",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        sla=DEFAULT_SLA,
        calendar=OFFICE,
        response_ends="arrival",
        callback_minutes=24 * 60,
    )
    t.dispatch(ctx(SUP, when), "engineering", "li.qiang")
    return t


def test_only_the_assignee_arrives_or_rejects_and_a_supervisor_may_hold() -> None:
    t = dispatched()
    with pytest.raises(NotAssignee, match=r"only the assignee \(li.qiang\)"):
        t.arrive(ctx(WANG, at(2, 11)))
    with pytest.raises(NotAssignee):
        t.arrive(ctx(SUP, at(2, 11)))  # arrival is the assignee's own
    with pytest.raises(NotAssignee):
        t.reject(ctx(WANG, at(2, 11)), "not mine")
    t.arrive(ctx(LI, at(2, 11)))
    with pytest.raises(RuleViolation, match="already recorded"):
        t.arrive(ctx(LI, at(2, 11, 5)))
    with pytest.raises(InvalidValue) as err:
        t.hold(ctx(LI, at(2, 11)), "  ")
    assert err.value.field == "reason"
    with pytest.raises(NotAssignee, match="or a supervisor"):
        t.hold(ctx(WANG, at(2, 11)), "parts")
    t.hold(ctx(SUP, at(2, 11)), "parts")
    with pytest.raises(IllegalStep):
        t.resolve(ctx(LI, at(2, 12)), "done")  # on hold: resume first


def test_a_resolution_breach_cannot_happen_on_hold_and_the_pause_moves_the_due_time() -> None:
    t = dispatched("urgent")  # round the clock: resolution due 4 h after 10:00
    t.arrive(ctx(LI, at(2, 10, 5)))
    t.hold(ctx(LI, at(2, 11)), "等待配件")
    assert t.deadline_steps(at(2, 20).astimezone(timezone.utc)) == []  # paused
    t.resume(ctx(LI, at(2, 20)), "配件已到")
    assert t.paused_seconds == 9 * 3600 and t.resolution_due == at(2, 23)
    figures = t.sla_figures(at(2, 21).astimezone(timezone.utc))
    assert figures["resolution"]["paused_seconds"] == 9 * 3600
    assert figures["resolution"]["due"] == at(2, 23)


def test_deadline_steps_climb_the_ladder_once_per_level() -> None:
    ladder = validate_ticket_policy(None)["escalation"]  # urgent: +0 supervisor, +60 PM
    t = dispatched("urgent")  # response (arrival) due 10:15
    late = at(2, 10, 30).astimezone(timezone.utc)
    steps = t.deadline_steps(late, ladder)
    assert [(p, lv) for p, lv, _ in steps] == [("response", 0), ("response", 1)]
    for phase, level, due in steps:
        t.record_breach(ctx(SUP, late), phase, due, level, ladder)
        t.record_breach(ctx(SUP, late), phase, due, level, ladder)  # idempotent
    assert t.deadline_steps(late, ladder) == []
    assert t.sla_levels == {"response": 2}
    later = at(2, 11, 16).astimezone(timezone.utc)
    assert [(p, lv) for p, lv, _ in t.deadline_steps(later, ladder)] == [("response", 2)]
    # Arrival before the second level falls due stops the ladder there.
    t2 = dispatched("urgent")
    t2.arrive(ctx(LI, at(2, 10, 40)))
    assert [(p, lv) for p, lv, _ in t2.deadline_steps(later, ladder)] == [
        ("response", 0),
        ("response", 1),
    ]


def test_an_old_snapshot_is_upcast_with_the_new_state() -> None:
    t = dispatched()
    state = copy.deepcopy(dict(vars(t)))
    for key in ("holds", "sla_levels", "arrived_at", "on_site", "due_history"):
        state.pop(key)
    state["sla_breaches"] = ["response"]
    Ticket.upcast_v1_v2(state)
    assert state["holds"] == [] and state["sla_levels"] == {"response": 1}
    assert state["on_site"] is False
