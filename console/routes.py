"""Serving the console and Swagger UI from local files, under a strict
Content-Security-Policy: no external origin, no inline script, no build step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: Swagger UI sets `style` attributes on its elements (CSSOM cannot replace them there),
#: so /docs allows inline *styles*; scripts stay local files only.
DOCS_CSP = CONSOLE_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        # Revalidate each time (a 304 when unchanged): a new release is seen at once.
        "Cache-Control": "no-cache",
    }


class WithHeaders:
    """ASGI wrapper that adds fixed headers to every response of the app it wraps."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.raw]
            await send(message)

        await self.app(scope, receive, send_with_headers)


router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> Response:
    """The front door is the console."""
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
@router.get("/console/")
async def console_page() -> Response:
    """The console's single page; the hash after `#` selects the screen."""
    return FileResponse(
        STATIC / "index.html", media_type="text/html", headers=security_headers(CONSOLE_CSP)
    )


@router.get("/console/config.json")
async def console_config(request: Request) -> Response:
    """What the page needs to know of the deployment (no data, no secret)."""
    settings: Any = request.app.state.container.settings
    return JSONResponse(
        {"timezone": settings.timezone, "version": request.app.version},
        headers=security_headers(CONSOLE_CSP),
    )


@router.get("/docs")
async def swagger_ui() -> Response:
    """Swagger UI from local files (works with no internet access)."""
    return FileResponse(
        STATIC / "docs.html", media_type="text/html", headers=security_headers(DOCS_CSP)
    )


def mount(app: FastAPI) -> None:
    """Serve the console at /console (and / redirecting to it), its files under
    /console/static, and Swagger UI at /docs. The app must be built with `docs_url=None`."""
    app.include_router(router)
    app.mount(
        "/console/static",
        WithHeaders(StaticFiles(directory=STATIC), security_headers(CONSOLE_CSP)),
        name="console-static",
    )
