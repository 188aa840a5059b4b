"""What every read body shares: `ok`, the open base model, pages, actors, links and
the members every issue's `GET` answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


def ok(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its 200 answer is documented as `model`."""
    return {200: {"model": model}}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Actor(Open):
    id: str
    name: str
    role: str


class IssueRef(Open):
    """Another issue, by id and number."""

    id: str
    number: str | None


class Link(Open):
    """A link recorded on an issue: its relation and the issue at the other end."""

    rel: str
    kind: str
    id: str
    number: str | None = None


class Page(Open):
    next_cursor: str | None


class IssueView(Open):
    """What every issue's `GET` answers (tickets, inspections, nonconformances, templates,
    surveys, survey responses), besides the members of its kind."""

    id: str
    version: int
    status: str
    created_at: datetime
    updated_at: datetime
    allowed_steps: list[str]
