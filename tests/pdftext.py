"""PDFs back to text for the document tests (poppler-utils' pdftotext).

`squeezed`: the text in reading order with all whitespace removed (pdftotext spaces CJK
text as laid out). `rows`: the page laid out (`-layout`), one entry per printed line,
whitespace removed; `has_row` asks whether one printed line holds these cells in this
order, which is how a table row is checked without depending on column widths.
"""

from __future__ import annotations

import re
import subprocess


def _pdftotext(data: bytes, *options: str) -> str:
    assert data.startswith(b"%PDF-"), data[:40]
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *options, "-", "-"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")


def squeezed(data: bytes) -> str:
    return re.sub(r"\s+", "", _pdftotext(data))


def rows(data: bytes) -> list[str]:
    return [re.sub(r"\s+", "", line) for line in _pdftotext(data, "-layout").splitlines()]


def has_row(lines: list[str], *cells: object) -> bool:
    """One printed line holds these cells in this order (a wrapped cell's rest may sit
    on the next line, so text between the cells is allowed)."""
    pattern = re.compile(".*?".join(re.escape(re.sub(r"\s+", "", str(c))) for c in cells))
    return any(pattern.search(line) for line in lines)
