"""Business calendars (工作日历): working hours and holidays as data, per project.

A non-urgent ticket's SLA runs on its project's calendar: "resolution within 72 working
hours" counts only the working intervals of working days. A day is a working day when
its ISO weekday is in `weekdays` and it is not in `holidays`, or when it is listed in
`workdays` (the make-up working days, 调休, that move a weekend day into the week).
`hours` are the day's working intervals in the calendar's own time zone.

Everything is computed on the calendar's local wall clock and returned in UTC, so a
calendar is pure data and the result of a computation is recorded in the events (the
projections never need the calendar).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.base import utc
from domain.vocabulary import PRIORITIES

#: A calendar covering no working time at all within this many days is refused.
MAX_SEARCH_DAYS = 3 * 366


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    timezone: str
    hours: tuple[tuple[time, time], ...]
    weekdays: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]
    #: Priorities whose SLA runs on this calendar (the others run round the clock).
    priorities: tuple[str, ...]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def applies_to(self, priority: str) -> bool:
        return priority in self.priorities

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.isoweekday() in self.weekdays and day not in self.holidays

    def _intervals(self, start_day: date) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals (UTC) from `start_day` on, in order."""
        tz = self.tz
        for n in range(MAX_SEARCH_DAYS):
            day = start_day + timedelta(days=n)
            if not self.is_working_day(day):
                continue
            for a, b in self.hours:
                yield (
                    utc(datetime.combine(day, a, tzinfo=tz)),
                    utc(datetime.combine(day, b, tzinfo=tz)),
                )
        raise ValueError(f"calendar {self.name} has no working time within {MAX_SEARCH_DAYS} days")

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant `seconds` of working time after `start` (UTC)."""
        start = utc(start)
        left = float(seconds)
        day = start.astimezone(self.tz).date()
        for a, b in self._intervals(day):
            if b <= start:
                continue
            a = max(a, start)
            span = (b - a).total_seconds()
            if left <= span:
                return a + timedelta(seconds=left)
            left -= span
        raise AssertionError("unreachable")  # pragma: no cover - _intervals raises first

    def working_seconds(self, start: datetime, end: datetime) -> float:
        """Working time between two instants, in seconds (0 when end <= start)."""
        start, end = utc(start), utc(end)
        if end <= start:
            return 0.0
        total = 0.0
        for a, b in self._intervals(start.astimezone(self.tz).date()):
            if a >= end:
                break
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "timezone": self.timezone,
            "hours": [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in self.hours],
            "weekdays": sorted(self.weekdays),
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
            "priorities": list(self.priorities),
        }


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where} must be a time like 09:00, not {value!r}") from None


def _dates(values: Any, where: str) -> frozenset[date]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ValueError(f"{where} must be a list of dates")
    out = set()
    for v in values:
        try:
            out.add(date.fromisoformat(str(v)))
        except ValueError:
            raise ValueError(f"{where} has an invalid date {v!r}") from None
    return frozenset(out)


def calendar_from(name: str, spec: dict[str, Any]) -> BusinessCalendar:
    """A calendar from its policy entry, or ValueError naming what is wrong."""
    where = f"calendar {name}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be an object")
    timezone = str(spec.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{where}: unknown time zone {timezone!r}") from None
    hours_spec = spec.get("hours", [["09:00", "12:00"], ["13:30", "18:00"]])
    if not isinstance(hours_spec, list) or not hours_spec:
        raise ValueError(f"{where}: hours must be a non-empty list of [start, end]")
    hours: list[tuple[time, time]] = []
    for pair in hours_spec:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{where}: hours must be a list of [start, end]")
        a, b = _time(pair[0], f"{where}.hours"), _time(pair[1], f"{where}.hours")
        if b <= a or (hours and a < hours[-1][1]):
            raise ValueError(f"{where}: working intervals must be ordered and not overlap")
        hours.append((a, b))
    weekdays = spec.get("weekdays", [1, 2, 3, 4, 5])
    if not isinstance(weekdays, list) or not all(
        isinstance(d, int) and 1 <= d <= 7 for d in weekdays
    ):
        raise ValueError(f"{where}: weekdays must be ISO weekday numbers 1 (Mon) to 7 (Sun)")
    priorities = spec.get("priorities", ["normal", "low"])
    if not isinstance(priorities, list) or any(p not in PRIORITIES for p in priorities):
        raise ValueError(f"{where}: priorities must be among {', '.join(PRIORITIES)}")
    return BusinessCalendar(
        name=name,
        timezone=timezone,
        hours=tuple(hours),
        weekdays=frozenset(weekdays),
        holidays=_dates(spec.get("holidays"), f"{where}.holidays"),
        workdays=_dates(spec.get("workdays"), f"{where}.workdays"),
        priorities=tuple(priorities),
    )
