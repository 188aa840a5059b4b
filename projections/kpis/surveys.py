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
from projections.kpis.spec import ExtraView, FactView, Family, KpiSpec, Measure, pct
from store.schema import KPI_CELL_TABLES

CAMPAIGNS = "survey_campaign_facts"
RESPONSES = "survey_response_facts"
ACTIONS = "survey_action_facts"
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


SCORED = "valid AND csi IS NOT NULL"
ONE_CAMPAIGN = "count(DISTINCT campaign_id) = 1"
N = f"count(*) FILTER (WHERE {SCORED})"
CSI = f"avg(csi) FILTER (WHERE {SCORED})"
MARGIN = f"1.96 * stddev_samp(csi) FILTER (WHERE {SCORED}) / sqrt({N})"


def _ci(bound: str) -> str:
    op, clamp = ("-", "greatest(0, {})") if bound == "low" else ("+", "least(100, {})")
    inner = clamp.format(f"{CSI} {op} {MARGIN}")
    return f"CASE WHEN {N} >= 2 THEN round(({inner})::numeric, 2) END"


RESPONSE_DOCS: dict[str, str] = {
    "response_id": "Response id (UUID); respondents are pseudonymous and not shown.",
    "campaign_id": "Campaign id (UUID).",
    "campaign": "Campaign number, e.g. SV-2026-000003.",
    "party": "first_party or third_party.",
    "project": "Project code.",
    "region": "Region code of the project.",
    "segment": "Customer segment.",
    "method": "web, face_to_face, email or phone.",
    "recorded_at": "When the response was recorded (UTC).",
    "recorded_local": "When it was recorded, company local time.",
    "recorded_month": "Month recorded, YYYY-MM (company time zone).",
    "recorded_year": "Year recorded.",
    "valid": "Valid (false: invalidated with a reason; never deleted).",
    "acknowledged": "Acknowledged (thank-you / receipt sent).",
    "complaint": "The response contains a complaint.",
    "score": "Respondent's weighted mean answer (1-5).",
    "csi": "Respondent's CSI: (score - 1) / 4 x 100.",
    "overall": "Answer to the overall question (1-5; null: not answered).",
    "loyalty": "Loyalty level mapped from the overall answer (campaign's mapping).",
    "favourable": "Loyalty is loyal or favourable (counts in CLI).",
    "top2": "Overall answer 4 or 5 (top-2-box).",
    "target_sample": "The campaign's target sample size.",
    "target_csi": "The campaign's target CSI.",
    "improvement_action": "Number of the nonconformance (improvement action) the response raised.",
}

CAMPAIGN_DOCS: dict[str, str] = {
    "campaign_id": "Campaign id (UUID).",
    "number": "Campaign number.",
    "title": "Campaign title.",
    "party": "first_party or third_party.",
    "agency": "Third-party agency.",
    "status": "drafted, submitted, approved, open, closed or published.",
    "period_start": "Planned fieldwork start (local date).",
    "period_end": "Planned fieldwork end (local date).",
    "target_sample": "Target sample size.",
    "target_csi": "Target (challenge) CSI.",
    "opened_at": "Opened for responses (UTC).",
    "closed_at": "Closed (UTC).",
    "published_at": "Results published (UTC).",
    "published_csi": "CSI as published.",
    "published_cli": "CLI as published.",
}

ACTION_DOCS: dict[str, str] = {
    "nonconformance_id": "Nonconformance id (UUID).",
    "number": "Nonconformance number of the improvement action.",
    "response_id": "Response that raised it.",
    "campaign": "Campaign number.",
    "party": "first_party or third_party.",
    "project": "Project code.",
    "region": "Region code.",
    "segment": "Segment of the respondent.",
    "method": "Survey method of the response.",
    "severity": "Severity of the nonconformance.",
    "status": "raised, closed or cancelled (other steps: see nonconformance_facts).",
    "raised_at": "Raised (UTC).",
    "raised_local": "Raised, company local time.",
    "closed_at": "Closed after an effective verification (UTC).",
    "cancelled_at": "Cancelled (UTC).",
}

