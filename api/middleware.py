"""The HTTP guard around every request (a plain ASGI middleware, so it also sees
streamed bodies): correlation id, rate limit per client address for requests without a
token, body-size limit, hostile query strings, a per-request deadline and one structured
access-log line.

- **Requests without a token**: each takes one token from its client address's bucket
  (`api.ratelimit`, the bucket rejected tokens also draw from); an empty bucket is 429
  with `Retry-After`. Health checks are exempt. A request that carries a bearer token is
  limited where the token is checked (`api.deps`): its principal's bucket if accepted,
  the address's if rejected; one that reaches no authenticated endpoint (a public page)
  without a principal is counted against the address afterwards.

- **Body size**: a declared `Content-Length` above the limit is refused at once; a
  chunked body is counted while it is read and refused (413) as soon as it passes it.
- **Deadline**: the endpoint runs as a task; when `request_timeout_seconds` pass before
  it answers, the client gets 504. Sync endpoints run in a worker thread that Python
  cannot interrupt: the work in progress still completes (a command commits or not,
  atomically), and its late answer is discarded. Clients retry with the same
  `Idempotency-Key` to learn the outcome without doing the work twice.
- **Access log**: method, path, status, duration, correlation id, principal id — never
  headers, bodies or query values that could hold personal data.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from api.ratelimit import retry_after
from api.schemas import has_control_character

access_log = logging.getLogger("qualtrace.access")

#: The current request's correlation id (copied into worker threads by Starlette).
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "qualtrace_correlation_id", default=None
)


def _bad_text(value: str) -> bool:
    """Control characters (other than tab/newline/CR) have no place in our text, and
    PostgreSQL cannot store NUL at all."""
    return has_control_character(value)


#: Correlation ids must be unique, not secret (a client may choose its own): a generator
#: seeded once from the OS, so that no request waits on `os.urandom` (which releases the
#: GIL, and getting it back behind a busy worker thread costs the event loop milliseconds).
_correlation_ids = random.Random(os.urandom(32))


def new_correlation_id() -> str:
    """A random (version 4) UUID, as text."""
    return str(uuid.UUID(int=_correlation_ids.getrandbits(128), version=4))


#: Bytes a multipart upload may hold beyond its file (boundaries, part headers).
MULTIPART_ROOM = 64 * 1024


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Any) -> None:
        self.app = app
        self.max_body = int(settings.max_body_bytes)
        self.timeout = float(settings.request_timeout_seconds)
        # A survey agency's CSV file (POST /surveys/{id}/responses/import) may be large.
        self.max_import = int(getattr(settings, "max_import_bytes", self.max_body))
        self.import_timeout = float(getattr(settings, "import_timeout_seconds", self.timeout))
        # An evidence file (POST /attachments): its own limit, plus room for the multipart
        # framing; the route refuses a file over the limit itself, naming the limit.
        self.max_attachment = int(getattr(settings, "attachment_max_bytes", 0))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        supplied = headers.get("x-correlation-id", "")
        correlation_id = (
            supplied
            if 0 < len(supplied) <= 100 and supplied.isprintable()
            else new_correlation_id()
        )
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        token = correlation_id_var.set(correlation_id)
        outcome: dict[str, Any] = {"status": None, "started": False, "abandoned": False}

        async def send_wrapper(message: Message) -> None:
            if outcome["abandoned"]:
                return  # the client already got 504
            if message["type"] == "http.response.start":
                outcome["started"] = True
                outcome["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-correlation-id", correlation_id.encode()),
                ]
            await send(message)

        async def answer(status: int, detail: str, **extra: Any) -> None:
            response = problem(status, detail, **extra)
            await response(scope, receive, send_wrapper)

        path = scope.get("path", "")
        bulk = (
            scope.get("method") == "POST"
            and path.startswith("/surveys/")
            and path.endswith("/responses/import")
        )
        max_body, timeout = (
            (self.max_import, self.import_timeout) if bulk else (self.max_body, self.timeout)
        )
        if scope.get("method") == "POST" and path == "/attachments" and self.max_attachment:
            max_body = max(max_body, self.max_attachment + MULTIPART_ROOM)
        limiter = _address_limiter(scope)
        anonymous = not headers.get("authorization", "").lower().startswith("bearer ")
        try:
            if anonymous and limiter is not None:
                wait = limiter.take(client_key(scope))
                if wait > 0:
                    await answer(
                        429,
                        "too many requests without a token from this address; slow down",
                        headers={"Retry-After": retry_after(wait)},
                    )
                    return
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_body):
                await answer(413, f"request body larger than {max_body} bytes")
                return
            bad = self._bad_query(scope)
            if bad is not None:
                await answer(
                    422,
                    f"invalid input: {bad}",
                    errors=[{"path": bad, "message": "contains a control character"}],
                )
                return
            await self._run(
                scope, self._limited(receive, max_body), send_wrapper, outcome, answer, timeout
            )
        finally:
            correlation_id_var.reset(token)
            if (
                not anonymous
                and limiter is not None
                and state.get("principal") is None
                and outcome["status"] not in (401, 429)  # already counted by api.deps
            ):
                limiter.take(client_key(scope))
            if access_log.isEnabledFor(logging.INFO):
                self._log(scope, state, outcome, started, correlation_id)

    @staticmethod
    def _log(
        scope: Scope,
        state: dict[str, Any],
        outcome: dict[str, Any],
        started: float,
        correlation_id: str,
    ) -> None:
        principal = state.get("principal")
        access_log.info(
            "request",
            extra={
                "fields": {
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": outcome["status"] or 500,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "correlation_id": correlation_id,
                    "principal_id": getattr(principal, "id", None),
                }
            },
        )

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        outcome: dict[str, Any],
        answer: Any,
        timeout: float | None = None,
    ) -> None:
        timeout = self.timeout if timeout is None else timeout
        if timeout <= 0:
            await self.app(scope, receive, send)
            return
        task = asyncio.ensure_future(self.app(scope, receive, send))
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if task in done:
            task.result()
            return
        if outcome["started"]:
            # Already answering (a slow stream): let it finish.
            await task
            return
        await answer(
            504,
            f"the request did not finish within {timeout:g} seconds; "
            "retry a command with the same Idempotency-Key to learn its outcome",
        )
        outcome["abandoned"] = True
        task.add_done_callback(_log_late_failure)

    def _limited(self, receive: Receive, limit: int | None = None) -> Receive:
        seen = 0
        limit = self.max_body if limit is None else limit

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        return limited

    @staticmethod
    def _bad_query(scope: Scope) -> str | None:
        if _bad_text(scope.get("path", "")):
            return "path"
        raw = scope.get("query_string", b"")
        if not raw:
            return None
        try:
            pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return "query"
        for name, value in pairs:
            if _bad_text(name) or _bad_text(value):
                return f"query.{name}" if name.isprintable() else "query"
        return None


#: Probes from load balancers and orchestrators are never limited.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})


def client_key(scope: Scope) -> str:
    """The rate-limit bucket of the request's client address (the one `api.deps` uses for
    rejected tokens)."""
    client = scope.get("client")
    return f"client:{client[0] if client else 'unknown'}"


def _address_limiter(scope: Scope) -> Any:
    """The app's token buckets (`app.state.rate_limiter`), unless the path is exempt."""
    if scope.get("path") in UNLIMITED_PATHS:
        return None
    app = scope.get("app")
    state = getattr(app, "state", None)
    limiter = getattr(state, "rate_limiter", None)
    return limiter if limiter is not None and limiter.enabled else None


def _log_late_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        access_log.error("request failed after its deadline", exc_info=task.exception())
