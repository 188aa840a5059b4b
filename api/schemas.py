"""Request and response bodies shared by every route. Unknown fields are rejected."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


#: A trimmed, NFC-normalised, non-empty string of bounded length.
Text = Annotated[str, AfterValidator(_nfc), Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, AfterValidator(_nfc), Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


class Empty(Body):
    pass


class CommandAnswer(BaseModel):
    id: str
    number: str
    status: str
    version: int
    position: int | None
    model_config = ConfigDict(extra="allow")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None
