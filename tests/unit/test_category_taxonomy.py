"""The two-level category taxonomy classifies any spelling a front desk uses, and
never refuses a text (domain/categories.py)."""

from __future__ import annotations

import pytest

from domain.categories import DEFAULT, taxonomy_from


@pytest.mark.parametrize(
    ("text", "code", "path"),
    [
        ("水电", "engineering.plumbing_electrical", "工程维修 › 水电"),
        ("工程维修 › 水电", "engineering.plumbing_electrical", "工程维修 › 水电"),
        ("engineering/plumbing_electrical", "engineering.plumbing_electrical", "工程维修 › 水电"),
        (" Plumbing ", "engineering.plumbing_electrical", "工程维修 › 水电"),
        ("安保", "security", "安保"),
        ("安保 > 停车", "security.parking", "安保 › 车辆停放"),
        ("工程维修/不知道", "engineering", "工程维修"),
        ("服务态度", "attitude", "服务态度"),
    ],
)
def test_known_spellings_classify_to_their_place(text: str, code: str, path: str) -> None:
    c = DEFAULT.classify(text)
    assert (c.code, c.path, c.known) == (code, path, True)


def test_unknown_text_is_other_and_marked_unknown() -> None:
    c = DEFAULT.classify("the moon is too bright")
    assert (c.code, c.path, c.known) == ("other", "其他", False)


def test_a_level_two_name_under_two_parents_needs_its_parent() -> None:
    t = taxonomy_from(
        {
            "a": {"name": "甲", "children": {"x": {"name": "通用"}}},
            "b": {"name": "乙", "children": {"y": {"name": "通用"}}},
        }
    )
    assert t.classify("通用").known is False
    assert t.classify("乙/通用").code == "b.y"


@pytest.mark.parametrize(
    ("table", "fault"),
    [
        ({}, "non-empty"),
        ({"Bad Code": {"name": "x"}}, "lower-case"),
        ({"a": {"name": ""}}, "'name'"),
        ({"a": {"name": "甲", "children": {"x": {}}}}, "a.x needs"),
        ({"a": {"name": "甲", "aliases": "nope"}}, "aliases"),
    ],
)
def test_a_bad_table_is_refused_with_the_fault_named(table: object, fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        taxonomy_from(table)


def test_rows_list_both_levels() -> None:
    rows = DEFAULT.rows()
    assert {"code": "engineering.lifts", "level": 2, "parent": "engineering"}.items() <= next(
        r for r in rows if r["code"] == "engineering.lifts"
    ).items()
    assert sum(r["level"] == 1 for r in rows) == len(DEFAULT.table)
