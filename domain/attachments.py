"""Evidence files (photos, scanned PDFs) as events reference them: by the SHA-256 digest
of their stored bytes, so that an event's hash, and through it the issue's chain, covers
the file itself (docs/attachments.md)."""

from __future__ import annotations

import re
from typing import Any

from domain.errors import InvalidValue

#: At most this many files per step (a handful of before/after photos, a scanned report).
MAX_ATTACHMENTS = 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def is_digest(value: Any) -> bool:
    """A SHA-256 digest as lower-case hex, the way attachments are named."""
    return isinstance(value, str) and _DIGEST.match(value) is not None


def require_digests(name: str, value: Any) -> list[str]:
    """The attachments of a step: a list of distinct digests (none given: an empty list)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or len(value) > MAX_ATTACHMENTS:
        raise InvalidValue(name, f"must be a list of at most {MAX_ATTACHMENTS} digests")
    out: list[str] = []
    for i, digest in enumerate(value):
        if not is_digest(digest):
            raise InvalidValue(f"{name}.{i}", "must be a SHA-256 digest (64 lower-case hex digits)")
        if digest in out:
            raise InvalidValue(f"{name}.{i}", f"repeats {digest}")
        out.append(digest)
    return out


def no_attachments(state: dict[str, Any]) -> None:
    """Upcast an event stored before steps could name files: it named none."""
    state["attachments"] = []
