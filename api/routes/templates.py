"""Checklist templates (品质检查考核表): drafted, revised, published as versions 1, 2, …"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from psycopg.rows import dict_row
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import decode_cursor, encode_cursor, jsonable
from api.read_models import TemplatePage, TemplateView, ok
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, Empty, ShortText
from api.views import aggregate_view
from application.security import can

router = APIRouter(prefix="/checklist-templates", tags=["checklist templates"])

Requirement = Annotated[str, Field(min_length=1, max_length=2000)]


class TemplateItem(Body):
    code: Code
    requirement: Requirement
    max_points: Annotated[float, Field(gt=0, le=1000)]
    critical: bool = False


class Section(Body):
    code: Code
    name: ShortText
    items: Annotated[list[TemplateItem], Field(min_length=1, max_length=500)]


class DraftTemplate(Body):
    name: ShortText
    sections: Annotated[list[Section], Field(min_length=1, max_length=100)]


class ReviseTemplate(Body):
    name: ShortText | None = None
    sections: Annotated[list[Section], Field(min_length=1, max_length=100)] | None = None


def _sections(sections: list[Section] | None) -> list[dict[str, Any]] | None:
    if sections is None:
        return None
    out = [s.model_dump() for s in sections]
    for s in out:  # whole numbers stay integers in the record
        for it in s["items"]:
            if float(it["max_points"]).is_integer():
                it["max_points"] = int(it["max_points"])
    return out


@router.post("", status_code=201, response_model=CommandAnswer)
def draft(body: DraftTemplate, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Draft a checklist template (sections and scored items)."""
    return answer(response, app.templates.draft(call, body.name, _sections(body.sections)))


@router.post("/{ref}/revise", response_model=CommandAnswer)
def revise(
    ref: str, body: ReviseTemplate, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Edit the draft; after a publication, start the next version's draft."""
    return answer(response, app.templates.revise(call, ref, body.name, _sections(body.sections)))


@router.post("/{ref}/publish", response_model=CommandAnswer)
def publish(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """Publish the draft as the next version; answers `template_version`."""
    return answer(response, app.templates.publish(call, ref))


@router.get("", responses=ok(TemplatePage))
def list_templates(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Checklist templates (company-wide), newest first."""
    if not can(call.principal, "template.read"):
        raise HTTPException(403, f"role '{call.principal.role}' may not template.read")
    clauses, params = ["TRUE"], []
    if status is not None:
        clauses.append("status = %s")
        params.append(status)
    if cursor:
        last_created, last_id = decode_cursor(cursor)
        clauses.append("(created_at, id::text) < (%s, %s)")
        params.extend([last_created, last_id])
    params.append(limit + 1)
    with c.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT * FROM qt_read.checklist_templates WHERE {' AND '.join(clauses)}"  # noqa: S608 - fixed fragments
            " ORDER BY created_at DESC, id::text DESC LIMIT %s",
            params,
        )
        rows = cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])])
    return {"items": [jsonable(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{ref}", responses=ok(TemplateView))
def get_template(
    ref: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition, response: Response
) -> Any:
    """One template: the current draft or latest content, and every published version."""
    template = app.templates.get(call, ref)
    response.headers["ETag"] = f'"{template.version}"'
    return aggregate_view(template)
