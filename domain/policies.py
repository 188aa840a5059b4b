"""Policy tables as data. Each result records the policy that produced it."""

from __future__ import annotations

from typing import Any

from domain.vocabulary import PRIORITIES

#: Default ticket SLA in minutes (DOMAIN.md §1): response = dispatch, resolution = resolved.
DEFAULT_SLA: dict[str, dict[str, int]] = {
    "response": {"urgent": 15, "high": 30, "normal": 120, "low": 24 * 60},
    "resolution": {"urgent": 4 * 60, "high": 24 * 60, "normal": 72 * 60, "low": 7 * 24 * 60},
}

#: Unreached callback attempts after which a supervisor may close with an override.
DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE = 3


def validate_sla(policy: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Return a complete SLA table, or raise ValueError naming the missing entry."""
    out: dict[str, dict[str, int]] = {}
    for phase in ("response", "resolution"):
        table = policy.get(phase)
        if not isinstance(table, dict):
            raise ValueError(f"SLA policy lacks '{phase}'")
        out[phase] = {}
        for prio in PRIORITIES:
            minutes = table.get(prio)
            if not isinstance(minutes, int) or minutes <= 0:
                raise ValueError(f"SLA policy {phase}.{prio} must be a positive number of minutes")
            out[phase][prio] = minutes
    return out


# -- the service centre's day (issue #16): field steps, calendars, escalation, callbacks --
#: When the response SLA ends: at the first dispatch (the default) or at arrival on site.
RESPONSE_ENDS = ("dispatch", "arrival")
#: Callback (回访) due within this many minutes of the resolution that stands.
DEFAULT_CALLBACK_MINUTES = 48 * 60
#: A callback with any of the three ratings below this reopens the ticket.
DEFAULT_CALLBACK_REOPEN_BELOW = 3
#: SLA escalation ladder: after a phase breaches (its due time passes undone), level N
#: is recorded `after_minutes[priority]` past the due time, to the role named.
DEFAULT_SLA_ESCALATION: tuple[dict[str, Any], ...] = (
    {"to": "supervisor", "after_minutes": {"urgent": 0, "high": 0, "normal": 0, "low": 0}},
    {
        "to": "project_manager",
        "after_minutes": {"urgent": 60, "high": 4 * 60, "normal": 24 * 60, "low": 48 * 60},
    },
)


def validate_ticket_policy(policy: dict[str, Any] | None) -> dict[str, Any]:
    """The complete ticket field policy (defaults filled in), or ValueError naming the fault.

    Keys: `response_ends` (dispatch | arrival), `callback_minutes`, `callback_reopen_below`,
    `escalation` (the ladder above), `calendars` ({name: calendar}, domain/calendars.py),
    `project_calendars` ({project code or "*": calendar name}) and `categories` (the
    two-level category taxonomy, shaped like domain/categories.py DEFAULT_TAXONOMY; the
    result holds the validated `Taxonomy`)."""
    from domain.calendars import calendar_from
    from domain.categories import DEFAULT, taxonomy_from

    policy = dict(policy or {})
    out: dict[str, Any] = {}
    ends = policy.get("response_ends", "dispatch")
    if ends not in RESPONSE_ENDS:
        raise ValueError(f"ticket policy response_ends must be one of {', '.join(RESPONSE_ENDS)}")
    out["response_ends"] = ends
    for key, default, low in (
        ("callback_minutes", DEFAULT_CALLBACK_MINUTES, 1),
        ("callback_reopen_below", DEFAULT_CALLBACK_REOPEN_BELOW, 1),
    ):
        value = policy.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"ticket policy {key} must be an integer >= {low}")
        out[key] = value
    if out["callback_reopen_below"] > 6:
        raise ValueError("ticket policy callback_reopen_below must be at most 6 (ratings are 1-5)")
    ladder = policy.get("escalation", list(DEFAULT_SLA_ESCALATION))
    if not isinstance(ladder, list):
        raise ValueError("ticket policy escalation must be a list of levels")
    levels: list[dict[str, Any]] = []
    for n, level in enumerate(ladder, start=1):
        if not isinstance(level, dict) or not isinstance(level.get("to"), str):
            raise ValueError(f"ticket policy escalation level {n} needs 'to' (a role)")
        after = level.get("after_minutes")
        if not isinstance(after, dict):
            raise ValueError(f"ticket policy escalation level {n} needs after_minutes per priority")
        table: dict[str, int] = {}
        for prio in PRIORITIES:
            m = after.get(prio)
            if not isinstance(m, int) or isinstance(m, bool) or m < 0:
                raise ValueError(
                    f"ticket policy escalation level {n} after_minutes.{prio} must be >= 0"
                )
            if levels and m < levels[-1]["after_minutes"][prio]:
                raise ValueError(
                    f"ticket policy escalation level {n} after_minutes.{prio} is below level {n - 1}'s"
                )
            table[prio] = m
        levels.append({"to": level["to"], "after_minutes": table})
    out["escalation"] = levels
    calendars = policy.get("calendars") or {}
    if not isinstance(calendars, dict):
        raise ValueError("ticket policy calendars must be an object {name: calendar}")
    out["calendars"] = {name: calendar_from(name, spec) for name, spec in calendars.items()}
    chosen = policy.get("project_calendars") or {}
    if not isinstance(chosen, dict):
        raise ValueError("ticket policy project_calendars must be an object {project: calendar}")
    for project, name in chosen.items():
        if name not in out["calendars"]:
            raise ValueError(
                f"ticket policy project_calendars.{project} names no calendar {name!r}"
            )
    out["project_calendars"] = dict(chosen)
    categories = policy.get("categories")
    try:
        out["categories"] = DEFAULT if categories is None else taxonomy_from(categories)
    except ValueError as e:
        raise ValueError(f"ticket policy categories: {e}") from None
    return out
