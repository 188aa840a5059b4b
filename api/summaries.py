"""One line of plain language per event, for auditors reading a history or a trail.

`PHRASES` has one entry per (issue kind, event type) of every aggregate in `domain/`;
a test walks the domain's event classes, so a new event without its phrase fails.
An event the table does not know (say, written by a newer version) still gets a
generic line built from its type and a few key fields. Personal data (a reporter, a
respondent) never enters a summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PERSONAL_KEYS = frozenset({"reporter", "respondent", "phone", "respondent_ref"})
#: Fields worth naming in a generic summary, when present.
KEY_FIELDS = (
    "number",
    "project",
    "kind",
    "severity",
    "status",
    "department",
    "assignee",
    "responsible_department",
    "responsible_person",
    "due_date",
    "new_due_date",
    "item",
    "points",
    "result",
    "score",
    "grade",
    "approved",
    "accepted",
    "effective",
    "title",
    "template_version",
    "phase",
    "rating",
    "satisfied",
)
MAX_FIELD = 60

#: (data, actor name, ": reason" or "") -> the line
Phrase = Callable[[dict[str, Any], str, str], str]


def _words(event_type: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", event_type).lower()
    return words[:1].upper() + words[1:]


def _short(value: Any, limit: int = MAX_FIELD) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _codes(values: Any) -> str:
    """A list of codes (staff skills) as `a, b`, or `none`."""
    return ", ".join(_short(v) for v in values or ()) or "none"


def _num(value: Any) -> str:
    if isinstance(value, dict):
        return str(
            value.get("number") or value.get("code") or value.get("ref") or value.get("id") or ""
        )
    return "" if value is None else str(value)


def _count(value: Any, one: str, many: str | None = None) -> str:
    n = len(value) if isinstance(value, (list, tuple, dict)) else int(value or 0)
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _source(d: dict[str, Any]) -> str:
    source = d.get("source")
    if not isinstance(source, dict):
        return ""
    kind = source.get("kind") or source.get("type") or "source"
    ref = _num(source)
    return f" from {kind} {ref}".rstrip() if ref or kind != "source" else ""


def _callback(d: dict[str, Any], who: str, because: str) -> str:
    if not d.get("reached"):
        return f"Callback by {who}: resident not reached"
    verdict = "satisfied" if d.get("satisfied") else "not satisfied"
    rating = f", rating {d['rating']}" if d.get("rating") is not None else ""
    ratings = d.get("ratings")
    if isinstance(ratings, dict) and ratings:
        rating += ", " + ", ".join(f"{k} {v}" for k, v in ratings.items())
    return f"Callback by {who}: resident {verdict}{rating}"


def _reclassified(d: dict[str, Any], who: str, because: str) -> str:
    before = d.get("previous") if isinstance(d.get("previous"), dict) else {}
    changes = [
        f"{k} {before.get(k)} → {d.get(k)}"
        for k in ("kind", "category", "priority")
        if before.get(k) != d.get(k)
    ]
    moved = (
        f"; resolution due {d.get('previous_resolution_due')} → {d.get('resolution_due')}"
        if d.get("previous_resolution_due") != d.get("resolution_due")
        else ""
    )
    return (
        f"Reclassified by {who}: {_short(', '.join(changes) or 'no change', 120)}{moved}{because}"
    )


def _hours(seconds: Any) -> str:
    try:
        return f"{float(seconds) / 3600:.2f} h"
    except (TypeError, ValueError):
        return "?"


def _transferred(d: dict[str, Any], who: str, because: str) -> str:
    to = f"{d.get('department')}" + (f" / {d['assignee']}" if d.get("assignee") else "")
    return (
        f"Transferred from {d.get('from_department') or 'no department'} to {to} by {who}{because}"
    )


def _scored(verb: str) -> Phrase:
    def phrase(d: dict[str, Any], who: str, because: str) -> str:
        finding = f": {_short(d['finding'])}" if d.get("finding") else ""
        return f"{verb} item {d.get('item')} {d.get('result')} ({d.get('points')} points) by {who}{finding or because}"

    return phrase


def _graded(d: dict[str, Any]) -> str:
    return f"score {d.get('score')}, grade {d.get('grade')}"


def _appeal_decided(d: dict[str, Any], who: str, because: str) -> str:
    items = ", ".join(str(a.get("item")) for a in d.get("adjustments") or [] if isinstance(a, dict))
    verdict = f"accepted ({items})" if d.get("accepted") else "rejected"
    return f"Appeal {verdict} by {who}, now {_graded(d)}{because}"


def _verified(d: dict[str, Any], who: str, because: str) -> str:
    links = d.get("links") or []
    by = f" by re-inspection {_num(links[0])}" if links and isinstance(links[0], dict) else ""
    verdict = "effective" if d.get("effective") else "not effective"
    notes = f": {_short(d['notes'], 120)}" if d.get("notes") else because
    return f"Verified {verdict}{by} by {who}{notes}"


def _response(d: dict[str, Any], who: str, because: str) -> str:
    nc = d.get("nonconformance")
    raised = f", raised improvement action {_num(nc)}" if nc else ""
    complaint = ", complaint" if d.get("complaint") else ""
    return (
        f"Response recorded for {d.get('campaign_number')} ({d.get('project')}, {d.get('segment')},"
        f" {d.get('method')}{complaint}){raised} by {who}"
    )


PHRASES: dict[tuple[str, str], Phrase] = {
    # -- tickets -------------------------------------------------------------------------
    ("ticket", "Received"): lambda d, who, because: (
        f"Received {d.get('kind', '')} ticket {d.get('number', '')} via {d.get('channel', '')}"
        f" ({d.get('priority', '')} priority, {d.get('category', '')}) at {d.get('project', '')} by {who}"
    ),
    ("ticket", "Dispatched"): lambda d, who, because: (
        f"Dispatched to {d.get('department')} / {d.get('assignee')} by {who}"
    ),
    ("ticket", "Accepted"): lambda d, who, because: f"Accepted by {who}",
    ("ticket", "Transferred"): _transferred,
    ("ticket", "NoteAdded"): lambda d, who, because: (
        f"Note by {who}: {_short(d.get('text', ''), 120)}"
    ),
    ("ticket", "Resolved"): lambda d, who, because: (
        f"Resolved by {who}: {_short(d.get('resolution', ''), 120)}"
    ),
    ("ticket", "CallbackRecorded"): _callback,
    ("ticket", "Reopened"): lambda d, who, because: (
        f"Reopened automatically after a callback recorded by {who}{because}"
        if d.get("automatic")
        else f"Reopened by {who}{because}"
    ),
    ("ticket", "Closed"): lambda d, who, because: (
        f"Closed by override by {who}{because}" if d.get("override") else f"Closed by {who}"
    ),
    ("ticket", "Cancelled"): lambda d, who, because: f"Cancelled by {who}{because}",
    ("ticket", "Escalated"): lambda d, who, because: (
        f"Escalated to the quality department as nonconformance {d.get('nonconformance_number')}"
        f" ({d.get('severity')}) by {who}{because}"
    ),
    ("ticket", "SlaBreached"): lambda d, who, because: (
        f"{str(d.get('phase', '')).capitalize()} SLA breached (was due {d.get('due_at')}), recorded by {who}"
    ),
    # the field steps (issue #16)
    ("ticket", "Arrived"): lambda d, who, because: f"Arrived on site: {who}",
    ("ticket", "PutOnHold"): lambda d, who, because: (
        f"Put on hold by {who}{because}; the resolution clock pauses"
    ),
    ("ticket", "Resumed"): lambda d, who, because: (
        f"Resumed by {who}{because} after {_hours(d.get('paused_seconds'))} on hold;"
        f" resolution now due {d.get('resolution_due')}"
    ),
    ("ticket", "Reclassified"): _reclassified,
    ("ticket", "Rejected"): lambda d, who, because: (
        f"Rejected back to dispatch (拒单) by {who}{because}"
    ),
    ("ticket", "SlaEscalated"): lambda d, who, because: (
        f"{str(d.get('phase', '')).capitalize()} SLA breach escalated (level {d.get('level')})"
        f" to the {d.get('to')}, was due {d.get('due_at')}, recorded by {who}"
    ),
    # -- checklist templates ---------------------------------------------------------------
    ("checklist_template", "Drafted"): lambda d, who, because: (
        f'Drafted checklist template {d.get("number")} "{_short(d.get("name"))}"'
        f" ({_count(d.get('sections'), 'section')}) by {who}"
    ),
    ("checklist_template", "Revised"): lambda d, who, because: (
        f'Revised draft "{_short(d.get("name"))}" ({_count(d.get("sections"), "section")},'
        f" based on version {d.get('based_on_version')}) by {who}{because}"
    ),
    ("checklist_template", "Published"): lambda d, who, because: (
        f'Published version {d.get("template_version")} of "{_short(d.get("name"))}" by {who}'
    ),
    # -- inspections -----------------------------------------------------------------------
    ("inspection", "Scheduled"): lambda d, who, because: (
        f"Scheduled {d.get('kind')} inspection {d.get('number')} of {d.get('project')} for {d.get('planned_for')}"
        f" with template {d.get('template_number')} v{d.get('template_version')}"
        + (f", re-inspecting {_num(d['reinspection_of'])}" if d.get("reinspection_of") else "")
        + f" by {who}"
    ),
    ("inspection", "Started"): lambda d, who, because: f"Inspection started by {who}",
    ("inspection", "ItemScored"): _scored("Scored"),
    ("inspection", "ItemRescored"): _scored("Rescored"),
    ("inspection", "Submitted"): lambda d, who, because: (
        f"Submitted by {who}: {_graded(d)}, {_count(d.get('failed_items'), 'failed item')}"
        + (f", {_count(d.get('links'), 'nonconformance')} raised" if d.get("links") else "")
    ),
    ("inspection", "Appealed"): lambda d, who, because: (
        f"Appealed {_count(d.get('items'), 'item')} by {who}{because}"
    ),
    ("inspection", "AppealDecided"): _appeal_decided,
    ("inspection", "Finalized"): lambda d, who, because: f"Finalized by {who}: {_graded(d)}",
    ("inspection", "Cancelled"): lambda d, who, because: f"Inspection cancelled by {who}{because}",
    # -- nonconformances -------------------------------------------------------------------
    ("nonconformance", "Raised"): lambda d, who, because: (
        f"Raised {d.get('severity')} nonconformance {d.get('number')}{_source(d)} at {d.get('project')}"
        f" for {d.get('department')} by {who}: {_short(d.get('description'), 80)}"
    ),
    ("nonconformance", "RecurrenceMarked"): lambda d, who, because: (
        f"Marked a recurrence of {_num(d.get('recurrence_of'))} by {who}"
    ),
    ("nonconformance", "NoticeIssued"): lambda d, who, because: (
        f"Rectification notice {d.get('notice_no')} to {d.get('responsible_department')} /"
        f" {d.get('responsible_person')}, due {d.get('due_date')}"
        + (
            f", escalated to {d.get('escalation_level')}"
            if d.get("escalation_level") not in (None, "project")
            else ""
        )
        + (", deduction flagged" if d.get("deduction") else "")
        + f", by {who}"
    ),
    ("nonconformance", "RootCauseAnalysed"): lambda d, who, because: (
        f"Root cause by {who}: {_short(d.get('analysis'), 120)}"
    ),
    ("nonconformance", "PlanSubmitted"): lambda d, who, because: (
        f"Plan submitted by {who}: {_count(d.get('corrective_actions'), 'corrective action')},"
        f" {_count(d.get('preventive_actions'), 'preventive action')}"
    ),
    ("nonconformance", "PlanApproved"): lambda d, who, because: f"Plan approved by {who}{because}",
    ("nonconformance", "PlanSentBack"): lambda d, who, because: f"Plan sent back by {who}{because}",
    ("nonconformance", "RectificationReported"): lambda d, who, because: (
        f"Rectification reported by {who}: {_short(d.get('summary'), 100)}"
        + (f" ({_count(d.get('evidence'), 'evidence file')})" if d.get("evidence") else "")
    ),
    ("nonconformance", "Verified"): _verified,
    ("nonconformance", "Closed"): lambda d, who, because: (
        f"Closed {'on time' if d.get('on_time') else 'late'} by {who}"
    ),
    ("nonconformance", "ExtensionRequested"): lambda d, who, because: (
        f"Extension to {d.get('new_due_date')} requested by {who}{because}"
    ),
    ("nonconformance", "ExtensionApproved"): lambda d, who, because: (
        f"Extension approved by {who}: due {d.get('previous_due_date')} → {d.get('due_date')}{because}"
    ),
    ("nonconformance", "ExtensionRejected"): lambda d, who, because: (
        f"Extension rejected by {who}{because}"
    ),
    ("nonconformance", "Overdue"): lambda d, who, because: (
        f"Overdue: not rectified by {d.get('due_date')} (recorded by {who})"
    ),
    ("nonconformance", "DispositionDecided"): lambda d, who, because: (
        f"Disposition {d.get('disposition')} decided by {who}"
        + (f": {_short(d['notes'], 100)}" if d.get("notes") else because)
    ),
    ("nonconformance", "Cancelled"): lambda d, who, because: f"Cancelled by {who}{because}",
    # -- survey campaigns and responses ----------------------------------------------------
    ("survey", "Drafted"): lambda d, who, because: (
        f'Drafted {d.get("party")} survey {d.get("number")} "{_short(d.get("title"))}" for'
        f" {', '.join(map(str, d.get('projects') or []))} ({_count(d.get('questions'), 'question')}) by {who}"
    ),
    ("survey", "Revised"): lambda d, who, because: (
        f"Revised ({', '.join(sorted(map(str, d.get('changes') or {}))) or 'no fields'}) by {who}"
    ),
    ("survey", "Submitted"): lambda d, who, because: f"Submitted for approval by {who}",
    ("survey", "Approved"): lambda d, who, because: f"Approved by {who}{because}",
    ("survey", "Rejected"): lambda d, who, because: f"Rejected by {who}{because}",
    ("survey", "Opened"): lambda d, who, because: f"Opened for responses by {who}",
    ("survey", "ResponsesImported"): lambda d, who, because: (
        f"Imported {d.get('recorded')} of {d.get('rows')} responses ({d.get('duplicates') or 0} duplicates,"
        f" {d.get('nonconformances') or 0} improvement actions) by {who}"
    ),
    ("survey", "Closed"): lambda d, who, because: f"Closed to responses by {who}",
    ("survey", "Published"): lambda d, who, because: (
        "Results published"
        + (
            f": CSI {d['results'].get('csi')}, CLI {d['results'].get('cli')}, n {d['results'].get('n')}"
            if isinstance(d.get("results"), dict)
            else ""
        )
        + f" by {who}"
    ),
    ("survey_response", "Recorded"): _response,
    ("survey_response", "Acknowledged"): lambda d, who, because: f"Response acknowledged by {who}",
    ("survey_response", "Invalidated"): lambda d, who, because: (
        f"Response invalidated by {who}{because}"
    ),
    # -- organisation ----------------------------------------------------------------------
    ("region", "Registered"): lambda d, who, because: (
        f"Registered region {d.get('code')} {d.get('name')} by {who}"
    ),
    ("project", "Registered"): lambda d, who, because: (
        f"Registered project {d.get('code')} {d.get('name')} in region {d.get('region')}"
        + (f" ({d['households']} households)" if d.get("households") else "")
        + f" by {who}"
    ),
    # -- early warnings (docs/warnings.md) ---------------------------------------------------
    ("warning", "WarningRaised"): lambda d, who, because: (
        f"Warning {d.get('number', '')} raised by {who}: {_short(d.get('message', ''), 160)}"
    ),
    ("warning", "WarningAcknowledged"): lambda d, who, because: (
        f"Acknowledged by {who}"
        + (f": {_short(d['note'], 120)}" if isinstance(d.get("note"), str) else "")
    ),
    ("warning", "WarningResolved"): lambda d, who, because: (
        f"Resolved by {who}: {_short(d.get('note', ''), 120)}"
    ),
    # -- circulars 全公司通报 (docs/notifications.md) ----------------------------------------
    ("circular", "Raised"): lambda d, who, because: (
        f"Circular {d.get('number', '')} raised"
        + (" automatically (re-check failed)" if d.get("origin") == "automatic" else "")
        + f" by {who}: {_short(d.get('title') or '', 120)}"
    ),
    ("circular", "Read"): lambda d, who, because: f"Read by {who}",
    # -- loop (issue #15): plans, missed inspections, deductions, assessments ----------------
    ("inspection", "Planned"): lambda d, who, because: (
        f"Planned by {_num(d.get('plan'))} ({d.get('occurrence')}), due {d.get('due_at')}, by {who}"
    ),
    ("inspection", "InspectionMissed"): lambda d, who, because: (
        f"Missed: not submitted by {d.get('due_at')} (recorded by {who})"
    ),
    ("nonconformance", "DeductionRecorded"): lambda d, who, because: (
        f"Deduction of {d.get('points')} points ({d.get('rule')}) for {d.get('project')}'s next"
        f" assessment, by {who}"
    ),
    ("inspection_plan", "Adopted"): lambda d, who, because: (
        f"Plan {d.get('number')} of {d.get('kind')} inspections ({_recurrence(d)}) from"
        f" {d.get('start_month')} for {d.get('months')} months:"
        f" {_count(d.get('occurrences'), 'inspection')} scheduled by {who}"
    ),
    ("inspection_plan", "Withdrawn"): lambda d, who, because: f"Plan withdrawn by {who}{because}",
    ("assessment", "Drafted"): lambda d, who, because: (
        f"Closed {d.get('period')} of {d.get('project')} as {d.get('number')}:"
        f" {_graded(d.get('result') if isinstance(d.get('result'), dict) else {})},"
        f" {_count(d.get('inputs'), 'input')}, {_count(d.get('deductions'), 'deduction')}, by {who}"
    ),
    ("assessment", "Reviewed"): lambda d, who, because: f"Assessment reviewed by {who}",
    ("assessment", "Approved"): lambda d, who, because: f"Assessment approved by {who}",
    ("assessment", "Published"): lambda d, who, because: f"Assessment published by {who}",
    ("assessment", "Appealed"): lambda d, who, because: (
        f"Appealed to the general manager by {who}{because}"
    ),
    # -- staff and skills (dispatch suggestions, issue #16 item 6) ---------------------------
    ("staff", "Registered"): lambda d, who, because: (
        f"Registered staff member {d.get('number')} {d.get('name')} in {d.get('department')}"
        f" at {d.get('project')}, skills {_codes(d.get('skills'))}, by {who}"
    ),
    ("staff", "SkillsChanged"): lambda d, who, because: (
        f"Skills set to {_codes(d.get('skills'))} (were {_codes(d.get('previous'))}) by {who}"
    ),
    ("staff", "Moved"): lambda d, who, because: (
        f"Moved to {d.get('department')} at {d.get('project')} (was {d.get('previous_department')}"
        f" at {d.get('previous_project')}) by {who}{because}"
    ),
    ("staff", "Left"): lambda d, who, because: f"Left the staff by {who}{because}",
    ("staff", "Rejoined"): lambda d, who, because: (
        f"Rejoined in {d.get('department')} at {d.get('project')} by {who}{because}"
    ),
    ("assessment", "AppealDecided"): lambda d, who, because: (
        f"Appeal {'accepted' if d.get('accepted') else 'rejected'} (final) by {who}"
        + (
            f": {_graded(d['result'])}"
            if d.get("accepted") and isinstance(d.get("result"), dict)
            else ""
        )
        + because
    ),
}


def _recurrence(d: dict[str, Any]) -> str:
    r = d.get("recurrence") if isinstance(d.get("recurrence"), dict) else {}
    extra = r.get("by_day") or r.get("per_month")
    return f"{r.get('type') or 'recurrence'}{f' {extra}' if extra else ''}"


def _generic(
    kind: str, etype: str, data: dict[str, Any], actor: str, reason: str | None, version: int
) -> str:
    parts: list[str] = []
    if version == 1:
        head = f"{_words(etype)} {kind.replace('_', ' ')} {data.get('number') or data.get('code') or ''}".rstrip()
    else:
        head = _words(etype)
    for key in KEY_FIELDS:
        if key == "number" and version == 1:
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


def summarize(
    kind: str,
    event_type: str,
    data: dict[str, Any],
    actor_name: str,
    reason: str | None,
    version: int,
) -> str:
    """A one-line human summary of one event of an issue of `kind`."""
    phrase = PHRASES.get((kind, event_type))
    if phrase is not None:
        try:
            line = phrase(data, actor_name, f": {_short(reason, 120)}" if reason else "")
        except (AttributeError, TypeError, ValueError, KeyError):  # an older event shape
            line = ""
        if line:
            return " ".join(line.split()) + _attached(data)
    return _generic(kind, event_type, data, actor_name, reason, version) + _attached(data)


def _attached(data: dict[str, Any]) -> str:
    """` · 2 files attached` when the event names evidence files (docs/attachments.md)."""
    files = data.get("attachments")
    if not isinstance(files, list) or not files:
        return ""
    return f" · {len(files)} file{'s' if len(files) > 1 else ''} attached"
