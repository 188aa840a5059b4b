"""A survey file goes through the one command path and the recorder's COPY
(`QualtraceRecorder.copy_events`): the same positions, hash chain and write-side indexes
as an INSERT, all in one transaction, and a repeated Idempotency-Key replays the answer."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from application.base import Call, Idempotency
from application.security import Principal
from domain.surveys import SurveyResponse

QM1 = Call(Principal("zhou.min", "Zhou Min", "quality_manager"), "corr-copy-1")
QM2 = Call(Principal("wu.lei", "Wu Lei", "quality_manager"), "corr-copy-2")
PLAN = {
    "title": "2026年业主满意度调查",
    "objectives": "了解业主满意度",
    "party": "first_party",
    "methods": ["phone", "web"],
    "segments": ["owner", "tenant"],
    "projects": ["P1", "P2"],
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "target_sample": 10,
    "target_csi": 80,
    "questions": [
        {"code": "Q1", "text": "服务质量", "dimension": "service", "weight": 2, "overall": False},
        {"code": "OV", "text": "总体满意度", "dimension": "overall", "weight": 1, "overall": True},
    ],
}
CSV = (
    "respondent_ref,project,segment,method,Q1,OV\n"
    "A-001,P1,owner,web,4,4\n"
    "A-002,P2,tenant,phone,1,2\n"  # a low answer: raises an improvement action
    "A-003,P2,owner,web,5,5\n"
)


def test_an_imported_file_is_copied_in_one_transaction_with_positions_chain_and_index(
    api: Any, clock: Any
) -> None:
    clock.now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
    api.setup_org()
    app = api.container.app
    sv = app.surveys.draft(QM1, **PLAN).number
    app.surveys.submit(QM1, sv)
    app.surveys.decide(QM2, sv, True, None)
    app.surveys.open(QM1, sv)
    before = app.recorder.max_notification_id()
    call = Call(QM1.principal, "corr-copy-3", idempotency=Idempotency("k-1", "f-1"))

    answer = app.survey_responses.import_csv(call, sv, CSV.encode())

    # Three responses, one action, the campaign's import event: five rows, one position each,
    # the answer naming the last.
    assert answer.created and answer.extra["import"]["recorded"] == 3
    assert answer.extra["import"]["nonconformances"] == 1
    assert answer.position == app.recorder.max_notification_id() == before + 5
    # The write-side index lists the three responses; each is a real aggregate.
    campaign = app.surveys.get(QM1, sv)
    assert app.survey_responses.count(campaign.id) == 3
    response = app.survey_responses.get(QM1, sv, "A-002")
    assert isinstance(response, SurveyResponse) and response.project == "P2"
    # The insert trigger chained every copied row.
    assert app.audit.verify_integrity().ok
    # The same key again: the first answer, nothing written.
    again = app.survey_responses.import_csv(call, sv, CSV.encode())
    assert again.as_dict() == answer.as_dict()
    assert app.recorder.max_notification_id() == before + 5
