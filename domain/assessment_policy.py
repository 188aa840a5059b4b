"""The assessment policy (考核与奖惩, seed 003 §4) as data, and the computation it drives.

A project's monthly score is the weighted mean of the scores of its counted inspections
of the month (the policy's `kinds`: kind → weight; default: the city company's monthly
check 城市公司月检 alone), minus the deductions recorded against the project in the month
(`deductions`: rule → points; default 5 per failed re-check, 5 per missed self-check),
never below 0. Grade and pay adjustment come from the grading bands
(`domain.grading.DEFAULT_GRADING`, seed 003: ≥95 +10% … <75 −10%). A quarter sums its three
monthly scores (以季度为单位进行分数总和) and grades their mean.

Every input names the event it was taken from, and the policy is recorded with the
result, so `compute` over the recorded inputs gives the recorded result again.
"""

from __future__ import annotations

from typing import Any

from domain.grading import DEFAULT_GRADING, grade_for, validate_grading

#: Points off the score per deduction rule.
DEFAULT_DEDUCTIONS: dict[str, float] = {"failed_recheck": 5, "missed_self_check": 5}

#: Which inspections count towards the monthly score, and their weights.
DEFAULT_KINDS: dict[str, float] = {"regional_monthly": 1}


def default_policy() -> dict[str, Any]:
    return {
        "kinds": dict(DEFAULT_KINDS),
        "deductions": dict(DEFAULT_DEDUCTIONS),
        "grading": [dict(b) for b in DEFAULT_GRADING],
    }


def validate_policy(policy: Any) -> dict[str, Any]:
    """A clean, complete copy of an assessment policy, or ValueError saying what is wrong."""
    if not isinstance(policy, dict):
        raise ValueError("assessment policy must be an object")
    out = default_policy()
    kinds = policy.get("kinds", out["kinds"])
    if not isinstance(kinds, dict) or not kinds:
        raise ValueError(
            "assessment policy kinds must map at least one inspection kind to a weight"
        )
    for kind, weight in kinds.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ValueError(f"assessment policy kinds.{kind} must be a positive weight")
    deductions = {**out["deductions"], **policy.get("deductions", {})}
    for rule, points in deductions.items():
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise ValueError(f"assessment policy deductions.{rule} must be a number ≥ 0")
    out.update(kinds=dict(kinds), deductions=deductions)
    out["grading"] = validate_grading(policy.get("grading", out["grading"]))
    return out


def _r(value: float) -> float:
    return round(value + 0.0, 2)


def compute_month(
    inputs: list[dict[str, Any]], deductions: list[dict[str, Any]], policy: dict[str, Any]
) -> dict[str, Any]:
    """`inputs[{kind, score}]`, `deductions[{points}]` → base, deducted, score, grade, pay."""
    weights = policy["kinds"]
    total_weight = sum(float(weights[i["kind"]]) for i in inputs)
    if total_weight <= 0:
        raise ValueError("no counted inspection to assess")
    base = _r(sum(float(weights[i["kind"]]) * float(i["score"]) for i in inputs) / total_weight)
    deducted = _r(sum(float(d["points"]) for d in deductions))
    score = _r(max(0.0, base - deducted))
    grade, pay = grade_for(score, policy["grading"])
    return {
        "base_score": base,
        "deducted": deducted,
        "score": score,
        "grade": grade,
        "pay_adjustment_pct": pay,
    }


def compute_quarter(months: list[dict[str, Any]], policy: dict[str, Any]) -> dict[str, Any]:
    """`months[{score}]` (three) → the sum (score), the mean graded."""
    total = _r(sum(float(m["score"]) for m in months))
    mean = _r(total / len(months))
    grade, pay = grade_for(mean, policy["grading"])
    return {
        "base_score": total,
        "deducted": 0.0,
        "score": total,
        "mean_score": mean,
        "grade": grade,
        "pay_adjustment_pct": pay,
    }
