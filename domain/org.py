"""Organisation: regions (city companies / branches) and projects (managed sites)."""

from __future__ import annotations

from typing import Any

from domain.base import Ctx, QAggregate, id_for, require_text
from domain.errors import InvalidValue


def check_code(field: str, code: Any) -> str:
    code = require_text(field, code, 40)
    if not all(ch.isalnum() or ch in "-_." for ch in code):
        raise InvalidValue(field, "may contain only letters, digits, '-', '_' and '.'")
    return code


class Region(QAggregate):
    KIND = "region"
    STATES = {"active": ("rename",)}

    class Registered(QAggregate.Created):
        code: str
        name: str

    def __init__(self, code: str, name: str, **_: Any) -> None:
        self.code = code
        self.name = name
        self.status = "active"
        self.number = code

    @classmethod
    def register(cls, ctx: Ctx, code: str, name: str) -> Region:
        code = check_code("code", code)
        name = require_text("name", name, 200)
        return cls._create(
            cls.Registered, id=id_for("region", code), code=code, name=name, **cls.meta(ctx)
        )


class Project(QAggregate):
    KIND = "project"
    STATES = {"active": ()}

    class Registered(QAggregate.Created):
        code: str
        name: str
        region: str
        households: int | None

    def __init__(self, code: str, name: str, region: str, households: int | None, **_: Any) -> None:
        self.code = code
        self.name = name
        self.region = region
        self.households = households
        self.status = "active"
        self.number = code

    @classmethod
    def register(
        cls, ctx: Ctx, code: str, name: str, region: str, households: int | None
    ) -> Project:
        code = check_code("code", code)
        name = require_text("name", name, 200)
        if households is not None and (not isinstance(households, int) or households < 0):
            raise InvalidValue("households", "must be a non-negative integer")
        return cls._create(
            cls.Registered,
            id=id_for("project", code),
            code=code,
            name=name,
            region=region,
            households=households,
            **cls.meta(ctx),
        )
