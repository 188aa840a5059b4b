"""A survey CSV with a NUL or another control character is refused before anything is
recorded (PostgreSQL cannot store NUL in JSON, so it would poison the read side)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from domain.surveys.csv import CsvRejected, parse_responses_csv


def campaign() -> Any:
    return SimpleNamespace(
        question_codes=("Q1",),
        projects=["P1"],
        segments=["owner"],
        methods=["phone"],
        check_response=lambda **kw: kw,
    )


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\x7f"])
def test_a_control_character_rejects_the_file_naming_its_row(bad: str) -> None:
    data = f"respondent_ref,project,segment,method,Q1,comment\nR-a,P1,owner,phone,4,ok\nR-b,P1,owner,phone,5,bad{bad}\n"
    with pytest.raises(CsvRejected) as e:
        parse_responses_csv(campaign(), data.encode())
    assert e.value.errors == [{"row": 3, "column": "", "message": "contains a control character"}]
