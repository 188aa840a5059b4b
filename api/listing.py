"""Paged lists over the read side: opaque cursors, JSON-ready rows, the permission check.

The queries themselves live beside their read models (`projections/`)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from fastapi import HTTPException

from application.base import Call
from application.security import can
from domain.errors import InvalidValue
from projections.reads import Page


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return values
    except ValueError:
        raise InvalidValue("cursor", "not a cursor this API issued") from None


def require(call: Call, action: str) -> None:
    """403 unless the caller's role may `action`."""
    if not can(call.principal, action):
        raise HTTPException(403, f"role '{call.principal.role}' may not {action}")


def after_of(cursor: str | None) -> list[Any] | None:
    """The (order value, id) pair an opaque cursor stands for."""
    return decode_cursor(cursor) if cursor else None


def page_answer(page: Page, order_col: str, id_col: str = "id") -> dict[str, Any]:
    """`{"items": [...], "next_cursor": ...}`: the cursor names the last row's place."""
    next_cursor = None
    if page.more and page.rows:
        last = page.rows[-1]
        next_cursor = encode_cursor([last[order_col], str(last[id_col])])
    return {"items": [jsonable(r) for r in page.rows], "next_cursor": next_cursor}


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
        elif isinstance(v, Decimal):
            out[k] = int(v) if v == v.to_integral_value() else float(v)
        elif v is not None and not isinstance(v, (str, int, float, bool, list, dict)):
            out[k] = str(v)
        else:
            out[k] = v
    return out
