"""Request and response bodies shared by every route. Unknown fields are rejected."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


#: A trimmed, NFC-normalised, non-empty string of bounded length.
Text = Annotated[str, AfterValidator(_nfc), Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, AfterValidator(_nfc), Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]
#: Evidence files a step names, by the digest `POST /attachments` answered (docs/attachments.md).
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lower-case hex")]
Attachments = Annotated[list[Digest], Field(max_length=20)]


#: Unicode category Cc (C0, DEL and C1 controls; fixed by Unicode's stability policy)
#: except tab, newline and CR. One regex search instead of a category lookup per character.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control_character(value: str) -> bool:
    """Whether `value` holds a control character other than tab, newline or CR."""
    return _CONTROL.search(value) is not None


def _control_free(value: Any) -> Any:
    """No control characters (other than tab, newline, CR) anywhere in a body: PostgreSQL
    cannot store NUL in text or JSON, and none belongs in a quality record."""
    if isinstance(value, str):
        if _CONTROL.search(value) is not None:
            raise ValueError("contains a control character")
    elif isinstance(value, dict):
        for k, v in value.items():
            _control_free(k)
            _control_free(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _control_free(v)
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)

    _no_control_characters = field_validator("*", mode="after")(_control_free)


class Empty(Body):
    pass


#: The body of a step that is a judgement (cancel, reopen, reject, ...): why.
class Reason(Body):
    reason: Text


class CommandAnswer(BaseModel):
    id: str
    number: str
    status: str
    version: int
    position: int | None
    model_config = ConfigDict(extra="allow")
