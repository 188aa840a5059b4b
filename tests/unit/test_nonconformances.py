"""The nonconformance lifecycle (DOMAIN.md §3), without a database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.base import SYSTEM, Actor, Ctx, event_id
from domain.errors import IllegalStep, InvalidValue, RuleViolation
from domain.nonconformances import ESCALATION_LEVELS, Nonconformance

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai

QM = Actor("qm-1", "Zhou Min", "quality_manager")
PM = Actor("pm-1", "Chen Gang", "project_manager")
INSPECTOR = Actor("ins-1", "Liu Yang", "inspector")


def ctx(actor: Actor = QM, at: datetime = T0) -> Ctx:
    return Ctx(actor, at, "corr-1")


def raised(source: dict | None = None) -> Nonconformance:
    return Nonconformance.raise_(
        ctx(INSPECTOR),
        number="NC-2026-000001",
        project="P1",
        source=source or {"type": "audit", "ref": "IA-2026-03"},
        severity="major",
        description="消防通道堆放杂物",
    )


def noticed(due: date | datetime | None = None) -> Nonconformance:
    nc = raised()
    nc.notice(ctx(QM), "security", "Wang Qiang", due, SHANGHAI)
    return nc


def approved(at: datetime = T0) -> Nonconformance:
    nc = noticed()
    nc.analyse(ctx(PM, at), "巡查制度未落实")
    nc.plan(ctx(PM, at), ["清理杂物"], ["每日巡查消防通道"])
    nc.decide_plan(ctx(QM, at), True, None)
    return nc


def types(nc: Nonconformance) -> list[str]:
    return [type(e).__name__ for e in nc.collect_events()]


def test_the_default_due_date_is_the_end_of_the_seventh_day_in_company_time() -> None:
    nc = noticed()
    # 2026-03-02 09:00 Shanghai + 7 days → 2026-03-09 23:59:59 Shanghai = 15:59:59 UTC.
    assert nc.due_date == datetime(2026, 3, 9, 15, 59, 59, tzinfo=timezone.utc)
    assert nc.status == "noticed" and nc.notice_count == 1 and nc.escalation_level == "project"
    assert nc.due_set_by == event_id(nc.id, 2)


def test_a_due_date_given_as_a_date_means_the_end_of_that_day_and_an_instant_is_kept_exactly() -> (
    None
):
    assert noticed(date(2026, 3, 5)).due_date == datetime(
        2026, 3, 5, 15, 59, 59, tzinfo=timezone.utc
    )
    exact = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
    assert noticed(exact).due_date == exact
    with pytest.raises(InvalidValue) as e:
        noticed(date(2026, 3, 1))
    assert e.value.field == "due_date"


def test_the_full_loop_closes_on_time_after_an_effective_verification() -> None:
    nc = approved()
    nc.rectify(ctx(PM), "杂物已清理", ["photo-001.jpg"])
    nc.verify(ctx(INSPECTOR), True, "复检通过", SHANGHAI)
    assert nc.status == "closed" and nc.closed_on_time is True
    assert types(nc) == [
        "Raised",
        "NoticeIssued",
        "RootCauseAnalysed",
        "PlanSubmitted",
        "PlanApproved",
        "RectificationReported",
        "Verified",
        "Closed",
    ]


def test_a_plan_sent_back_needs_a_reason_and_returns_to_analysis() -> None:
    nc = noticed()
    nc.analyse(ctx(PM), "cause")
    nc.plan(ctx(PM), ["fix"], [])
    with pytest.raises(InvalidValue) as e:
        nc.decide_plan(ctx(QM), False, None)
    assert e.value.field == "reason"
    nc.decide_plan(ctx(QM), False, "预防措施不足")
    assert nc.status == "analysed" and nc.plan_status == "sent_back"
    nc.plan(ctx(PM), ["fix"], ["weekly check"])
    assert nc.status == "planned"


def test_a_plan_needs_a_corrective_action() -> None:
    nc = noticed()
    nc.analyse(ctx(PM), "cause")
    with pytest.raises(InvalidValue) as e:
        nc.plan(ctx(PM), [], ["x"])
    assert e.value.field == "corrective_actions"


def test_steps_out_of_order_name_the_state_and_the_allowed_steps() -> None:
    nc = noticed()
    with pytest.raises(IllegalStep) as e:
        nc.rectify(ctx(PM), "done", [])
    assert e.value.state == "noticed" and "root_cause" in e.value.allowed


def test_an_ineffective_verification_re_notices_escalates_and_records_a_deduction() -> None:
    nc = approved()
    nc.rectify(ctx(PM), "done", [])
    later = T0 + timedelta(days=3)
    nc.verify(ctx(QM, later), False, "仍有杂物", SHANGHAI)
    assert nc.status == "noticed" and nc.notice_count == 2
    assert nc.escalation_level == "region" and nc.deduction is True
    assert nc.due_date == datetime(2026, 3, 12, 15, 59, 59, tzinfo=timezone.utc)
    events = nc.collect_events()
    renotice, deduction = events[-2], events[-1]
    assert type(renotice).__name__ == "NoticeIssued"
    assert renotice.causation_id == event_id(
        nc.id, renotice.originator_version - 1
    )  # the Verified event
    # At the first failure, the deduction the project's next assessment applies (seed 003).
    assert type(deduction).__name__ == "DeductionRecorded"
    assert (deduction.points, deduction.rule, deduction.project) == (5, "failed_recheck", "P1")
    assert deduction.causation_id == renotice.causation_id
    assert [d["points"] for d in nc.deductions] == [5]
    # A second failure goes company-wide (全公司通报), and stays there.
    for _ in range(2):
        nc.analyse(ctx(PM, later), "cause")
        nc.plan(ctx(PM, later), ["fix"], [])
        nc.decide_plan(ctx(QM, later), True, None)
        nc.rectify(ctx(PM, later), "done", [])
        nc.verify(ctx(QM, later), False, None, SHANGHAI)
    assert nc.escalation_level == "company" and nc.notice_count == 4
    assert [d["points"] for d in nc.deductions] == [5, 5, 5]  # one per failed re-check


def test_an_extension_is_requested_before_the_due_date_and_approval_moves_it() -> None:
    nc = noticed()
    old_due = nc.due_date
    with pytest.raises(InvalidValue) as e:
        nc.request_extension(ctx(PM), date(2026, 3, 12), "", "临时围挡", SHANGHAI)
    assert e.value.field == "reason"
    nc.request_extension(ctx(PM), date(2026, 3, 12), "配件未到货", "临时围挡", SHANGHAI)
    with pytest.raises(RuleViolation):
        nc.request_extension(ctx(PM), date(2026, 3, 13), "again", "x", SHANGHAI)
    nc.decide_extension(ctx(QM), True, None)
    assert nc.due_date == datetime(2026, 3, 12, 15, 59, 59, tzinfo=timezone.utc) != old_due
    assert nc.extensions == 1 and nc.extension_request is None


def test_an_extension_after_the_due_date_is_refused() -> None:
    nc = noticed(date(2026, 3, 3))
    with pytest.raises(RuleViolation) as e:
        nc.request_extension(
            ctx(PM, T0 + timedelta(days=3)), date(2026, 3, 20), "late", "x", SHANGHAI
        )
    assert "before the due date" in str(e.value)


def test_a_rejected_extension_needs_a_reason_and_keeps_the_due_date() -> None:
    nc = noticed()
    due = nc.due_date
    nc.request_extension(ctx(PM), date(2026, 3, 12), "reason", "measures", SHANGHAI)
    with pytest.raises(InvalidValue):
        nc.decide_extension(ctx(QM), False, None)
    nc.decide_extension(ctx(QM), False, "可以按期完成")
    assert nc.due_date == due and nc.extension_request is None


def test_overdue_is_recorded_once_per_due_date_by_the_system_caused_by_the_notice() -> None:
    nc = noticed(date(2026, 3, 3))
    assert nc.overdue_due(T0 + timedelta(days=1)) is None
    late = T0 + timedelta(days=5)
    assert nc.record_overdue(Ctx(QM, late, "watch-1")) is True
    assert nc.record_overdue(Ctx(QM, late, "watch-2")) is False
    overdue = nc.collect_events()[-1]
    assert type(overdue).__name__ == "Overdue"
    assert overdue.actor["role"] == "system" and overdue.causation_id == event_id(nc.id, 2)
    assert nc.overdue is True


def test_a_pending_extension_suspends_overdue_until_it_is_rejected() -> None:
    nc = noticed(date(2026, 3, 3))
    nc.request_extension(ctx(PM), date(2026, 3, 10), "reason", "measures", SHANGHAI)
    late = T0 + timedelta(days=4)
    assert nc.overdue_due(late) is None
    nc.decide_extension(ctx(QM, late), False, "no")
    assert [type(e).__name__ for e in nc.collect_events()][-2:] == ["ExtensionRejected", "Overdue"]


def test_a_late_rectification_records_the_overdue_fact_first() -> None:
    nc = approved()
    late = T0 + timedelta(days=10)
    nc.rectify(ctx(PM, late), "done", [])
    assert types(nc)[-2:] == ["Overdue", "RectificationReported"]
    nc.verify(ctx(QM, late), True, None, SHANGHAI)
    assert nc.closed_on_time is False


def test_cancel_needs_a_reason_and_a_quality_manager() -> None:
    nc = raised()
    with pytest.raises(InvalidValue):
        nc.cancel(ctx(QM), " ")
    with pytest.raises(RuleViolation):
        nc.cancel(ctx(PM), "重复")
    nc.cancel(ctx(QM), "与 NC-2026-000002 重复")
    assert nc.status == "cancelled" and nc.allowed_steps() == []


def test_disposition_is_one_of_five_and_changing_it_needs_a_reason() -> None:
    nc = raised({"type": "self_report"})
    with pytest.raises(InvalidValue):
        nc.decide_disposition(ctx(QM), "burn", None, None)
    nc.decide_disposition(ctx(QM), "rework", "返工", None)
    with pytest.raises(InvalidValue):
        nc.decide_disposition(ctx(QM), "scrap", None, None)
    nc.decide_disposition(ctx(QM), "scrap", None, "返工后仍不合格")
    assert nc.disposition == "scrap"


def test_a_recurrence_links_to_the_earlier_nonconformance_once() -> None:
    nc = raised(
        {
            "type": "inspection",
            "id": "x",
            "number": "INS-2026-000002",
            "kind": "inspection",
            "item": "S-01",
        }
    )
    assert nc.item_key == "S-01"
    nc.mark_recurrence(ctx(), "abc", "NC-2026-000001", T0 - timedelta(days=30))
    nc.mark_recurrence(ctx(), "def", "NC-2026-000000", T0 - timedelta(days=60))
    assert nc.recurrence_of is not None and nc.recurrence_of["number"] == "NC-2026-000001"
    assert {
        "rel": "recurrence_of",
        "kind": "nonconformance",
        "id": "abc",
        "number": "NC-2026-000001",
    } in nc.links
    assert types(nc) == ["Raised", "RecurrenceMarked"]


def test_the_aggregate_state_is_plain_data_for_snapshots() -> None:
    nc = approved()
    nc.request_extension(ctx(PM), date(2026, 3, 12), "r", "m", SHANGHAI)
    allowed = (str, int, float, bool, type(None), list, dict, datetime)
    assert all(isinstance(v, allowed) for k, v in vars(nc).items() if not k.startswith("_"))


# -- any command sequence keeps the aggregate valid (Hypothesis) ------------------------
STEPS = (
    "notice",
    "root_cause",
    "plan",
    "approve",
    "send_back",
    "rectify",
    "effective",
    "not_effective",
    "extend",
    "approve_extension",
    "reject_extension",
    "watch",
    "dispose",
    "cancel",
)
#: "next" takes the happy path's next step from the current state, so sequences get deep.
NEXT = {
    "raised": "notice",
    "noticed": "root_cause",
    "analysed": "plan",
    "planned": "approve",
    "plan_approved": "rectify",
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(STEPS + ("next",) * 8), st.integers(min_value=0, max_value=96)),
        max_size=40,
    )
)
def test_any_sequence_of_steps_keeps_the_nonconformance_valid_and_replayable(
    script: list[tuple[str, int]],
) -> None:
    """Each step either applies or is refused with a domain error that changes nothing;
    whatever happened, the invariants of §3 hold and replaying the events rebuilds the state."""
    nc = raised()
    now = T0
    events: list[Any] = list(nc.collect_events())
    level_seen = 0
    for step, hours in script:
        now += timedelta(hours=hours)
        before = (nc.version, nc.status)
        if step == "next" and nc.extension_request is not None:
            step = "approve_extension" if hours % 2 else "reject_extension"
        elif step == "next" and nc.status == "planned" and hours % 4 == 0:
            step = "send_back"
        elif step == "next":
            step = NEXT.get(nc.status, "effective" if hours % 3 else "not_effective")
        try:
            if step == "notice":
                nc.notice(ctx(QM, now), "security", "Wang Qiang", None, SHANGHAI)
            elif step == "root_cause":
                nc.analyse(ctx(PM, now), "cause")
            elif step == "plan":
                nc.plan(ctx(PM, now), ["fix"], [])
            elif step in ("approve", "send_back"):
                nc.decide_plan(
                    ctx(QM, now), step == "approve", None if step == "approve" else "redo"
                )
            elif step == "rectify":
                nc.rectify(ctx(PM, now), "done", ["p.jpg"])
            elif step in ("effective", "not_effective"):
                nc.verify(ctx(INSPECTOR, now), step == "effective", None, SHANGHAI)
            elif step == "extend":
                nc.request_extension(
                    ctx(PM, now), (now + timedelta(days=10)).date(), "why", "measures", SHANGHAI
                )
            elif step in ("approve_extension", "reject_extension"):
                nc.decide_extension(ctx(QM, now), step == "approve_extension", "because")
            elif step == "watch":
                nc.record_overdue(Ctx(SYSTEM, now, "watcher"))
            elif step == "dispose":
                nc.decide_disposition(ctx(QM, now), "rework", None, "change")
            elif step == "cancel":
                nc.cancel(ctx(QM, now), "duplicate")
        except (IllegalStep, InvalidValue, RuleViolation):
            assert (nc.version, nc.status) == before  # a refused step records nothing
        new = list(nc.collect_events())
        events.extend(new)
        # Invariants.
        assert nc.status in Nonconformance.STATES
        assert nc.version == len(events)
        assert all(e.actor["id"] and e.correlation_id for e in new)
        assert (nc.notice_count == 0) == (nc.noticed_at is None)
        if nc.status not in ("raised", "cancelled"):
            assert nc.notice_count >= 1
        assert nc.deduction == (nc.notice_count >= 2)
        level = ESCALATION_LEVELS.index(nc.escalation_level) if nc.escalation_level else 0
        assert level >= level_seen and level == min(
            max(nc.notice_count - 1, 0), len(ESCALATION_LEVELS) - 1
        )
        level_seen = level
        assert len(nc.overdue_dues) == len(set(nc.overdue_dues))  # one Overdue per due date
        if nc.status == "closed":
            assert nc.closed_on_time == (not nc.overdue_dues)
    # Replaying the stored events rebuilds exactly the same state.
    replayed: Any = None
    for e in events:
        replayed = e.mutate(replayed)
    assert vars(replayed) == vars(nc)
