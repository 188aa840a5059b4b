"""Health and readiness."""

from __future__ import annotations

from api.read_models.common import Open


class Health(Open):
    status: str


class Readiness(Open):
    status: str
