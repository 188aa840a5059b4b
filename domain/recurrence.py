"""When an inspection plan's inspections fall due (seed 003, DOMAIN.md §2), as pure functions.

A recurrence is a small dict, validated here; `occurrences` turns it and a span of
calendar months into due dates. Every due date is the END of a calendar day in the
company's time zone (23:59:59 local, as rectification due dates), stored as UTC.

- `monthly` `{by_day: N}` (1–28): one per month, done by day N (城市公司月检: at least monthly).
  Days 29–31 are refused: not every month has them, so the rule cannot always be met.
- `twice_monthly`: the quality department's rounds "每月15日前和28日前": one due by the
  15th, one by the 28th.
- `second_monday`: the monthly self-check, reported "第二周的星期一" — by the second
  Monday of the month.
- `quarterly` `{by_day?: N}`: one per calendar quarter, done by day N (default: the last
  day) of the quarter's last month; only quarters whose last month is in the span.
- `rate` `{per_month: k}` (1–10): night checks and mystery visits at a chosen rate, k per
  month, due dates spread evenly (the k-th at the month's end).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, tzinfo
from typing import Any

from domain.due_dates import end_of_day
from domain.errors import InvalidValue
from domain.vocabulary import RECURRENCE_TYPES

MAX_MONTHS = 12


def _int(field: str, value: Any, low: int, high: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(field, f"must be a whole number from {low} to {high}{why}")
    return value


def check_recurrence(recurrence: Any) -> dict[str, Any]:
    """A clean copy of a recurrence, or `InvalidValue` naming the bad field."""
    if not isinstance(recurrence, dict):
        raise InvalidValue("recurrence", "is required")
    kind = recurrence.get("type")
    if kind not in RECURRENCE_TYPES:
        raise InvalidValue("recurrence.type", f"must be one of {', '.join(RECURRENCE_TYPES)}")
    out: dict[str, Any] = {"type": kind}
    unsatisfiable = " (days 29-31 do not occur in every month)"
    if kind == "monthly":
        out["by_day"] = _int("recurrence.by_day", recurrence.get("by_day"), 1, 28, unsatisfiable)
    elif kind == "quarterly" and recurrence.get("by_day") is not None:
        out["by_day"] = _int("recurrence.by_day", recurrence.get("by_day"), 1, 28, unsatisfiable)
    elif kind == "rate":
        out["per_month"] = _int("recurrence.per_month", recurrence.get("per_month"), 1, 10)
    extra = set(recurrence) - {"type", "by_day", "per_month"}
    if extra or (kind not in ("monthly", "quarterly") and "by_day" in recurrence):
        bad = sorted(extra) or ["by_day"]
        raise InvalidValue(f"recurrence.{bad[0]}", f"is not part of a {kind} recurrence")
    if kind != "rate" and "per_month" in recurrence:
        raise InvalidValue("recurrence.per_month", f"is not part of a {kind} recurrence")
    return out


def check_month(field: str, value: Any) -> tuple[int, int]:
    try:
        if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
            raise ValueError
        year, month = int(value[:4]), int(value[5:])
        if not 1 <= month <= 12 or not 2000 <= year <= 2999:
            raise ValueError
    except ValueError:
        raise InvalidValue(field, "must be a month, YYYY-MM") from None
    return year, month


def _months(start: tuple[int, int], count: int) -> list[tuple[int, int]]:
    year, month = start
    out = []
    for _ in range(count):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def second_monday(year: int, month: int) -> int:
    first = date(year, month, 1).weekday()  # Monday = 0
    return 1 + (7 - first) % 7 + 7


def _days_of(recurrence: dict[str, Any], year: int, month: int) -> list[tuple[str, int]]:
    """(occurrence key, day of month) of the occurrences falling due in that month."""
    last = calendar.monthrange(year, month)[1]
    kind = recurrence["type"]
    ym = f"{year:04d}-{month:02d}"
    if kind == "monthly":
        return [(ym, recurrence["by_day"])]
    if kind == "twice_monthly":
        return [(f"{ym}/15", 15), (f"{ym}/28", 28)]
    if kind == "second_monday":
        return [(ym, second_monday(year, month))]
    if kind == "quarterly":
        if month % 3:
            return []
        return [(f"{year:04d}-Q{month // 3}", recurrence.get("by_day") or last)]
    k = recurrence["per_month"]
    return [(f"{ym}/{i + 1}of{k}", max(1, (i + 1) * last // k)) for i in range(k)]


def occurrences(
    recurrence: dict[str, Any], start_month: str, months: Any, tz: tzinfo
) -> list[dict[str, Any]]:
    """Every occurrence in the span: `{key, planned_for (local date), due_at (UTC)}`."""
    start = check_month("start_month", start_month)
    count = _int("months", months, 1, MAX_MONTHS)
    out = []
    for year, month in _months(start, count):
        for key, day in _days_of(recurrence, year, month):
            when = date(year, month, day)
            out.append(
                {"key": key, "planned_for": when.isoformat(), "due_at": end_of_day(when, tz)}
            )
    if not out:
        raise InvalidValue(
            "months", f"the span holds no occurrence of a {recurrence['type']} recurrence"
        )
    return out


def first_passed(found: list[dict[str, Any]], now: datetime) -> dict[str, Any] | None:
    """The first occurrence already due at `now` (a plan cannot schedule the past)."""
    return next((o for o in found if o["due_at"] <= now), None)
