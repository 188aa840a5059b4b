"""Inspection grading: score → grade and pay adjustment, as a policy table (seed 003).

A policy is a list of bands, highest first, each `{min_score, grade, pay_adjustment_pct}`;
a score falls in the first band whose `min_score` it reaches (the lower bound is
inclusive, as the seed says: "95分(含95分)以上"), and the last band's `min_score` is 0.
The policy that produced a result is recorded in the event that records the result.
"""

from __future__ import annotations

from typing import Any

#: seed 003 §4: ≥95 +10%; [90, 95) +5%; [80, 90) 0; [75, 80) −5%; < 75 −10%.
DEFAULT_GRADING: list[dict[str, Any]] = [
    {"min_score": 95, "grade": "A", "pay_adjustment_pct": 10},
    {"min_score": 90, "grade": "B", "pay_adjustment_pct": 5},
    {"min_score": 80, "grade": "C", "pay_adjustment_pct": 0},
    {"min_score": 75, "grade": "D", "pay_adjustment_pct": -5},
    {"min_score": 0, "grade": "E", "pay_adjustment_pct": -10},
]


def validate_grading(policy: Any) -> list[dict[str, Any]]:
    """Return a clean copy of a grading policy, or raise ValueError saying what is wrong."""
    if not isinstance(policy, list) or not policy:
        raise ValueError("grading policy must be a non-empty list of bands")
    out: list[dict[str, Any]] = []
    last_min: float | None = None
    grades: set[str] = set()
    for i, band in enumerate(policy):
        if not isinstance(band, dict):
            raise ValueError(f"grading band {i} must be an object")
        low, grade, pay = band.get("min_score"), band.get("grade"), band.get("pay_adjustment_pct")
        if isinstance(low, bool) or not isinstance(low, (int, float)) or not 0 <= low <= 100:
            raise ValueError(f"grading band {i}: min_score must be a number from 0 to 100")
        if last_min is not None and low >= last_min:
            raise ValueError(f"grading band {i}: bands must be ordered by min_score, highest first")
        if not isinstance(grade, str) or not grade.strip() or grade in grades:
            raise ValueError(f"grading band {i}: grade must be a unique non-empty text")
        if isinstance(pay, bool) or not isinstance(pay, (int, float)):
            raise ValueError(f"grading band {i}: pay_adjustment_pct must be a number")
        grades.add(grade)
        last_min = low
        out.append({"min_score": low, "grade": grade, "pay_adjustment_pct": pay})
    if out[-1]["min_score"] != 0:
        raise ValueError("the last grading band must start at min_score 0")
    return out


def grade_for(score: float, policy: list[dict[str, Any]]) -> tuple[str, float]:
    """The (grade, pay adjustment %) of a score under `policy`."""
    for band in policy:
        if score >= band["min_score"]:
            return band["grade"], band["pay_adjustment_pct"]
    last = policy[-1]
    return last["grade"], last["pay_adjustment_pct"]


def compute_score(items: list[dict[str, Any]]) -> tuple[float, float, float]:
    """(score, awarded, applicable max): score = awarded ÷ applicable max × 100, rounded to
    two decimals; items with result `na` are excluded from both sums. The grade is taken
    from the rounded score, so the score shown is the score graded."""
    awarded = 0.0
    applicable = 0.0
    for item in items:
        if item.get("result") in ("pass", "fail"):
            awarded += float(item["points"])
            applicable += float(item["max_points"])
    if applicable <= 0:
        return 0.0, awarded, applicable
    return round(awarded / applicable * 100, 2), round(awarded, 4), round(applicable, 4)
