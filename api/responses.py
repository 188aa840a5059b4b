"""Command answers: `{id, number, status, version, position}`, 201 when created.

The answer is validated against `CommandAnswer` and rendered to JSON right here, in the
endpoint's worker thread, exactly as FastAPI would render the route's `response_model`
(same type adapter calls, same bytes), and returned as a finished `Response`: FastAPI
then skips its own validation, which for a sync endpoint costs a second hop through
the thread pool. Headers a dependency set on the injected `response` are kept."""

from __future__ import annotations

from fastapi import Response
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
