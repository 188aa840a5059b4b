"""Staff of the projects' departments and their skills, and the dispatch suggestions
ranked from them (issue #16 item 6; docs/dispatch.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, page_answer, require
from api.read_models.common import ok
from api.read_models.dispatch import DispatchSuggestions, StaffPage
from api.responses import answer, json_response
from api.schemas import Body, Code, CommandAnswer, ShortText, Text
from domain.dispatch import Candidate
from domain.vocabulary import DEPARTMENTS
from projections import staff as staff_reads

router = APIRouter(tags=["staff"])

Department = Literal[DEPARTMENTS]
UserId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]
#: Category codes of the taxonomy, level 1 or 2 (checked against it: an unknown one is 422).
Skills = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=50)]


class NewStaff(Body):
    id: UserId
    name: ShortText
    project: Code
    department: Department
    skills: Skills = []


class StaffSkills(Body):
    skills: Skills


@router.post("/staff", status_code=201, response_model=CommandAnswer)
def register_staff(body: NewStaff, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Register a staff member of a project's department under their user id, with skills."""
    return answer(
        response,
        app.staff.register(call, body.id, body.name, body.project, body.department, body.skills),
    )


@router.post("/staff/{ref}/skills", response_model=CommandAnswer)
def set_staff_skills(
    ref: str, body: StaffSkills, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Replace a staff member's skills (the event keeps the previous ones)."""
    return answer(response, app.staff.set_skills(call, ref, body.skills))


class StaffMove(Body):
    project: Code
    department: Department
    reason: Text


class StaffLeave(Body):
    reason: Text


@router.post("/staff/{ref}/move", response_model=CommandAnswer)
def move_staff(
    ref: str, body: StaffMove, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """调岗: to another project or department (the event keeps where they were)."""
    return answer(response, app.staff.move(call, ref, body.project, body.department, body.reason))


@router.post("/staff/{ref}/leave", response_model=CommandAnswer)
def staff_leaves(
    ref: str, body: StaffLeave, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """离职: no longer suggested for dispatch; the record and its history stay."""
    return answer(response, app.staff.leave(call, ref, body.reason))


@router.post("/staff/{ref}/rejoin", response_model=CommandAnswer)
def staff_rejoins(
    ref: str, body: StaffMove, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Back after leaving (返聘), at a project and department, with the skills kept."""
    return answer(response, app.staff.rejoin(call, ref, body.project, body.department, body.reason))


@router.get("/staff", responses=ok(StaffPage))
def list_staff(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    department: str | None = None,
    status: Annotated[
        Literal["active", "left"] | None,
        Query(description="active (the default listing shows both) or left (离职)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Staff in the caller's scope, with their skills and status, in user-id order."""
    require(call, "staff.read")
    after = after_of(cursor)
    page = staff_reads.list_staff(
        c.pool,
        call.principal.scope_filter(),
        project,
        department,
        limit,
        str(after[0]) if after else None,
        status,
    )
    return page_answer(page, "id")


@router.get("/tickets/{ref}/dispatch-suggestions", responses=ok(DispatchSuggestions))
def dispatch_suggestions(
    ref: str,
    call: QueryCall,
    app: QualtraceApp,
    c: Container,
    pos: ReadPosition,
    response: Response,
) -> Any:
    """The project's staff ranked for this ticket by skill, open workload and recent
    resolution time, each score with its reasons; dispatching stays the caller's decision."""

    def read(project: str, since: datetime) -> list[Candidate]:
        return staff_reads.dispatch_candidates(c.pool, project, since)

    return json_response(response, app.staff.suggestions(call, ref, read))
