"""Telling people (docs/notifications.md): the caller's notifications, company-wide
circulars (全公司通报) with read receipts, and webhook subscriptions (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CommandCall, Container, QualtraceApp, QueryCall, ReadPosition
from api.listing import decode_cursor, encode_cursor, jsonable, require
from api.responses import answer
from api.schemas import Body, Code, CommandAnswer, ShortText
from application.security import can
from projections.circulars import list_circulars

router = APIRouter(tags=["notifications"])

Limit = Annotated[int, Query(ge=1, le=500)]


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class NotificationPage(Page):
    unread: int = Field(description="the caller's unread notifications in all")


def _before(cursor: str | None) -> int | None:
    if not cursor:
        return None
    value = decode_cursor(cursor)[0]
    return int(value) if isinstance(value, int) else None


def _page(rows: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor([rows[-1][key], str(rows[-1]["id"])]) if more and rows else None
    return {"items": [jsonable(r) for r in rows], "next_cursor": cursor}


# -- the caller's notifications ------------------------------------------------------------
@router.get("/me/notifications", response_model=NotificationPage)
def my_notifications(
    call: QueryCall,
    app: QualtraceApp,
    pos: ReadPosition,
    unread: bool | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Any:
    """The caller's notifications, newest first (`unread=true`: only those not read yet)."""
    rows = app.inbox.list(call, unread, limit, _before(cursor))
    return {**_page(rows, limit, "id"), "unread": app.inbox.unread_count(call)}


@router.post("/me/notifications/{ref}/read")
def read_notification(ref: str, call: CommandCall, app: QualtraceApp) -> Any:
    """Mark one of the caller's notifications read (repeatable; the first read's time stays)."""
    return jsonable(app.inbox.mark_read(call, ref))


# -- circulars ---------------------------------------------------------------------------------
class NewCircular(Body):
    title: ShortText
    text: Annotated[str, Field(min_length=1, max_length=8000)]
    project: Code | None = Field(default=None, description="the project it concerns, if one")


@router.post("/circulars", status_code=201, response_model=CommandAnswer)
def raise_circular(
    body: NewCircular, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Raise a company-wide circular (全公司通报, `TB-YYYY-NNNNNN`) by hand (quality manager)."""
    return answer(
        response, app.circulars.raise_(call, title=body.title, text=body.text, project=body.project)
    )


@router.get("/circulars", response_model=Page)
def get_circulars(
    call: QueryCall, c: Container, pos: ReadPosition, limit: Limit = 50, cursor: str | None = None
) -> Any:
    """Every circular, newest first, with whether the caller read it; auditors and quality
    managers also see the read receipts (who, when)."""
    require(call, "circular.read")
    receipts = can(call.principal, "circular.receipts")
    rows = list_circulars(c.pool, call.principal.id, limit, _before(cursor), receipts)
    return _page(rows, limit, "position")


@router.post("/circulars/{ref}/read", response_model=CommandAnswer)
def read_circular(ref: str, call: CommandCall, app: QualtraceApp, response: Response) -> Any:
    """Record that the caller read the circular (a receipt, once per principal)."""
    return answer(response, app.circulars.read(call, ref))


# -- webhooks (admin) ------------------------------------------------------------------------
class NewWebhook(Body):
    url: Annotated[str, Field(description="http(s), at most 2,000 characters")]
    event_types: list[Annotated[str, Field(max_length=130)]] = Field(
        default_factory=list, max_length=100, description="e.g. Ticket.Dispatched, or *"
    )
    notification_kinds: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=50, description="e.g. ticket.dispatched"
    )
    secret: str | None = Field(
        default=None, description="HMAC key, 16-200 characters (generated when omitted)"
    )


@router.post("/webhooks", status_code=201)
def register_webhook(body: NewWebhook, call: QueryCall, app: QualtraceApp, request: Request) -> Any:
    """Register a webhook subscription (admin); the answer shows its secret this once."""
    own = [str(request.base_url), *app_settings(request).public_urls]
    row = app.webhooks.register(
        call, body.url, body.event_types, body.notification_kinds, body.secret, own
    )
    return jsonable(row)


@router.get("/webhooks", response_model=Page)
def list_webhooks(call: QueryCall, app: QualtraceApp) -> Any:
    """Webhook subscriptions and how many deliveries each has per status (admin)."""
    return {"items": [jsonable(r) for r in app.webhooks.subscriptions(call)], "next_cursor": None}


@router.delete("/webhooks/{ref}")
def delete_webhook(ref: str, call: QueryCall, app: QualtraceApp) -> Any:
    """Stop a subscription (admin); its deliveries stay on record."""
    return jsonable(app.webhooks.delete(call, ref))


@router.get("/webhooks/{ref}/deliveries", response_model=Page)
def webhook_deliveries(
    ref: str,
    call: QueryCall,
    app: QualtraceApp,
    status: Literal["pending", "sent", "failed", "dead"] | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Any:
    """A subscription's deliveries, oldest first, with status and attempts (admin)."""
    after = None
    if cursor:
        value = decode_cursor(cursor)[0]
        after = int(value) if isinstance(value, int) else None
    rows = app.webhooks.deliveries(call, ref, status, limit, after)
    return _page(rows, limit, "id")


def app_settings(request: Request) -> Any:
    return request.app.state.container.settings
