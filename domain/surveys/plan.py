"""A survey campaign's plan and questionnaire (DOMAIN.md §4), validated and normalised."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from domain.base import require_choice, require_text
from domain.errors import InvalidValue
from domain.vocabulary import LOYALTY_LEVELS, SURVEY_METHODS, SURVEY_PARTIES

#: Seed 001's table: very satisfied → loyal … very dissatisfied → not assessable.
DEFAULT_LOYALTY_MAPPING: dict[str, str] = {
    "5": "loyal",
    "4": "favourable",
    "3": "vulnerable",
    "2": "at_risk",
    "1": "not_assessable",
}
SCALE_LABELS = {
    "5": "very satisfied",
    "4": "satisfied",
    "3": "acceptable",
    "2": "dissatisfied",
    "1": "very dissatisfied",
}
#: An answer at or below this raises an improvement action (a nonconformance).
#: Columns of the import CSV besides one per question code; question codes may not use them.
RESERVED_COLUMNS = ("respondent_ref", "project", "segment", "method", "comment", "complaint")

PLAN_FIELDS = (
    "title",
    "objectives",
    "party",
    "agency",
    "methods",
    "segments",
    "projects",
    "period",
    "target_sample",
    "target_csi",
    "questions",
    "loyalty_mapping",
)


_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")


def invalid(field: str, message: str) -> Any:
    """Raise `InvalidValue`; typed `Any` so that `return invalid(...)` ends a checker."""
    raise InvalidValue(field, message)


def _code(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _CODE.match(value.strip()):
        return invalid(field, "must be a code of 1-40 letters, digits or _.-")
    return value.strip()


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return invalid(field, "must be a number")
    return float(value)


def _date(field: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return invalid(field, "must be a date (YYYY-MM-DD)")


def check_plan(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a campaign plan; return it normalised. Project codes are checked by the caller."""
    out: dict[str, Any] = {
        "title": require_text("title", fields.get("title"), 200),
        "objectives": require_text("objectives", fields.get("objectives"), 4000),
        "party": require_choice("party", fields.get("party"), SURVEY_PARTIES),
    }
    agency = fields.get("agency")
    if out["party"] == "third_party":
        out["agency"] = require_text("agency", agency, 200)
    elif agency is not None:
        invalid("agency", "is given only for a third_party survey")
    else:
        out["agency"] = None
    out["methods"] = _unique_list(
        "methods", fields.get("methods"), lambda f, v: require_choice(f, v, SURVEY_METHODS)
    )
    out["segments"] = _unique_list("segments", fields.get("segments"), _code)
    out["projects"] = _unique_list("projects", fields.get("projects"), _code)
    period = fields.get("period")
    if not isinstance(period, dict):
        invalid("period", "is required: {start, end}")
    assert isinstance(period, dict)
    start = _date("period.start", period.get("start"))
    end = _date("period.end", period.get("end"))
    if end < start:
        invalid("period.end", "is before period.start")
    out["period"] = {"start": start, "end": end}
    target = fields.get("target_sample")
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        invalid("target_sample", "must be a positive integer")
    out["target_sample"] = target
    target_csi = _number("target_csi", fields.get("target_csi"))
    if not 0 <= target_csi <= 100:
        invalid("target_csi", "must be from 0 to 100")
    out["target_csi"] = target_csi
    out["questions"] = check_questions(fields.get("questions"))
    out["loyalty_mapping"] = check_loyalty_mapping(fields.get("loyalty_mapping"))
    return out


def _unique_list(field: str, value: Any, check: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        return invalid(field, "must be a non-empty list")
    out: list[Any] = []
    for i, item in enumerate(value):
        item = check(f"{field}.{i}", item)
        if item in out:
            invalid(f"{field}.{i}", f"'{item}' is listed twice")
        out.append(item)
    return out


def check_questions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        return invalid("questions", "must be a non-empty list")
    out: list[dict[str, Any]] = []
    codes: set[str] = set()
    for i, q in enumerate(value):
        p = f"questions.{i}"
        if not isinstance(q, dict):
            invalid(p, "must be an object")
        code = _code(f"{p}.code", q.get("code"))
        if code in codes:
            invalid(f"{p}.code", f"'{code}' is used twice")
        if code.lower() in RESERVED_COLUMNS:
            invalid(f"{p}.code", f"'{code}' is reserved for an import column")
        codes.add(code)
        weight = _number(f"{p}.weight", q.get("weight"))
        if weight <= 0:
            invalid(f"{p}.weight", "must be greater than 0")
        overall = q.get("overall", False)
        if not isinstance(overall, bool):
            invalid(f"{p}.overall", "must be true or false")
        out.append(
            {
                "code": code,
                "text": require_text(f"{p}.text", q.get("text"), 1000),
                "dimension": _code(f"{p}.dimension", q.get("dimension")),
                "weight": weight,
                "overall": overall,
            }
        )
    overall_count = sum(1 for q in out if q["overall"])
    if overall_count != 1:
        invalid(
            "questions",
            f"exactly one question must be the overall question (found {overall_count})",
        )
    return out


def check_loyalty_mapping(value: Any) -> dict[str, str]:
    if value is None:
        return dict(DEFAULT_LOYALTY_MAPPING)
    if not isinstance(value, dict):
        return invalid("loyalty_mapping", "must map each answer 1-5 to a loyalty level")
    out: dict[str, str] = {}
    for k in ("1", "2", "3", "4", "5"):
        level = value.get(k, value.get(int(k)))  # type: ignore[call-overload]
        out[k] = require_choice(f"loyalty_mapping.{k}", level, LOYALTY_LEVELS)
    extra = [str(k) for k in value if str(k) not in out]
    if extra:
        invalid(f"loyalty_mapping.{extra[0]}", "is not an answer on the 1-5 scale")
    return out
