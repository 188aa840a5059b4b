"""Organisation: regions and projects (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import jsonable
from api.read_models import ProjectPage, RegionPage, ok
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, ShortText
from projections import org

router = APIRouter(tags=["organisation"])


class NewRegion(Body):
    code: Code
    name: ShortText


class NewProject(Body):
    code: Code
    name: ShortText
    region: Code
    households: Annotated[int, Field(ge=0, le=10_000_000)] | None = None


@router.post("/regions", status_code=201, response_model=CommandAnswer)
def register_region(
    body: NewRegion, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Register a region (city company / branch)."""
    return answer(response, app.org.register_region(call, body.code, body.name))


@router.post("/projects", status_code=201, response_model=CommandAnswer)
def register_project(
    body: NewProject, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Register a project (a managed property site) in a region."""
    return answer(
        response, app.org.register_project(call, body.code, body.name, body.region, body.households)
    )


@router.get("/regions", responses=ok(RegionPage))
def list_regions(call: QueryCall, c: Container, pos: ReadPosition) -> Any:
    """Regions."""
    rows = org.list_regions(c.pool, call.principal.scope_filter())
    return {"items": [jsonable(r) for r in rows], "next_cursor": None}


@router.get("/projects", responses=ok(ProjectPage))
def list_projects(
    call: QueryCall, c: Container, pos: ReadPosition, region: str | None = None
) -> Any:
    """Projects in the caller's scope."""
    rows = org.list_projects(c.pool, call.principal.scope_filter(), region or None)
    return {"items": [jsonable(r) for r in rows], "next_cursor": None}
