"""The survey KPI figures (`SPEC`) and the documentation of their fact columns; the facts
are written by `projections.kpis.surveys` (definitions there)."""

from __future__ import annotations

from projections.kpis.spec import ExtraView, FactView, Family, KpiSpec, Measure, pct

CAMPAIGNS = "survey_campaign_facts"
RESPONSES = "survey_response_facts"
ACTIONS = "survey_action_facts"

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
