"""Company-wide circulars (全公司通报, DOMAIN.md §3; seed 003).

A circular is raised automatically when a re-check finds a rectification not effective
(the nonconformance is linked and the verification is its cause), or by a quality
manager by hand. Every principal of the company may read it; each first read is an
event (`Read`), so the read receipts (who, when) are part of its audit history.
"""

from __future__ import annotations

from typing import Any

from domain.base import Ctx, QAggregate, id_for, require_text
from domain.errors import InvalidValue
from domain.vocabulary import NUMBER_PREFIXES

#: Who raised it: by the verification process, or by a quality manager.
ORIGINS = ("automatic", "manual")


class Raised(QAggregate.Created):
    number: str
    title: str
    text: str
    origin: str
    project: str | None
    nonconformance: dict[str, str] | None
    links: list[dict[str, str]]


class Read(QAggregate.Event):
    """A principal read the circular (recorded once per principal)."""

    def apply(self, c: Circular) -> None:
        c.receipts.append(
            {
                "id": self.actor["id"],
                "name": self.actor["name"],
                "role": self.actor["role"],
                "at": self.timestamp.isoformat(),
            }
        )


class Circular(QAggregate):
    KIND = "circular"
    PREFIX = NUMBER_PREFIXES["circular"]
    STATES = {"published": ("read",)}

    Raised = Raised
    Read = Read

    def __init__(
        self,
        number: str,
        title: str,
        text: str,
        origin: str,
        project: str | None,
        nonconformance: dict[str, str] | None,
        links: list[dict[str, str]],
        timestamp: Any,
        **_: Any,
    ) -> None:
        self.number = number
        self.title = title
        self.text = text
        self.origin = origin
        self.project = project
        self.nonconformance = dict(nonconformance) if nonconformance else None
        self.links = [dict(link) for link in links]
        self.raised_at = timestamp
        self.status = "published"
        self.receipts: list[dict[str, str]] = []

    @classmethod
    def raise_(
        cls,
        ctx: Ctx,
        number: str,
        title: str,
        text: str,
        origin: str = "manual",
        project: str | None = None,
        nonconformance: dict[str, str] | None = None,
    ) -> Circular:
        if origin not in ORIGINS:
            raise InvalidValue("origin", f"must be one of {', '.join(ORIGINS)}")
        links = []
        if nonconformance:
            links.append(
                {
                    "rel": "circulates",
                    "kind": "nonconformance",
                    "id": str(nonconformance["id"]),
                    "number": str(nonconformance["number"]),
                }
            )
        return cls._create(
            cls.Raised,
            id=id_for("circular", number),
            number=number,
            title=require_text("title", title, 200),
            text=require_text("text", text, 8000),
            origin=origin,
            project=project,
            nonconformance=dict(nonconformance) if nonconformance else None,
            links=links,
            **cls.meta(ctx),
        )

    def has_read(self, principal_id: str) -> bool:
        return any(r["id"] == principal_id for r in self.receipts)

    def read(self, ctx: Ctx) -> bool:
        """Record that the context's actor read it; False (nothing recorded) when they had."""
        self.check_step("read")
        if self.has_read(ctx.actor.id):
            return False
        self.record(self.Read, ctx)
        return True
