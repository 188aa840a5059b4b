"""Organisation: regions and projects (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import jsonable, scope_clause
from api.read_models import ProjectPage, RegionPage, ok
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, ShortText

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
    projects, region = call.principal.scope_filter()
    with c.pool.connection() as conn, conn.cursor() as cur:
        from psycopg.rows import dict_row

        cur.row_factory = dict_row  # type: ignore[assignment]
        if projects is None and region is None:
            cur.execute("SELECT code, name, id, registered_at FROM qt_read.regions ORDER BY code")
        else:
            cur.execute(
                "SELECT r.code, r.name, r.id, r.registered_at FROM qt_read.regions r WHERE r.code = %s"
                " OR r.code IN (SELECT region FROM qt_read.projects WHERE code = ANY(%s)) ORDER BY code",
                (region, list(projects or [])),
            )
        return {"items": [jsonable(r) for r in cur.fetchall()], "next_cursor": None}


@router.get("/projects", responses=ok(ProjectPage))
def list_projects(
    call: QueryCall, c: Container, pos: ReadPosition, region: str | None = None
) -> Any:
    """Projects in the caller's scope."""
    where, params = scope_clause(call, "code", "region")
    from psycopg import sql
    from psycopg.rows import dict_row

    query = sql.SQL(
        "SELECT code, name, region, households, id, registered_at FROM qt_read.projects WHERE {}"
    ).format(where)
    if region:
        query += sql.SQL(" AND region = %s")
        params.append(region)
    query += sql.SQL(" ORDER BY code")
    with c.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return {"items": [jsonable(r) for r in cur.fetchall()], "next_cursor": None}
