"""`api.responses.render_json`: the bytes FastAPI's `jsonable_encoder` + `JSONResponse`
give, by orjson for plain values and FastAPI's way for anything else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.responses import render_json


@dataclass
class Point:
    x: int


def fastapi_bytes(content: Any) -> bytes:
    return bytes(JSONResponse(jsonable_encoder(content)).body)


@pytest.mark.parametrize(
    "content",
    [
        {"id": "t1", "description": "卫生间水管漏水", "version": 3, "score": 91.11, "ok": True},
        {"items": [{"a": None, "b": [1, 2.5, "三"]}], "next_cursor": None},
        {"at": datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)},
        {"amount": Decimal("12.50"), "ref": uuid4()},
        {1: "int key", "nested": {"p": Point(1)}},
        {"tags": {"only-one"}},
        {"control": 'line\nbreak\t\x01 \u2028 "quoted" back\\slash'},
        [],
    ],
)
def test_same_bytes_as_fastapi(content: Any) -> None:
    assert render_json(content) == fastapi_bytes(content)


def test_the_ticket_view_shape_goes_the_fast_way_and_reads_back() -> None:
    view = {"id": str(uuid4()), "reporter": {"name": "张*", "phone": "138****5678"}}
    out = render_json(view)
    assert "张*".encode() in out
    assert json.loads(out) == view
