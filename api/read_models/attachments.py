"""Evidence files as an issue's `GET` lists them (docs/attachments.md)."""

from __future__ import annotations

from api.read_models.common import Open


class AttachmentRef(Open):
    """One file a step of the issue named: where to fetch it and which step named it."""

    digest: str
    media_type: str
    size: int
    step: str
    #: The issue's version after the command that named the file.
    version: int
    position: int
    url: str
    thumbnail_url: str | None
