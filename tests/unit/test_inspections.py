"""Inspections: scoring, grading boundaries, rescoring, submission, appeal."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.base import Actor, Ctx, event_id, id_for
from domain.errors import IllegalStep, InvalidValue, RuleViolation
from domain.grading import DEFAULT_GRADING, compute_score, grade_for, validate_grading
from domain.inspections import Inspection

NOW = datetime(2026, 3, 5, 2, 0, tzinfo=timezone.utc)
INSPECTOR = Ctx(Actor("insp-1", "Chen Jie", "inspector"), NOW, "corr-1")
PM = Ctx(Actor("pm-1", "Liu Yang", "project_manager"), NOW, "corr-2")
QM = Ctx(Actor("qm-1", "Zhou Min", "quality_manager"), NOW, "corr-3")

TEMPLATE: dict[str, Any] = {
    "id": str(id_for("checklist_template", "CT-2026-000001")),
    "number": "CT-2026-000001",
    "template_version": 1,
    "name": "月度品质检查表",
    "sections": [
        {
            "code": "CS",
            "name": "客户服务",
            "items": [
                {
                    "code": "CS-01",
                    "requirement": "前台接待礼貌",
                    "max_points": 10,
                    "critical": False,
                },
                {
                    "code": "CS-02",
                    "requirement": "投诉24小时内回复",
                    "max_points": 10,
                    "critical": True,
                },
            ],
        },
        {
            "code": "SEC",
            "name": "安全管理",
            "items": [
                {
                    "code": "SEC-01",
                    "requirement": "夜间巡逻记录完整",
                    "max_points": 10,
                    "critical": False,
                },
                {
                    "code": "SEC-02",
                    "requirement": "消防通道畅通",
                    "max_points": 10,
                    "critical": False,
                },
            ],
        },
    ],
}


def scheduled(kind: str = "regional_monthly") -> Inspection:
    return Inspection.schedule(
        INSPECTOR,
        number="INS-2026-000001",
        project="P1",
        kind=kind,
        template=TEMPLATE,
        planned_for="2026-03-05",
        inspectors=["Chen Jie"],
    )


def in_progress() -> Inspection:
    ins = scheduled()
    ins.start(INSPECTOR)
    return ins


def scored(fails: tuple[str, ...] = ("CS-02", "SEC-02")) -> Inspection:
    ins = in_progress()
    for it in ins.items:
        if it["code"] in fails:
            ins.score_item(INSPECTOR, it["code"], 4, "fail", "发现问题", ["photo-1.jpg"])
        else:
            ins.score_item(INSPECTOR, it["code"], 10, "pass")
    return ins


def numbers_for(ins: Inspection) -> dict[str, str]:
    return {it["code"]: f"NC-2026-00000{n + 1}" for n, it in enumerate(ins.failed_items())}


def submitted() -> Inspection:
    ins = scored()
    ins.submit(INSPECTOR, DEFAULT_GRADING, numbers_for(ins))
    return ins


@pytest.mark.parametrize(
    ("score", "grade", "pay"),
    [
        (100, "A", 10),
        (95, "A", 10),
        (94.99, "B", 5),
        (90, "B", 5),
        (89.99, "C", 0),
        (80, "C", 0),
        (79.99, "D", -5),
        (75, "D", -5),
        (74.99, "E", -10),
        (0, "E", -10),
    ],
)
def test_grading_bands_include_their_lower_bound(score: float, grade: str, pay: int) -> None:
    assert grade_for(score, DEFAULT_GRADING) == (grade, pay)


def test_score_is_awarded_over_applicable_max_with_na_items_left_out() -> None:
    items = [
        {"result": "pass", "points": 10, "max_points": 10},
        {"result": "fail", "points": 5, "max_points": 10},
        {"result": "na", "points": None, "max_points": 30},
    ]
    assert compute_score(items) == (75.0, 15, 20)


def test_a_grading_policy_must_be_ordered_and_end_at_zero() -> None:
    with pytest.raises(ValueError, match="highest first"):
        validate_grading(
            [
                {"min_score": 50, "grade": "X", "pay_adjustment_pct": 0},
                {"min_score": 60, "grade": "Y", "pay_adjustment_pct": 0},
            ]
        )
    with pytest.raises(ValueError, match="min_score 0"):
        validate_grading([{"min_score": 50, "grade": "X", "pay_adjustment_pct": 0}])
    assert validate_grading(DEFAULT_GRADING) == DEFAULT_GRADING


def test_an_inspection_pins_the_template_versions_items() -> None:
    ins = scheduled()
    assert ins.template_version == 1 and [it["code"] for it in ins.items] == [
        "CS-01",
        "CS-02",
        "SEC-01",
        "SEC-02",
    ]
    assert ins.items[1]["critical"] is True and ins.items[2]["section"] == "SEC"


def test_items_are_scored_only_while_in_progress() -> None:
    ins = scheduled()
    with pytest.raises(IllegalStep) as e:
        ins.score_item(INSPECTOR, "CS-01", 10, "pass")
    assert e.value.state == "scheduled" and e.value.allowed == ["start", "cancel"]


@pytest.mark.parametrize(
    ("points", "result", "finding", "field"),
    [
        (11, "pass", None, "points"),
        (-1, "fail", "x", "points"),
        (0, "pass", None, "points"),
        (10, "fail", "x", "points"),
        (3, "na", None, "points"),
        (4, "fail", "", "finding"),
        (4, "maybe", None, "result"),
    ],
)
def test_points_must_fit_the_item_and_the_result(
    points: Any, result: str, finding: Any, field: str
) -> None:
    ins = in_progress()
    with pytest.raises(InvalidValue) as e:
        ins.score_item(INSPECTOR, "CS-01", points, result, finding)
    assert e.value.field == field


def test_rescoring_needs_a_reason_and_keeps_the_old_score_in_history() -> None:
    ins = in_progress()
    ins.score_item(INSPECTOR, "CS-01", 4, "fail", "前台无人", ["p1.jpg"])
    with pytest.raises(InvalidValue) as e:
        ins.score_item(INSPECTOR, "CS-01", 10, "pass")
    assert e.value.field == "reason"
    ins.score_item(INSPECTOR, "CS-01", 10, "pass", reason="前台人员临时离岗已返回, 复核通过")
    item = ins.item("CS-01")
    assert (item["points"], item["result"]) == (10, "pass")
    assert item["history"][0]["points"] == 4 and item["history"][0]["result"] == "fail"
    assert item["history"][0]["reason"] == "前台人员临时离岗已返回, 复核通过"
    assert ins.pending_events[-1].__class__.__name__ == "ItemRescored"


def test_a_first_score_takes_no_reason() -> None:
    ins = in_progress()
    with pytest.raises(InvalidValue) as e:
        ins.score_item(INSPECTOR, "CS-01", 10, "pass", reason="why")
    assert e.value.field == "reason"


def test_every_item_must_be_scored_before_submission() -> None:
    ins = in_progress()
    ins.score_item(INSPECTOR, "CS-01", 10, "pass")
    with pytest.raises(RuleViolation, match="CS-02, SEC-01, SEC-02"):
        ins.check_submittable()


def test_an_all_not_applicable_inspection_cannot_be_submitted() -> None:
    ins = in_progress()
    for it in ins.items:
        ins.score_item(INSPECTOR, it["code"], None, "na")
    with pytest.raises(RuleViolation, match="not applicable"):
        ins.check_submittable()


def test_submission_records_score_grade_policy_and_links_to_one_nonconformance_per_failed_item() -> (
    None
):
    ins = submitted()
    # (10 + 4 + 10 + 4) / 40 = 70 → E, −10%.
    assert (ins.score, ins.grade, ins.pay_adjustment_pct) == (70.0, "E", -10)
    event = ins.pending_events[-1]
    assert type(event).__name__ == "Submitted" and event.grading_policy == DEFAULT_GRADING
    assert [(link["rel"], link["item"], link["severity"]) for link in event.links] == [
        ("raised", "CS-02", "major"),
        ("raised", "SEC-02", "minor"),
    ]
    requests = ins.nonconformance_requests()
    assert [r["source"]["item"] for r in requests] == ["CS-02", "SEC-02"]
    assert requests[0]["source"] == {
        "type": "inspection",
        "id": str(ins.id),
        "number": "INS-2026-000001",
        "kind": "inspection",
        "item": "CS-02",
        "ref": "INS-2026-000001",
    }
    assert (
        "投诉24小时内回复" in requests[0]["description"]
        and "发现问题" in requests[0]["description"]
    )
    assert ins.last_event_id == event_id(ins.id, ins.version)


def test_submission_refuses_numbers_that_do_not_match_the_failed_items() -> None:
    ins = scored()
    with pytest.raises(ValueError):
        ins.submit(INSPECTOR, DEFAULT_GRADING, {"CS-02": "NC-2026-000001"})


def test_an_accepted_appeal_recomputes_score_and_grade_and_marks_the_overturned_nonconformance() -> (
    None
):
    ins = submitted()
    ins.appeal_score(PM, ["CS-02", "SEC-02"], "投诉已在24小时内电话回复, 有录音为证")
    assert ins.status == "appealed"
    ins.decide_appeal(QM, True, [{"item": "CS-02", "points": 10}], "录音核实属实")
    # (10 + 10 + 10 + 4) / 40 = 85 → C, 0%.
    assert (ins.score, ins.grade, ins.pay_adjustment_pct) == (85.0, "C", 0)
    assert (
        ins.item("CS-02")["result"] == "pass"
        and ins.item("CS-02")["history"][-1]["result"] == "fail"
    )
    overturned = [nc["item"] for nc in ins.raised_nonconformances if nc["overturned_on_appeal"]]
    assert overturned == ["CS-02"]
    event = ins.pending_events[-1]
    assert event.previous == {"score": 70.0, "grade": "E", "pay_adjustment_pct": -10}
    assert [link["rel"] for link in event.links] == ["overturned_on_appeal"]
    ins.finalize(QM)
    assert ins.status == "finalized"


def test_an_appeal_can_mark_an_item_not_applicable() -> None:
    ins = submitted()
    ins.appeal_score(PM, ["SEC-02"], "本项目无消防通道")
    ins.decide_appeal(QM, True, [{"item": "SEC-02", "points": None, "result": "na"}], "核实")
    # (10 + 4 + 10) / 30 = 80 → C.
    assert (ins.score, ins.grade) == (80.0, "C")


def test_a_rejected_appeal_keeps_the_score() -> None:
    ins = submitted()
    ins.appeal_score(PM, ["CS-02"], "不服")
    ins.decide_appeal(QM, False, [], "证据不足")
    assert (ins.score, ins.grade, ins.status) == (70.0, "E", "appeal_decided")
    assert ins.appeal is not None and ins.appeal["decision"]["accepted"] is False


@pytest.mark.parametrize(
    ("adjustments", "field"),
    [
        ([{"item": "SEC-01", "points": 10}], "adjustments.0.item"),
        ([{"item": "CS-02", "points": 2}], "adjustments.0.points"),
        ([{"item": "CS-02", "points": 11}], "adjustments.0.points"),
        ([{"item": "CS-02", "points": 5}, {"item": "CS-02", "points": 6}], "adjustments.1.item"),
        ([], "adjustments"),
    ],
)
def test_an_appeal_decision_adjusts_only_appealed_items_upwards(
    adjustments: Any, field: str
) -> None:
    ins = submitted()
    ins.appeal_score(PM, ["CS-02"], "不服")
    with pytest.raises(InvalidValue) as e:
        ins.decide_appeal(QM, True, adjustments, "核实")
    assert e.value.field == field


def test_only_items_that_lost_points_can_be_appealed_and_only_once() -> None:
    ins = submitted()
    with pytest.raises(InvalidValue) as e:
        ins.appeal_score(PM, ["CS-01"], "x")
    assert e.value.field == "items.0"
    ins.appeal_score(PM, ["CS-02"], "x")
    ins.decide_appeal(QM, False, None, "no")
    with pytest.raises(IllegalStep):
        ins.appeal_score(PM, ["CS-02"], "again")


def test_cancel_needs_a_reason_and_is_refused_after_submission() -> None:
    ins = in_progress()
    with pytest.raises(InvalidValue):
        ins.cancel(QM, " ")
    done = submitted()
    with pytest.raises(IllegalStep) as e:
        done.cancel(QM, "mistake")
    assert e.value.allowed == ["appeal", "finalize"]
    ins.cancel(QM, "项目停电, 改期")
    assert ins.status == "cancelled"


def test_a_reinspection_links_to_the_nonconformance_it_verifies() -> None:
    ins = Inspection.schedule(
        INSPECTOR,
        number="INS-2026-000009",
        project="P1",
        kind="regional_monthly",
        template=TEMPLATE,
        planned_for="2026-03-12",
        inspectors=["Chen Jie"],
        reinspection_of={
            "id": str(id_for("nonconformance", "NC-2026-000001")),
            "number": "NC-2026-000001",
        },
    )
    assert ins.links == [
        {
            "rel": "reinspects",
            "kind": "nonconformance",
            "id": str(id_for("nonconformance", "NC-2026-000001")),
            "number": "NC-2026-000001",
        }
    ]
    assert ins.reinspection_of is not None and ins.reinspection_of["number"] == "NC-2026-000001"


# -- invariants over any scoring (Hypothesis) ---------------------------------------------
ITEM_CODES = [it["code"] for s in TEMPLATE["sections"] for it in s["items"]]
a_score = st.one_of(
    st.tuples(st.just("na"), st.none()),
    st.tuples(st.just("pass"), st.integers(min_value=1, max_value=10)),
    st.tuples(st.just("fail"), st.integers(min_value=0, max_value=9)),
)


@settings(max_examples=100, deadline=None)
@given(
    first=st.lists(a_score, min_size=4, max_size=4),
    rescores=st.lists(st.tuples(st.sampled_from(ITEM_CODES), a_score), max_size=6),
    raise_to=st.integers(min_value=0, max_value=10),
)
def test_any_scoring_grades_by_the_policy_raises_one_nc_per_failed_item_and_an_appeal_never_lowers_it(
    first: list[tuple[str, int | None]],
    rescores: list[tuple[str, tuple[str, int | None]]],
    raise_to: int,
) -> None:
    ins = in_progress()
    for code, (result, points) in zip(ITEM_CODES, first, strict=True):
        ins.score_item(INSPECTOR, code, points, result, "发现" if result == "fail" else None)
    for code, (result, points) in rescores:
        ins.score_item(
            INSPECTOR, code, points, result, "发现" if result == "fail" else None, reason="复核"
        )
    applicable = [it for it in ins.items if it["result"] != "na"]
    if not applicable:
        with pytest.raises(RuleViolation):
            ins.submit(INSPECTOR, DEFAULT_GRADING, {})
        return
    ins.submit(INSPECTOR, DEFAULT_GRADING, numbers_for(ins))
    expected = round(
        sum(it["points"] for it in applicable) / sum(it["max_points"] for it in applicable) * 100, 2
    )
    assert ins.score == expected and 0 <= ins.score <= 100
    assert (ins.grade, ins.pay_adjustment_pct) == grade_for(expected, DEFAULT_GRADING)
    # One nonconformance per failed item, each named once; rescored items keep every old score.
    assert sorted(nc["item"] for nc in ins.raised_nonconformances) == sorted(
        it["code"] for it in ins.failed_items()
    )
    assert sum(len(it["history"]) for it in ins.items) == len(rescores)
    # An accepted appeal of an item that lost points may only raise the score.
    lost = [it for it in applicable if it["points"] < it["max_points"]]
    if lost:
        it = lost[0]
        before = ins.score
        ins.appeal_score(PM, [it["code"]], "申诉")
        points = max(it["points"], min(raise_to, it["max_points"]))
        result = (
            "pass"
            if points > 0 and (it["result"] == "pass" or points == it["max_points"])
            else it["result"]
        )
        ins.decide_appeal(
            QM, True, [{"item": it["code"], "points": points, "result": result}], "核实"
        )
        assert ins.score >= before
        assert (ins.grade, ins.pay_adjustment_pct) == grade_for(ins.score, DEFAULT_GRADING)


def test_a_failed_item_without_a_finding_is_accepted_and_its_nonconformance_says_none_was_recorded() -> (
    None
):
    ins = in_progress()
    for it in ins.items:
        if it["code"] == "SEC-02":
            ins.score_item(INSPECTOR, "SEC-02", 0, "fail")
        else:
            ins.score_item(INSPECTOR, it["code"], 10, "pass")
    ins.submit(INSPECTOR, DEFAULT_GRADING, numbers_for(ins))
    [request] = ins.nonconformance_requests()
    assert request["source"]["item"] == "SEC-02" and request["description"].endswith(
        "finding: none recorded"
    )
