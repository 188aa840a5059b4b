"""The FastAPI application: routes, middleware and error mapping, around a Container."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

import console
from api import errors, openapi
from api.auth import Authenticator
from api.deps import document_headers
from api.middleware import RequestGuard
from api.ratelimit import TokenBuckets
from api.routes import assessments as assessment_routes
from api.routes import attachments as attachment_routes
from api.routes import audit, health, org, tickets
from api.routes import complaints as complaint_routes
from api.routes import documents as document_routes
from api.routes import events as event_routes
from api.routes import inspection_plans as plan_routes
from api.routes import inspections as inspection_routes
from api.routes import kpis as kpi_routes
from api.routes import me as me_routes
from api.routes import nonconformances as nonconformance_routes
from api.routes import notify as notify_routes  # notify
from api.routes import security as security_routes
from api.routes import staff as staff_routes  # dispatch suggestions (issue #16 item 6)
from api.routes import surveys as survey_routes
from api.routes import templates as template_routes
from api.routes import ticket_steps as ticket_step_routes
from api.routes import warnings as warning_routes
from application.security import Principal
from store.principal_cache import RevocationListener
from store.read_positions import ReadPositions

log = logging.getLogger("qualtrace.api")

ROUTERS = [health.router, org.router, tickets.router, security_routes.router, audit.router]
ROUTERS += [kpi_routes.router]
ROUTERS += [nonconformance_routes.router]
ROUTERS += [template_routes.router, inspection_routes.router]
ROUTERS += [survey_routes.router]
ROUTERS += [me_routes.router]
ROUTERS += [notify_routes.router]  # notify
# event feed and early warnings (issue #14 items 4-5)
ROUTERS += [event_routes.router, warning_routes.router]
ROUTERS += [plan_routes.router, assessment_routes.router]  # loop (issue #15)
ROUTERS += [document_routes.router]  # printable documents (PDF)
ROUTERS += [ticket_step_routes.router]  # the field steps (issue #16)
ROUTERS += [complaint_routes.router]  # complaint analysis (issue #16 item 5)
ROUTERS += [staff_routes.router]  # staff, skills, dispatch suggestions (issue #16 item 6)
ROUTERS += [attachment_routes.router]  # attach: evidence files (issue #16 item 4)


def token_authenticator(c: Any) -> Callable[[str], Principal | None]:
    """Local API tokens and, when configured, the identity provider's JWTs."""
    return Authenticator(c)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the app runs, revocations made by other processes reach its token cache."""
    app.state.token_listener.start()
    app.state.read_positions.start()  # X-Read-Position from memory (store/read_positions.py)
    try:
        yield
    finally:
        app.state.read_positions.stop()
        app.state.token_listener.stop()


def create_app(container: Any) -> FastAPI:
    app = FastAPI(
        title="Qualtrace",
        version="0.1.0",
        description="Event-sourced quality management: tickets, inspections, nonconformances, surveys.",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        docs_url=None,  # served offline by the console (console/routes.py)
        redoc_url=None,  # ReDoc would load its script from a CDN; /docs is the offline UI
    )
    openapi.install(app)
    app.state.container = container
    app.state.authenticator = token_authenticator(container)
    # Its cache answers only while the listener hears revocations (store/principal_cache.py).
    app.state.token_listener = RevocationListener(container.url)
    app.state.read_positions = ReadPositions(container.url)
    if getattr(app.state.authenticator, "cache", None) is not None:
        app.state.token_listener.attach(app.state.authenticator.cache)
    # -- middleware (security): see api/middleware.py, api/ratelimit.py, api/logs.py --
    app.state.rate_limiter = TokenBuckets(
        container.settings.rate_limit_per_second, container.settings.rate_limit_burst
    )
    errors.install(app)
    app.add_middleware(RequestGuard, settings=container.settings)

    for router in ROUTERS:
        document_headers(router.routes)
        app.include_router(router, responses=errors.PROBLEM_RESPONSES)
    console.mount(app)
    return app
