"""Survey KPIs computed by hand from a known campaign, and equal to its published results."""

from __future__ import annotations

import statistics
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from application.base import Call
from application.security import Principal

QM1 = Call(Principal("zhou.min", "Zhou Min", "quality_manager"), "corr-sv-1")
QM2 = Call(Principal("wu.lei", "Wu Lei", "quality_manager"), "corr-sv-2")
DESK = Call(Principal("li.na", "Li Na", "front_desk"), "corr-sv-3")

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
        {"code": "Q2", "text": "性价比", "dimension": "value", "weight": 1, "overall": False},
        {"code": "OV", "text": "总体满意度", "dimension": "overall", "weight": 1, "overall": True},
    ],
}
#: respondent, project, segment, answers → respondent score s = Σwa/Σw, CSI = (s − 1) / 4 × 100
RESPONSES = [
    ("R1", "P1", "owner", {"Q1": 5, "Q2": 4, "OV": 5}),  # s = 19/4 = 4.75 → 93.75, loyal
    ("R2", "P1", "owner", {"Q1": 3, "Q2": 3, "OV": 3}),  # s = 3 → 50, vulnerable
    ("R3", "P2", "tenant", {"Q1": 4, "Q2": None, "OV": 4}),  # s = 12/3 = 4 → 75, favourable
    (
        "R4",
        "P2",
        "owner",
        {"Q1": 1, "Q2": 2, "OV": 2},
    ),  # s = 6/4 = 1.5 → 12.5, at risk; raises an action
    ("R5", "P1", "tenant", {"Q1": 5, "Q2": 5, "OV": 5}),  # invalidated: left out
]


@pytest.fixture
def campaign(api: Any, clock: Any) -> dict[str, Any]:
    clock.now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
    api.setup_org()
    app = api.container.app
    sv = app.surveys.draft(QM1, **PLAN).number
    app.surveys.submit(QM1, sv)
    app.surveys.decide(QM2, sv, True, None)
    app.surveys.open(QM1, sv)
    answers: dict[str, Any] = {}
    for ref, project, segment, a in RESPONSES:
        r = app.survey_responses.record(
            DESK,
            sv,
            respondent_ref=ref,
            project=project,
            segment=segment,
            method="phone",
            answers=a,
        )
        answers[ref] = r
    app.survey_responses.invalidate(QM1, sv, "R5", "同一户重复作答")
    app.surveys.close(QM1, sv)
    app.surveys.publish(QM1, sv)
    api.container.run_projections_once()
    return {"number": sv, "responses": answers}


def kpis(api: Any, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/kpis/surveys", role="reporting", params=params)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_survey_kpis_per_campaign_match_the_hand_computed_figures(
    api: Any, campaign: dict[str, Any]
) -> None:
    (row,) = kpis(api, group_by="campaign,party,year")
    assert (row["campaign"], row["party"], row["year"]) == (campaign["number"], "first_party", 2026)
    assert (row["responses"], row["invalidated"], row["n"]) == (4, 1, 4)
    scores = [93.75, 50.0, 75.0, 12.5]
    # CSI = mean of the respondents' CSI = 231.25 / 4 = 57.8125.
    assert row["csi"] == 57.81
    margin = 1.96 * statistics.stdev(scores) / 4**0.5
    assert (row["csi_ci95_low"], row["csi_ci95_high"]) == (
        round(57.8125 - margin, 2),
        round(57.8125 + margin, 2),
    )
    # Overall 5 and 4 of four answers: top-2-box 50 %; loyal + favourable: CLI 50.
    assert (row["top2_box_pct"], row["cli"]) == (50.0, 50.0)
    # Four scored respondents of a target sample of 10; 57.81 − 80.
    assert (row["response_rate_pct"], row["target_csi"], row["csi_gap"]) == (40.0, 80.0, -22.19)
    # R4's low answers raised one improvement action, not yet closed.
    assert (row["improvement_actions"], row["improvement_actions_closed"]) == (1, 0)


def test_survey_kpis_by_project_and_segment_and_equal_to_the_published_results(
    api: Any, campaign: dict[str, Any]
) -> None:
    by_project = {r["project"]: (r["n"], r["csi"]) for r in kpis(api, group_by="project,campaign")}
    assert by_project == {"P1": (2, 71.88), "P2": (2, 43.75)}
    by_segment = {r["segment"]: (r["n"], r["csi"], r["cli"]) for r in kpis(api, group_by="segment")}
    assert by_segment == {"owner": (3, 52.08, 33.33), "tenant": (1, 75.0, 100.0)}
    # The KPI view and the campaign's published results are the same figures.
    published = api.container.app.surveys.results(QM1, campaign["number"])
    results = published.get("results", published)
    (row,) = kpis(api, group_by="campaign")
    assert (
        row["csi"],
        row["cli"],
        row["top2_box_pct"],
        row["response_rate_pct"],
        row["csi_gap"],
    ) == (
        results["csi"],
        results["cli"],
        results["top2_box_pct"],
        results["response_rate_pct"],
        results["gap_to_target"],
    )
    assert (row["csi_ci95_low"], row["csi_ci95_high"]) == (
        results["ci95"]["low"],
        results["ci95"]["high"],
    )
    for project, figures in results["by_project"].items():
        assert by_project[project] == (figures["n"], figures["csi"])


def test_http_and_reporting_sql_figures_agree(api: Any, campaign: dict[str, Any]) -> None:
    with psycopg.connect(api.container.url) as conn:
        conn.execute("SET ROLE qualtrace_reporting")
        cur = conn.cursor(row_factory=dict_row)
        for view, group in (
            ("survey_kpis_campaign_project", "campaign,project,region"),
            ("survey_kpis_project_month", "project,region,month"),
            ("survey_kpis_campaign_segment", "campaign,segment"),
        ):
            rows = cur.execute(f"SELECT * FROM reporting.{view} ORDER BY {group}").fetchall()
            plain = [
                {k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows
            ]
            assert plain == kpis(api, group_by=group), view
        # Respondents stay pseudonymous: the fact view has no respondent reference.
        cols = {
            d.name
            for d in cur.execute(
                "SELECT * FROM reporting.survey_response_facts LIMIT 0"
            ).description
            or ()
        }
        assert "respondent_ref" not in cols and "csi" in cols
