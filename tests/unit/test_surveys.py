"""Survey campaigns (DOMAIN.md §4) without a database: the lifecycle, validation of plans
and responses against the questionnaire, pseudonymous respondents, improvement triggers,
and the agency CSV parser's row-level errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from domain.base import Actor, Ctx
from domain.errors import IllegalStep, InvalidValue, RuleViolation
from domain.surveys import (
    REDACTED,
    SurveyCampaign,
    SurveyResponse,
    check_respondent_ref,
    is_complaint,
    needs_improvement,
    redact,
    response_id,
)
from domain.surveys.csv import CsvRejected, parse_responses_csv

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
QM1 = Actor("qm-1", "Zhou Min", "quality_manager")
QM2 = Actor("qm-2", "Wu Lei", "quality_manager")
DESK = Actor("desk-1", "Li Na", "front_desk")

PLAN: dict[str, Any] = {
    "title": "2026 满意度调查",
    "objectives": "了解满意度",
    "party": "third_party",
    "agency": "Horizon",
    "methods": ["web", "phone"],
    "segments": ["owner", "tenant"],
    "projects": ["P1", "P2"],
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "target_sample": 100,
    "target_csi": 87,
    "questions": [
        {"code": "Q1", "text": "服务质量", "dimension": "service", "weight": 2, "overall": False},
        {"code": "OV", "text": "总体满意度", "dimension": "overall", "weight": 1, "overall": True},
    ],
}


def ctx(actor: Actor = QM1) -> Ctx:
    return Ctx(actor, T0, "corr-1")


def drafted(**changes: Any) -> SurveyCampaign:
    return SurveyCampaign.draft(ctx(), number="SV-2026-000001", **{**PLAN, **changes})


def opened() -> SurveyCampaign:
    s = drafted()
    s.submit(ctx(QM1))
    s.decide(ctx(QM2), True, None)
    s.open(ctx(QM1))
    return s


def test_the_lifecycle_from_draft_to_published_with_a_rejection_on_the_way() -> None:
    s = drafted()
    assert s.status == "drafted" and s.loyalty_mapping["5"] == "loyal"
    with pytest.raises(IllegalStep):
        s.open(ctx())
    s.submit(ctx(QM1))
    with pytest.raises(InvalidValue):
        s.decide(ctx(QM2), False, None)  # a rejection needs a reason
    s.decide(ctx(QM2), False, "样本量不足")
    assert s.status == "drafted" and s.rejections[0]["reason"] == "样本量不足"
    s.revise(ctx(), target_sample=300)
    assert s.target_sample == 300
    with pytest.raises(RuleViolation):
        s.revise(ctx(), target_sample=300)  # nothing to change
    s.submit(ctx(QM1))
    s.decide(ctx(QM2), True, None)
    s.open(ctx())
    with pytest.raises(IllegalStep):
        s.publish(ctx(), {"n": 1}, {})  # not closed yet
    s.close(ctx())
    with pytest.raises(RuleViolation):
        s.publish(ctx(), {"n": 0}, {})  # nothing to publish
    s.publish(ctx(), {"n": 1, "csi": 75.0}, {"z": 1.96})
    assert s.status == "published" and s.results == {"n": 1, "csi": 75.0}
    assert [type(e).__name__ for e in s.collect_events()] == [
        "Drafted",
        "Submitted",
        "Rejected",
        "Revised",
        "Submitted",
        "Approved",
        "Opened",
        "Closed",
        "Published",
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"party": "first_party"}, "agency"),  # an agency only for a third-party survey
        ({"agency": None}, "agency"),  # and required for one
        ({"methods": ["fax"]}, "methods.0"),
        ({"segments": ["owner", "owner"]}, "segments.1"),
        ({"period": {"start": "2026-03-31", "end": "2026-03-01"}}, "period.end"),
        ({"target_sample": 0}, "target_sample"),
        ({"target_csi": 101}, "target_csi"),
        (
            {"questions": [{**PLAN["questions"][0], "weight": 0}, PLAN["questions"][1]]},
            "questions.0.weight",
        ),
        ({"questions": [PLAN["questions"][0]]}, "questions"),  # no overall question
        (
            {"questions": [{**PLAN["questions"][0], "code": "project"}, PLAN["questions"][1]]},
            "questions.0.code",
        ),
        ({"loyalty_mapping": {"1": "loyal"}}, "loyalty_mapping.2"),
    ],
)
def test_a_bad_plan_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidValue) as e:
        drafted(**changes)
    assert e.value.field == field


def response(s: SurveyCampaign, **changes: Any) -> dict[str, Any]:
    fields = {
        "respondent_ref": "R-1",
        "project": "P1",
        "segment": "owner",
        "method": "web",
        "answers": {"Q1": 4, "OV": 5},
        **changes,
    }
    return s.check_response(**fields)


def test_responses_are_checked_against_the_questionnaire() -> None:
    s = opened()
    ok = response(s, answers={"Q1": None, "OV": 3})
    assert ok["answers"] == {"Q1": None, "OV": 3} and ok["complaint"] is False
    assert response(s, answers={"OV": 2})["answers"] == {
        "Q1": None,
        "OV": 2,
    }  # a missing code is null
    for changes, field in [
        ({"answers": {"Q9": 3}}, "answers.Q9"),
        ({"answers": {"Q1": 6}}, "answers.Q1"),
        ({"answers": {"Q1": 0}}, "answers.Q1"),
        ({"answers": {"Q1": True}}, "answers.Q1"),
        ({"answers": {"Q1": None, "OV": None}}, "answers"),
        ({"project": "P3"}, "project"),
        ({"segment": "vip"}, "segment"),
        ({"method": "email"}, "method"),
        ({"respondent_ref": "13812345678"}, "respondent_ref"),
        ({"respondent_ref": "张三 先生"}, "respondent_ref"),
    ]:
        with pytest.raises(InvalidValue) as e:
            response(s, **changes)
        assert e.value.field == field, changes


def test_respondents_are_pseudonymous_and_contacts_in_comments_are_redacted() -> None:
    assert check_respondent_ref("f", " HR-2026/0042 ") == "HR-2026/0042"
    for bad in ("138 1234 5678", "a@b.com", "", "x" * 65, "id1234567"):
        with pytest.raises(InvalidValue):
            check_respondent_ref("f", bad)
    text = redact("请联系 138-1234-5678 或 wang@example.com，3号楼")
    assert (
        "5678" not in text
        and "example.com" not in text
        and text.count(REDACTED) == 2
        and "3号楼" in text
    )
    s = opened()
    checked = response(s, comment="电梯坏了 13812345678")
    assert "13812345678" not in checked["comment"]


def test_a_low_answer_or_a_complaint_calls_for_an_improvement_action() -> None:
    s = opened()
    assert s.low_answers({"Q1": 2, "OV": 3}) == {"Q1": 2}
    assert s.low_answers({"Q1": 3, "OV": None}) == {}
    assert (
        needs_improvement({"Q1": 1}, False)
        and needs_improvement({}, True)
        and not needs_improvement({}, False)
    )
    assert (
        is_complaint("我要投诉物业", False)
        and is_complaint(None, True)
        and not is_complaint("很好", False)
    )
    assert response(s, comment="This is a complaint about noise")["complaint"] is True


def test_the_bulk_event_is_the_same_as_recording_one_response() -> None:
    s = opened()
    checked = response(s)
    nc = {"id": "00000000-0000-0000-0000-000000000001", "number": "NC-2026-000001"}
    one = SurveyResponse.record_new(ctx(DESK), s, checked, {"type": "single"}, nc)
    event = SurveyResponse.recorded_event(ctx(DESK), s, checked, {"type": "single"}, nc)
    bulk = event.mutate(None)
    assert bulk is not None and bulk.id == one.id == response_id(s.id, "R-1")
    assert one.collect_events() == [event]  # the very same event, field for field
    assert vars(bulk) == vars(one)
    assert one.links == [{"rel": "raised", "kind": "nonconformance", **nc}]
    assert one.number == "SV-2026-000001/R-1"
    one.acknowledge(ctx(DESK))
    one.invalidate(ctx(QM1), "同一户重复作答")
    assert one.status == "invalidated" and one.valid is False
    with pytest.raises(IllegalStep):
        one.acknowledge(ctx(DESK))


def test_an_import_is_recorded_once_per_file() -> None:
    s = opened()
    s.record_import(ctx(), "abc", rows=3, recorded=3, duplicates=0, ncs=1)
    assert s.imported("abc")["recorded"] == 3
    with pytest.raises(RuleViolation):
        s.record_import(ctx(), "abc", rows=3, recorded=0, duplicates=3, ncs=0)
    s.close(ctx())
    with pytest.raises(IllegalStep):
        s.record_import(ctx(), "def", rows=1, recorded=1, duplicates=0, ncs=0)


def errors_of(data: str) -> set[tuple[int, str]]:
    with pytest.raises(CsvRejected) as e:
        parse_responses_csv(opened(), data.encode())
    assert e.value.total == len(e.value.errors)
    return {(err["row"], err["column"]) for err in e.value.errors}


def test_the_csv_parser_reports_every_bad_cell_with_row_and_column() -> None:
    data = (
        "respondent_ref,project,segment,method,Q1,OV,comment,complaint\n"
        "A-1,P1,owner,web,4,5,,\n"  # row 2: fine
        "A-2,P1,owner,web,7,5,,\n"  # row 3: Q1
        "A-3,P9,vip,fax,4,x,,maybe\n"  # row 4: project, segment, method, OV, complaint
        "\n"  # a blank line is skipped (row 5)
        "A-1,P2,tenant,phone,3,3,,\n"  # row 6: the same respondent twice
        "A-5,P1,owner\n"  # row 7: too few cells
    )
    assert errors_of(data) == {
        (3, "Q1"),
        (4, "OV"),
        (4, "complaint"),
        (4, "project"),
        (4, "segment"),
        (4, "method"),
        (6, "respondent_ref"),
        (7, ""),
    }


def test_the_csv_header_must_name_exactly_the_known_columns() -> None:
    assert errors_of("respondent_ref,name,phone,project,segment,method,Q1\n") == {
        (1, "name"),
        (1, "phone"),
        (1, "OV"),
    }
    assert errors_of("") == {(1, "")}
    assert errors_of("respondent_ref,project,segment,method,Q1,OV\n") == {(2, "")}  # no rows


def test_a_good_csv_gives_checked_rows_with_their_row_numbers() -> None:
    data = (
        "\ufeffrespondent_ref,OV,project,segment,method,Q1,complaint,comment\n"
        "A-1,5,P1,owner,web,4,,\n"
        'A-2,,P2,tenant,phone,2,yes,"噪音, 投诉"\n'
    )
    parsed = parse_responses_csv(opened(), data.encode())
    assert [n for n, _ in parsed.rows] == [2, 3]
    second = parsed.rows[1][1]
    assert second["answers"] == {"Q1": 2, "OV": None} and second["complaint"] is True
    assert second["comment"] == "噪音, 投诉" and second["project"] == "P2"
