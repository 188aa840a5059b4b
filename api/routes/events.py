"""The event feed for integrations: `GET /events` (JSON pages) and `GET /events/stream`
(Server-Sent Events). Each event is shown as in the audit trail (`GET /audit/events`):
scoped to the caller, personal data masked for roles that may not see it. See
docs/events-feed.md for why the feed neither skips nor repeats an event."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.audit_views import require, trail_items
from api.deps import Container, QueryCall, ReadPosition
from api.read_models import AuditTrailEvent, ok
from api.read_models.common import Open
from domain.errors import InvalidValue
from projections.feed import feed_page

router = APIRouter(tags=["events"])

#: Events per read of the stream (a page of `GET /events` is at most `limit`).
STREAM_BATCH = 200


class EventFeedPage(Open):
    items: list[AuditTrailEvent]
    next_after: int = Field(description="pass as `after` for the next page")
    safe_position: int = Field(description="the feed is final up to this store position")


def start_position(after: int | None, last_event_id: str | None) -> int:
    """Where a stream starts: after `Last-Event-ID` (a reconnect), else `after`, else 0."""
    if last_event_id is not None and last_event_id.strip() != "":
        value = last_event_id.strip()
        if not value.isdigit() or len(value) > 18:
            raise InvalidValue("Last-Event-ID", "must be a store position (a whole number >= 0)")
        return int(value)
    return after or 0


@router.get("/events", responses=ok(EventFeedPage))
def list_events(
    call: QueryCall,
    c: Container,
    pos: ReadPosition,
    after: Annotated[int, Query(ge=0, le=2**62, description="a store position")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The caller's events after the store position `after`, in position order, as the
    audit trail shows them. Follow `next_after`: no event is skipped or repeated."""
    require(call, "events.read")
    page = feed_page(c.pool, call.principal.scope_filter(), after, limit)
    return {
        "items": trail_items(c, call, page.rows, "GET /events"),
        "next_after": page.next_after,
        "safe_position": page.safe,
    }


def frame(item: dict[str, Any]) -> bytes:
    data = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return f"id: {item['position']}\nevent: {item['type']}\ndata: {data}\n\n".encode()


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def stream_events(
    request: Request,
    call: QueryCall,
    c: Container,
    after: Annotated[
        int | None, Query(ge=0, le=2**62, description="start after this position")
    ] = None,
    max_seconds: Annotated[
        float | None,
        Query(ge=0, le=86400, description="end the stream after this long (0: what is there now)"),
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-Sent Events: `id:` the store position, `event:` the event type, `data:` the
    event as in the audit trail (scoped, masked). Reconnect with `Last-Event-ID` to resume
    after the last event received; a `: heartbeat` comment is sent while nothing happens."""
    require(call, "events.read")
    position = start_position(after, last_event_id)
    scope = call.principal.scope_filter()
    heartbeat = float(c.settings.feed_heartbeat_seconds)
    watch = c.feed_watch
    ends = None if max_seconds is None else time.monotonic() + max_seconds

    async def events() -> AsyncIterator[bytes]:
        nonlocal position
        yield b"retry: 2000\n\n"
        while True:
            # One pooled connection per read, none while waiting.
            page = await run_in_threadpool(feed_page, c.pool, scope, position, STREAM_BATCH)
            if page.rows:
                items = await run_in_threadpool(
                    trail_items, c, call, page.rows, "GET /events/stream"
                )
                yield b"".join(frame(i) for i in items)
            position = page.next_after
            if page.full:
                continue
            left = None if ends is None else ends - time.monotonic()
            if left is not None and left <= 0:
                return
            if await request.is_disconnected():
                return
            wait = heartbeat if left is None else min(heartbeat, left)
            if not await watch.wait_beyond(page.safe, wait):
                if ends is None or time.monotonic() < ends:
                    yield f": heartbeat {page.safe}\n\n".encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
