"""Survey KPIs (DOMAIN.md §4): one fact row per response and one per improvement action
(a nonconformance raised by a response), aggregated at query time.

The figures follow `domain.surveys.results` (the published results) exactly: a
respondent's score is the weighted mean of the questions answered, rescaled to 0-100;
CSI = mean over valid, scored respondents, with a 95% normal interval (null when n < 2);
top-2-box % and CLI over the respondents who answered the overall question.

Definitions (where DOMAIN.md is silent):
- a response is placed in the period it was recorded (company time zone); a campaign's
  trend across campaigns and years: `group_by=campaign` or `group_by=year`;
- `response_rate_pct`, `target_csi` and `csi_gap` (CSI − target) are given when a row
  covers exactly one campaign (its target sample and target CSI); grouped by project or
  segment within one campaign, the response rate is that group's share of the target;
- improvement actions are counted in the period they were raised; `closed` = closed by now.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from domain.nonconformances import Nonconformance
from domain.surveys import SurveyCampaign, SurveyResponse
from domain.surveys.results import FAVOURABLE_LEVELS, TOP_BOX, rescale, weighted_mean
from projections.base import PROJECT_REGIONS_DDL, EventRecord, events_of
from projections.kpis.facts import FactProjection, Facts
from projections.kpis.survey_figures import ACTIONS, CAMPAIGNS, RESPONSES, SPEC
from store.schema import KPI_CELL_TABLES

PLAN = (
    "title",
    "party",
    "agency",
    "target_sample",
    "target_csi",
    "questions",
    "loyalty_mapping",
    "period",
)

CAMPAIGN_EVENTS = events_of(SurveyCampaign)
RESPONSE_EVENTS = events_of(SurveyResponse)


class SurveyKpiProjection(FactProjection):
    name = "kpi_surveys"
    #: Campaigns, responses, and the survey nonconformances' lifecycle ends.
    EVENTS = (
        *CAMPAIGN_EVENTS,
        *RESPONSE_EVENTS,
        Nonconformance.Raised,
        Nonconformance.Closed,
        Nonconformance.Cancelled,
    )
    FACTS = {
        CAMPAIGNS: ("campaign_id",),
        RESPONSES: ("response_id",),
        ACTIONS: ("nonconformance_id",),
    }
    JSON_COLUMNS = frozenset({"questions", "loyalty_mapping"})
    tables = [
        """CREATE TABLE {schema}.survey_campaign_facts (
            campaign_id uuid PRIMARY KEY,
            number text NOT NULL,
            title text NOT NULL,
            party text NOT NULL,
            agency text,
            status text NOT NULL,
            period_start date,
            period_end date,
            target_sample int NOT NULL,
            target_csi double precision NOT NULL,
            questions jsonb NOT NULL,
            loyalty_mapping jsonb NOT NULL,
            drafted_at timestamptz NOT NULL,
            opened_at timestamptz,
            closed_at timestamptz,
            published_at timestamptz,
            published_csi double precision,
            published_cli double precision)""",
        """CREATE TABLE {schema}.survey_response_facts (
            response_id uuid PRIMARY KEY,
            campaign_id uuid NOT NULL,
            campaign text NOT NULL,
            party text NOT NULL,
            project text NOT NULL,
            region text,
            segment text NOT NULL,
            method text NOT NULL,
            recorded_at timestamptz NOT NULL,
            recorded_local timestamp NOT NULL,
            valid boolean NOT NULL DEFAULT true,
            invalidated_at timestamptz,
            acknowledged boolean NOT NULL DEFAULT false,
            complaint boolean NOT NULL DEFAULT false,
            score double precision,
            csi double precision,
            overall int,
            loyalty text,
            favourable boolean,
            top2 boolean,
            target_sample int NOT NULL,
            target_csi double precision NOT NULL,
            improvement_action text)""",
        "CREATE INDEX ON {schema}.survey_response_facts (project, recorded_local)",
        """CREATE TABLE {schema}.survey_action_facts (
            nonconformance_id uuid PRIMARY KEY,
            number text NOT NULL,
            response_id uuid,
            campaign_id uuid,
            campaign text NOT NULL,
            party text,
            project text NOT NULL,
            region text,
            segment text,
            method text,
            severity text NOT NULL,
            status text NOT NULL,
            raised_at timestamptz NOT NULL,
            raised_local timestamp NOT NULL,
            closed_at timestamptz,
            closed_local timestamp,
            cancelled_at timestamptz)""",
        PROJECT_REGIONS_DDL,
        # the report cells of its figures (projections.kpis.cells)
        *KPI_CELL_TABLES,
    ]
    views = [CAMPAIGNS, RESPONSES, ACTIONS]

    def related_ids(self, records: Iterable[EventRecord]) -> Iterable[UUID]:
        for r in records:
            if isinstance(r.event, SurveyResponse.Recorded):
                yield UUID(str(r.event.campaign_id))
            elif (
                isinstance(r.event, Nonconformance.Raised)
                and r.event.source.get("type") == "survey"
            ):
                for k in ("id", "response"):
                    if r.event.source.get(k):
                        yield UUID(str(r.event.source[k]))

    def apply(self, facts: Facts, rec: EventRecord) -> None:
        if isinstance(rec.event, CAMPAIGN_EVENTS):
            self._campaign(facts, rec)
        elif isinstance(rec.event, RESPONSE_EVENTS):
            self._response(facts, rec)
        else:
            self._action(facts, rec)

    # -- campaigns ---------------------------------------------------------------------
    def _campaign(self, facts: Facts, rec: EventRecord) -> None:
        e = rec.event
        key = (rec.issue_id,)
        if isinstance(e, SurveyCampaign.Drafted):
            row = self.new_row(
                CAMPAIGNS,
                campaign_id=rec.issue_id,
                number=e.number,
                status="drafted",
                drafted_at=e.timestamp,
            )
            self._plan(row, {k: getattr(e, k) for k in PLAN})
            facts.put(CAMPAIGNS, key, row)
            return
        row = facts.touch(CAMPAIGNS, key)
        if row is None:
            return
        if isinstance(e, SurveyCampaign.Revised):
            self._plan(row, {k: v for k, v in e.changes.items() if k in PLAN})
        elif isinstance(e, SurveyCampaign.Submitted):
            row["status"] = "submitted"
        elif isinstance(e, SurveyCampaign.Approved):
            row["status"] = "approved"
        elif isinstance(e, SurveyCampaign.Rejected):
            row["status"] = "drafted"
        elif isinstance(e, SurveyCampaign.Opened):
            row.update(status="open", opened_at=e.timestamp)
        elif isinstance(e, SurveyCampaign.Closed):
            row.update(status="closed", closed_at=e.timestamp)
        elif isinstance(e, SurveyCampaign.Published):
            row.update(
                status="published",
                published_at=e.timestamp,
                published_csi=e.results.get("csi"),
                published_cli=e.results.get("cli"),
            )

    @staticmethod
    def _plan(row: dict[str, Any], plan: dict[str, Any]) -> None:
        for k, v in plan.items():
            if k == "period":
                row["period_start"] = (v or {}).get("start")
                row["period_end"] = (v or {}).get("end")
            elif k in ("target_sample",):
                row[k] = int(v)
            elif k == "target_csi":
                row[k] = float(v)
            else:
                row[k] = v

    # -- responses ---------------------------------------------------------------------
    def _response(self, facts: Facts, rec: EventRecord) -> None:
        e = rec.event
        key = (rec.issue_id,)
        if isinstance(e, SurveyResponse.Recorded):
            campaign = facts.get(CAMPAIGNS, (UUID(str(e.campaign_id)),))
            if campaign is None:
                return
            questions = campaign["questions"]
            weights = {q["code"]: float(q["weight"]) for q in questions}
            overall_code = next((q["code"] for q in questions if q.get("overall")), None)
            score = weighted_mean(e.answers, weights)
            overall = e.answers.get(overall_code) if overall_code else None
            level = campaign["loyalty_mapping"].get(str(overall)) if overall is not None else None
            facts.put(
                RESPONSES,
                key,
                self.new_row(
                    RESPONSES,
                    response_id=rec.issue_id,
                    campaign_id=campaign["campaign_id"],
                    campaign=campaign["number"],
                    party=campaign["party"],
                    project=e.project,
                    region=facts.regions.get(e.project),
                    segment=e.segment,
                    method=e.method,
                    recorded_at=e.timestamp,
                    recorded_local=self.local(e.timestamp),
                    valid=True,
                    acknowledged=False,
                    complaint=bool(e.complaint),
                    score=score,
                    csi=None if score is None else rescale(score),
                    overall=overall,
                    loyalty=level,
                    favourable=None if level is None else level in FAVOURABLE_LEVELS,
                    top2=None if overall is None else overall in TOP_BOX,
                    target_sample=campaign["target_sample"],
                    target_csi=campaign["target_csi"],
                    improvement_action=(e.nonconformance or {}).get("number"),
                ),
            )
            return
        row = facts.touch(RESPONSES, key)
        if row is None:
            return
        if isinstance(e, SurveyResponse.Acknowledged):
            row["acknowledged"] = True
        elif isinstance(e, SurveyResponse.Invalidated):
            row["valid"] = False
            row["invalidated_at"] = e.timestamp

    # -- improvement actions -----------------------------------------------------------
    def _action(self, facts: Facts, rec: EventRecord) -> None:
        e = rec.event
        key = (rec.issue_id,)
        if isinstance(e, Nonconformance.Raised):
            source = e.source or {}
            if source.get("type") != "survey":
                return
            campaign = (
                facts.get(CAMPAIGNS, (UUID(str(source["id"])),)) if source.get("id") else None
            )
            response = (
                facts.get(RESPONSES, (UUID(str(source["response"])),))
                if source.get("response")
                else None
            )
            facts.put(
                ACTIONS,
                key,
                self.new_row(
                    ACTIONS,
                    nonconformance_id=rec.issue_id,
                    number=e.number,
                    response_id=response["response_id"] if response else None,
                    campaign_id=campaign["campaign_id"] if campaign else None,
                    campaign=campaign["number"] if campaign else str(source.get("number") or ""),
                    party=campaign["party"] if campaign else None,
                    project=e.project,
                    region=facts.regions.get(e.project),
                    segment=response["segment"] if response else None,
                    method=response["method"] if response else None,
                    severity=e.severity,
                    status="raised",
                    raised_at=e.timestamp,
                    raised_local=self.local(e.timestamp),
                ),
            )
            return
        row = facts.touch(ACTIONS, key)
        if row is None:
            return
        if isinstance(e, Nonconformance.Closed):
            row.update(status="closed", closed_at=e.timestamp, closed_local=self.local(e.timestamp))
        elif isinstance(e, Nonconformance.Cancelled):
            row.update(status="cancelled", cancelled_at=e.timestamp)


SurveyKpiProjection.SPEC = SPEC
