"""Every error becomes RFC 9457 problem+json here, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.steps import step_paths
from application.errors import (
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    NotFound,
    PreconditionFailed,
    UnknownReference,
)
from domain.errors import (
    DomainError,
    IllegalStep,
    InvalidValue,
    MissingActor,
    NotAssignee,
    RuleViolation,
)
from store.availability import RETRY_AFTER_SECONDS, UNAVAILABLE, check_pools, unavailable

log = logging.getLogger("qualtrace.api")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class ProblemError(BaseModel):
    """One invalid input: the field's `path` (or a CSV file's `row` and `column`) and why."""

    model_config = ConfigDict(extra="allow")
    path: str | None = None
    row: int | None = None
    column: str | None = None
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error answer, `application/problem+json`.
    The optional members appear with the errors that carry them."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="`about:blank`")
    title: str = Field(description="the status code's title")
    status: int
    detail: str
    errors: list[ProblemError] | None = Field(
        None, description="422: each invalid input (field path, or CSV row and column)"
    )
    error_count: int | None = Field(None, description="422 on a CSV import: all its errors")
    state: str | None = Field(None, description="409: the issue's current state")
    step: str | None = Field(None, description="409: the step that was refused")
    allowed_steps: list[str] | None = Field(
        None, description="409: the steps allowed in the current state"
    )
    current_version: int | None = Field(None, description="412: the issue's current version")


#: Where the OpenAPI document holds `Problem` (api/openapi.py puts it there).
PROBLEM_REF = "#/components/schemas/Problem"
#: The error answers any endpoint may give (see API.md "Conventions"), for `include_router`.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": TITLES[status],
        "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}},
    }
    for status in (401, 403, 404, 405, 409, 412, 413, 415, 422, 429, 500, 503, 504)
}


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def unavailable_problem() -> JSONResponse:
    """503: the database is unavailable for now; retry after a second."""
    return problem(
        503,
        "the database is unavailable; retry after the time in Retry-After",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _loc_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts[0]
        rest = parts[1:]
        if where == "body":
            return ".".join(rest) or "body"
        return ".".join(rest) if rest else where
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        content_type = request.headers.get("content-type", "")
        json_body = "json" in content_type.lower()
        for err in exc.errors():
            path = _loc_path(err.get("loc", ()))
            msg = err.get("msg", "invalid")
            if err.get("type") == "json_invalid":
                path, msg = "body", "is not valid JSON"
            elif content_type and not json_body and tuple(err.get("loc", ()))[:1] == ("body",):
                # A body sent as form data, text, ... : we answer 422 (not 415), naming `body`.
                errors = [
                    {
                        "path": "body",
                        "message": f"must be application/json, not {content_type.split(';')[0]}",
                    }
                ]
                break
            errors.append({"path": path, "message": msg})
        fields = ", ".join(e["path"] for e in errors)
        return problem(422, f"invalid input: {fields}", errors=errors)

    @app.exception_handler(InvalidValue)
    async def _invalid(_: Request, exc: InvalidValue) -> JSONResponse:
        return problem(422, str(exc), errors=[{"path": exc.field, "message": exc.message}])

    @app.exception_handler(UnknownReference)
    async def _unknown(_: Request, exc: UnknownReference) -> JSONResponse:
        return problem(422, str(exc), errors=[{"path": exc.field, "message": exc.message}])

    @app.exception_handler(IdempotencyMismatch)
    async def _idem(_: Request, exc: IdempotencyMismatch) -> JSONResponse:
        return problem(
            422,
            str(exc),
            errors=[{"path": "Idempotency-Key", "message": "reused with another body"}],
        )

    # The detail names steps as `step` and `allowed_steps` do: as the URL segments clients
    # post to (`notes`, `root-cause`), not the domain's method names (`note`, `root_cause`).
    @app.exception_handler(IllegalStep)
    async def _illegal(_: Request, exc: IllegalStep) -> JSONResponse:
        step, allowed = step_paths([exc.step])[0], step_paths(exc.allowed)
        detail = (
            f"cannot {step} a {exc.kind} in state '{exc.state}'; "
            f"allowed steps: {', '.join(allowed) or 'none'}"
        )
        return problem(409, detail, state=exc.state, step=step, allowed_steps=allowed)

    @app.exception_handler(RuleViolation)
    async def _rule(_: Request, exc: RuleViolation) -> JSONResponse:
        step, allowed = step_paths([exc.step])[0], step_paths(exc.allowed)
        detail = f"{exc} (state '{exc.state}'; allowed steps: {', '.join(allowed) or 'none'})"
        return problem(409, detail, state=exc.state, step=step, allowed_steps=allowed)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc), state=exc.state, allowed_steps=step_paths(exc.allowed))

    @app.exception_handler(PreconditionFailed)
    async def _precondition(_: Request, exc: PreconditionFailed) -> JSONResponse:
        return problem(412, str(exc), current_version=exc.current)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        # One body for "does not exist" and "exists outside your scope": a 404 must not
        # tell a caller whether an id exists in another project.
        return problem(404, "not found")

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return problem(403, str(exc))

    @app.exception_handler(NotAssignee)
    async def _not_assignee(_: Request, exc: NotAssignee) -> JSONResponse:
        return problem(403, str(exc), step=exc.step)

    @app.exception_handler(MissingActor)
    async def _no_actor(_: Request, exc: MissingActor) -> JSONResponse:
        return problem(401, str(exc))

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem(422, str(exc))

    # The database is not there right now (restarting, full, no pooled connection in
    # time): the request did nothing wrong, so 503 with Retry-After, never 500
    # (store/availability.py, docs/faults.md). Nothing was recorded: a command's events
    # and its idempotency record commit together or not at all.
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        c = getattr(request.app.state, "container", None)
        if c is not None:  # drop the pools' dead connections now, not one 503 at a time
            check_pools(c.pool, c.app.recorder.datastore.pool, wait=False)
        return unavailable_problem()

    for error_class in UNAVAILABLE:
        app.add_exception_handler(error_class, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if unavailable(exc):  # raised outside the routes (middleware), or wrapped
            return await _unavailable(request, exc)
        log.error(
            "unhandled %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return problem(500, "internal error; quote the X-Correlation-ID header when reporting it")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400:
            # The framework could not even decode the body (not UTF-8): bad input like bad JSON.
            cause = exc.__cause__
            if isinstance(cause, UnicodeDecodeError):  # say what and where (issue #17)
                detail = f"is not valid UTF-8 at byte {cause.start}"
                return problem(
                    422,
                    f"invalid input: request body {detail}",
                    errors=[{"path": "body", "message": detail}],
                )
            return problem(422, "invalid input: body", errors=[{"path": "body", "message": detail}])
        return problem(exc.status_code, detail, headers=headers)
