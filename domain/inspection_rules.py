"""The rules of scoring and appealing an inspection item (DOMAIN.md §2), as functions
of the values they check; `Inspection` (domain/inspections.py) calls them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from domain.base import require_choice, require_text
from domain.errors import InvalidValue
from domain.vocabulary import ITEM_RESULTS

Item = Callable[[str], dict[str, Any]]


def check_points(field: str, points: Any, result: str, max_points: float) -> float | None:
    """Validate points against the result and the item's maximum."""
    if result == "na":
        if points not in (None, 0):
            raise InvalidValue(field, "must be 0 or null when the result is na")
        return None
    if isinstance(points, bool) or not isinstance(points, (int, float)):
        raise InvalidValue(field, "must be a number")
    if not 0 <= points <= max_points:
        raise InvalidValue(field, f"must be from 0 to the item's max_points {max_points}")
    if result == "pass" and points == 0:
        raise InvalidValue(field, "a passed item scores more than 0 points")
    if result == "fail" and points == max_points:
        raise InvalidValue(field, "a failed item scores less than its max_points")
    return points


def check_date(field: str, value: Any) -> str:
    """A calendar date (company time zone) as `YYYY-MM-DD`."""
    if isinstance(value, date):
        return value.isoformat()
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise InvalidValue(field, "must be a date, YYYY-MM-DD") from None


def check_evidence(evidence: Any) -> list[str]:
    if evidence is None:
        return []
    if not isinstance(evidence, list) or len(evidence) > 50:
        raise InvalidValue("evidence", "must be a list of at most 50 references")
    return [require_text(f"evidence.{i}", ref, 500) for i, ref in enumerate(evidence)]


def check_appealed_items(items: Any, item: Item) -> list[str]:
    """The items an appeal names: each known, named once, and one that lost points."""
    if not isinstance(items, list) or not items:
        raise InvalidValue("items", "must name at least one item")
    if len(set(items)) != len(items):
        raise InvalidValue("items", "names an item twice")
    for n, code in enumerate(items):
        if not isinstance(code, str):
            raise InvalidValue(f"items.{n}", "must be an item code")
        try:
            it = item(code)
        except InvalidValue:
            raise InvalidValue(f"items.{n}", f"no item '{code}' in this inspection") from None
        if it["result"] == "na" or it["points"] >= it["max_points"]:
            raise InvalidValue(f"items.{n}", f"item '{code}' lost no points; nothing to appeal")
    return list(items)


def check_adjustments(
    adjustments: list[Any], appealed: list[str], item: Item
) -> list[dict[str, Any]]:
    """An accepted appeal's adjustments, each for an appealed item, adjusted once; a decision
    may raise an item's points, turn a fail into a pass or mark it not applicable, never
    fail an item or lower its points."""
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, adj in enumerate(adjustments):
        where = f"adjustments.{n}"
        if not isinstance(adj, dict):
            raise InvalidValue(where, "must be an object")
        code = adj.get("item")
        if not isinstance(code, str) or code not in appealed:
            raise InvalidValue(
                f"{where}.item", f"'{code}' is not an appealed item ({', '.join(appealed)})"
            )
        if code in seen:
            raise InvalidValue(f"{where}.item", f"'{code}' is adjusted twice")
        seen.add(code)
        it = item(code)
        result = adj.get("result")
        points = adj.get("points")
        if result is None:
            result = it["result"]
            if result == "fail" and points == it["max_points"]:
                result = "pass"
        require_choice(f"{where}.result", result, ITEM_RESULTS)
        if result == "fail" and it["result"] != "fail":
            raise InvalidValue(f"{where}.result", "an appeal decision cannot fail an item")
        clean_points = check_points(f"{where}.points", points, result, it["max_points"])
        if result != "na" and clean_points is not None and clean_points < (it["points"] or 0):
            raise InvalidValue(
                f"{where}.points", "an appeal decision cannot lower an item's points"
            )
        clean.append(
            {
                "item": code,
                "points": clean_points,
                "result": result,
                "previous": {"points": it["points"], "result": it["result"]},
            }
        )
    return clean
