"""Parsing an agency's response file (CSV) against a campaign: every bad row reported.

Format: UTF-8 (a BOM is allowed), comma-separated, a header row, then one row per
respondent. Row numbers count lines of the file as a spreadsheet shows them: the
header is row 1, the first respondent row 2.

Columns (header names, any order):
- `respondent_ref` (required): the pseudonymous reference; never a name or phone.
- `project`, `segment`, `method` (required): from the campaign's lists.
- one column per question code (all required): an integer 1-5, or empty for no answer.
- `comment` (optional column): free text; phone numbers and e-mails are redacted.
- `complaint` (optional column): true/false, yes/no, 1/0, or empty (= false).

Any other column is refused, so that names and contacts of respondents cannot slip in.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from domain.errors import DomainError, InvalidValue
from domain.surveys.campaign import SurveyCampaign

REQUIRED = ("respondent_ref", "project", "segment", "method")
OPTIONAL = ("comment", "complaint")
TRUE = ("true", "yes", "1", "y", "是")
FALSE = ("false", "no", "0", "n", "否", "")
#: Control characters other than tab, LF and CR (a NUL cannot even be stored).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: At most this many errors are listed (the count of all of them is reported too).
MAX_ERRORS = 10_000


class CsvRejected(DomainError):
    """The file has bad rows; nothing of it is recorded."""

    def __init__(self, errors: list[dict[str, Any]], total: int) -> None:
        super().__init__(f"the file has {total} error(s); nothing was recorded")
        self.errors = errors
        self.total = total


@dataclass
class ParsedFile:
    rows: list[tuple[int, dict[str, Any]]] = field(
        default_factory=list
    )  # (row number, checked fields)


def parse_responses_csv(campaign: SurveyCampaign, data: bytes) -> ParsedFile:
    """Validate the whole file; raise `CsvRejected` listing every bad cell, else the rows."""
    errors: list[dict[str, Any]] = []
    total = 0

    def err(row: int, column: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_ERRORS:
            errors.append({"row": row, "column": column, "message": message})

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CsvRejected(
            [{"row": 1, "column": "", "message": f"the file is not UTF-8 ({e.reason})"}], 1
        ) from None
    control = _CONTROL.search(text)
    if (
        control is not None
    ):  # NUL and other control characters cannot be stored, nor belong in a record
        row = text.count("\n", 0, control.start()) + 1
        raise CsvRejected(
            [{"row": row, "column": "", "message": "contains a control character"}], 1
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvRejected(
            [{"row": 1, "column": "", "message": "the file is empty; a header row is required"}], 1
        ) from None
    header = [h.strip() for h in header]
    codes = campaign.question_codes
    known = (*REQUIRED, *OPTIONAL, *codes)
    for col in header:
        if col not in known:
            err(1, col, "unknown column (allowed: " + ", ".join(known) + ")")
    for col in (*REQUIRED, *codes):
        if col not in header:
            err(1, col, "missing column")
    if len(set(header)) != len(header):
        for col in sorted({c for c in header if header.count(c) > 1}):
            err(1, col, "column appears more than once")
    if total:
        raise CsvRejected(errors, total)

    out = ParsedFile()
    seen: dict[str, int] = {}
    width = len(header)
    rownum = 1
    for cells in reader:
        rownum = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != width:
            err(rownum, "", f"has {len(cells)} cells; the header has {width}")
            continue
        rec = dict(zip(header, (c.strip() for c in cells), strict=True))
        row_errors = 0
        answers: dict[str, int | None] = {}
        for code in codes:
            raw = rec[code]
            if raw == "":
                answers[code] = None
            elif raw in ("1", "2", "3", "4", "5"):
                answers[code] = int(raw)
            else:
                err(rownum, code, "must be an integer from 1 to 5, or empty")
                row_errors += 1
        flag_raw = rec.get("complaint", "").lower()
        if flag_raw not in TRUE and flag_raw not in FALSE:
            err(rownum, "complaint", "must be true/false, yes/no, 1/0 or empty")
            row_errors += 1
        comment = rec.get("comment") or None
        # Field checks in column order; each bad cell is reported.
        fields = {
            "respondent_ref": rec["respondent_ref"],
            "project": rec["project"],
            "segment": rec["segment"],
            "method": rec["method"],
        }
        checked: dict[str, Any] | None = None
        for _ in range(len(fields) + 3):
            try:
                checked = campaign.check_response(
                    **fields, answers=answers, comment=comment, complaint=flag_raw in TRUE
                )
                break
            except InvalidValue as e:
                column = e.field.split(".", 1)[1] if e.field.startswith("answers.") else e.field
                err(rownum, column if column != "answers" else ",".join(codes), e.message)
                row_errors += 1
                # Neutralise the bad field and go on, so every bad cell of the row is reported.
                if e.field in fields:
                    fields[e.field] = _placeholder(campaign, e.field)
                elif e.field == "comment":
                    comment = None
                else:
                    break
        if checked is None or row_errors:
            continue
        ref = checked["respondent_ref"]
        if ref in seen:
            err(rownum, "respondent_ref", f"'{ref}' already appears in row {seen[ref]}")
            continue
        seen[ref] = rownum
        out.rows.append((rownum, checked))
    if total:
        raise CsvRejected(errors, total)
    if not out.rows:
        raise CsvRejected([{"row": 2, "column": "", "message": "the file has no response rows"}], 1)
    return out


def _placeholder(campaign: SurveyCampaign, name: str) -> str:
    return {
        "respondent_ref": "placeholder",
        "project": campaign.projects[0],
        "segment": campaign.segments[0],
        "method": campaign.methods[0],
    }[name]
