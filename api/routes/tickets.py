"""Tickets: customer requests and complaints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import after_of, page_answer, require
from api.presenters import ticket_view
from api.read_models import TicketPage, TicketView, ok
from api.responses import answer, json_response
from api.schemas import Attachments, Body, Code, CommandAnswer, Empty, Reason, ShortText, Text
from domain.vocabulary import CHANNELS, DEPARTMENTS, PRIORITIES, SEVERITIES, TICKET_KINDS
from projections import tickets as ticket_list

router = APIRouter(prefix="/tickets", tags=["tickets"])

Kind = Literal[TICKET_KINDS]
Channel = Literal[CHANNELS]
Priority = Literal[PRIORITIES]
Department = Literal[DEPARTMENTS]
Severity = Literal[SEVERITIES]


class Reporter(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    unit: Annotated[str, Field(min_length=1, max_length=100)]
    phone: Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9+\-() ]+$")]


class ReceiveTicket(Body):
    project: Code
    kind: Kind
    channel: Channel
    priority: Priority
    category: ShortText
    description: Text
    reporter: Reporter
    #: "Before" photos taken when the request came in (docs/attachments.md).
    attachments: Attachments | None = None


class Dispatch(Body):
    department: Department
    assignee: ShortText


class Transfer(Body):
    department: Department
    assignee: ShortText | None = None
    reason: Text


class Note(Body):
    text: Text


class Resolve(Body):
    resolution: Text
    #: "After" photos (docs/attachments.md).
    attachments: Attachments | None = None


class CallbackRatings(Body):
    speed: Annotated[int, Field(ge=1, le=5)]
    quality: Annotated[int, Field(ge=1, le=5)]
    attitude: Annotated[int, Field(ge=1, le=5)]


class Callback(Body):
    reached: bool
    satisfied: bool | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    comment: Text | None = None
    #: The three ratings (issue #16): 及时性, 质量, 态度, each 1-5.
    ratings: CallbackRatings | None = None


class Close(Body):
    override_reason: Text | None = None


class Escalate(Body):
    reason: Text
    severity: Severity


@router.post("", status_code=201, response_model=CommandAnswer)
def receive(body: ReceiveTicket, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Receive a ticket at the customer service centre."""
    return answer(response, app.tickets.receive(call, **body.model_dump()))


@router.post("/{ref}/dispatch", response_model=CommandAnswer)
def dispatch(
    ref: str, body: Dispatch, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Dispatch to a department and assignee."""
    return answer(response, app.tickets.dispatch(call, ref, body.department, body.assignee))


@router.post("/{ref}/accept", response_model=CommandAnswer)
def accept(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Empty | None = None
) -> Any:
    """The assignee accepts the work."""
    return answer(response, app.tickets.accept(call, ref))


@router.post("/{ref}/transfer", response_model=CommandAnswer)
def transfer(
    ref: str, body: Transfer, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Transfer to another department, with a reason."""
    return answer(
        response, app.tickets.transfer(call, ref, body.department, body.assignee, body.reason)
    )


@router.post("/{ref}/notes", response_model=CommandAnswer)
def note(ref: str, body: Note, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Add a note (any time)."""
    return answer(response, app.tickets.note(call, ref, body.text))


@router.post("/{ref}/resolve", response_model=CommandAnswer)
def resolve(
    ref: str, body: Resolve, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Record what was done."""
    return answer(response, app.tickets.resolve(call, ref, body.resolution, body.attachments))


@router.post("/{ref}/callback", response_model=CommandAnswer)
def callback(
    ref: str, body: Callback, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Record a callback (回访); an unsatisfied one reopens the ticket."""
    return answer(
        response,
        app.tickets.callback(
            call,
            ref,
            body.reached,
            body.satisfied,
            body.rating,
            body.comment,
            body.ratings.model_dump() if body.ratings else None,
        ),
    )


@router.post("/{ref}/reopen", response_model=CommandAnswer)
def reopen(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Reopen with a reason."""
    return answer(response, app.tickets.reopen(call, ref, body.reason))


@router.post("/{ref}/close", response_model=CommandAnswer)
def close(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Close | None = None
) -> Any:
    """Close after a satisfied callback, or by a supervisor's override."""
    return answer(response, app.tickets.close(call, ref, body.override_reason if body else None))


@router.post("/{ref}/cancel", response_model=CommandAnswer)
def cancel(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Cancel (duplicate, invalid) with a reason."""
    return answer(response, app.tickets.cancel(call, ref, body.reason))


@router.post("/{ref}/escalate", response_model=CommandAnswer)
def escalate(
    ref: str, body: Escalate, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Escalate to the quality department, which raises a linked nonconformance."""
    return answer(response, app.tickets.escalate(call, ref, body.reason, body.severity))


@router.get("", responses=ok(TicketPage))
def list_tickets(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    project: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    priority: str | None = None,
    department: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """List tickets in the caller's scope (no personal data)."""
    filters = {
        "project": project,
        "status": status,
        "kind": kind,
        "priority": priority,
        "department": department,
    }
    require(call, "ticket.read")
    page = ticket_list.list_tickets(
        c.pool, call.principal.scope_filter(), filters, limit, after_of(cursor)
    )
    return page_answer(page, "received_at")


@router.get("/{ref}", responses=ok(TicketView))
def get_ticket(
    ref: str, call: QueryCall, app: QualtraceApp, pos: ReadPosition, response: Response
) -> Any:
    """One ticket, with personal data masked unless the caller may see it."""
    ticket = app.tickets.get(call, ref)
    response.headers["ETag"] = f'"{ticket.version}"'
    return json_response(response, ticket_view(ticket, call.principal, app))
