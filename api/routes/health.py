"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import Container
from api.read_models import Health, Readiness, ok
from store.availability import RETRY_AFTER_SECONDS
from store.tracking import head_position, positions

router = APIRouter(tags=["service"])


@router.get("/healthz", responses=ok(Health))
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=ok(Readiness))
def readyz(c: Container, response: Response) -> Any:
    """The database is reachable; each projection's lag behind the event store."""
    try:
        with c.pool.connection(timeout=3) as conn:
            head = head_position(conn, c.app.recorder.events_table_name)
            pos = positions(conn)
    except Exception as e:  # noqa: BLE001 - any failure here means "not ready"
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return {"status": "unavailable", "detail": type(e).__name__}
    return {
        "status": "ready",
        "head_position": head,
        "projections": {
            name: {"position": p, "lag": max(head - p, 0)} for name, p in sorted(pos.items())
        },
    }
