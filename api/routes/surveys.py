"""Survey campaigns: satisfaction (CSI) and loyalty (CLI)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from api import errors
from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, page_answer, require
from api.presenters import aggregate_view, plain
from api.read_models import (
    SurveyPage,
    SurveyResponsePage,
    SurveyResponseView,
    SurveyResults,
    SurveyView,
    ok,
)
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, Empty, Reason, ShortText, Text
from domain.errors import InvalidValue
from domain.surveys.csv import CsvRejected
from domain.vocabulary import LOYALTY_LEVELS, SURVEY_METHODS, SURVEY_PARTIES
from projections import surveys as survey_list

router = APIRouter(prefix="/surveys", tags=["surveys"])

Party = Literal[SURVEY_PARTIES]
Method = Literal[SURVEY_METHODS]
Level = Literal[LOYALTY_LEVELS]
Answer = Annotated[int, Field(ge=1, le=5)]


class Period(Body):
    start: date
    end: date


class Question(Body):
    code: Code
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    dimension: Code
    weight: Annotated[float, Field(gt=0)]
    overall: bool = False


class LoyaltyMapping(Body):
    """Loyalty level for each answer of the overall question (default: seed 001's table)."""

    model_config = {"extra": "forbid", "populate_by_name": True}
    a1: Level = Field(alias="1")
    a2: Level = Field(alias="2")
    a3: Level = Field(alias="3")
    a4: Level = Field(alias="4")
    a5: Level = Field(alias="5")


class SurveyPlan(Body):
    title: ShortText
    objectives: Text
    party: Party
    agency: ShortText | None = None
    methods: Annotated[list[Method], Field(min_length=1, max_length=10)]
    segments: Annotated[list[Code], Field(min_length=1, max_length=50)]
    projects: Annotated[list[Code], Field(min_length=1, max_length=1000)]
    period: Period
    target_sample: Annotated[int, Field(ge=1)]
    target_csi: Annotated[float, Field(ge=0, le=100)]
    questions: Annotated[list[Question], Field(min_length=1, max_length=200)]
    loyalty_mapping: LoyaltyMapping | None = None


class Revision(Body):
    title: ShortText | None = None
    objectives: Text | None = None
    party: Party | None = None
    agency: ShortText | None = None
    methods: Annotated[list[Method], Field(min_length=1, max_length=10)] | None = None
    segments: Annotated[list[Code], Field(min_length=1, max_length=50)] | None = None
    projects: Annotated[list[Code], Field(min_length=1, max_length=1000)] | None = None
    period: Period | None = None
    target_sample: Annotated[int, Field(ge=1)] | None = None
    target_csi: Annotated[float, Field(ge=0, le=100)] | None = None
    questions: Annotated[list[Question], Field(min_length=1, max_length=200)] | None = None
    loyalty_mapping: LoyaltyMapping | None = None


class Decision(Body):
    approved: bool
    reason: Text | None = None


class ResponseIn(Body):
    respondent_ref: Annotated[str, Field(min_length=1, max_length=64)]
    project: Code
    segment: Code
    method: Method
    answers: Annotated[dict[str, Answer | None], Field(max_length=200)]
    comment: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    complaint: bool = False


def _plan_fields(body: SurveyPlan | Revision) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=isinstance(body, Revision))
    if "period" in fields and fields["period"] is not None:
        fields["period"] = {k: v.isoformat() for k, v in fields["period"].items()}
    if body.loyalty_mapping is not None:
        fields["loyalty_mapping"] = body.loyalty_mapping.model_dump(by_alias=True)
    return fields


