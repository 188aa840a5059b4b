"""domain.surveys.results against figures worked out by hand (each expectation shows its
arithmetic): weights, null answers, invalidated responses, a single response, the 95%
interval, top-2-box, the loyalty mapping and CLI, the gap to target and the comparison
with the previous campaign of the same scope."""

from __future__ import annotations

import math
from typing import Any

from domain.surveys import DEFAULT_LOYALTY_MAPPING, SCALE_LABELS
from domain.surveys.results import compute_results, interval, parameters, rescale, weighted_mean

QUESTIONS = [
    {"code": "Q1", "text": "服务质量", "dimension": "service", "weight": 2.0, "overall": False},
    {"code": "Q2", "text": "性价比", "dimension": "value", "weight": 1.0, "overall": False},
    {"code": "OV", "text": "总体满意度", "dimension": "overall", "weight": 1.0, "overall": True},
]


def row(
    project: str, segment: str, method: str, valid: bool = True, **answers: int | None
) -> dict[str, Any]:
    return {
        "project": project,
        "segment": segment,
        "method": method,
        "answers": answers,
        "valid": valid,
    }


#   respondent score s = Σ w·a / Σ w over answered questions; c = (s − 1) / 4 × 100
ROWS = [
    row("P1", "owner", "web", Q1=5, Q2=4, OV=5),  # (10 + 4 + 5) / 4 = 4.75 → 93.75, loyal
    row(
        "P1", "tenant", "phone", Q1=4, Q2=None, OV=4
    ),  # null Q2 drops out: (8 + 4) / 3 = 4 → 75, favourable
    row("P2", "owner", "web", Q1=2, Q2=3, OV=3),  # (4 + 3 + 3) / 4 = 2.5 → 37.5, vulnerable
    row(
        "P2", "owner", "web", valid=False, Q1=1, Q2=1, OV=1
    ),  # invalidated: counted as recorded only
    row("P2", "tenant", "web", Q1=None, Q2=2, OV=None),  # 2 / 1 = 2 → 25; no overall answer
]
SCORES = [93.75, 75.0, 37.5, 25.0]


def results(rows: list[dict[str, Any]] = ROWS, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "questions": QUESTIONS,
        "responses": rows,
        "loyalty_mapping": DEFAULT_LOYALTY_MAPPING,
        "target_sample": 8,
        "target_csi": 80,
        "party": "third_party",
    }
    return compute_results(**{**args, **kw})


def test_csi_is_the_mean_of_weighted_respondent_scores_with_nulls_and_invalidated_left_out() -> (
    None
):
    r = results()
    assert (r["recorded"], r["invalidated"], r["n"]) == (5, 1, 4)
    assert r["csi"] == round((93.75 + 75 + 37.5 + 25) / 4, 2) == 57.81
    # mean respondent score on 1-5: (4.75 + 4 + 2.5 + 2) / 4 = 3.3125
    assert r["mean_score"] == 3.31
    assert rescale(3.3125) == 57.8125
    # the weights matter: unweighted, the first respondent would be 14 / 3 = 4.667
    assert weighted_mean({"Q1": 5, "Q2": 4, "OV": 5}, {"Q1": 2, "Q2": 1, "OV": 1}) == 4.75
    assert weighted_mean({"Q1": None}, {"Q1": 2}) is None


def test_the_95_percent_interval_uses_the_sample_standard_deviation() -> None:
    r = results()
    # deviations from 57.8125: 35.9375, 17.1875, −20.3125, −32.8125
    # squares: 1291.50390625 + 295.41015625 + 412.59765625 + 1076.66015625 = 3076.171875
    sd = math.sqrt(3076.171875 / 3)  # = 32.0217...
    margin = 1.96 * sd / math.sqrt(4)  # = 31.381...
    assert r["sd"] == round(sd, 2) == 32.02
    assert r["ci95"] == {"low": round(57.8125 - margin, 2), "high": round(57.8125 + margin, 2)}
    assert r["ci95"] == {"low": 26.43, "high": 89.19}


def test_the_interval_is_clamped_to_the_scale_and_undefined_for_one_respondent() -> None:
    # 100, 100, 0: mean 66.67, sd = sqrt((2 × 33.33² + 66.67²) / 2) = 57.735; margin = 1.96 × 57.735 / √3 = 65.33
    ci = interval([100.0, 100.0, 0.0])
    assert ci["high"] == 100.0 and round(ci["low"] or 0, 2) == round(
        200 / 3 - 1.96 * math.sqrt(10000 / 3) / math.sqrt(3), 2
    )
    single = results([row("P1", "owner", "web", Q1=3, Q2=None, OV=4)])
    # (6 + 4) / 3 = 3.333 → (3.333 − 1) / 4 × 100 = 58.33
    assert single["n"] == 1 and single["csi"] == round((10 / 3 - 1) / 4 * 100, 2) == 58.33
    assert single["ci95"] is None and single["sd"] is None
    assert (
        single["top2_box_pct"] == 100.0 and single["cli"] == 100.0
    )  # OV = 4: satisfied, favourable


