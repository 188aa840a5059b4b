"""Command answers: `{id, number, status, version, position}`, 201 when created.

The answer is validated against `CommandAnswer` and rendered to JSON right here, in the
endpoint's worker thread, exactly as FastAPI would render the route's `response_model`
(same type adapter calls, same bytes), and returned as a finished `Response`: FastAPI
then skips its own validation, which for a sync endpoint costs a second hop through
the thread pool. Headers a dependency set on the injected `response` are kept."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Response
from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter

from api.schemas import CommandAnswer
from application.base import CommandResult

_ANSWER: TypeAdapter[CommandAnswer] = TypeAdapter(CommandAnswer)


def answer(response: Response, result: CommandResult) -> Response:
    status = 201 if result.created else 200
    content = _ANSWER.dump_json(
        _ANSWER.validate_python(result.as_dict(), from_attributes=True), by_alias=True
    )
    out = Response(content=content, status_code=status, media_type="application/json")
    out.headers.raw.extend((k, v) for k, v in response.headers.raw if k != b"content-length")
    out.headers["ETag"] = f'"{result.version}"'
    return out


_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def render_json(content: Any) -> bytes:
    """A body as FastAPI renders a route's plain return value (`jsonable_encoder`, then
    `JSONResponse`: UTF-8, compact), by orjson when the value is plain JSON already: no
    Python walk over it. What orjson refuses (a datetime or dataclass, passed through to
    it on purpose, a Decimal, a set, a non-string key, an integer beyond 64 bits) goes the
    FastAPI way. Differences left: a float of 1e16 or more, or below 1e-4, may be written
    in the other valid form (`1e-5` for `1e-05`), and a non-finite float is written
    `null` where FastAPI fails the request."""
    try:
        return orjson.dumps(content, option=_ORJSON_OPTIONS)
    except TypeError:
        pass
    return json.dumps(
        jsonable_encoder(content),
        ensure_ascii=False,
        allow_nan=False,
        indent=None,
        separators=(",", ":"),
    ).encode("utf-8")


def json_response(response: Response, content: Any, status: int = 200) -> Response:
    """`content` rendered here (`render_json`), in the endpoint's worker thread, as a
    finished `Response`: FastAPI then skips `jsonable_encoder` on the event loop. Headers
    a dependency or the endpoint set on the injected `response` are kept."""
    out = Response(content=render_json(content), status_code=status, media_type="application/json")
    out.headers.raw.extend((k, v) for k, v in response.headers.raw if k != b"content-length")
    return out