@router.post("", status_code=201, response_model=CommandAnswer)
def draft(body: SurveyPlan, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Draft a campaign: plan, questionnaire (one overall question), scope and targets."""
    return answer(response, app.surveys.draft(call, **_plan_fields(body)))


@router.post("/{ref}/revise", response_model=CommandAnswer)
def revise(
    ref: str, body: Revision, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Change a drafted (or rejected) plan; only the given fields change."""
    return answer(response, app.surveys.revise(call, ref, **_plan_fields(body)))


@router.post("/{ref}/submit", response_model=CommandAnswer)
def submit(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Submit the plan for approval."""
    return answer(response, app.surveys.submit(call, ref))


@router.post("/{ref}/decision", response_model=CommandAnswer)
def decision(
    ref: str, body: Decision, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Approve, or reject with a reason (back to drafted); not by the submitter."""
    return answer(response, app.surveys.decide(call, ref, body.approved, body.reason))


@router.post("/{ref}/open", response_model=CommandAnswer)
def open_(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Open fieldwork: responses may be recorded from now on."""
    return answer(response, app.surveys.open(call, ref))


@router.post("/{ref}/close", response_model=CommandAnswer)
def close(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Close fieldwork: no more responses."""
    return answer(response, app.surveys.close(call, ref))


@router.post("/{ref}/publish", response_model=CommandAnswer)
def publish(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Compute and publish the results (recorded with the formulas' parameters)."""
    return answer(response, app.surveys.publish(call, ref))


@router.post("/{ref}/responses", status_code=201, response_model=CommandAnswer)
def record_response(
    ref: str, body: ResponseIn, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Record one response; a low answer (≤ 2) or a complaint raises a linked nonconformance."""
    return answer(response, app.survey_responses.record(call, ref, **body.model_dump()))


@router.post(
    "/{ref}/responses/import",
    response_model=CommandAnswer,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The agency's CSV file, UTF-8 (a BOM is allowed), header row first.",
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_responses(
    ref: str, request: Request, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Import an agency's CSV file, all or nothing; errors name row and column."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("text/csv", "application/csv"):
        raise HTTPException(415, "send the file as text/csv")
    data = await request.body()
    try:
        result = await run_in_threadpool(app.survey_responses.import_csv, call, ref, data)
    except CsvRejected as e:
        return errors.problem(422, str(e), errors=e.errors, error_count=e.total)
    return answer(response, result)


@router.post("/{ref}/responses/{rid}/acknowledge", response_model=CommandAnswer)
def acknowledge(
    ref: str,
    rid: str,
    call: CommandCall,
    app: QualtraceApp,
    response: Response,
    body: Empty | None = None,
) -> Any:
    """Record that the respondent was thanked / sent a receipt."""
    return answer(response, app.survey_responses.acknowledge(call, ref, rid))


@router.post("/{ref}/responses/{rid}/invalidate", response_model=CommandAnswer)
def invalidate(
    ref: str, rid: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Invalidate a response with a reason (it stays in the history; results exclude it)."""
    return answer(response, app.survey_responses.invalidate(call, ref, rid, body.reason))


@router.get("", responses=ok(SurveyPage))
def list_surveys(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    status: str | None = None,
    party: str | None = None,
    project: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Campaigns that include a project in the caller's scope, newest first."""
    require(call, "survey.read")
    page = survey_list.list_surveys(
        c.pool, call.principal.scope_filter(), status, party, project, limit, after_of(cursor)
    )
    return page_answer(page, "drafted_at")


@router.get("/{ref}", responses=ok(SurveyView))
def get_survey(
    ref: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition, response: Response
) -> Any:
    """One campaign: plan, questionnaire, state, imports, results once published."""
    campaign = app.surveys.get(call, ref)
    response.headers["ETag"] = f'"{campaign.version}"'
    out = aggregate_view(campaign)
    out["responses_recorded"] = app.survey_responses.count(campaign.id)
    return out


@router.get("/{ref}/results", responses=ok(SurveyResults))
def get_results(
    ref: str,
    call: QueryCall,
    app: QualtraceApp,
    pos: ReadPosition,
    request: Request,
    format: str | None = None,
) -> Any:
    """The published results with their parameters; before publication, provisional ones.
    CSV (`Accept: text/csv` or `format=csv`): one row per breakdown (overall, dimension,
    question, segment, project, party, method)."""
    out = plain(app.surveys.results(call, ref))
    if format is not None and format.lower() not in ("csv", "json"):
        raise InvalidValue("format", "must be json or csv")
    wants_csv = (format or "").lower() == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if not wants_csv:
        return out
    return Response(
        _results_csv(out),
        media_type="text/csv; charset=utf-8",
        headers={"X-Read-Position": str(pos)},
    )


RESULT_COLUMNS = [
    "breakdown",
    "key",
    "n",
    "csi",
    "ci95_low",
    "ci95_high",
    "top2_box_pct",
    "cli",
    "mean",
]


def _results_csv(out: dict[str, Any]) -> str:
    results = out.get("results") or {}
    rows = [("overall", "", results)]
    for group in (
        "by_dimension",
        "by_question",
        "by_segment",
        "by_project",
        "by_party",
        "by_method",
    ):
        for key, figures in (results.get(group) or {}).items():
            rows.append((group.removeprefix("by_"), key, figures))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for breakdown, key, f in rows:
        ci = f.get("ci95") or {}
        writer.writerow(
            [
                breakdown,
                key,
                f.get("n"),
                f.get("csi"),
                ci.get("low"),
                ci.get("high"),
                f.get("top2_box_pct"),
                f.get("cli"),
                f.get("mean", f.get("mean_score")),
            ]
        )
    return buf.getvalue()


@router.get("/{ref}/responses", responses=ok(SurveyResponsePage))
def list_responses(
    ref: str,
    call: QueryCall,
    c: Container,
    app: QualtraceApp,
    pos: ReadPosition,
    project: str | None = None,
    segment: str | None = None,
    method: str | None = None,
    valid: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """The campaign's responses in the caller's scope (pseudonymous), newest first."""
    campaign = app.surveys.get(call, ref)
    filters = {
        "survey_id": campaign.id,
        "project": project,
        "segment": segment,
        "method": method,
        "valid": valid,
    }
    require(call, "survey.read")
    page = survey_list.list_responses(
        c.pool, call.principal.scope_filter(), filters, limit, after_of(cursor)
    )
    return page_answer(page, "recorded_at")


@router.get("/{ref}/responses/{rid}", responses=ok(SurveyResponseView))
def get_response(ref: str, rid: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition) -> Any:
    """One response with its answers, status and the improvement action it raised."""
    return aggregate_view(app.survey_responses.get(call, ref, rid))
