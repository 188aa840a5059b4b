"""Turning aggregates into response bodies, with personal data masked by role."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from api.middleware import correlation_id_var
from api.steps import step_paths
from application.security import UNMASKED_ROLES, Principal


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    if len(digits) <= 7:
        return digits[:1] + "*" * max(len(digits) - 2, 1) + digits[-1:]
    return digits[:3] + "****" + digits[-4:]


def mask_name(name: str) -> str:
    name = name.strip()
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def may_see_personal_data(principal: Principal, assignee: str | None) -> bool:
    return principal.role in UNMASKED_ROLES or (
        principal.role == "staff" and assignee is not None and assignee == principal.id
    )


def masked_reporter(reporter: dict[str, str]) -> dict[str, str]:
    return {
        "name": mask_name(reporter.get("name", "")),
        "unit": reporter.get("unit", ""),
        "phone": mask_phone(reporter.get("phone", "")),
    }


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def aggregate_view(agg: Any) -> dict[str, Any]:
    """Every public attribute of an aggregate, JSON-ready."""
    out: dict[str, Any] = {"id": str(agg.id), "version": agg.version}
    for key, value in vars(agg).items():
        if key.startswith("_"):
            continue
        out[key] = plain(value)
    out["created_at"] = plain(agg.created_on)
    out["updated_at"] = plain(agg.modified_on)
    out["allowed_steps"] = step_paths(agg.allowed_steps())
    return out


def attachment_refs(app: Any, agg: Any) -> list[dict[str, Any]]:
    """attach: the evidence files the issue's steps named up to its version (the live one,
    or an as-of one), oldest first, with their URLs."""
    files = getattr(app, "attachments", None)
    rows = files.of_issues([agg.id], agg.version) if files is not None else []
    return [
        {
            "digest": r["digest"],
            "media_type": r["media_type"],
            "size": int(r["size"]),
            "step": r["step"],
            "version": int(r["version"]),
            "position": int(r["position"]),
            "url": f"/attachments/{r['digest']}",
            "thumbnail_url": f"/attachments/{r['digest']}/thumbnail"
            if str(r["media_type"]).startswith("image/")
            else None,
        }
        for r in rows
    ]


def shows_personal_data(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("reporter"), dict)


def record_unmasked_read(
    app: Any,
    principal: Principal,
    issue_id: Any,
    kind: str | None,
    number: str | None,
    project: str | None,
    via: str,
) -> None:
    """Record that `principal` was shown an issue's personal data unmasked in a view other
    than the issue's own `GET` (the audit trail, an audit pack)."""
    reads = getattr(app, "personal_data", None)
    if reads is not None:
        issue = SimpleNamespace(id=issue_id, KIND=kind or "issue", number=number, project=project)
        reads.record_read(principal, issue, correlation_id=current_correlation_id(), via=via)


def ticket_view(ticket: Any, principal: Principal, app: Any) -> dict[str, Any]:
    out = aggregate_view(ticket)
    out["attachments"] = attachment_refs(app, ticket)
    # The SLA as it stands (issue #16): due times, pauses, levels, due-time history.
    service = getattr(app, "service", None)
    if service is not None and hasattr(ticket, "sla_figures"):
        out["sla"] = plain(ticket.sla_figures(service.clock()))
    # The category as the taxonomy in force classifies it (docs/complaints.md).
    taxonomy = getattr(getattr(app, "tickets", None), "taxonomy", None)
    if taxonomy is not None:
        c = taxonomy.classify(ticket.category)
        out["category_class"] = {
            "l1": c.l1,
            "l1_name": c.l1_name,
            "l2": c.l2,
            "l2_name": c.l2_name,
            "code": c.code,
            "path": c.path,
            "known": c.known,
        }
    if may_see_personal_data(principal, ticket.assignee):
        out["personal_data"] = "unmasked"
        reads = getattr(app, "personal_data", None)
        if reads is not None:
            reads.record_read(
                principal, ticket, correlation_id=current_correlation_id(), via="GET /tickets/{id}"
            )
    else:
        out["reporter"] = masked_reporter(ticket.reporter)
        out["personal_data"] = "masked"
    return out