SPEC = KpiSpec(
    kind="surveys",
    prefix="survey",
    unit="survey response",
    facts=RESPONSES,
    facts_view="survey_response_facts",
    dims={
        "campaign": "campaign",
        "party": "party",
        "segment": "coalesce(segment, 'none')",
        "method": "coalesce(method, 'none')",
    },
    dim_docs={
        "campaign": "Campaign number.",
        "party": "first_party or third_party.",
        "segment": "Customer segment.",
        "method": "Survey method.",
    },
    families=(
        Family(
            anchor="recorded_local",
            measures=(
                Measure(
                    "responses",
                    "count(*) FILTER (WHERE valid)",
                    "Valid responses recorded in the period.",
                    count=True,
                ),
                Measure(
                    "invalidated",
                    "count(*) FILTER (WHERE NOT valid)",
                    "Responses invalidated.",
                    count=True,
                ),
                Measure(
                    "acknowledged",
                    "count(*) FILTER (WHERE acknowledged)",
                    "Responses acknowledged.",
                    count=True,
                ),
                Measure("n", N, "Respondents scored (valid, at least one answer).", count=True),
                Measure(
                    "csi",
                    f"round(({CSI})::numeric, 2)",
                    "CSI: mean respondent score rescaled (mean - 1) / 4 x 100.",
                ),
                Measure(
                    "csi_ci95_low",
                    _ci("low"),
                    "CSI 95% interval, low (normal approximation; null if n < 2).",
                ),
                Measure("csi_ci95_high", _ci("high"), "CSI 95% interval, high."),
                Measure(
                    "top2_box_pct",
                    pct(
                        "count(*) FILTER (WHERE valid AND top2)",
                        "count(*) FILTER (WHERE valid AND top2 IS NOT NULL AND csi IS NOT NULL)",
                    ),
                    "Top-2-box: overall answer 4 or 5, % of those who answered it.",
                ),
                Measure(
                    "cli",
                    pct(
                        "count(*) FILTER (WHERE valid AND favourable)",
                        "count(*) FILTER (WHERE valid AND favourable IS NOT NULL AND csi IS NOT NULL)",
                    ),
                    "CLI: loyal or favourable, % of those who answered the overall question.",
                ),
                Measure(
                    "target_csi",
                    f"CASE WHEN {ONE_CAMPAIGN} THEN max(target_csi) END",
                    "Target CSI of the campaign (rows of one campaign).",
                ),
                Measure(
                    "csi_gap",
                    f"CASE WHEN {ONE_CAMPAIGN} THEN round(round(({CSI})::numeric, 2) "
                    "- max(target_csi)::numeric, 2) END",
                    "Gap to target: CSI - target CSI (rows of one campaign).",
                ),
                Measure(
                    "response_rate_pct",
                    f"CASE WHEN {ONE_CAMPAIGN} THEN {pct(N, 'max(target_sample)')} END",
                    "Response rate: scored respondents / the campaign's target sample, % (rows of one campaign).",
                ),
            ),
        ),
        Family(
            anchor="raised_local",
            facts=ACTIONS,
            measures=(
                Measure(
                    "improvement_actions",
                    "count(*)",
                    "Improvement actions (nonconformances) raised.",
                    count=True,
                ),
                Measure(
                    "improvement_actions_closed",
                    "count(closed_at)",
                    "Of those, closed.",
                    count=True,
                ),
            ),
        ),
    ),
    fact_docs=RESPONSE_DOCS,
    fact_exprs={
        "recorded_month": "to_char(recorded_local, 'YYYY-MM')",
        "recorded_year": "extract(year FROM recorded_local)::int",
    },
    fact_views=(
        FactView("survey_campaigns", CAMPAIGNS, "survey campaign", CAMPAIGN_DOCS),
        FactView(
            "survey_action_facts",
            ACTIONS,
            "improvement action raised by a survey response",
            ACTION_DOCS,
        ),
    ),
    extra_views=(
        ExtraView(
            "survey_kpis_campaign",
            ("campaign", "party", "year"),
            "CSI and CLI per campaign (trend across campaigns)",
        ),
        ExtraView(
            "survey_kpis_campaign_project",
            ("campaign", "project", "region"),
            "CSI and CLI per campaign and project",
        ),
        ExtraView(
            "survey_kpis_campaign_segment",
            ("campaign", "segment"),
            "CSI and CLI per campaign and segment",
        ),
        ExtraView(
            "survey_kpis_party_year",
            ("party", "year"),
            "CSI and CLI per party (first/third) and year",
        ),
    ),
)

SurveyKpiProjection.SPEC = SPEC
