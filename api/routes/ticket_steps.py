"""The field steps of a ticket (issue #16): arrive, hold, resume, reclassify, reject."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import model_validator

from api.deps import CommandCall, QualtraceApp
from api.responses import answer
from api.schemas import Attachments, Body, CommandAnswer, Reason, ShortText, Text
from domain.vocabulary import PRIORITIES, TICKET_KINDS

router = APIRouter(prefix="/tickets", tags=["tickets"])

Kind = Literal[TICKET_KINDS]
Priority = Literal[PRIORITIES]


class Arrive(Body):
    #: "Before" photos taken on arrival (docs/attachments.md).
    attachments: Attachments | None = None


class Reclassify(Body):
    kind: Kind | None = None
    category: ShortText | None = None
    priority: Priority | None = None
    reason: Text

    @model_validator(mode="after")
    def _something(self) -> Reclassify:
        if self.kind is None and self.category is None and self.priority is None:
            raise ValueError("give at least one of kind, category, priority")
        return self


@router.post("/{ref}/arrive", response_model=CommandAnswer)
def arrive(
    ref: str, call: CommandCall, app: QualtraceApp, response: Response, body: Arrive | None = None
) -> Any:
    """到达现场: the assignee arrived on site (only the assignee; 403 for anyone else)."""
    return answer(response, app.tickets.arrive(call, ref, body.attachments if body else None))


@router.post("/{ref}/hold", response_model=CommandAnswer)
def hold(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """挂起: put on hold with a reason; the resolution clock pauses until resumed."""
    return answer(response, app.tickets.hold(call, ref, body.reason))


@router.post("/{ref}/resume", response_model=CommandAnswer)
def resume(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Resume after a hold; the resolution due time moves by the time on hold."""
    return answer(response, app.tickets.resume(call, ref, body.reason))


@router.post("/{ref}/reclassify", response_model=CommandAnswer)
def reclassify(
    ref: str, body: Reclassify, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Correct kind, category or priority with a reason; a new priority recomputes the
    SLA due times from now (the old ones are kept). The same values again: 422."""
    return answer(
        response,
        app.tickets.reclassify(call, ref, body.reason, body.kind, body.category, body.priority),
    )


@router.post("/{ref}/reject", response_model=CommandAnswer)
def reject(ref: str, body: Reason, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """拒单: the assignee hands the ticket back to dispatch, with a reason."""
    return answer(response, app.tickets.reject(call, ref, body.reason))
