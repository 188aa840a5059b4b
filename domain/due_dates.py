"""Due dates of rectification (DOMAIN.md §3): a date without a time means the END of that
calendar day in the company's time zone (23:59:59 local); stored as UTC."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from domain.base import utc
from domain.errors import InvalidValue


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """23:59:59 of `day` in `tz`, as UTC."""
    return utc(datetime.combine(day, time(23, 59, 59), tzinfo=tz))


def resolve_due(
    field: str, now: datetime, tz: tzinfo, due: datetime | date | None, default_days: int
) -> datetime:
    """The due instant (UTC) for a requested due date, or the default."""
    if due is None:
        return end_of_day(now.astimezone(tz).date() + timedelta(days=default_days), tz)
    if isinstance(due, datetime):
        if due.tzinfo is None:
            raise InvalidValue(field, "must carry a time zone offset")
        resolved = utc(due)
    elif isinstance(due, date):
        resolved = end_of_day(due, tz)
    else:
        raise InvalidValue(field, "must be a date or a date-time")
    if resolved <= now:
        raise InvalidValue(field, "must be in the future")
    return resolved
