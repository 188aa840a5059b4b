"""FastAPI dependencies: the container, the authenticated principal, one request's Call,
and read-your-writes waiting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.ratelimit import retry_after
from application.app import Qualtrace
from application.base import Call, Idempotency, canonical_json, fingerprint
from application.security import Principal
from domain.errors import InvalidValue
from store.read_positions import minimum
from store.tracking import read_target


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# the thread pool, a hop that costs more CPU than the dependency itself.
async def container(request: Request) -> Any:
    return request.app.state.container


Container = Annotated[Any, Depends(container)]


async def qualtrace_app(request: Request) -> Qualtrace:
    return request.app.state.container.app


QualtraceApp = Annotated[Qualtrace, Depends(qualtrace_app)]


async def current_principal(request: Request) -> Principal:
    """The caller. A token accepted moments ago is answered from memory on the event loop;
    any other is looked up in a worker thread (see `api.auth.Authenticator`)."""
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.lower().startswith("bearer "):
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    token = authorization[7:].strip()
    authenticator = request.app.state.authenticator
    cached = getattr(authenticator, "cached", None)
    principal = cached(token) if cached is not None else None
    if principal is None:
        principal = await run_in_threadpool(authenticator, token)
    limiter = getattr(request.app.state, "rate_limiter", None)
    if principal is None:
        # Rejected tokens count against the client's address: guessing tokens is throttled
        # like any other flood, while valid principals behind the same address are not.
        client = request.client.host if request.client else "unknown"
        wait = limiter.take(f"client:{client}") if limiter is not None else 0.0
        if wait > 0:
            raise HTTPException(
                429,
                "too many rejected tokens from this address; slow down",
                headers={"Retry-After": retry_after(wait)},
            )
        raise HTTPException(
            401,
            "invalid, expired or revoked token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.principal = principal
    if limiter is not None:
        wait = limiter.take(principal.id)
        if wait > 0:
            raise HTTPException(
                429,
                "rate limit exceeded for this principal; slow down",
                headers={"Retry-After": retry_after(wait)},
            )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def command_call(request: Request, principal: CurrentPrincipal) -> Call:
    if_match = request.headers.get("if-match")
    idempotency_key = request.headers.get("idempotency-key")
    expected: int | None = None
    if if_match is not None:
        raw = if_match.strip().strip('"')
        if raw.startswith("W/"):
            raw = raw[2:].strip('"')
        try:
            expected = int(raw)
        except ValueError:
            raise InvalidValue("If-Match", "must be the issue's version number") from None
    idem = None
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > 200:
            raise InvalidValue("Idempotency-Key", "must be 1 to 200 characters")
        body = await request.body()
        idem = Idempotency(key, fingerprint(request.method, request.url.path, canonical_body(body)))
    return Call(
        principal=principal,
        correlation_id=request.state.correlation_id,
        if_match=expected,
        idempotency=idem,
    )


CommandCall = Annotated[Call, Depends(command_call)]

#: Optional request headers that these dependencies read from `request.headers` themselves:
#: FastAPI's `Header()` parameters cost tens of microseconds each per request. The OpenAPI
#: document still lists them, exactly as FastAPI did (`document_headers`).
HEADERS_READ: dict[Callable[..., Any], tuple[str, ...]] = {
    current_principal: ("authorization",),
    command_call: ("if-match", "idempotency-key"),
}


def header_parameter(name: str) -> dict[str, Any]:
    """An optional string header, as FastAPI documents `Annotated[str | None, Header()]`."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": name.title()},
    }


def headers_of(dependant: Any) -> list[str]:
    """The `HEADERS_READ` of a route's dependencies, in the order and with the
    de-duplication of FastAPI's own `get_flat_params` (depth first, each call once)."""
    names: list[str] = []
    seen: list[Any] = []
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call in seen:
            continue
        seen.append(current.call)
        names += [n for n in HEADERS_READ.get(current.call, ()) if n not in names]
        stack.extend(reversed(current.dependencies))
    return names


def document_headers(routes: Any) -> None:
    """List the headers of `HEADERS_READ` in each route's OpenAPI operation, after its
    path and query parameters and before any parameters of its own `openapi_extra`."""
    from fastapi.routing import APIRoute

    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        if not hasattr(route, "_own_openapi_extra"):
            route._own_openapi_extra = route.openapi_extra  # type: ignore[attr-defined]
        own = dict(route._own_openapi_extra or {})  # type: ignore[attr-defined]
        names = headers_of(route.dependant)
        if names:
            own["parameters"] = [header_parameter(n) for n in names] + list(
                own.get("parameters", [])
            )
        route.openapi_extra = own or None


def canonical_body(body: bytes) -> bytes:
    """The body an Idempotency-Key is bound to: JSON compared by value (key order and
    whitespace do not matter), anything else byte for byte."""
    try:
        return canonical_json(json.loads(body))
    except ValueError:
        return body


async def query_call(request: Request, principal: CurrentPrincipal) -> Call:
    return Call(principal=principal, correlation_id=request.state.correlation_id)


QueryCall = Annotated[Call, Depends(query_call)]


async def read_position(
    request: Request,
    response: Response,
    min_position: Annotated[
        int | None, Query(ge=0, description="wait until the read side has processed this position")
    ] = None,
) -> int:
    """Wait (bounded) until every projection has processed `min_position`; report where it is.

    Without `min_position` the position comes from memory when this process follows the
    tracking table (`store.read_positions`: a lower bound of the stored one, on the event
    loop, no query); otherwise, or with `min_position`, from the database in a worker thread.
    """
    request.state.min_position = min_position
    if min_position is None:
        watch = getattr(request.app.state, "read_positions", None)
        known = watch.current() if watch is not None else None
        if known is not None:
            response.headers["X-Read-Position"] = str(known)
            return known
    current = await run_in_threadpool(wait_for_position, request.app.state.container, min_position)
    response.headers["X-Read-Position"] = str(current)
    return current


def wait_for_position(c: Any, min_position: int | None) -> int:
    """The read side's position from the database, after waiting (at most the configured
    read wait) for `min_position` and what the process follower recorded for it."""
    deadline = time.monotonic() + c.settings.read_wait_seconds
    target, widened = min_position, False
    while True:
        with c.pool.connection() as conn:
            current = minimum(conn)
            if target is not None and current >= target and not widened:
                # Caught up: also wait for what the process follower recorded for triggers
                # up to here (their answers could not name those positions).
                target, widened = read_target(conn, target), True
        if target is None or current >= target or time.monotonic() >= deadline:
            return current
        time.sleep(0.02)


ReadPosition = Annotated[int, Depends(read_position)]


@dataclass(frozen=True)
class ReadPlaceValue:
    """Where the read side stood (`position`) and what the caller asked for (`asked`:
    its `min_position`, parsed once)."""

    position: int
    asked: int | None


async def read_place(request: Request, position: ReadPosition) -> ReadPlaceValue:
    """`read_position`, with the `min_position` it waited for."""
    return ReadPlaceValue(position, request.state.min_position)


ReadPlace = Annotated[ReadPlaceValue, Depends(read_place)]
