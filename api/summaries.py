"""One line of plain language per event, for auditors reading a history or a trail.

Ticket events have their own phrasing; every other kind gets a generic line built from
the event type, a few key fields and the actor — so a new aggregate needs nothing here.
Personal data (the reporter) never enters a summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PERSONAL_KEYS = frozenset({"reporter", "respondent", "phone", "respondent_ref"})
#: Fields worth naming first in a generic summary, when present.
KEY_FIELDS = (
    "number", "project", "kind", "severity", "status", "department", "assignee",
    "responsible_department", "responsible_person", "due_date", "new_due_date", "item",
    "points", "result", "score", "grade", "approved", "accepted", "effective", "title",
    "template_version", "phase", "rating", "satisfied",
)
MAX_FIELD = 60


def _words(event_type: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", event_type).lower()
    return words[:1].upper() + words[1:]


def _short(value: Any, limit: int = MAX_FIELD) -> str:
    text = str(value).replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("number") or value.get("code") or value.get("id") or "")
    return str(value)


def _generic(kind: str, etype: str, data: dict[str, Any], actor: str, reason: str | None, version: int) -> str:
    parts: list[str] = []
    if version == 1:
        head = f"{_words(etype)} {kind.replace('_', ' ')} {data.get('number') or data.get('code') or ''}".rstrip()
        source = data.get("source")
        if isinstance(source, dict) and (source.get("number") or source.get("type")):
            parts.append(f"from {source.get('type') or source.get('kind') or 'source'} {source.get('number') or source.get('ref') or ''}".rstrip())
    else:
        head = _words(etype)
    for key in KEY_FIELDS:
        if key in ("number",) and version == 1:
            continue
        value = data.get(key)
        if value is None or key in PERSONAL_KEYS or isinstance(value, (dict, list)):
            continue
        parts.append(f"{key.replace('_', ' ')} {_short(value)}")
        if len(parts) >= 4:
            break
    line = head + (f" ({', '.join(parts)})" if parts else "") + f" by {actor}"
    if reason:
        line += f": {_short(reason, 120)}"
    return line


def _ticket(etype: str, d: dict[str, Any], actor: str, reason: str | None) -> str | None:
    because = f": {_short(reason, 120)}" if reason else ""
    if etype == "Received":
        return (f"Received {d.get('kind', '')} ticket {d.get('number', '')} via {d.get('channel', '')}"
                f" ({d.get('priority', '')} priority, {d.get('category', '')}) at {d.get('project', '')} by {actor}")
    if etype == "Dispatched":
        return f"Dispatched to {d.get('department')} / {d.get('assignee')} by {actor}"
    if etype == "Accepted":
        return f"Accepted by {actor}"
    if etype == "Transferred":
        to = f"{d.get('department')}" + (f" / {d['assignee']}" if d.get("assignee") else "")
        return f"Transferred from {d.get('from_department') or 'no department'} to {to} by {actor}{because}"
    if etype == "NoteAdded":
        return f"Note by {actor}: {_short(d.get('text', ''), 120)}"
    if etype == "Resolved":
        return f"Resolved by {actor}: {_short(d.get('resolution', ''), 120)}"
    if etype == "CallbackRecorded":
        if not d.get("reached"):
            return f"Callback by {actor}: resident not reached"
        verdict = "satisfied" if d.get("satisfied") else "not satisfied"
        rating = f", rating {d['rating']}" if d.get("rating") is not None else ""
        return f"Callback by {actor}: resident {verdict}{rating}"
    if etype == "Reopened":
        if d.get("automatic"):
            return f"Reopened automatically after an unsatisfied callback recorded by {actor}"
        return f"Reopened by {actor}{because}"
    if etype == "Closed":
        return f"Closed by override by {actor}{because}" if d.get("override") else f"Closed by {actor}"
    if etype == "Cancelled":
        return f"Cancelled by {actor}{because}"
    if etype == "Escalated":
        return (f"Escalated to the quality department as nonconformance {d.get('nonconformance_number')}"
                f" ({d.get('severity')}) by {actor}{because}")
    if etype == "SlaBreached":
        return f"{str(d.get('phase', '')).capitalize()} SLA breached (was due {d.get('due_at')})"
    return None


SPECIFIC: dict[str, Callable[[str, dict[str, Any], str, str | None], str | None]] = {"ticket": _ticket}


def summarize(kind: str, event_type: str, data: dict[str, Any], actor_name: str, reason: str | None, version: int) -> str:
    """A one-line human summary of one event of an issue of `kind`."""
    specific = SPECIFIC.get(kind)
    line = specific(event_type, data, actor_name, reason) if specific else None
    return line or _generic(kind, event_type, data, actor_name, reason, version)