def test_top_2_box_loyalty_and_cli_count_respondents_who_answered_the_overall_question() -> None:
    r = results()
    # overall answers of valid respondents: 5, 4, 3 (the last respondent skipped it)
    assert r["overall_answered"] == 3
    assert r["top2_box_pct"] == round(2 / 3 * 100, 2) == 66.67
    assert r["cli"] == 66.67  # loyal (5) + favourable (4) of 3
    assert {k: v["count"] for k, v in r["loyalty"].items()} == {
        "loyal": 1,
        "favourable": 1,
        "vulnerable": 1,
        "at_risk": 0,
        "not_assessable": 0,
    }
    assert r["loyalty"]["vulnerable"]["pct"] == 33.33


def test_the_loyalty_mapping_is_configurable_per_campaign() -> None:
    generous = {"5": "loyal", "4": "loyal", "3": "favourable", "2": "at_risk", "1": "at_risk"}
    r = results(loyalty_mapping=generous)
    assert r["cli"] == 100.0  # 5 → loyal, 4 → loyal, 3 → favourable: 3 of 3
    assert r["loyalty"]["loyal"]["count"] == 2 and r["loyalty"]["favourable"]["count"] == 1
    assert parameters(QUESTIONS, generous, SCALE_LABELS)["loyalty_mapping"] == generous


def test_per_dimension_question_project_segment_and_method() -> None:
    r = results()
    # service = Q1 only: 5, 4, 2 → 100, 75, 25 → 66.67; top-2: 2 of 3 answers
    assert r["by_dimension"]["service"]["csi"] == round(200 / 3, 2) == 66.67
    assert (
        r["by_dimension"]["service"]["n"] == 3
        and r["by_dimension"]["service"]["top2_box_pct"] == 66.67
    )
    # value = Q2: 4, 3, 2 → 75, 50, 25 → 50
    assert r["by_dimension"]["value"]["csi"] == 50.0
    q1 = r["by_question"]["Q1"]
    assert (
        q1["n"] == 3
        and q1["mean"] == round(11 / 3, 2)
        and q1["distribution"]
        == {
            "1": 0,
            "2": 1,
            "3": 0,
            "4": 1,
            "5": 1,
        }
    )
    assert r["by_project"]["P1"]["csi"] == round((93.75 + 75) / 2, 2) == 84.38
    assert r["by_project"]["P2"]["csi"] == round((37.5 + 25) / 2, 2) == 31.25
    assert r["by_project"]["P2"]["n"] == 2  # the invalidated respondent is not counted
    assert r["by_segment"]["owner"]["csi"] == round((93.75 + 37.5) / 2, 2)
    assert r["by_segment"]["tenant"]["csi"] == round((75 + 25) / 2, 2)
    assert r["by_method"]["phone"]["csi"] == 75.0 and r["by_method"]["web"]["n"] == 3
    assert r["by_party"] == {"third_party": {k: r[k] for k in r["by_party"]["third_party"]}}


def test_response_rate_gap_to_target_and_comparison_with_the_previous_campaign() -> None:
    r = results(previous={"id": "x", "number": "SV-2025-000004", "csi": 50.0, "cli": 60.0})
    assert r["response_rate_pct"] == 50.0  # 4 scored of a target sample of 8
    assert r["gap_to_target"] == round(57.81 - 80, 2) == -22.19
    assert r["previous"]["number"] == "SV-2025-000004"
    assert r["previous"]["csi_change"] == round(57.81 - 50, 2) == 7.81
    assert r["previous"]["cli_change"] == round(66.67 - 60, 2) == 6.67
    assert results()["previous"] is None


def test_no_valid_response_gives_no_figures() -> None:
    r = results([row("P1", "owner", "web", valid=False, Q1=5, Q2=5, OV=5)])
    assert (r["n"], r["csi"], r["cli"], r["ci95"], r["gap_to_target"]) == (
        0,
        None,
        None,
        None,
        None,
    )
    assert r["by_project"] == {} and r["by_party"] == {}


def test_the_parameters_name_every_formula_input() -> None:
    p = parameters(QUESTIONS, DEFAULT_LOYALTY_MAPPING, SCALE_LABELS)
    assert p["weights"] == {"Q1": 2.0, "Q2": 1.0, "OV": 1.0}
    assert p["overall_question"] == "OV" and p["top_box"] == [4, 5] and p["z"] == 1.96
    assert p["cli_levels"] == ["loyal", "favourable"] and p["scale"]["labels"]["3"] == "acceptable"
