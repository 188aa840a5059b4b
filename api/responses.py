"""Command answers: `{id, number, status, version, position}`, 201 when created."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from application.base import CommandResult


def answer(response: Response, result: CommandResult) -> dict[str, Any]:
    response.status_code = 201 if result.created else 200
    response.headers["ETag"] = f'"{result.version}"'
    return result.as_dict()
