"""The recurrence rules, the assessment policy and the assessment's steps (issue #15)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.assessment_policy import compute_month, compute_quarter, default_policy
from domain.assessments import Assessment
from domain.base import Actor, Ctx
from domain.errors import IllegalStep, InvalidValue
from domain.recurrence import check_recurrence, first_passed, occurrences, second_monday

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 4, 2, 1, 0, tzinfo=timezone.utc)
QM = Actor("qm", "Zhou Min", "quality_manager")
GM = Actor("gm", "Wang Zong", "general_manager")
PM = Actor("pm", "Liu Yang", "project_manager")


def ctx(actor: Actor) -> Ctx:
    return Ctx(actor, T0, "corr")


def dates(rule: dict, start: str = "2026-01", months: int = 3) -> list[str]:
    return [o["planned_for"] for o in occurrences(check_recurrence(rule), start, months, SHANGHAI)]


def test_each_recurrence_falls_due_as_seed_003_says() -> None:
    assert dates({"type": "monthly", "by_day": 5}) == ["2026-01-05", "2026-02-05", "2026-03-05"]
    assert dates({"type": "twice_monthly"}, months=1) == ["2026-01-15", "2026-01-28"]
    # 第二周的星期一: 2026-01-12, 2026-02-09, 2026-03-09 (March 1st is a Sunday)
    assert dates({"type": "second_monday"}) == ["2026-01-12", "2026-02-09", "2026-03-09"]
    assert [second_monday(2026, m) for m in (6, 9)] == [8, 14]  # June 1st is a Monday
    assert dates({"type": "quarterly"}, months=6) == ["2026-03-31", "2026-06-30"]
    assert dates({"type": "quarterly", "by_day": 20}, "2026-02", 4) == ["2026-03-20"]
    assert dates({"type": "rate", "per_month": 2}, "2026-02", 1) == ["2026-02-14", "2026-02-28"]


def test_a_due_date_is_the_end_of_the_local_day() -> None:
    (occ,) = occurrences(check_recurrence({"type": "monthly", "by_day": 9}), "2026-03", 1, SHANGHAI)
    assert occ["due_at"] == datetime(2026, 3, 9, 15, 59, 59, tzinfo=timezone.utc)
    assert first_passed([occ], datetime(2026, 3, 9, 16, 0, tzinfo=timezone.utc)) == occ
    assert first_passed([occ], datetime(2026, 3, 9, 15, 0, tzinfo=timezone.utc)) is None


@pytest.mark.parametrize(
    "rule, field",
    [
        ({"type": "monthly", "by_day": 31}, "recurrence.by_day"),
        ({"type": "monthly", "by_day": 0}, "recurrence.by_day"),
        ({"type": "monthly"}, "recurrence.by_day"),
        ({"type": "rate", "per_month": 0}, "recurrence.per_month"),
        ({"type": "rate", "per_month": 11}, "recurrence.per_month"),
        ({"type": "twice_monthly", "by_day": 3}, "recurrence.by_day"),
        ({"type": "weekly"}, "recurrence.type"),
    ],
)
def test_a_recurrence_that_cannot_be_satisfied_names_its_field(rule: dict, field: str) -> None:
    with pytest.raises(InvalidValue) as e:
        check_recurrence(rule)
    assert e.value.field == field


def test_a_quarterly_rule_over_a_span_without_a_quarter_end_is_refused() -> None:
    with pytest.raises(InvalidValue) as e:
        occurrences(check_recurrence({"type": "quarterly"}), "2026-01", 2, SHANGHAI)
    assert e.value.field == "months"


def test_the_month_is_the_weighted_mean_minus_deductions_graded_by_the_seed_bands() -> None:
    policy = default_policy()
    policy["kinds"] = {"regional_monthly": 2, "company_quarterly": 1}
    inputs = [
        {"kind": "regional_monthly", "score": 90},
        {"kind": "company_quarterly", "score": 81},
    ]
    out = compute_month(inputs, [{"points": 5}, {"points": 5}], policy)
    # (2 × 90 + 81) / 3 = 87.00; − 10 = 77.00 → D, −5%
    assert out == {
        "base_score": 87.0,
        "deducted": 10.0,
        "score": 77.0,
        "grade": "D",
        "pay_adjustment_pct": -5,
    }
    assert (
        compute_month([{"kind": "regional_monthly", "score": 3}], [{"points": 5}], policy)["score"]
        == 0
    )  # never below 0
    quarter = compute_quarter([{"score": 96}, {"score": 94}, {"score": 95}], policy)
    assert (quarter["score"], quarter["mean_score"], quarter["grade"]) == (285.0, 95.0, "A")


def drafted() -> Assessment:
    return Assessment.close(
        ctx(QM),
        number="AS-2026-000001",
        project="P1",
        region="SH",
        period="2026-03",
        period_kind="month",
        bounds=("2026-02-28T16:00:00+00:00", "2026-03-31T15:59:59.999999+00:00"),
        inputs=[{"kind": "regional_monthly", "score": 85, "id": "x", "number": "INS-1"}],
        deductions=[{"rule": "failed_recheck", "points": 5}],
        policy=default_policy(),
        responsible=[{"name": "Liu Yang", "role": "project_manager"}],
    )


def test_an_assessment_goes_draft_reviewed_approved_published_appealed_decided() -> None:
    a = drafted()
    assert (a.score, a.grade, a.pay_adjustment_pct, a.status) == (80.0, "C", 0, "draft")
    with pytest.raises(IllegalStep):
        a.appeal_result(ctx(PM), "too early")  # only after publication
    a.review(ctx(QM))
    a.approve(ctx(GM))
    a.publish(ctx(QM))
    a.appeal_result(ctx(PM), "复检时整改已在进行")
    with pytest.raises(IllegalStep) as e:
        a.appeal_result(ctx(PM), "again")
    assert e.value.allowed == ["decide_appeal"]
    with pytest.raises(InvalidValue):
        a.decide_appeal(ctx(GM), True, None, "no score")
    a.decide_appeal(ctx(GM), True, 91, "整改属实")
    assert (a.score, a.grade, a.pay_adjustment_pct, a.status) == (91.0, "B", 5, "appeal_decided")
    assert a.appeal is not None and a.appeal["decision"]["previous"]["score"] == 80.0
    assert a.pay_adjustments == [
        {"name": "Liu Yang", "role": "project_manager", "pay_adjustment_pct": 5}
    ]
    with pytest.raises(IllegalStep):
        a.appeal_result(ctx(PM), "final means final")


def test_an_assessment_names_the_project_manager_among_the_responsible() -> None:
    with pytest.raises(InvalidValue) as e:
        Assessment.close(
            ctx(QM),
            number="AS-2026-000002",
            project="P1",
            region="SH",
            period="2026-03",
            period_kind="month",
            bounds=("a", "b"),
            inputs=[{"kind": "regional_monthly", "score": 85}],
            deductions=[],
            policy=default_policy(),
            responsible=[{"name": "Wang Qiang", "role": "direct_manager"}],
        )
    assert e.value.field == "responsible"


RULES = st.one_of(
    st.builds(lambda d: {"type": "monthly", "by_day": d}, st.integers(1, 28)),
    st.just({"type": "twice_monthly"}),
    st.just({"type": "second_monday"}),
    st.builds(lambda k: {"type": "rate", "per_month": k}, st.integers(1, 10)),
    st.builds(lambda d: {"type": "quarterly", "by_day": d}, st.integers(1, 28)),
)
PER_MONTH = {"monthly": 1, "twice_monthly": 2, "second_monday": 1}


@settings(max_examples=200, deadline=None)
@given(
    rule=RULES, year=st.integers(2000, 2998), month=st.integers(1, 12), months=st.integers(3, 12)
)
def test_any_recurrence_falls_due_in_order_within_its_span_at_the_end_of_a_local_day(
    rule: dict, year: int, month: int, months: int
) -> None:
    found = occurrences(check_recurrence(rule), f"{year:04d}-{month:02d}", months, SHANGHAI)
    dues = [o["due_at"] for o in found]
    assert dues == sorted(dues) and len({o["key"] for o in found}) == len(found)
    first, last = f"{year:04d}-{month:02d}", found[-1]["planned_for"][:7]
    assert all(first <= o["planned_for"][:7] <= last for o in found)
    for o in found:
        local = o["due_at"].astimezone(SHANGHAI)
        assert (local.hour, local.minute, local.second) == (23, 59, 59)
        assert local.date().isoformat() == o["planned_for"]
    kind = rule["type"]
    if kind in PER_MONTH:
        assert len(found) == PER_MONTH[kind] * months
    elif kind == "rate":
        assert len(found) == rule["per_month"] * months
    else:  # a quarter end every three months
        assert months // 3 <= len(found) <= months // 3 + 1
    if kind == "second_monday":
        assert all(
            date.fromisoformat(o["planned_for"]).weekday() == 0
            and 8 <= int(o["planned_for"][8:]) <= 14
            for o in found
        )
