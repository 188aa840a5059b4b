"""Checklist templates (品质检查考核表): drafted, revised, published as versions 1, 2, …"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, page_answer, require
from api.presenters import aggregate_view
from api.read_models import TemplatePage, TemplateView, ok
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, Empty, ShortText
from projections import inspections as inspection_list

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
    require(call, "template.read")
    page = inspection_list.list_templates(c.pool, status, limit, after_of(cursor))
    return page_answer(page, "created_at")


@router.get("/{ref}", responses=ok(TemplateView))
def get_template(
    ref: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition, response: Response
) -> Any:
    """One template: the current draft or latest content, and every published version."""
    template = app.templates.get(call, ref)
    response.headers["ETag"] = f'"{template.version}"'
    return aggregate_view(template)
